"""`sqlgpt explain`'s report: safe HTML, a working page in a real browser, and the command.

    html       one self-contained file: no `</script>` or markup from the prompt survives,
               the data round-trips through the embedded JSON
    text       the numbers shown (attention, logit lens, norms, next tokens, neighbours) are
               the explanation's, and those are transformers' own
    browser    Debian's chromium, headless, driven by Playwright (never a downloaded
               browser): the page draws, switching layer and head changes the heatmap, no
               console errors, no network requests; a screenshot is saved
    command    `sqlgpt explain` prints the text version, or writes the HTML with -o

All on the tiny random-weight checkpoint with the NumPy engine (the SQL engines' numbers
are checked in test_explain.py; here DuckDB's only as far as the command's HTML shows them).
"""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
import torch

import sqlgpt
from sqlgpt.cli import main
from sqlgpt.explain import TEMPERATURES, Explanation
from sqlgpt.report import render_html, render_text, script_json, write_html

# User text that would break out of the script tag, start markup or run script if pasted raw.
HOSTILE = "</script><!--<script>alert(1)</script><xmp>&__SQLGPT_DATA__"
CHROMIUM = shutil.which("chromium")
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def explanation(tiny_dir) -> Explanation:
    with sqlgpt.load(tiny_dir, engine="numpy") as gpt:
        return gpt.explain(HOSTILE, top_k=4)


def embedded_data(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="sqlgpt-data">(.*?)</script>', page, re.DOTALL)
    assert match is not None
    return json.loads(match.group(1))


def test_the_prompt_never_becomes_markup(explanation):
    page = render_html(explanation)
    assert page.count("</script>") == 2 and page.count("<script") == 2  # the page's own two
    assert "<xmp>" not in page and "&lt;/script&gt;" in page  # shown, escaped
    assert embedded_data(page)["prompt"] == HOSTILE
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page)  # nothing to fetch
    assert "<" not in script_json(["</script>", "<!--"]) and json.loads(script_json(["</a>&"])) == ["</a>&"]


def test_the_json_carries_every_measurement(explanation):
    """The JSON the page draws from holds every measurement, each the explanation's number."""
    data = embedded_data(render_html(explanation))
    L, H, T = explanation.attention.shape[:3]
    assert (len(data["attention"]), len(data["attention"][0]), len(data["attention"][0][0])) == (L, H, T)
    assert len(data["lens"]) == L and len(data["lens"][0]) == T and len(data["norms"]) == L + 1
    assert [t for t, _ in data["next"]] == [0.5, 1.0, 2.0] and len(data["neighbours"]) == T
    assert [tuple(t) for t in data["tokens"]] == explanation.tokens
    # The page draws these numbers: they are the explanation's, to the JSON's rounding.
    assert np.abs(np.array(data["attention"]) - explanation.attention).max() <= 1e-5
    assert np.abs(np.array(data["norms"]) - explanation.norms).max() <= 1e-4
    lists = [(cell, ours) for row, our_row in zip(data["lens"], explanation.lens) for cell, ours in zip(row, our_row)]
    lists += [*zip(data["neighbours"], explanation.neighbours), *((c, explanation.next_tokens[t]) for t, c in data["next"])]
    for embedded, candidates in lists:
        assert [(i, piece) for i, piece, _ in embedded] == [(c.id, c.piece) for c in candidates]
        assert np.abs(np.array([v for *_, v in embedded]) - [c.value for c in candidates]).max() <= 1e-6


# -- the text version: the numbers it shows, read back ---------------------------------------------

# A token as the text shows it: in double quotes (a quote inside is shown as is), then its value.
SHOWN = re.compile(r'"(.*?)" (-?\d+\.\d+)(?=\s|$)')


def shown(piece: str) -> str:
    """How the text version writes a piece: control characters as \\x escapes."""
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", piece)


def listed(line: str) -> list[tuple[str, float]]:
    """Every (piece, value) a line of the text shows, in order."""
    return [(piece, float(value)) for piece, value in SHOWN.findall(line)]


def neighbours_of(line: str, piece: str) -> list[tuple[str, float]]:
    """A line of the neighbours section: the token, then its neighbours; the neighbours."""
    token = f'"{shown(piece)}"'
    assert line.strip().startswith(token)
    return listed(line.strip()[len(token):])


def sections(text: str) -> dict[str, list[str]]:
    """The text's blank-line separated sections, by their first line."""
    parts = [part.splitlines() for part in text.split("\n\n")]
    return {lines[0].strip(): lines[1:] for lines in parts}


def section(text: str, heading: str) -> list[str]:
    (found,) = [lines for first, lines in sections(text).items() if first.startswith(heading)]
    return found


def rows(lines: list[str]) -> dict[int, str]:
    """Lines that start "layer N": the rest of the line, by N."""
    found = {}
    for line in lines:
        match = re.match(r"\s*layer (\d+)\s(.*)$", line)
        if match:
            found[int(match.group(1))] = match.group(2)
    return found


