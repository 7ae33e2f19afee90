"""The SQL engines' `explain`: what happens inside the model, measured by SQL in the database.

An inspecting session runs the prompt through the compiled model, which leaves its residual
streams in the session tables `x0..x{L}` and its attention weights in `attn{l}(pos, hd, kpos,
p)`. The queries here measure the rest where the data lives, with the dialect's vector
primitives, and add four tables to the session:

    norms(layer, pos, norm)                     length of residual stream x{layer} at pos
    lens(layer, pos, rank, token, p)            logit lens: x{layer} (layer >= 1) through the
                                                final layer norm and the unembedding; top k
    next_token(temperature, rank, token, p)     softmax(logits / temperature) after the prompt
    neighbours(pos, rank, token, similarity)    the prompt token's nearest other tokens in
                                                wte by cosine similarity

Top k is a `row_number()` window, ties by the smaller token id; softmaxes subtract their
group's maximum first. Python only reads back these small tables (and the attention weights)
into arrays (`read_back`, `inspection`); the engine runs the statements. With `keep`, every
session table is copied into the schema `sqlgpt_inspect`, as `sqlgpt sql --keep` does. Every number in the SQL is an int or float formatted by this
module; the prompt arrives only as the session's bound token ids.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...config import GPTConfig
from ..base import Inspection
from .compiler import Compiler, Statement


def _top_softmax(source: str, groups: str, k: int) -> str:
    """SELECT groups, rank, token, p: the softmax of `score` within each group of `source`
    (columns: the `groups`, j, score), keeping each group's k most likely tokens."""
    return f"""SELECT {groups}, rank, j AS token, p FROM (
  SELECT {groups}, j, exp(score - m) / sum(exp(score - m)) OVER (PARTITION BY {groups}) AS p,
         row_number() OVER (PARTITION BY {groups} ORDER BY score DESC, j) AS rank
  FROM (SELECT *, max(score) OVER (PARTITION BY {groups}) AS m FROM {source}) peaks) probs
WHERE rank <= {k}"""


def statements(compiler: Compiler, top_k: int, vocab_size: int, temperatures: Sequence[float]) -> list[Statement]:
    """The statements creating the four measurement tables, for a session that has run the
    step `compiler` writes."""
    config, d, w = compiler.config, compiler.d, compiler.w
    L, k, V = config.n_layer, int(top_k), int(vocab_size)

    norms = " UNION ALL ".join(f"SELECT {l} AS layer, pos, sqrt({d.dot('x', 'x')}) AS norm FROM x{l}" for l in range(L + 1))

    # The final layer norm applied to every stream, as the step applies it to the last one.
    streams = " UNION ALL ".join(f"SELECT {l} AS layer, pos, x FROM x{l}" for l in range(1, L + 1))
    normed = compiler.final_norm_of(compiler.norm_stats(f"({streams}) s", keys="layer, pos"), ["layer", "pos"])
    # Fenced, so the norm is computed once per stream, not once per (stream, token) pair.
    lens_logits = (f"SELECT n.layer, n.pos, e.j, {d.dot('e.w', 'n.xn')} AS score "
                   f"FROM {w}.wte e, {d.fence(normed)} n WHERE e.j < {V}")

    # The model's own output: the last position of `final`, which the step normed.
    temps = " UNION ALL ".join(f"SELECT CAST({float(t)!r} AS {d.result_type('double')}) AS temperature" for t in temperatures)
    next_logits = (f"SELECT t.temperature, e.j, {d.dot('e.w', 'f.xn')} / t.temperature AS score "
                   f"FROM {w}.wte e, final f, ({temps}) t WHERE f.pos = (SELECT max(pos) FROM final) AND e.j < {V}")

    norm_of = lambda v: f"sqrt({d.dot(v, v)})"  # noqa: E731
    cosine = f"{d.dot('e.w', 's.w')} / NULLIF({norm_of('e.w')} * {norm_of('s.w')}, 0)"
    neighbours = f"""SELECT pos, rank, token, similarity FROM (
  SELECT pos, token, similarity, row_number() OVER (PARTITION BY pos ORDER BY similarity DESC NULLS LAST, token) AS rank
  FROM (SELECT t.pos, e.j AS token, {cosine} AS similarity
        FROM tokens t JOIN {w}.wte s ON s.j = t.token, {w}.wte e WHERE e.j <> t.token AND e.j < {V}) c) ranked
WHERE rank <= {k}"""

    return [
        Statement("the length of every residual stream at every position", d.temp_table_as("norms", norms)),
        Statement("the logit lens: every block's output read as if it were the last",
                  d.temp_table_as("lens", f"WITH logits AS ({lens_logits})\n{_top_softmax('logits', 'layer, pos', k)}")),
        Statement("the next token after the prompt at each temperature",
                  d.temp_table_as("next_token", f"WITH logits AS ({next_logits})\n{_top_softmax('logits', 'temperature', k)}")),
        Statement("each prompt token's nearest tokens in the embedding matrix", d.temp_table_as("neighbours", neighbours)),
    ]


