"""The vector layout: a vector is one value of the database's vector type (DuckDB FLOAT[],
pgvector's vector or PostgreSQL real[], Spark ARRAY<FLOAT>), and a dot product is a function.

A weight matrix is a table with one row per *output* unit, `(j, w, b)`: `w` is the column of
the checkpoint's (in, out) matrix that feeds unit j, so a matrix-vector product is one dot
product per row, gathered back into a vector in order of j. A matrix after a norm carries
that norm folded in (`folded_matrix`): `w = g∘W[:, j]`, `s = Σ w`, `b = b_j + β·W[:, j]`.
Embeddings are `wte(j, w)` and `wpe(j, w)`; the final norm's vectors are one row `(g, b)`.
Rotary families have `rope(pos, cos, sin)`, a position's angles as vectors over a head's
elements, and turn each query and key head as one vector (`rotary`); a gated MLP's gate and
up projection are one matrix, its hidden layer gathered once and split (`mlp_hidden`): a
few operators fewer per layer, which is most of what a decode step costs (docs/measurements.md).

Attention weighs the cached values through a transposed copy of them, `vt{l}(c, vals)`: one
row per channel with its values over positions as a vector, so the weighted sum of a channel
is one dot product with the softmax weights. Where the database can update rows in place it
is a table grown by each step (`append_values`); elsewhere (Spark), and in a batched
session, a view of the cache. This layout has the batched step and the explain queries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from ....config import GPTConfig
from ....rotary import cos_sin
from .base import VALUE, Layout, Step, WeightTable, folded_matrix


def _matrix_table(name: str, key: str, n_in: int, n_out: int, norm: str | None = None) -> WeightTable:
    """Rows (j, w[, s], b) of matrix `key`; with `norm`, that norm folded in."""

    def columns(p: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        w, s, b = folded_matrix(p, key, norm)
        out = {"j": np.arange(n_out, dtype=np.int32), "w": w}  # in the order of the table's columns
        if s is not None:
            out["s"] = s.astype(np.float32)
        return out | {"b": b.astype(np.float32)}

    columns_schema = [("j", "int"), ("w", "vector")] + ([("s", "float")] if norm else []) + [("b", "float")]
    return WeightTable(name, columns_schema, n_out, (n_in + 2) * n_out, columns)



class VectorLayout(Layout):
    name = "vector"
    format_version = 3  # 3: rotary angles as vectors per position
    batched = True

    def __init__(self, step: Step) -> None:
        super().__init__(step)
        # Views cannot be grown, so they need no appending; a batch is one step, so its view is read once.
        self.values_view = step.batched or self.d.transposed_values == "view"

    @staticmethod
    def vector_schema(name: str, n: int) -> list[tuple[str, str]]:
        return [(name, "vector")]

    @staticmethod
    def normed_table(name: str, key: str, n_in: int, n_out: int, norm: str, heads: GPTConfig | None = None) -> WeightTable:
        return _matrix_table(name, key, n_in, n_out, norm=norm)  # a unit's head is j // head_size

    @staticmethod
    def rope_table(config: GPTConfig) -> WeightTable:
        """`rope(pos, cos, sin)`: each position's rotary cosines and sines, a vector over the
        head's elements (`rotary.cos_sin`, as transformers computes them)."""
        T, D = config.block_size, config.head_size

        def columns(p: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            cos, sin = cos_sin(config, np.arange(T))  # [T, D] each
            return {"pos": np.arange(T, dtype=np.int32), "cos": cos, "sin": sin}

        return WeightTable("rope", [("pos", "int"), ("cos", "vector"), ("sin", "vector")], T, 2 * T * D, columns)

    @staticmethod
    def projection_table(name: str, key: str, n_in: int, n_out: int) -> WeightTable:
        return _matrix_table(name, key, n_in, n_out)

    def elementwise(self, vectors: list[str], fn: Callable[..., str], n: int) -> str:
        return self.d.map_vectors(vectors, fn)

    def dot(self, a: str, b: str, n: int) -> str:
        return self.d.dot(a, b)

    def norm_ctes(self, name: str, source: str, keys: str) -> str:
        d, eps, C = self.d, repr(float(self.config.layer_norm_epsilon)), self.config.n_embd
        if self.config.family.norm == "rmsnorm":
            return (f"{name} AS {d.materialized}(SELECT {keys}, x, 0.0 AS mu, "
                    f"1.0 / sqrt({d.dot('x', 'x')} / {C} + {eps}) AS r FROM {source})")
        return (f"{name} AS {d.materialized}(SELECT {keys}, x, {d.vector_mean('x')} AS mu, "
                f"1.0 / sqrt({d.vector_var('x')} + {eps}) AS r FROM {source})")

    def gathered(self, units: str, partner: bool = False) -> str:
        """SELECT keys, slot, vec[, partner]: the QKV projection's long rows gathered into a
        vector per head slot (j // head_size). With `partner`, also each vector's rotary
        partner: element e holds −y[e + D/2] for e < D/2 and y[e − D/2] after (the rotation's
        "rotate half"), gathered in that order rather than cut and glued."""
        d, step, D = self.d, self.step, self.config.head_size
        half, slot, e = D // 2, d.int_div("u.j", D), d.mod("u.j", D)
        columns = f"{d.collect(d.to_float('u.y'), 'u.j')} AS vec"
        if partner:
            turned = d.to_float(f"CASE WHEN {e} >= {half} THEN -u.y ELSE u.y END")
            columns += f", {d.collect(turned, d.mod(f'({e} + {half})', D))} AS partner"
        return f"SELECT {step.keys('u')}, {slot} AS slot, {columns} FROM {units} u GROUP BY {step.keys('u')}, {slot}"

    def rotary(self, units: str) -> str:
        """SELECT keys, slot, vec: the head vectors (`gathered`), the query and key heads
        turned by their position, vec·cos + partner·sin, as transformers rotates them."""
        d, H, KV = self.d, self.config.n_head, self.config.n_kv_head
        turned = d.map_vectors(["g.vec", "g.partner", "r.cos", "r.sin"], lambda v, p, c, s: f"{v} * {c} + {p} * {s}")
        return (f"SELECT {self.step.keys('g')}, g.slot, CASE WHEN g.slot < {H + KV} THEN {turned} ELSE g.vec END AS vec "
                f"FROM ({self.gathered(units, partner=True)}) g JOIN {self.step.weights('rope')} r ON r.pos = g.pos")

    def heads(self, units: str) -> str:
        # Rotary families' heads come gathered already (`rotary`); else gather the long rows.
        if self.config.family.positions == "rotary":
            return self.slot_rows(f"SELECT {self.step.keys()}, slot, vec FROM {units}")
        return self.slot_rows(self.gathered(units))

    def slot_rows(self, gathered: str) -> str:
        """SELECT kind, hd, keys, vec: the KV cache's rows from `gathered`'s rows (keys, slot,
        vec), a head's vector each: slots run the query heads, the key heads, the value heads."""
        d, H, KV = self.d, self.config.n_head, self.config.n_kv_head
        if KV == H:
            kind, hd = d.int_div("slot", H), d.mod("slot", H)
        else:
            kind = f"CASE WHEN slot < {H} THEN 0 WHEN slot < {H + KV} THEN 1 ELSE 2 END"
            hd = f"slot - CASE WHEN slot < {H} THEN 0 WHEN slot < {H + KV} THEN {H} ELSE {H + KV} END"
        return f"SELECT {kind} AS kind, {hd} AS hd, {self.step.keys()}, vec FROM ({gathered}) g"

    def attend(self, l: int) -> str:
        d, step, m, D, key = self.d, self.step, self.d.materialized, self.config.head_size, self.step.keys()
        exp = "CASE WHEN visible THEN exp(s - m) ELSE 0 END"
        # Output channel h·D + e of query head h is its weights · channel e of its KV head's values.
        if self.config.n_kv_head == self.config.n_head:
            meets, channel = f"p.hd = {d.int_div('vt.c', D)}", "vt.c"
        else:
            meets, channel = f"{step.kv_head('p.hd')} = {d.int_div('vt.c', D)}", f"p.hd * {D} + {d.mod('vt.c', D)}"
        return f"""-- softmax, stable: exp of (score - the row's maximum); masked keys weigh 0
  weights AS {m}(SELECT {key}, hd, {d.collect(d.to_float(exp), 'kpos')} AS e, sum({exp}) AS z FROM peaks GROUP BY {key}, hd),
  -- each output channel: the softmax weights · that channel's values over positions
  attn AS {m}(SELECT {step.keys('p')}, {d.collect(d.to_float(f"{d.dot('p.e', d.as_vector('vt.vals'))} / p.z"), channel)} AS y
           FROM vt{l} vt JOIN weights p ON {meets}{step.same_sequence('p', 'vt')} GROUP BY {step.keys('p')})"""

    def hidden(self, units: str, activation: Callable[[str], str]) -> str:
        d, key = self.d, self.step.keys("u")
        return f"SELECT {key}, {d.collect(d.to_float(activation('u.y')), 'u.j')} AS y FROM {units} u GROUP BY {key}"

    def mlp_hidden(self, table: str, stats: str, activation: Callable[[str], str]) -> str:
        # Gated (SwiGLU): every unit in one pass over the matrix, gathered into one vector,
        # then act(gate) · up element by element (the gate its first n_inner, up the rest).
        if not self.config.family.gated_mlp:
            return super().mlp_hidden(table, stats, activation)
        d, m, key, I = self.d, self.d.materialized, self.step.keys(), self.config.n_inner
        fc = d.map_vectors([d.sub_vector("h.y", "0", I), d.sub_vector("h.y", str(I), I)],
                           lambda g, u: f"{activation(g)} * {u}")
        return (f"pre AS {m}({self.units(table, stats)}),\n"
                f"  fc AS {m}(SELECT {key}, {fc} AS y FROM ({self.hidden('pre', lambda y: y)}) h)")

    def project(self, table: str, source: str, n_in: int, residual: str) -> str:
        # Each unit's dot product first, in a subquery of its own: gathering then sorts
        # narrow rows, not rows that still carry the weight vectors (PostgreSQL).
        d, step = self.d, self.step
        if d.residual_per_unit:
            # The residual's element added to each unit's product: the residual vector joins
            # the position's one row before the product, not every unit's row after it.
            source = (f"(SELECT s.*, r.x AS resid FROM {source} s JOIN {residual} r ON "
                      f"{step.same_position('r', 's')})")
            units = d.fence(f"SELECT {step.keys('a')}, m.j, {d.dot('m.w', 'a.y')} + m.b + {d.element('a.resid', 'm.j')} "
                            f"AS v FROM {step.weights(table)} m, {source} a")
            return f"SELECT {step.keys('a')}, {d.collect('a.v', 'a.j')} AS x FROM {units} a GROUP BY {step.keys('a')}"
        units = d.fence(f"SELECT {step.keys('a')}, m.j, {d.dot('m.w', 'a.y')} + m.b AS v "
                        f"FROM {step.weights(table)} m, {source} a")
        return (f"SELECT {step.keys('a')}, {d.collect_plus('a.v', 'a.j', 'x.x')} AS x FROM {units} a "
                f"JOIN {residual} x ON {step.same_position('x', 'a')} GROUP BY {step.keys('a')}")

    def final_norm(self, stats: str, keys: list[str], norm: str) -> str:
        # Centred first, in a subquery: a lambda may capture a row's scalars but not aggregate (DuckDB).
        d = self.d
        normed = d.map_vectors(["s.xc", "f.g", "f.b"], lambda a, g, b: f"{a} * s.r * {g} + {b}")
        centred = f"SELECT {', '.join(keys)}, {d.map_vectors(['x'], lambda v: f'{v} - mu')} AS xc, r FROM {stats}"
        return (f"SELECT {', '.join('s.' + key for key in keys)}, {normed} AS xn "
                f"FROM ({centred}) s, {self.step.weights(norm)} f")

    # -- the transposed values ---------------------------------------------------------------

    def transposed_values(self, l: int) -> str:
        """SELECT [seq,] c, vals: layer l's cached values transposed, a row per channel c with
        element c % head_size of KV head c // head_size's value vectors, by position."""
        d, D, seq = self.d, self.config.head_size, "k.seq, " if self.step.batched else ""
        C = self.config.n_kv_head * D
        element = d.to_float(d.element("k.vec", d.mod("r.c", D)))
        return (f"SELECT {seq}r.c, {d.collect(element, 'k.pos')} AS vals FROM {d.range_rows(C, 'c')} "
                f"JOIN cache{l} k ON k.hd = {d.int_div('r.c', D)} WHERE k.kind = {VALUE} GROUP BY {seq}r.c")

    def value_tables(self, l: int) -> list[tuple[str, str]]:
        d, C = self.d, self.config.n_kv_head * self.config.head_size
        sql = (d.temp_view(f"vt{l}", self.transposed_values(l)) if self.values_view else
               d.temp_table_as(f"vt{l}", f"SELECT c, {d.empty_growing_vector()} AS vals FROM {d.range_rows(C, 'c')}"))
        return [(f"layer {l} values, transposed: one row per channel, a vector over positions", sql)]

    def append_values(self, l: int) -> list[tuple[str, str]]:
        if self.values_view:  # (a view of the cache has them already)
            return []
        sql = self.d.append_values(f"vt{l}", f"cache{l}", f"kind = {VALUE} AND pos >= {self.step.first}",
                                   self.config.head_size)
        return [(f"layer {l}: append the new values to each channel's row", sql)]

    def reset_values(self) -> list[tuple[str, str]]:
        if self.values_view:  # views of the cache, emptied with it
            return []
        return [(f"empty vt{l}", f"UPDATE vt{l} SET vals = {self.d.empty_growing_vector()}")
                for l in range(self.config.n_layer)]