@pytest.fixture(scope="module")
def transformers_reference(tiny_dir):
    """What transformers computes on a prompt's ids: every head's attention, the residual
    streams' lengths, the logit lens's probabilities, the final logits and the embedding
    matrix; and each token's text from transformers' own vocabulary."""
    from transformers import GPT2LMHeadModel, GPT2Tokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    model = GPT2LMHeadModel.from_pretrained(tiny_dir, attn_implementation="eager").eval()
    tokens = GPT2Tokenizer.from_pretrained(tiny_dir).convert_ids_to_tokens
    byte_of = {ch: b for b, ch in bytes_to_unicode().items()}

    def piece(token: int) -> str:
        return bytes(byte_of[ch] for ch in tokens(token)).decode("utf-8", errors="backslashreplace")

    def run(ids: list[int]) -> dict:
        entering_ln_f = []  # transformers' last hidden state is after ln_f: the stream is before it
        hook = model.transformer.ln_f.register_forward_hook(lambda module, args, out: entering_ln_f.append(args[0]))
        with torch.no_grad():
            out = model(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
            streams = torch.cat([*out.hidden_states[:-1], *entering_ln_f])  # [L+1, T, C]
            lens = torch.softmax(model.lm_head(model.transformer.ln_f(streams[1:])).double(), -1)  # [L, T, V]
        hook.remove()
        return {"attention": torch.cat(out.attentions).numpy(),  # [L, H, T, T]
                "norms": streams.double().norm(dim=-1).numpy(),  # [L+1, T]
                "lens": lens.numpy(), "logits": out.logits[0].double().numpy(),  # [T, V]
                "wte": model.transformer.wte.weight.detach().double().numpy()}  # [V, C]

    return run, piece


def softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    z = logits / temperature
    e = np.exp(z - z.max())
    return e / e.sum()


def top(values: np.ndarray, k: int) -> list[int]:
    return [int(i) for i in np.argsort(-values, kind="stable")[:k]]


def assert_shows(found: list[tuple[str, float]], expected: list[tuple[str, float]], decimals: int) -> None:
    """`found` (read from the text) is `expected`, the values to the decimals the text prints."""
    assert [piece for piece, _ in found] == [shown(piece) for piece, _ in expected]
    assert np.abs(np.array([v for _, v in found]) - [v for _, v in expected]).max() <= 0.5 * 10**-decimals + 1e-6


def check_text_against_transformers(text: str, ids: list[int], k: int, reference) -> None:
    """The next tokens at every temperature, the logit lens and the norms in `text` are what
    transformers computes for `ids`."""
    run, piece = reference
    ref = run(ids)
    next_rows = {float(m.group(1)): m.group(2) for m in
                 (re.match(r"\s*temperature (\S+)\s(.*)$", line) for line in section(text, "next token")) if m}
    assert sorted(next_rows) == sorted(TEMPERATURES)
    for temperature, line in next_rows.items():
        probs = softmax(ref["logits"][-1], temperature)
        assert_shows(listed(line), [(piece(i), probs[i]) for i in top(probs, k)], 4)
    lens = rows(section(text, "logit lens"))
    assert sorted(lens) == list(range(1, len(ref["lens"]) + 1))
    for layer, probs in enumerate(ref["lens"], start=1):  # [T, V]: the top token at each position
        assert_shows(listed(lens[layer]), [(piece(top(p, 1)[0]), p.max()) for p in probs], 2)
    norms = rows(section(text, "residual stream"))
    assert sorted(norms) == list(range(len(ref["norms"])))
    for layer, lengths in enumerate(ref["norms"]):
        assert np.abs(np.array(norms[layer].split(), dtype=float) - lengths).max() <= 0.005 + 1e-5


def test_text_version(explanation, transformers_reference):
    """Every number the text shows is the explanation's (to its rounding), and transformers'."""
    text = render_text(explanation)
    for heading in ("tokens", "attention", "logit lens", "residual stream", "temperature 0.5", "nearest tokens"):
        assert heading in text
    assert f"layer {len(explanation.lens)}" in text
    ids = [i for i, _ in explanation.tokens]
    pieces = [piece for _, piece in explanation.tokens]
    k = len(explanation.next_tokens[1.0])

    (tokens,) = [line for line in text.splitlines() if line.startswith("tokens  ")]
    assert re.findall(r'"(.*?)"=(\d+)(?=\s|$)', tokens) == [(shown(p), str(i)) for i, p in explanation.tokens]

    # where the last token looks: per layer, per head, the most attended position and its weight
    looks = rows(section(text, "attention of the last token"))
    for layer, heads in enumerate(explanation.attention, start=1):  # [H, T, T]
        found = re.findall(r'"(.*?)"\((\d\.\d+)\)', looks[layer])
        expected = [(shown(pieces[int(np.argmax(row))]), row.max()) for row in heads[:, -1]]
        assert_shows([(p, float(v)) for p, v in found], expected, 2)

    lens = rows(section(text, "logit lens"))
    for layer, row in enumerate(explanation.lens, start=1):
        assert_shows(listed(lens[layer]), [(cell[0].piece, cell[0].value) for cell in row], 2)
    norms = rows(section(text, "residual stream"))
    for layer, lengths in enumerate(explanation.norms):
        assert np.abs(np.array(norms[layer].split(), dtype=float) - lengths).max() <= 0.005 + 1e-6
    next_rows = section(text, "next token")
    for temperature, candidates in explanation.next_tokens.items():
        (line,) = [line for line in next_rows if line.split()[:2] == ["temperature", str(temperature)]]
        assert_shows(listed(line), [(c.piece, c.value) for c in candidates], 4)
    neighbours = section(text, "nearest tokens")
    assert len(neighbours) == len(ids)
    neighbours = [neighbours_of(line, p) for line, p in zip(neighbours, pieces)]
    for found, candidates in zip(neighbours, explanation.neighbours):
        assert_shows(found, [(c.piece, c.value) for c in candidates], 3)

    # ...and those are transformers' numbers, not just the explanation's.
    check_text_against_transformers(text, ids, k, transformers_reference)
    run, piece = transformers_reference
    ref = run(ids)
    for layer, heads in enumerate(ref["attention"], start=1):
        found = [float(v) for v in re.findall(r'"(?:.*?)"\((\d\.\d+)\)', looks[layer])]
        assert np.abs(np.array(found) - heads[:, -1].max(-1)).max() <= 0.005 + 1e-5
    unit = ref["wte"] / np.linalg.norm(ref["wte"], axis=-1, keepdims=True)
    for token, found in zip(ids, neighbours):
        similarity = unit @ unit[token]
        similarity[token] = -np.inf  # the token itself is not its own neighbour
        assert_shows(found, [(piece(i), similarity[i]) for i in top(similarity, k)], 3)


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium); .ci/run installs it")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_FLAGS)
        yield browser
        browser.close()