def read_back(config: GPTConfig) -> dict[str, Statement]:
    """The queries that read the measurements back, by name: the attention weights of every
    layer, then the four tables `statements` made."""
    attention = " UNION ALL ".join(f"SELECT {l} AS layer, pos, hd, kpos, p FROM attn{l}" for l in range(config.n_layer))
    return {"attention": Statement("the attention weights", attention),
            "norms": Statement("the residual norms", "SELECT layer, pos, norm FROM norms"),
            "lens": Statement("the logit lens", "SELECT layer, pos, rank, token, p FROM lens"),
            "next_token": Statement("the next-token distributions", "SELECT temperature, rank, token, p FROM next_token"),
            "neighbours": Statement("the embedding neighbours", "SELECT pos, rank, token, similarity FROM neighbours")}


def inspection(read: dict[str, dict[str, np.ndarray]], config: GPTConfig, n_tokens: int, *, top_k: int,
               temperatures: Sequence[float], tables: Sequence[str]) -> Inspection:
    """The `Inspection` of a prompt of `n_tokens` tokens from the columns `read_back`'s
    queries returned (`read`, by the same names); `tables` are those kept, if any."""
    L, H, T, k = config.n_layer, config.n_head, n_tokens, top_k
    rows = read["attention"]
    attention = np.zeros((L, H, T, T), np.float32)  # [L, H, T, T]
    attention[rows["layer"], rows["hd"], rows["pos"], rows["kpos"]] = rows["p"]

    rows = read["norms"]
    norms = np.zeros((L + 1, T))  # [L+1, T]
    norms[rows["layer"], rows["pos"]] = rows["norm"]

    rows = read["lens"]
    lens_tokens, lens_probs = np.zeros((L, T, k), np.int64), np.zeros((L, T, k))  # [L, T, k]
    at = (np.asarray(rows["layer"]) - 1, rows["pos"], np.asarray(rows["rank"]) - 1)
    lens_tokens[at], lens_probs[at] = rows["token"], rows["p"]

    rows = read["next_token"]
    index = {float(t): i for i, t in enumerate(temperatures)}
    next_tokens, next_probs = np.zeros((len(temperatures), k), np.int64), np.zeros((len(temperatures), k))  # [n, k]
    at = ([index[float(t)] for t in rows["temperature"]], np.asarray(rows["rank"]) - 1)
    next_tokens[at], next_probs[at] = rows["token"], rows["p"]

    rows = read["neighbours"]
    neighbour_tokens, similarity = np.zeros((T, k), np.int64), np.zeros((T, k))  # [T, k]
    at = (rows["pos"], np.asarray(rows["rank"]) - 1)
    neighbour_tokens[at], similarity[at] = rows["token"], rows["similarity"]

    return Inspection(attention=attention, norms=norms, lens_tokens=lens_tokens, lens_probs=lens_probs,
                      temperatures=tuple(float(t) for t in temperatures), next_tokens=next_tokens,
                      next_probs=next_probs, neighbour_tokens=neighbour_tokens, neighbour_similarity=similarity,
                      tables=tuple(tables))
