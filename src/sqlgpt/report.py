"""An `Explanation` shown to a person: a self-contained HTML page, or a compact text version.

The HTML report is one file that needs no network: the template `report.html` (shipped as
package data) carries its CSS and JavaScript, draws the charts as SVG and HTML tables in the
browser, and reads the numbers from JSON embedded in a script tag. The prompt is user text:
it is HTML-escaped where the page shows it, and inside the JSON every `<`, `>` and `&` is
escaped, so no prompt can close the script tag or start markup. The text version is for the
terminal (`sqlgpt explain` without -o). Nothing here computes: the engine did.
"""

from __future__ import annotations

import html
import json
import re
from importlib import resources
from pathlib import Path

import numpy as np

from .explain import Candidate, Explanation

MARKER = re.compile(r"__SQLGPT_(TITLE|PROMPT|DATA)__")


def script_json(value: object) -> str:
    """JSON that is safe inside <script>: no `<`, `>` or `&` appears literally."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def render_html(explanation: Explanation) -> str:
    """The whole report as one HTML document."""
    template = resources.files("sqlgpt").joinpath("report.html").read_text(encoding="utf-8")
    values = {
        "TITLE": html.escape(f"sqlgpt explain: {explanation.prompt}"),
        "PROMPT": html.escape(explanation.prompt),
        "DATA": script_json(explanation.to_json()),
    }
    # One pass, so a prompt that contains a marker is not itself replaced.
    return MARKER.sub(lambda m: values[m.group(1)], template)


def write_html(explanation: Explanation, path: str | Path) -> Path:
    """Write the report to `path`; returns it."""
    path = Path(path)
    path.write_text(render_html(explanation), encoding="utf-8")
    return path


def _shown(piece: str) -> str:
    """A token quoted, so spaces show, with control characters escaped as the pieces' bytes are."""
    return '"' + re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", piece) + '"'


def _listing(candidates: list[Candidate], fmt: str) -> str:
    return "  ".join(f"{_shown(c.piece)} {c.value:{fmt}}" for c in candidates)


def render_text(explanation: Explanation) -> str:
    """A compact terminal version: tokens, where the last token looks, the logit lens (top
    token per layer and position), residual norms, the next token and embedding neighbours."""
    e = explanation
    pieces = [_shown(piece) for _, piece in e.tokens]
    width = max(8, *(len(p) for p in pieces))
    out = [f"{e.model} on {e.engine}: {len(e.tokens)} tokens, {len(e.lens)} layers, {e.attention.shape[1]} heads", "",
           "tokens  " + "  ".join(f"{p}={i}" for (i, _), p in zip(e.tokens, pieces)), "",
           "attention of the last token: the position each head looks at most (weight)"]
    for l, heads in enumerate(e.attention):  # heads: [H, T, T]
        looks = np.argmax(heads[:, -1], axis=-1)  # [H]
        out.append(f"  layer {l + 1:<3} " + "  ".join(
            f"{pieces[j]}({heads[h, -1, j]:.2f})" for h, j in enumerate(looks)))
    column = lambda text: f"{text:<{width + 6}}"  # noqa: E731
    out += ["", "logit lens: the top next token after each layer (probability)",
            " " * 10 + "".join(column(p) for p in pieces)]
    out += [f"  layer {l + 1:<2}" + "".join(column(f"{_shown(c[0].piece)} {c[0].value:.2f}") for c in row)
            for l, row in enumerate(e.lens)]
    out += ["", "residual stream length per layer (0 = embeddings)"]
    out += [f"  layer {l:<3} " + " ".join(f"{v:8.2f}" for v in row) for l, row in enumerate(e.norms)]
    out += ["", "next token"]
    out += [f"  temperature {t:<4} {_listing(c, '.4f')}" for t, c in e.next_tokens.items()]
    out += ["", "nearest tokens in the embedding matrix (cosine similarity)"]
    out += [f"  {p:<{width}}  {_listing(c, '.3f')}" for p, c in zip(pieces, e.neighbours)]
    if e.tables:
        out += ["", "kept tables: " + ", ".join(e.tables)]
    return "\n".join(out)
