"""The wide layout, for databases without a vector type (SQLite): a vector is a row of columns.

A vector of n elements is n REAL columns (`x0, x1, …`), and a dot product is a sum of
products written out term by term. Measured (docs/measurements.md), that is several times
faster than one row per matrix element or JSON arrays. A matrix-vector product has two
shapes here, and a layer alternates them so that no vector ever has to be turned from rows
into columns the slow way:

* **by output** (`j, w0…w{C-1}`): one weight row per output unit, each a C-term dot product
  with the input row; the result is *long*, one row per (position, unit). Used where the
  input is a row of columns: QKV after the first norm, the MLP's first layer, the logits.
* **by input** (`i, w0…w{C-1}`): one weight row per *input* unit, joined to the long input
  and summed column by column (`sum(v * w0), sum(v * w1), …`); the result is a row of
  columns again. Used for both projections back into the residual stream. The bias is one
  more weight row (`i = n_in`) met by a constant input of 1.

Norms fold into the following by-output matrix by `folded_matrix`, as in the vector layout.
The KV cache keeps one row per (kind, head, position) with the head's channels as columns,
so a query · key is a 64-term sum and attention weighs the cached value rows directly. Long
sums are nested in balanced groups, because SQLite limits an expression's depth to 1000.
What this layout does not have: a batched step (its tables have no sequence column).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ....config import GPTConfig
from .base import VALUE, Layout, WeightTable, folded_matrix, head_slots


def columns(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{k}" for k in range(n)]


def balanced_sum(terms: Sequence[str], group: int = 32) -> str:
    """`terms` added up, parenthesised in groups so that the expression stays shallow."""
    terms = list(terms)
    while len(terms) > group:
        terms = ["(" + " + ".join(terms[i : i + group]) + ")" for i in range(0, len(terms), group)]
    return " + ".join(terms)


def _float_columns(prefix: str, n: int) -> list[tuple[str, str]]:
    return [(name, "float") for name in columns(prefix, n)]


def _by_output(name: str, key: str, n_in: int, n_out: int, norm: str | None = None,
               heads: GPTConfig | None = None) -> WeightTable:
    """Rows (j, [kind, hd, d,] w0…, [s,] b): one per output unit; with `norm`, folded in.
    With `heads` (the config), each unit also carries which of q/k/v, which head and which channel."""

    def fill(p: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        w, s, b = folded_matrix(p, key, norm)
        j = np.arange(n_out, dtype=np.int64)
        out: dict[str, np.ndarray] = {"j": j}  # in the order of the table's columns
        if heads is not None:
            out |= dict(zip(("kind", "hd", "d"), head_slots(heads, j)))
        out["w"] = w.astype(np.float64)  # REAL columns hold doubles
        if s is not None:
            out["s"] = s
        return out | {"b": b}

    schema = [("j", "int")] + ([("kind", "int"), ("hd", "int"), ("d", "int")] if heads is not None else [])
    schema += _float_columns("w", n_in) + ([("s", "float")] if norm else []) + [("b", "float")]
    return WeightTable(name, schema, n_out, (n_in + 2) * n_out, fill)


def _by_input(name: str, key: str, n_in: int, n_out: int) -> WeightTable:
    """Rows (i, w0…w{n_out-1}): one per input unit, then the bias as row i = n_in."""

    def fill(p: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        weight = p[key + ".weight"]  # [in, out]
        rows = np.concatenate([weight, p[key + ".bias"][None]]).astype(np.float64)  # [in + 1, out]
        return {"i": np.arange(n_in + 1, dtype=np.int64), "w": rows}

    return WeightTable(name, [("i", "int")] + _float_columns("w", n_out), n_in + 1, (n_in + 1) * n_out, fill)



class WideLayout(Layout):
    name = "wide"
    format_version = 1
    batched = False
    head_unit_columns = ("kind", "hd", "d")  # `heads` pivots by channel d

    @staticmethod
    def vector_schema(name: str, n: int) -> list[tuple[str, str]]:
        return _float_columns(name, n)

    @staticmethod
    def normed_table(name: str, key: str, n_in: int, n_out: int, norm: str, heads: GPTConfig | None = None) -> WeightTable:
        return _by_output(name, key, n_in, n_out, norm=norm, heads=heads)

    @staticmethod
    def projection_table(name: str, key: str, n_in: int, n_out: int) -> WeightTable:
        return _by_input(name, key, n_in, n_out)

    def elementwise(self, vectors: list[str], fn: Callable[..., str], n: int) -> str:
        return ", ".join(fn(*(f"{v}{k}" for v in vectors)) for k in range(n))

    def dot(self, a: str, b: str, n: int) -> str:
        return "(" + balanced_sum([f"{a}{k} * {b}{k}" for k in range(n)]) + ")"  # parenthesised: one term

    def norm_ctes(self, name: str, source: str, keys: str) -> str:
        C, m = self.config.n_embd, self.d.materialized
        eps = repr(float(self.config.layer_norm_epsilon))
        if self.config.family.norm == "rmsnorm":
            squares = balanced_sum([f"s.x{k} * s.x{k}" for k in range(C)])
            return f"{name} AS {m}(SELECT s.*, 0.0 AS mu, 1.0 / sqrt(({squares}) / {C} + {eps}) AS r FROM {source})"
        # Two CTEs, each computed once (MATERIALIZED): the mean, then the variance around it.
        mean = f"({balanced_sum(columns('s.x', C))}) / {C}"
        var = f"({balanced_sum([f'(s.x{k} - s.mu) * (s.x{k} - s.mu)' for k in range(C)])}) / {C}"
        return (f"{name}_m AS {m}(SELECT s.*, {mean} AS mu FROM {source}),\n"
                f"  {name} AS {m}(SELECT s.*, 1.0 / sqrt({var} + {eps}) AS r FROM {name}_m s)")

    def heads(self, units: str) -> str:
        pivot = ", ".join(f"max(CASE WHEN d = {k} THEN y END) AS vec{k}" for k in range(self.config.head_size))
        return f"SELECT kind, hd, pos, {pivot} FROM {units} GROUP BY kind, hd, pos"

    def attend(self, l: int) -> str:
        m, D = self.d.materialized, self.config.head_size
        weighted = ", ".join(f"sum(p.e * v.vec{k}) / sum(p.e) AS a{k}" for k in range(D))
        unpivot = " ".join(f"WHEN {k} THEN a.a{k}" for k in range(D))
        return f"""-- softmax, stable: exp of (score - the row's maximum) for each visible key
  weights AS {m}(SELECT pos, hd, kpos, exp(s - m) AS e FROM peaks WHERE visible),
  -- each head's output: the softmax weights · the values, one column per channel
  heads AS {m}(SELECT p.pos, p.hd, {weighted}
           FROM weights p JOIN cache{l} v ON v.kind = {VALUE} AND v.hd = {self.step.kv_head('p.hd')} AND v.pos = p.kpos GROUP BY p.pos, p.hd),
  -- the same as long rows, one per input channel of the projection
  attn AS {m}(SELECT a.pos, a.hd * {D} + c.d AS i, CASE c.d {unpivot} END AS v
           FROM heads a, (SELECT DISTINCT d FROM {self.step.weights(f'h{l}_{self.config.family.attention[0].name}')}) c)"""

    def hidden(self, units: str, activation: Callable[[str], str]) -> str:
        return f"SELECT u.pos, u.j AS i, {activation('u.y')} AS v FROM {units} u"

    def project(self, table: str, source: str, n_in: int, residual: str) -> str:
        # By input: the long rows (pos, i, v) meet the weight rows of their input unit, and a
        # constant 1 meets the bias row i = n_in.
        C = self.config.n_embd
        sums = ", ".join(f"sum(u.v * m.w{k}) AS y{k}" for k in range(C))
        inputs = f"SELECT pos, i, v FROM {source} UNION ALL SELECT DISTINCT pos, {n_in}, 1.0 FROM {source}"
        product = f"SELECT u.pos, {sums} FROM ({inputs}) u JOIN {self.step.weights(table)} m ON m.i = u.i GROUP BY u.pos"
        plus = ", ".join(f"p.y{k} + x.x{k} AS x{k}" for k in range(C))
        return f"SELECT p.pos, {plus} FROM ({product}) p JOIN {residual} x ON x.pos = p.pos"

    def final_norm(self, stats: str, keys: list[str], norm: str) -> str:
        C = self.config.n_embd
        normed = ", ".join(f"(n.x{k} - n.mu) * n.r * f.g{k} + f.b{k} AS xn{k}" for k in range(C))
        return f"SELECT {', '.join('n.' + key for key in keys)}, {normed} FROM {stats} n, {self.step.weights(norm)} f"