def test_the_report_works_in_a_browser(browser, explanation, tmp_path):
    path = write_html(explanation, tmp_path / "report.html")
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: errors.append(f"a dialog opened: {dialog.message}"))
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())

    assert page.inner_text("#prompt") == HOSTILE
    T = len(explanation.tokens)
    assert page.locator("#strip .chip").count() == T
    assert page.locator("#lens-grid tbody tr").count() == len(explanation.lens) + 1  # + the real next tokens

    def heatmap() -> list[str]:
        return page.eval_on_selector_all("#heatmap rect", "cells => cells.map(c => c.getAttribute('fill'))")

    first = heatmap()
    assert len(first) == T * T
    page.select_option("#layer", "1")
    second = heatmap()
    assert second != first and page.get_attribute("#heatmap", "data-layer") == "1"
    page.select_option("#head", "2")
    third = heatmap()
    assert third != second and page.get_attribute("#heatmap", "data-head") == "2"
    page.select_option("#head", "mean")
    assert heatmap() != third

    screenshot = tmp_path / "report.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert errors == []
    assert requests == [path.as_uri()]  # the page itself, nothing else
    page.close()


def test_the_command_prints_or_writes_the_report(capsys, tiny_dir, tmp_path, transformers_reference):
    """`sqlgpt explain` prints the text version with transformers' numbers (next tokens at each
    temperature, logit lens, norms), or writes the HTML, here from DuckDB, whose embedded
    numbers are transformers' too."""
    assert main(["explain", "the cat", "--model", str(tiny_dir), "--engine", "numpy", "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert "logit lens" in out and "temperature 2.0" in out
    ids = sqlgpt.load(tiny_dir, engine="numpy").encode_prompt("the cat")
    check_text_against_transformers(out, ids, 3, transformers_reference)

    report = tmp_path / "report.html"
    database = str(tmp_path / "explain.duckdb")
    assert main(["explain", "the cat", "--model", str(tiny_dir), "-d", database, "-o", str(report), "--keep"]) == 0
    out = capsys.readouterr().out
    assert str(report) in out and "sqlgpt_inspect.lens" in out
    data = embedded_data(report.read_text(encoding="utf-8"))
    assert data["engine"] == "duckdb" and [i for i, _ in data["tokens"]] == ids
    run, piece = transformers_reference
    ref = run(ids)
    k = 5  # the command's default -k
    for temperature, candidates in data["next"]:
        probs = softmax(ref["logits"][-1], temperature)
        assert [(i, p) for i, p, _ in candidates] == [(i, piece(i)) for i in top(probs, k)]
        assert np.abs(np.array([v for *_, v in candidates]) - probs[top(probs, k)]).max() <= 1e-5
    for row, probs in zip(data["lens"], ref["lens"]):  # [T][k] against [T, V]
        for cell, p in zip(row, probs):
            assert [i for i, *_ in cell] == top(p, k)
            assert np.abs(np.array([v for *_, v in cell]) - p[top(p, k)]).max() <= 1e-5
    assert np.abs(np.array(data["norms"]) - ref["norms"]).max() <= 1e-4
    assert np.abs(np.array(data["attention"]) - ref["attention"]).max() <= 1e-4

    assert main(["explain", "the cat", "--model", str(tiny_dir), "-o", str(tmp_path / "no" / "such" / "dir.html"),
                 "-d", database]) == 2
    assert "cannot write" in capsys.readouterr().err
