"""GPT-2 compiled to SQL: the weight tables' layout, and one forward step as statements.

The compiler knows the model; the dialect knows the database. Given a config, it lays the
weights out as tables and writes the statements of one forward step, which extend a
session's KV cache by the new positions and leave the final hidden states in a table.

Layout (one schema per installed model): a weight matrix is a table with one row per
*output* unit, `(j, w, b)`, where `w` is the column of the checkpoint's (in, out) matrix
feeding unit j as a float32 vector, so a matrix-vector product is one dot product per row.
Embeddings are `wte(j, w)` and `wpe(j, w)`; layer norms are vectors in `ln` and `ln_f`.

A step reads the new token ids from the session table `tokens(pos, token)`. Per layer l:

    qkv{l}   layer norm, then the QKV projection                  (pos, qkv: 3C vector)
    k{l}     + the new keys, one row per head and position        (hd, pos, k: D vector)
    vt{l}    + the new values, stored transposed: one row per      (c, vals: vector over
             channel holding that channel over all positions       positions)
    x{l+1}   attention (scores, stable softmax, weighted values),  (pos, x: C vector)
             output projection + residual, layer norm, MLP with
             GELU, projection + residual

so a new token costs one position's work: its query meets the cached keys, its value is
appended. Activations stay in the database; Python only starts statements and reads the
logits at the end. All SQL text is built from the config and fixed names — never from
user input, which reaches the database only as bound parameters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from ...config import GPTConfig
from .dialects.base import Dialect

# Bump when the weight tables' layout changes: installs of another format are redone.
FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class WeightTable:
    """A table of the installed model: its columns and how to fill them from the params."""

    name: str
    schema: list[tuple[str, str]]  # (column, kind) with kind in 'int', 'float', 'vector'
    n_rows: int
    n_values: int  # floats it holds, for progress bars
    columns: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def _matrix_table(name: str, key: str, n_in: int, n_out: int) -> WeightTable:
    def columns(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            "j": np.arange(n_out, dtype=np.int32),
            "w": np.ascontiguousarray(p[key + ".weight"].T),  # [out, in]: row j feeds unit j
            "b": p[key + ".bias"],
        }

    return WeightTable(name, [("j", "int"), ("w", "vector"), ("b", "float")], n_out, n_in * n_out + n_out, columns)


def weight_tables(config: GPTConfig) -> list[WeightTable]:
    """Every table an installed model has, in install order."""
    C, L = config.n_embd, config.n_layer
    vec = [("j", "int"), ("w", "vector")]
    tables = [
        WeightTable("wte", vec, config.vocab_size, config.vocab_size * C,
                    lambda p: {"j": np.arange(config.vocab_size, dtype=np.int32), "w": p["wte.weight"]}),
        WeightTable("wpe", vec, config.block_size, config.block_size * C,
                    lambda p: {"j": np.arange(config.block_size, dtype=np.int32), "w": p["wpe.weight"]}),
        WeightTable("ln", [("layer", "int"), ("g1", "vector"), ("b1", "vector"), ("g2", "vector"), ("b2", "vector")], L, 4 * L * C,
                    lambda p: {"layer": np.arange(L, dtype=np.int32),
                               **{col: np.stack([p[f"h.{i}.{name}"] for i in range(L)])
                                  for col, name in (("g1", "ln_1.weight"), ("b1", "ln_1.bias"),
                                                    ("g2", "ln_2.weight"), ("b2", "ln_2.bias"))}}),
        WeightTable("ln_f", [("g", "vector"), ("b", "vector")], 1, 2 * C,
                    lambda p: {"g": p["ln_f.weight"][None], "b": p["ln_f.bias"][None]}),
    ]  # fmt: skip
    for i in range(L):
        tables += [
            _matrix_table(f"h{i}_qkv", f"h.{i}.attn.c_attn", C, 3 * C),
            _matrix_table(f"h{i}_attn_proj", f"h.{i}.attn.c_proj", C, C),
            _matrix_table(f"h{i}_fc", f"h.{i}.mlp.c_fc", C, 4 * C),
            _matrix_table(f"h{i}_mlp_proj", f"h.{i}.mlp.c_proj", 4 * C, C),
        ]
    return tables


@dataclasses.dataclass(frozen=True)
class Statement:
    """One SQL statement of a step, with a comment saying what it computes."""

    comment: str
    sql: str


class Compiler:
    """Writes the statements of a forward step for one model in one dialect."""

    def __init__(self, config: GPTConfig, dialect: Dialect, schema: str) -> None:
        self.config = config
        self.d = dialect
        self.w = schema  # where the weights are

    # -- session tables ------------------------------------------------------------------------

    def session_tables(self) -> list[Statement]:
        """Create a session's KV cache: empty keys, and one empty value row per channel."""
        d, C = self.d, self.config.n_embd
        out = [Statement("the new tokens of each step (filled from bound parameters)",
                         d.temp_table_def("tokens", [("pos", "int"), ("token", "int")]))]
        for l in range(self.config.n_layer):
            out += [
                Statement(f"layer {l} keys: one row per head and position",
                          d.temp_table_def(f"k{l}", [("hd", "int"), ("pos", "int"), ("k", "vector")])),
                Statement(f"layer {l} values, transposed: one row per channel, a vector over positions",
                          d.temp_table_as(f"vt{l}", f"SELECT c, {d.empty_vector()} AS vals FROM {d.range_rows(C, 'c')}")),
            ]
        return out

    def load_tokens(self) -> Statement:
        """Replace `tokens` with the step's token ids: parameters (first position, ids)."""
        return Statement("the new tokens, from bound parameters", self.d.load_tokens_sql("tokens"))

    # -- one forward step ----------------------------------------------------------------------

    def step(self) -> list[Statement]:
        """All statements of one forward step, embeddings to final layer norm."""
        out = [self.embed()]
        for l in range(self.config.n_layer):
            out += self.layer(l)
        out.append(self.final_norm())
        return out

    def embed(self) -> Statement:
        d, w = self.d, self.w
        return Statement(
            "token embedding + position embedding",
            d.temp_table_as("x0", f"SELECT t.pos, {d.map_vectors(['e.w', 'p.w'], lambda a, b: f'{a} + {b}')} AS x FROM tokens t "
                                  f"JOIN {w}.wte e ON e.j = t.token JOIN {w}.wpe p ON p.j = t.pos"),
        )

    def layer_norm(self, source: str, gain: str, bias: str, params: str) -> str:
        """SELECT pos, xn: layer norm of `source(pos, x)` with vectors gain/bias of `params`."""
        d, C, eps = self.d, self.config.n_embd, repr(float(self.config.layer_norm_epsilon))
        centred = f"SELECT pos, {d.map_vectors(['x'], lambda v: f'{v} - mean')} AS xc FROM (SELECT pos, x, {d.vector_sum('x')} / {C} AS mean FROM {source})"
        scaled = f"SELECT pos, xc, 1.0 / sqrt({d.dot('xc', 'xc')} / {C} + {eps}) AS r FROM ({centred})"
        normed = d.map_vectors(["s.xc", f"n.{gain}", f"n.{bias}"], lambda a, g, b: f"{a} * s.r * {g} + {b}")
        return (f"SELECT s.pos, {normed} AS xn "
                f"FROM ({scaled}) s, ({params}) n")

    def matvec(self, table: str, source: str, vector: str, expr: Callable[[str], str] = lambda y: y) -> str:
        """SELECT pos, y: `expr` of each output unit's (w·x + b), gathered back into a vector."""
        d = self.d
        y = expr(f"({d.dot('m.w', f's.{vector}')} + m.b)")
        return f"SELECT s.pos, {d.collect(d.to_float(y), 'm.j')} AS y FROM {self.w}.{table} m, {source} s GROUP BY s.pos"

    def layer(self, l: int) -> list[Statement]:
        d, cfg, w = self.d, self.config, self.w
        C, H, D = cfg.n_embd, cfg.n_head, cfg.head_size
        scale = repr(cfg.attention_scale())
        ln1 = f"SELECT g1, b1 FROM {w}.ln WHERE layer = {l}"
        ln2 = f"SELECT g2, b2 FROM {w}.ln WHERE layer = {l}"
        qkv = Statement(
            f"layer {l}: layer norm 1, then queries, keys and values for the new positions",
            d.temp_table_as(f"qkv{l}", f"WITH a AS ({self.layer_norm(f'x{l}', 'g1', 'b1', ln1)}) "
                                       f"SELECT pos, y AS qkv FROM ({self.matvec(f'h{l}_qkv', 'a', 'xn')})"),
        )
        keys = Statement(
            f"layer {l}: cache the new keys, one row per head",
            f"INSERT INTO k{l} SELECT t.hd, q.pos, {d.slice('q.qkv', f'{C} + t.hd * {D}', D)} "
            f"FROM qkv{l} q, {d.range_rows(H, 'hd', alias='t')}",
        )
        values = Statement(
            f"layer {l}: append the new values to each channel's row",
            d.append_columns(f"vt{l}", "c", f"SELECT {d.collect('qkv', 'pos')} AS rows FROM qkv{l}", 2 * C),
        )
        mlp_in = self.layer_norm("resid", "g2", "b2", ln2)
        gelu = lambda y: f"0.5 * {y} * (1 + tanh(0.7978845608028654 * ({y} + 0.044715 * {y} * {y} * {y})))"  # noqa: E731
        attention = Statement(
            f"layer {l}: causal self-attention, projection + residual, then the MLP + residual",
            d.temp_table_as(f"x{l + 1}", f"""WITH
  -- each new position's query, per head
  q AS (SELECT t.hd, q.pos, {d.slice('q.qkv', f't.hd * {D}', D)} AS q FROM qkv{l} q, {d.range_rows(H, 'hd', alias='t')}),
  -- scaled dot products with every cached key; keys after the query's position are masked (NULL)
  scores AS (SELECT q.pos, q.hd, k.pos AS kpos, CASE WHEN k.pos <= q.pos THEN {d.dot('q.q', 'k.k')} * {scale} END AS s
             FROM q JOIN k{l} k ON k.hd = q.hd),
  score_rows AS (SELECT pos, hd, {d.collect('s', 'kpos')} AS s FROM scores GROUP BY pos, hd),
  -- softmax, stable: subtract the row's maximum before exp; masked scores become 0
  peak AS (SELECT pos, hd, s, {d.vector_max('s')} AS m FROM score_rows),
  weights AS (SELECT pos, hd, {d.map_vectors(['s'], lambda v: f'coalesce(exp({v} - m), 0)')} AS e FROM peak),
  probs AS (SELECT pos, hd, e, 1.0 / {d.vector_sum('e')} AS z FROM weights),
  -- each channel of the output: the probabilities · that channel's values over positions
  attn AS (SELECT p.pos, {d.collect(d.to_float(f"{d.dot('p.e', 'vt.vals')} * p.z"), 'vt.c')} AS y
           FROM vt{l} vt JOIN probs p ON p.hd = vt.c // {D} GROUP BY p.pos),
  -- output projection, plus the residual stream
  resid AS (SELECT a.pos, {d.collect(f"{d.dot('m.w', 'a.y')} + m.b + {d.element('x.x', 'm.j')}", 'm.j')} AS x
            FROM {w}.h{l}_attn_proj m, attn a JOIN x{l} x ON x.pos = a.pos GROUP BY a.pos),
  -- layer norm 2, then the MLP's first layer with GELU (tanh form, as GPT-2)
  a2 AS ({mlp_in}),
  fc AS ({self.matvec(f'h{l}_fc', 'a2', 'xn', gelu)})
-- the MLP's projection, plus the residual stream: the next layer's input
SELECT f.pos, {d.collect(f"{d.dot('m.w', 'f.y')} + m.b + {d.element('r.x', 'm.j')}", 'm.j')} AS x
FROM {w}.h{l}_mlp_proj m, fc f JOIN resid r ON r.pos = f.pos GROUP BY f.pos"""),
        )
        return [qkv, keys, values, attention]

    def final_norm(self) -> Statement:
        L = self.config.n_layer
        return Statement(
            "final layer norm",
            self.d.temp_table_as("final", self.layer_norm(f"x{L}", "g", "b", f"SELECT g, b FROM {self.w}.ln_f")),
        )

    def logits(self, last_only: bool) -> Statement:
        """Logits as long rows (pos, j, logit), the unembedding tied to the token embedding."""
        where = "WHERE f.pos = (SELECT max(pos) FROM final)" if last_only else ""
        return Statement(
            "logits: the final hidden state · every token's embedding",
            f"SELECT f.pos, e.j, {self.d.dot('e.w', 'f.xn')} AS logit FROM {self.w}.wte e, final f {where}",
        )
