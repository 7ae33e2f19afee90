"""The matrix layout: vectors as in the vector layout, and each weight matrix one value, an
array of its rows (Spark's `ARRAY<ARRAY<FLOAT>>`), so a position's whole matrix-vector
product is one expression over its row, with no row per output unit.

Where the vector layout joins every position with every row of a matrix and gathers the
dot products back into vectors (a row per position and unit, sorted and grouped), this one
joins each position with the matrix's one row and maps a dot product over the matrix's
rows: `y = [r·(W_j·x − μ·s_j) + b_j for each row j]`. No shuffle, no sort, a thousand
times fewer rows. Measured on Spark 4.3, local[2] (docs/measurements.md): 10,000 positions
through a 128×32 matrix 0.13 s of CPU against 0.65 s gathered by unit and 2.3 s with
lambda dot products; 256 positions through 3072×768, 1.2 s against 6.5 s.

Tables: a block's matrix is one row `(w, s, b)`: `w` the rows by output unit (norm folded
in as `folded_matrix` folds it), `s` their sums and `b` the biases as vectors. The rotary
angles are a row per position `(pos, cos, sin)`. Embeddings, the unembedding and the final
norm are the vector layout's (a row per token: the logits stay long rows, one per token).

Attention takes each sequence's keys and values from the KV cache as arrays over positions
(one group per sequence and KV head; the values transposed, a vector per channel), and
each new query row reads the first pos + 1 of them: causality by slicing, no mask. A
query's scores, their softmax and its output vector are expressions over its row; the
heads' outputs are concatenated per position.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from ....config import GPTConfig
from .base import KEY, QUERY, VALUE, WeightTable, folded_matrix
from .vector import VectorLayout


def _matrix_table(name: str, key: str, n_in: int, n_out: int, norm: str | None = None) -> WeightTable:
    """One row (w[, s], b) of matrix `key`: its rows by output unit; with `norm`, that norm folded in."""

    def columns(p: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        w, s, b = folded_matrix(p, key, norm)
        out = {"w": w[None]}  # [1, out, in]
        if s is not None:
            out["s"] = s.astype(np.float32)[None]
        return out | {"b": b.astype(np.float32)[None]}

    schema = [("w", "matrix")] + ([("s", "vector")] if norm else []) + [("b", "vector")]
    return WeightTable(name, schema, 1, (n_in + 2) * n_out, columns)


CHUNK = 1024  # tokens per row of the unembedding in chunks (`lm_chunks`)


class MatrixLayout(VectorLayout):
    name = "matrix"
    format_version = 1

    @classmethod
    def weight_tables(cls, config: GPTConfig) -> list[WeightTable]:
        """The vector layout's tables, the block matrices one row each, and the unembedding
        once more in chunks of CHUNK tokens, `lm_chunks(c, w)`, a matrix per chunk (the loss's)."""
        key = "wte.weight" if config.family.tied_unembedding else "lm_head.weight"
        V, C = config.vocab_size, config.n_embd
        n = -(-V // CHUNK)

        def columns(p: Mapping[str, np.ndarray]) -> dict[str, np.ndarray | list[np.ndarray]]:
            rows = p[key]
            return {"c": np.arange(n, dtype=np.int32), "w": [rows[i : i + CHUNK] for i in range(0, V, CHUNK)]}

        return super().weight_tables(config) + [WeightTable("lm_chunks", [("c", "int"), ("w", "matrix")], n, V * C, columns)]

    @staticmethod
    def normed_table(name: str, key: str, n_in: int, n_out: int, norm: str, heads: GPTConfig | None = None) -> WeightTable:
        return _matrix_table(name, key, n_in, n_out, norm=norm)

    @staticmethod
    def projection_table(name: str, key: str, n_in: int, n_out: int) -> WeightTable:
        return _matrix_table(name, key, n_in, n_out)

    # -- matrix-vector products ----------------------------------------------------------------

    def matvec(self, table: str, x: str, unit: Callable[[str, str], str]) -> str:
        """The vector of `unit(W_j · x, j)` over the rows j of the weight table `table`
        (aliased m), as float32 activations."""
        d = self.d
        return d.map_indexed("m.w", lambda row, j: d.to_float(unit(d.dot(row, x), j)))

    def units(self, table: str, stats: str, extra: tuple[str, ...] = (), where: str = "", carry: str = "") -> str:
        """SELECT keys, y[, carry]: norm(x)·W + b, the whole output vector of each row of
        `stats`; with `carry`, that row's x too, as column `carry`."""
        d, step = self.d, self.step
        y = self.matvec(table, "n.x", lambda dot, j: f"n.r * ({dot} - n.mu * {d.element('m.s', j)}) + {d.element('m.b', j)}")
        carried = f", n.x AS {carry}" if carry else ""
        return f"SELECT {step.keys('n')}, {y} AS y{carried} FROM {step.weights(table)} m, {stats} n"

    def heads(self, units: str) -> str:
        # Each position's output vector cut into head slots (the query heads, the key heads, the
        # values'), a row each. Unnested, not joined with the slots' numbers: Spark would compute
        # the vector again for every row of such a join (measured: 12x the work of the step).
        d, D = self.d, self.config.head_size
        pieces = d.split_vector("u.y", self.config.n_head + 2 * self.config.n_kv_head, D)
        return self.slot_rows(f"SELECT {self.step.keys('u')}, {d.unnest_indexed(pieces, 'slot', 'vec')} FROM {units} u")

    def rotary(self, units: str) -> str:
        """SELECT keys, y: element e of each query and key head becomes y_e·cos + y_{e±D/2}·(∓sin)."""
        d, D, H, KV = self.d, self.config.head_size, self.config.n_head, self.config.n_kv_head
        half = D // 2

        def turned(v: str, j: str) -> str:
            e = d.mod(j, D)
            partner = (f"CASE WHEN {e} < {half} THEN -{d.element('u.y', f'{j} + {half}')} "
                       f"ELSE {d.element('u.y', f'{j} - {half}')} END")
            return (f"CASE WHEN {j} < {(H + KV) * D} THEN {v} * {d.element('r.cos', e)} + ({partner}) * "
                    f"{d.element('r.sin', e)} ELSE {v} END")

        y = d.map_indexed("u.y", lambda v, j: d.to_float(turned(v, j)))
        return f"SELECT {self.step.keys('u')}, {y} AS y FROM {units} u JOIN {self.step.weights('rope')} r ON r.pos = u.pos"

    def mlp_hidden(self, table: str, stats: str, activation: Callable[[str], str]) -> str:
        # Gated (SwiGLU), the first n_inner units are the gate, the next n_inner the up projection.
        # Each row carries the residual stream its norm read (`resid`), for `project` to add.
        d, m, key, I = self.d, self.d.materialized, self.step.keys(), self.config.n_inner
        if self.config.family.gated_mlp:
            fc = d.map_indexed(d.sub_vector("y", "0", I),
                               lambda g, j: d.to_float(f"{activation(g)} * {d.element('y', f'{j} + {I}')}"))
        else:
            fc = d.map_indexed("y", lambda v, j: d.to_float(activation(v)))
        return (f"pre AS {m}({self.units(table, stats, carry='resid')}),\n"
                f"  fc AS {m}(SELECT {key}, {fc} AS y, resid FROM pre)")

    def project(self, table: str, source: str, n_in: int, residual: str) -> str:
        # The residual added in the same pass over the rows: each element a lambda call fewer.
        # The MLP's rows (`fc`) carry theirs: joined back instead, Spark would compute the
        # residual's CTE, the whole attention, a second time for the join (it does not
        # materialize a CTE read twice), and sort both sides to merge them.
        d, step = self.d, self.step
        carried = source == "fc"
        stream = "a.resid" if carried else "x.x"
        x = self.matvec(table, "a.y", lambda dot, j: f"{dot} + {d.element('m.b', j)} + {d.element(stream, j)}")
        joined = "" if carried else f" JOIN {residual} x ON {step.same_position('x', 'a')}"
        return f"SELECT {step.keys('a')}, {x} AS x FROM {source} a{joined} CROSS JOIN {step.weights(table)} m"

    def final_norm(self, stats: str, keys: list[str], norm: str) -> str:
        d = self.d
        xn = d.map_indexed("s.x", lambda v, i: d.to_float(
            f"({v} - s.mu) * s.r * {d.element('f.g', i)} + {d.element('f.b', i)}"))
        return (f"SELECT {', '.join('s.' + key for key in keys)}, {xn} AS xn "
                f"FROM {stats} s, {self.step.weights(norm)} f")

    # -- attention -----------------------------------------------------------------------------

    def attention(self, l: int) -> str:
        d, step, m, D, key = self.d, self.step, self.d.materialized, self.config.head_size, self.step.keys()
        seq = "seq, " if step.batched else ""
        scale = repr(self.config.attention_scale())
        # Each new query's scores against the keys at positions 0..pos of its sequence.
        scores = d.map_indexed(d.sub_vector("k.vs", "0", "q.pos + 1"), lambda k_vec, _: f"{d.dot('q.vec', k_vec)} * {scale}")
        exp = d.map_indexed("s", lambda v, _: d.to_float(f"exp({v} - top)"))
        out = d.map_indexed("w.vt", lambda channel, _: d.to_float(
            f"{d.dot('w.e', d.sub_vector(channel, '0', 'w.pos + 1'))} / w.z"))
        return f"""-- each sequence's keys (kind {KEY}) per KV head, an array over positions; its values ({VALUE}) a vector per channel
  kv AS {m}(SELECT {seq}kind, hd, CASE WHEN kind = {VALUE} THEN {d.transpose('vs', D)} ELSE vs END AS vs
           FROM (SELECT {seq}kind, hd, {d.collect('vec', 'pos')} AS vs FROM cache{l} WHERE kind <> {QUERY} GROUP BY {seq}kind, hd) g),
  -- each new query · the keys up to its own position, scaled
  scores AS {m}(SELECT {step.keys('q')}, q.hd, {scores} AS s, v.vs AS vt
           FROM cache{l} q JOIN kv k ON k.kind = {KEY} AND k.hd = {step.kv_head('q.hd')}{step.same_sequence('k', 'q')}
           JOIN kv v ON v.kind = {VALUE} AND v.hd = k.hd{step.same_sequence('v', 'k')}
           WHERE q.kind = {QUERY} AND q.pos >= {step.first}),
  -- softmax, stable: exp of (score - the row's maximum)
  peaks AS {m}(SELECT *, {d.vector_max('s')} AS top FROM scores),
  weights AS {m}(SELECT {step.keys()}, hd, vt, e, {d.vector_sum('e')} AS z FROM (SELECT {step.keys()}, hd, vt, {exp} AS e FROM peaks) p),
  -- each head's output: the weights · each channel's values; the heads side by side
  heads AS {m}(SELECT {step.keys('w')}, w.hd, {out} AS y FROM weights w),
  attn AS {m}(SELECT {key}, {d.collect_concat('y', 'hd')} AS y FROM heads GROUP BY {key})"""

    # -- the loss ------------------------------------------------------------------------------

    def loss(self) -> str:
        """Per scored position, log-sum-exp over the vocabulary minus the target's logit: the
        logits a vector per chunk of the unembedding (`lm_chunks`), each chunk's largest and
        sum of exp(logit − largest), combined per position; the target's logit one dot product."""
        d, step, m, key = self.d, self.step, self.d.materialized, self.step.keys()
        seq, by_seq = ("s.seq, ", " GROUP BY s.seq") if step.batched else ("", "")
        scored = " AND t.scored = 1" if step.batched else ""
        logits = d.map_indexed("c.w", lambda row, _: d.dot(row, "s.xn"))
        terms = d.vector_sum(d.map_indexed("l", lambda v, _: d.to_float(f"exp({v} - top)")))
        return f"""WITH
  -- the positions whose next token is predicted, and that token
  scored AS {m}(SELECT {step.keys('f')}, f.xn, t.token AS target FROM final f JOIN tokens t ON {step.same_position('t', 'f', ' + 1')}
             WHERE f.pos >= {step.first}{scored}),
  -- the logits of each chunk of the vocabulary; its largest, and its sum of exp(logit - largest)
  chunks AS {m}(SELECT {step.keys('s')}, {logits} AS l FROM scored s, {step.weights('lm_chunks')} c),
  peaks AS {m}(SELECT {key}, l, {d.vector_max('l')} AS top FROM chunks),
  parts AS {m}(SELECT {key}, top, {terms} AS z, max(top) OVER (PARTITION BY {key}) AS peak FROM peaks),
  lse AS {m}(SELECT {key}, ln(sum(z * exp(top - peak))) + max(peak) AS z FROM parts GROUP BY {key}),
  target AS {m}(SELECT {step.keys('s')}, {d.dot('e.w', 's.xn')} AS logit FROM scored s JOIN {step.unembedding()} e ON e.j = s.target)
SELECT {seq}sum(s.z - t.logit) AS nll FROM lse s JOIN target t ON {step.same_position('t', 's')}{by_seq}"""

    def value_tables(self, l: int) -> list[tuple[str, str]]:
        return []  # attention reads the KV cache itself
