"""GPT-2 compiled to SQL: the weight tables' layout, and one forward step as statements.

The compiler knows the model; the dialect knows the database. Given a config, it lays the
weights out as tables and writes the statements of one forward step, which extend a
session's KV cache by the new positions and leave the final hidden states in a table.

Layout (one schema per installed model). A weight matrix is a table with one row per
*output* unit, `(j, w, b)`: `w` is the column of the checkpoint's (in, out) matrix that feeds
unit j, a float32 vector, so a matrix-vector product is one dot product per row. The two
matrices that follow a layer norm have its gain and bias folded in, which is exact algebra:

    LN(x)·W + b  =  r·(x·(g∘W) − μ·Σ(g∘W)) + (b + β·W)     μ = mean(x), r = 1/√(var(x)+ε)

so those tables carry `w = g∘W[:, j]`, `s = Σ w` and `b = b_j + β·W[:, j]`, and a layer norm
costs two numbers per position (μ, r) instead of an element-wise pass over the vector.
Embeddings are `wte(j, w)` and `wpe(j, w)`; the final norm's vectors are in `ln_f(g, b)`.

A step reads the new token ids from the session table `tokens(pos, token)`. Per layer l:

    cache{l}  += queries, keys and values of the new positions,   (kind 0/1/2, hd, pos, vec)
                 one row per head: layer norm 1 + QKV projection
    vt{l}     += the new values, kept transposed: one row per     (c, vals over positions)
                 channel, so weighting them is one dot product
                 (where rows cannot be updated: a view of cache{l})
    x{l+1}    := causal attention (scores, stable softmax,        (pos, x)
                 weighted values), projection + residual, layer
                 norm 2 + MLP with GELU, projection + residual

so a new token costs one position's work: its query meets the cached keys, its value is
appended. Activations stay in the database; Python only starts statements and reads the
logits at the end.

Batched (`batched=True`), every session table is keyed by (seq, pos) instead of pos: one
step runs many independent sequences at once (scoring a table's rows), attention joins
keys of the same sequence only, and the transposed values are a view grouped by sequence.

All SQL text is built from the config and fixed names — never from user input, which
reaches the database only as bound parameters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import numpy as np

from ...config import GPTConfig
from .dialects.base import Dialect

# Bump when the weight tables' layout changes: installs of another format are redone.
FORMAT_VERSION = 2

QUERY, KEY, VALUE = 0, 1, 2  # `kind` of a cache row


@dataclasses.dataclass(frozen=True)
class WeightTable:
    """A table of the installed model: its columns and how to fill them from the params."""

    name: str
    schema: list[tuple[str, str]]  # (column, kind) with kind in 'int', 'float', 'vector'
    n_rows: int
    n_values: int  # floats it holds, for progress bars
    columns: Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]


def folded_matrix(p: Mapping[str, np.ndarray], key: str,
                  norm: str | None = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """The matrix `key` as rows by output unit, with the layer norm `norm` (if any) folded in
    (see the module docstring): W' [out, in] in float32, as stored; the row sums of those
    stored values s [out] in float64 (None without a norm); the bias b' [out] in float64.
    Both layouts install from this, each in its own column types."""
    weight = p[key + ".weight"].astype(np.float64)  # [in, out]
    bias = p[key + ".bias"].astype(np.float64)  # [out]
    if norm is None:
        return np.ascontiguousarray(weight.T, np.float32), None, bias
    gain, shift = p[norm + ".weight"].astype(np.float64), p[norm + ".bias"].astype(np.float64)  # [in]
    folded = np.ascontiguousarray((gain[:, None] * weight).T, np.float32)  # [out, in]
    return folded, folded.astype(np.float64).sum(axis=1), bias + shift @ weight


def _matrix_table(name: str, key: str, n_in: int, n_out: int, norm: str | None = None) -> WeightTable:
    """Rows (j, w[, s], b) of matrix `key`; with `norm`, that layer norm's gain and bias folded in."""

    def columns(p: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        w, s, b = folded_matrix(p, key, norm)
        out = {"j": np.arange(n_out, dtype=np.int32), "w": w}  # in the order of the table's columns
        if s is not None:
            out["s"] = s.astype(np.float32)
        return out | {"b": b.astype(np.float32)}

    columns_schema = [("j", "int"), ("w", "vector")] + ([("s", "float")] if norm else []) + [("b", "float")]
    return WeightTable(name, columns_schema, n_out, (n_in + 2) * n_out, columns)


def weight_tables(config: GPTConfig) -> list[WeightTable]:
    """Every table an installed model has, in install order."""
    C, V, T = config.n_embd, config.vocab_size, config.block_size
    vec = [("j", "int"), ("w", "vector")]
    tables = [
        WeightTable("wte", vec, V, V * C, lambda p: {"j": np.arange(V, dtype=np.int32), "w": p["wte.weight"]}),
        WeightTable("wpe", vec, T, T * C, lambda p: {"j": np.arange(T, dtype=np.int32), "w": p["wpe.weight"]}),
        WeightTable("ln_f", [("g", "vector"), ("b", "vector")], 1, 2 * C,
                    lambda p: {"g": p["ln_f.weight"][None], "b": p["ln_f.bias"][None]}),
    ]  # fmt: skip
    for i in range(config.n_layer):
        tables += [
            _matrix_table(f"h{i}_qkv", f"h.{i}.attn.c_attn", C, 3 * C, norm=f"h.{i}.ln_1"),
            _matrix_table(f"h{i}_attn_proj", f"h.{i}.attn.c_proj", C, C),
            _matrix_table(f"h{i}_fc", f"h.{i}.mlp.c_fc", C, 4 * C, norm=f"h.{i}.ln_2"),
            _matrix_table(f"h{i}_mlp_proj", f"h.{i}.mlp.c_proj", 4 * C, C),
        ]
    return tables


@dataclasses.dataclass(frozen=True)
class Statement:
    """One SQL statement of a step, with a comment saying what it computes. An INSERT of a
    query's rows also carries its parts, `target` and `query`, for callers that run the query
    another way (the standalone script makes views of them): no one parses `sql` back."""

    comment: str
    sql: str
    target: str | None = None  # the table an INSERT writes
    query: str | None = None  # the query whose rows it writes

    @classmethod
    def insert(cls, comment: str, target: str, query: str, separator: str = " ") -> Statement:
        """INSERT INTO `target` the rows of `query`."""
        return cls(comment, f"INSERT INTO {target}{separator}{query}", target, query)


class Compiler:
    """Writes the statements of a forward step for one model in one dialect.

    Every step statement appends to a session table and takes one parameter, the first new
    position, so a database can prepare them once per session. With `inspect`, each layer
    also records its attention weights in `attn{l}(pos, hd, kpos, p)`. With `first`, a SQL
    expression takes the parameter's place (the standalone script computes positions in SQL).
    With `batched`, positions are keyed by (seq, pos) and `tokens` has a column `scored`
    saying which tokens the loss counts (see the module docstring).
    """

    def __init__(self, config: GPTConfig, dialect: Dialect, schema: str, inspect: bool = False,
                 first: str | None = None, batched: bool = False) -> None:
        if inspect and batched:
            raise ValueError("a batched step records no attention weights")
        self.config = config
        self.d = dialect
        self.w = schema  # where the weights are
        self.inspect = inspect
        self.batched = batched
        self.first = dialect.param(1) if first is None else first  # the step's first new position
        # Views cannot be grown, so they need no appending; a batch is one step, so its view is read once.
        self.values_view = batched or dialect.transposed_values == "view"

    # -- what keys a position ------------------------------------------------------------------

    def keys(self, alias: str | None = None) -> str:
        """The columns naming a position, of table `alias`: `pos`, or `seq, pos` when batched."""
        a = f"{alias}." if alias else ""
        return f"{a}seq, {a}pos" if self.batched else f"{a}pos"

    def key_columns(self) -> list[tuple[str, str]]:
        return ([("seq", "int")] if self.batched else []) + [("pos", "int")]

    def same_sequence(self, a: str, b: str) -> str:
        """A join condition (with a leading AND) that rows of `a` and `b` are of one sequence."""
        return f" AND {a}.seq = {b}.seq" if self.batched else ""

    def same_position(self, a: str, b: str, offset: str = "") -> str:
        """A join condition: `a`'s position is `b`'s (plus `offset`, e.g. ' + 1'), same sequence."""
        return f"{a}.pos = {b}.pos{offset}" + self.same_sequence(a, b)

    # -- session tables ------------------------------------------------------------------------

    def session_tables(self) -> list[Statement]:
        """A session's tables: its tokens, residual streams and KV cache, all empty."""
        d, C, L = self.d, self.config.n_embd, self.config.n_layer
        table, key = d.temp_table_def, self.key_columns()
        scored = [("scored", "int")] if self.batched else []  # 1: the loss counts this token
        out = [Statement("the tokens so far", table("tokens", key + [("token", "int")] + scored))]
        out += [Statement(f"the residual stream entering layer {l}" if l < L else "the residual stream after the last layer",
                          table(f"x{l}", key + [("x", "vector")])) for l in range(L + 1)]
        out.append(Statement("the final layer norm's output", table("final", key + [("xn", "vector")])))
        for l in range(L):
            out += [
                Statement(f"layer {l} queries (kind 0), keys (1) and values (2): a row per head and position",
                          table(f"cache{l}", [("kind", "int"), ("hd", "int")] + key + [("vec", "vector")])),
                Statement(f"layer {l} values, transposed: one row per channel, a vector over positions",
                          d.temp_view(f"vt{l}", self.transposed_values(l)) if self.values_view else
                          d.temp_table_as(f"vt{l}", f"SELECT c, {d.empty_growing_vector()} AS vals FROM {d.range_rows(C, 'c')}")),
            ]  # fmt: skip
            if self.inspect:
                out.append(Statement(f"layer {l} attention weights", table(
                    f"attn{l}", [("pos", "int"), ("hd", "int"), ("kpos", "int"), ("p", "float")])))
        return out

    def transposed_values(self, l: int) -> str:
        """SELECT [seq,] c, vals: layer l's cached values transposed, a row per channel c with
        element c % head_size of head c // head_size's value vectors, by position."""
        d, D, C, seq = self.d, self.config.head_size, self.config.n_embd, "k.seq, " if self.batched else ""
        element = d.to_float(d.element("k.vec", d.mod("r.c", D)))
        return (f"SELECT {seq}r.c, {d.collect(element, 'k.pos')} AS vals FROM {d.range_rows(C, 'c')} "
                f"JOIN cache{l} k ON k.hd = {d.int_div('r.c', D)} WHERE k.kind = {VALUE} GROUP BY {seq}r.c")

    def reset(self) -> list[Statement]:
        """Empty the session's tables, for a new sequence on the same session."""
        d, L = self.d, self.config.n_layer
        tables = ["tokens", *(f"x{l}" for l in range(L + 1)), "final", *(f"cache{l}" for l in range(L))]
        tables += [f"attn{l}" for l in range(L)] if self.inspect else []
        return [Statement(f"empty {name}", d.empty_table(name)) for name in tables] + self.reset_values()

    def reset_values(self) -> list[Statement]:
        """Empty the transposed values (unless they are views of the cache, emptied with it)."""
        d, L = self.d, self.config.n_layer
        if self.values_view:
            return []
        return [Statement(f"empty vt{l}", f"UPDATE vt{l} SET vals = {d.empty_growing_vector()}") for l in range(L)]

    def load_tokens(self) -> Statement:
        """Append the step's tokens; parameters: the first new position, then the ids."""
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
        x = d.map_vectors(["e.w", "p.w"], lambda a, b: f"{a} + {b}")
        return Statement.insert(
            "token embedding + position embedding: the residual stream x0", "x0",
            f"SELECT {self.keys('t')}, {x} FROM tokens t JOIN {w}.wte e ON e.j = t.token "
            f"JOIN {w}.wpe p ON p.j = t.pos WHERE t.pos >= {self.first}",
        )

    def norm_stats(self, source: str, keys: str | None = None) -> str:
        """SELECT keys, x, mu, r: a layer norm's mean and 1/√(var + ε) of each row of `source`
        (a table or an aliased subquery); by default, of its new positions ([seq,] pos)."""
        d, eps = self.d, repr(float(self.config.layer_norm_epsilon))
        if keys is None:
            keys, source = self.keys(), f"{source} WHERE pos >= {self.first}"
        return f"SELECT {keys}, x, {d.vector_mean('x')} AS mu, 1.0 / sqrt({d.vector_var('x')} + {eps}) AS r FROM {source}"

    def normed_matvec(self, table: str, stats: str, slot_width: int | None = None,
                      activation: Callable[[str], str] | None = None) -> str:
        """SELECT [seq,] pos, y: LN(x)·W + b (then `activation`) for a table with the norm folded in;
        with `slot_width`, cut into vectors of that many units, numbered by a column `slot`."""
        d = self.d
        pre = f"n.r * ({d.dot('m.w', 'n.x')} - n.mu * m.s) + m.b"
        # Each unit's value first, in a subquery of its own: the activation names its input
        # several times (not every database eliminates repeated dot products), and gathering
        # then sorts narrow rows, not rows that still carry the weight vectors (PostgreSQL).
        source = d.fence(f"SELECT {self.keys('n')}, m.j, {pre} AS pre FROM {self.w}.{table} m, {stats} n") + " u"
        pre, key, j = (activation or (lambda v: v))("u.pre"), self.keys("u"), "u.j"
        y = d.collect(d.to_float(pre), j)
        if slot_width is None:
            return f"SELECT {key}, {y} AS y FROM {source} GROUP BY {key}"
        slot = d.int_div(j, slot_width)
        return f"SELECT {key}, {slot} AS slot, {y} AS y FROM {source} GROUP BY {key}, {slot}"

    def attention_scores(self, l: int) -> str:
        """CTEs `scores` and `peaks`: each new query · every cached key of its head, scaled,
        with its row's maximum over the visible (not later) keys."""
        d, scale, key = self.d, repr(self.config.attention_scale()), self.keys()
        return f"""scores AS {d.materialized}(SELECT {self.keys('q')}, q.hd, k.pos AS kpos, {d.dot('q.vec', 'k.vec')} * {scale} AS s, k.pos <= q.pos AS visible
             FROM cache{l} q JOIN cache{l} k ON k.hd = q.hd AND k.kind = {KEY}{self.same_sequence('k', 'q')}
             WHERE q.kind = {QUERY} AND q.pos >= {self.first}),
  peaks AS {d.materialized}(SELECT s.*, r.m FROM scores s JOIN (SELECT {key}, hd, max(CASE WHEN visible THEN s END) AS m
             FROM scores GROUP BY {key}, hd) r ON {self.same_position('r', 's')} AND r.hd = s.hd)"""

    def layer(self, l: int) -> list[Statement]:
        d, cfg, w = self.d, self.config, self.w
        D = cfg.head_size
        H = cfg.n_head
        qkv = Statement.insert(
            f"layer {l}: layer norm 1 and the QKV projection; cache each head's query, key and value", f"cache{l}",
            f"SELECT {d.int_div('slot', H)} AS kind, {d.mod('slot', H)} AS hd, {self.keys()}, y AS vec FROM (\n  "
            + self.normed_matvec(f"h{l}_qkv", d.fence(self.norm_stats(f"x{l}")), slot_width=D)
            + "\n) y",
            separator="\n",
        )
        statements = [qkv]
        if not self.values_view:  # (a view of the cache has them already)
            statements.append(Statement(
                f"layer {l}: append the new values to each channel's row",
                d.append_values(f"vt{l}", f"cache{l}", f"kind = {VALUE} AND pos >= {self.first}", D)))
        gelu = lambda y: f"0.5 * {y} * (1 + tanh(0.7978845608028654 * ({y} + 0.044715 * {y} * {y} * {y})))"  # noqa: E731
        exp = "CASE WHEN visible THEN exp(s - m) ELSE 0 END"
        key = self.keys()
        attention = Statement.insert(
            f"layer {l}: causal self-attention, projection + residual, then the MLP + residual", f"x{l + 1}",
            f"""WITH
  -- each new query against every cached key of its head; later keys are masked out
  {self.attention_scores(l)},
  -- softmax, stable: exp of (score - the row's maximum); masked keys weigh 0
  weights AS {d.materialized}(SELECT {key}, hd, {d.collect(d.to_float(exp), 'kpos')} AS e, sum({exp}) AS z FROM peaks GROUP BY {key}, hd),
  -- each output channel: the softmax weights · that channel's values over positions
  attn AS {d.materialized}(SELECT {self.keys('p')}, {d.collect(d.to_float(f"{d.dot('p.e', d.as_vector('vt.vals'))} / p.z"), 'vt.c')} AS y
           FROM vt{l} vt JOIN weights p ON p.hd = {d.int_div('vt.c', D)}{self.same_sequence('p', 'vt')} GROUP BY {self.keys('p')}),
  -- output projection, plus the residual stream (each unit's dot product first, as in normed_matvec)
  resid AS {d.materialized}(SELECT {self.keys('a')}, {d.collect_plus("a.v", 'a.j', 'x.x')} AS x
            FROM {d.fence(f"SELECT {self.keys('a')}, m.j, {d.dot('m.w', 'a.y')} + m.b AS v FROM {w}.h{l}_attn_proj m, attn a")} a
            JOIN x{l} x ON {self.same_position('x', 'a')} GROUP BY {self.keys('a')}),
  -- layer norm 2 and the MLP's first layer, with GELU (tanh form, as GPT-2)
  fc AS {d.materialized}({self.normed_matvec(f"h{l}_fc", d.fence(self.norm_stats("resid")), activation=gelu)})
-- the MLP's projection, plus the residual stream: the next layer's input
SELECT {self.keys('f')}, {d.collect_plus("f.v", 'f.j', 'r.x')}
FROM {d.fence(f"SELECT {self.keys('f')}, m.j, {d.dot('m.w', 'f.y')} + m.b AS v FROM {w}.h{l}_mlp_proj m, fc f")} f
JOIN resid r ON {self.same_position('r', 'f')} GROUP BY {self.keys('f')}""",
            separator="\n",
        )
        statements.append(attention)
        if self.inspect:
            statements.append(Statement.insert(
                f"layer {l}: record the attention weights (for inspection only)", f"attn{l}",
                f"WITH {self.attention_scores(l)}\n"
                f"SELECT pos, hd, kpos, {exp} / sum({exp}) OVER (PARTITION BY pos, hd) FROM peaks"))
        return statements

    def final_norm_of(self, stats: str, keys: list[str]) -> str:
        """SELECT keys, xn: the rows of `stats` (keys, x, mu, r, from `norm_stats`) through
        the final layer norm. The step norms the last stream with it; explain, every stream."""
        d = self.d
        normed = d.map_vectors(["s.xc", "n.g", "n.b"], lambda a, g, b: f"{a} * s.r * {g} + {b}")
        centred = f"SELECT {', '.join(keys)}, {d.map_vectors(['x'], lambda v: f'{v} - mu')} AS xc, r FROM {d.fence(stats)} n"
        return f"SELECT {', '.join('s.' + key for key in keys)}, {normed} AS xn FROM ({centred}) s, {self.w}.ln_f n"

    def final_norm(self) -> Statement:
        stats = self.norm_stats(f"x{self.config.n_layer}")
        return Statement.insert("final layer norm", "final", self.final_norm_of(stats, [c for c, _ in self.key_columns()]))

    def logits(self, last_only: bool) -> Statement:
        """Logits as long rows ([seq,] pos, j, logit) from position $1 on (only $1 if
        `last_only`); batched, at the positions whose next token is scored. The unembedding
        is tied to the token embedding."""
        source = "final f"
        if self.batched:
            source += f" JOIN tokens t ON {self.same_position('t', 'f', ' + 1')} WHERE t.scored = 1 AND f.pos >= {self.first}"
        else:
            source += f" WHERE f.pos = {self.first}" if last_only else f" WHERE f.pos >= {self.first}"
        return Statement(
            "logits: the final hidden state · every token's embedding",
            f"SELECT {self.keys('f')}, e.j, {self.d.dot('e.w', 'f.xn')} AS logit FROM {self.w}.wte e, {source}",
        )

    def loss(self) -> Statement:
        """The negative log-likelihood (nats) of the tokens after position $1, each predicted by
        the logits of the position before it: log-sum-exp minus the target's logit, summed.
        Batched: of the scored tokens, a row (seq, nll) per sequence."""
        m, key = self.d.materialized, self.keys()
        seq, by_seq = ("s.seq, ", " GROUP BY s.seq") if self.batched else ("", "")
        return Statement("the loss: how surprised the model is by each next token, summed", f"""WITH
  l AS {m}({self.logits(last_only=False).sql}),
  peak AS {m}(SELECT {key}, max(logit) AS top FROM l GROUP BY {key}),
  lse AS {m}(SELECT {self.keys('l')}, ln(sum(exp(l.logit - p.top))) + p.top AS z FROM l JOIN peak p ON {self.same_position('p', 'l')}
             GROUP BY {self.keys('l')}, p.top)
SELECT {seq}sum(s.z - l.logit) AS nll FROM lse s JOIN tokens t ON {self.same_position('t', 's', ' + 1')}
  JOIN l ON {self.same_position('l', 's')} AND l.j = t.token{by_seq}""")

    def top(self, k: int, vocab_size: int) -> Statement:
        """The k most likely tokens (below `vocab_size`) after position $1, with their
        probabilities: a softmax over the last position's logits, ranked in SQL."""
        m = self.d.materialized
        return Statement(f"the {k} most likely next tokens", f"""WITH
  l AS {m}(SELECT j, logit FROM ({self.logits(last_only=True).sql}) a WHERE j < {vocab_size}),
  peak AS {m}(SELECT max(logit) AS top, sum(exp(logit - (SELECT max(logit) FROM l))) AS z FROM l)
SELECT l.j, exp(l.logit - p.top) / p.z AS p FROM l, peak p ORDER BY p DESC, l.j LIMIT {k}""")

    def top_batch(self, k: int, vocab_size: int) -> Statement:
        """Batched `top`: the k most likely tokens after the last position of every sequence,
        as rows (seq, rank, j, p)."""
        d, m, w = self.d, self.d.materialized, self.w
        weight = "exp(l.logit - p.top)"  # the softmax before dividing by its sum: the same order
        return Statement(f"the {k} most likely next tokens after each sequence", f"""WITH
  last AS {m}(SELECT seq, max(pos) AS pos FROM tokens GROUP BY seq),
  l AS {m}(SELECT f.seq, e.j, {d.dot('e.w', 'f.xn')} AS logit FROM {w}.wte e, final f
           JOIN last t ON t.seq = f.seq AND t.pos = f.pos WHERE e.j < {vocab_size}),
  peak AS {m}(SELECT seq, max(logit) AS top FROM l GROUP BY seq),
  total AS {m}(SELECT l.seq, sum({weight}) AS z FROM l JOIN peak p ON p.seq = l.seq GROUP BY l.seq),
  ranked AS {m}(SELECT l.seq, l.j, {weight} / s.z AS p, row_number() OVER (PARTITION BY l.seq ORDER BY {weight} DESC, l.j) AS r
                FROM l JOIN peak p ON p.seq = l.seq JOIN total s ON s.seq = l.seq)
SELECT seq, r, j, p FROM ranked WHERE r <= {k} ORDER BY seq, r""")
