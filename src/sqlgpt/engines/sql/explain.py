"""The SQL engines' `explain`: turning the measurements the database made into an `Inspection`.

An inspecting session runs the prompt through the plan's step, which leaves its residual
streams in the session tables `x0..x{L}` and its attention weights in `attn{l}(pos, hd, kpos,
p)`; the plan's explain statements (`Plan.explain`) measure the rest where the data lives —
residual norms, the logit lens, the next token at each temperature, embedding neighbours —
into four more session tables, and `Plan.explain_read_back` reads them. This module only
places those rows into arrays: it writes no SQL and runs nothing (the engine does). With
`keep`, the session's tables are copied into the schema `sqlgpt_inspect`, as `sqlgpt sql
--keep` does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...config import GPTConfig
from ..base import Inspection


def inspection(read: dict[str, dict[str, np.ndarray]], config: GPTConfig, n_tokens: int, *, top_k: int,
               temperatures: Sequence[float], tables: Sequence[str]) -> Inspection:
    """The `Inspection` of a prompt of `n_tokens` tokens from the columns `read_back`'s
    queries returned (`read`, by the names of `Plan.explain_read_back`); `tables` are those kept, if any."""
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
