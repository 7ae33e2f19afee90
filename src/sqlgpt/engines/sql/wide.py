"""GPT-2 compiled to SQL for databases without a vector type: vectors as rows of columns.

SQLite has no arrays, so a vector of the residual stream is a row with one REAL column per
channel, `(pos, x0, x1, …)`, and a dot product is a sum of products written out term by
term. Measured (docs/measurements.md), that is several times faster than one row per matrix
element or JSON arrays. A matrix-vector product has two shapes here, and a layer alternates
them so that no vector ever has to be turned from rows into columns the slow way:

* **by output** (`j, w0…w{C-1}`): one weight row per output unit, each a C-term dot product
  with the input row; the result is *long*, one row per (position, unit). Used where the
  input is a row of columns: QKV after layer norm 1, the MLP's first layer, the logits.
* **by input** (`i, w0…w{C-1}`): one weight row per *input* unit, joined to the long input
  and summed column by column (`sum(v * w0), sum(v * w1), …`); the result is a row of
  columns again. Used for both projections back into the residual stream. The bias is one
  more weight row (`i = n_in`) met by a constant input of 1.

Layer norms fold into the following by-output matrix by `compiler.folded_matrix`, as there. The KV
cache keeps one row per (kind, head, position) with the head's channels as columns, so a
query · key is a 64-term sum. Long sums are nested in balanced groups, because SQLite
limits an expression's depth to 1000. What this module does not do: anything needing a
vector type (see `compiler.py`, which DuckDB and PostgreSQL use). Identifiers are built from
the config only; user input never reaches SQL text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ...config import GPTConfig
from .compiler import KEY, QUERY, VALUE, Compiler, Statement, WeightTable, folded_matrix
from .dialects.base import Dialect

# Bump when these tables' layout changes: installs of another format are redone.
FORMAT_VERSION = 1


def columns(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{k}" for k in range(n)]


def balanced_sum(terms: Sequence[str], group: int = 32) -> str:
    """`terms` added up, parenthesised in groups so that the expression stays shallow."""
    terms = list(terms)
    while len(terms) > group:
        terms = ["(" + " + ".join(terms[i : i + group]) + ")" for i in range(0, len(terms), group)]
    return " + ".join(terms)


def row_dot(a: str, a_prefix: str, b: str, b_prefix: str, n: int) -> str:
    """The dot product of the n-column vectors `a.{a_prefix}k` and `b.{b_prefix}k`."""
    return balanced_sum([f"{a}.{a_prefix}{k} * {b}.{b_prefix}{k}" for k in range(n)])


def _float_columns(prefix: str, n: int) -> list[tuple[str, str]]:
    return [(name, "float") for name in columns(prefix, n)]


def _by_output(name: str, key: str, n_in: int, n_out: int, norm: str | None = None, head_size: int = 0) -> WeightTable:
    """Rows (j, [kind, hd, d,] w0…, [s,] b): one per output unit; with `norm`, folded in.
    With `head_size`, each unit also carries which of q/k/v, which head and which channel."""

    def fill(p: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        w, s, b = folded_matrix(p, key, norm)
        j = np.arange(n_out, dtype=np.int64)
        out: dict[str, np.ndarray] = {"j": j}  # in the order of the table's columns
        if head_size:
            out |= {"kind": j // n_in, "hd": (j % n_in) // head_size, "d": j % head_size}
        out["w"] = w.astype(np.float64)  # REAL columns hold doubles
        if s is not None:
            out["s"] = s
        return out | {"b": b}

    schema = [("j", "int")] + ([("kind", "int"), ("hd", "int"), ("d", "int")] if head_size else [])
    schema += _float_columns("w", n_in) + ([("s", "float")] if norm else []) + [("b", "float")]
    return WeightTable(name, schema, n_out, (n_in + 2) * n_out, fill)


def _by_input(name: str, key: str, n_in: int, n_out: int) -> WeightTable:
    """Rows (i, w0…w{n_out-1}): one per input unit, then the bias as row i = n_in."""

    def fill(p: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        weight = p[key + ".weight"]  # [in, out]
        rows = np.concatenate([weight, p[key + ".bias"][None]]).astype(np.float64)  # [in + 1, out]
        return {"i": np.arange(n_in + 1, dtype=np.int64), "w": rows}

    return WeightTable(name, [("i", "int")] + _float_columns("w", n_out), n_in + 1, (n_in + 1) * n_out, fill)


def weight_tables(config: GPTConfig) -> list[WeightTable]:
    """Every table an installed model has in the wide layout, in install order."""
    C, V, T, D = config.n_embd, config.vocab_size, config.block_size, config.head_size
    embedding = [("j", "int")] + _float_columns("w", C)
    tables = [
        WeightTable("wte", embedding, V, V * C, lambda p: {"j": np.arange(V), "w": p["wte.weight"]}),
        WeightTable("wpe", embedding, T, T * C, lambda p: {"j": np.arange(T), "w": p["wpe.weight"]}),
        WeightTable("ln_f", _float_columns("g", C) + _float_columns("b", C), 1, 2 * C,
                    lambda p: {"g": p["ln_f.weight"][None], "b": p["ln_f.bias"][None]}),
    ]  # fmt: skip
    for i in range(config.n_layer):
        tables += [
            _by_output(f"h{i}_qkv", f"h.{i}.attn.c_attn", C, 3 * C, norm=f"h.{i}.ln_1", head_size=D),
            _by_input(f"h{i}_attn_proj", f"h.{i}.attn.c_proj", C, C),
            _by_output(f"h{i}_fc", f"h.{i}.mlp.c_fc", C, 4 * C, norm=f"h.{i}.ln_2"),
            _by_input(f"h{i}_mlp_proj", f"h.{i}.mlp.c_proj", 4 * C, C),
        ]
    return tables


class WideCompiler(Compiler):
    """Writes a forward step in the wide layout: `compiler.Compiler`'s plan and interface,
    with the statements that touch vectors written column by column.

    Session tables: tokens(pos, token), x{l}(pos, x0…), final(pos, xn0…),
    cache{l}(kind, hd, pos, c0…c{D-1}) and, with `inspect`, attn{l}(pos, hd, kpos, p). With
    `first`, a SQL expression takes the place of the position parameter.
    """

    def __init__(self, config: GPTConfig, dialect: Dialect, schema: str, inspect: bool = False,
                 first: str | None = None, batched: bool = False) -> None:
        if batched:  # its tables have no seq column (layouts.py: the wide layout is not batched)
            raise ValueError("the wide layout has no batched step")
        super().__init__(config, dialect, schema, inspect=inspect, first=first)

    def weights(self, table: str) -> str:
        """A weight table's qualified name."""
        return self.d.qualify(self.w, table)

    # -- session tables ------------------------------------------------------------------------

    def session_tables(self) -> list[Statement]:
        d, C, D, L = self.d, self.config.n_embd, self.config.head_size, self.config.n_layer
        table = d.temp_table_def
        out = [Statement("the tokens so far", table("tokens", [("pos", "int"), ("token", "int")], key=["pos"]))]
        out += [Statement(f"the residual stream entering layer {l}" if l < L else "the residual stream after the last layer",
                          table(f"x{l}", [("pos", "int")] + _float_columns("x", C), key=["pos"])) for l in range(L + 1)]
        out.append(Statement("the final layer norm's output",
                             table("final", [("pos", "int")] + _float_columns("xn", C), key=["pos"])))
        for l in range(L):
            out.append(Statement(
                f"layer {l} queries (kind 0), keys (1) and values (2): a row per head and position, a column per channel",
                table(f"cache{l}", [("kind", "int"), ("hd", "int"), ("pos", "int")] + _float_columns("c", D),
                      key=["kind", "hd", "pos"])))
            if self.inspect:
                out.append(Statement(f"layer {l} attention weights", table(
                    f"attn{l}", [("pos", "int"), ("hd", "int"), ("kpos", "int"), ("p", "float")])))
        return out

    def reset_values(self) -> list[Statement]:
        return []  # no transposed values: attention reads the cache's rows

    # -- one forward step ----------------------------------------------------------------------

    def embed(self) -> Statement:
        C = self.config.n_embd
        x = ", ".join(f"e.w{k} + p.w{k}" for k in range(C))
        return Statement.insert(
            "token embedding + position embedding: the residual stream x0", "x0",
            f"SELECT t.pos, {x} FROM tokens t JOIN {self.weights('wte')} e ON e.j = t.token "
            f"JOIN {self.weights('wpe')} p ON p.j = t.pos WHERE t.pos >= {self.first}",
        )

    def norm_ctes(self, name: str, source: str) -> str:
        """CTEs `{name}_m` (rows of `source` with their mean mu) and `{name}` (…and
        r = 1/√(var + ε)): a layer norm's two numbers per position, each computed once."""
        C, m = self.config.n_embd, self.d.materialized
        eps = repr(float(self.config.layer_norm_epsilon))
        mean = f"({balanced_sum(columns('s.x', C))}) / {C}"
        var = f"({balanced_sum([f'(s.x{k} - s.mu) * (s.x{k} - s.mu)' for k in range(C)])}) / {C}"
        return (f"{name}_m AS {m}(SELECT s.*, {mean} AS mu FROM {source} s),\n"
                f"  {name} AS {m}(SELECT s.*, 1.0 / sqrt({var} + {eps}) AS r FROM {name}_m s)")

    def by_output(self, table: str, stats: str, extra: str = "") -> str:
        """SELECT pos, j[, extra], y: LN(x)·W + b, one row per position and unit."""
        pre = f"n.r * ({row_dot('m', 'w', 'n', 'x', self.config.n_embd)} - n.mu * m.s) + m.b"
        return f"SELECT n.pos, m.j{extra}, {pre} AS y FROM {self.weights(table)} m, {stats} n"

    def by_input(self, table: str, source: str, n_in: int) -> str:
        """SELECT pos, y0…: long input rows (pos, i, v) of `source` · a by-input table,
        the bias included as the weight row met by a constant 1."""
        C = self.config.n_embd
        sums = ", ".join(f"sum(u.v * m.w{k}) AS y{k}" for k in range(C))
        inputs = f"SELECT pos, i, v FROM {source} UNION ALL SELECT DISTINCT pos, {n_in}, 1.0 FROM {source}"
        return f"SELECT u.pos, {sums} FROM ({inputs}) u JOIN {self.weights(table)} m ON m.i = u.i GROUP BY u.pos"

    def attention_scores(self, l: int) -> str:
        """CTEs `scores` (each new query · every visible cached key of its head, scaled) and
        `peaks` (with exp(score − the row's maximum))."""
        m, D = self.d.materialized, self.config.head_size
        scale = repr(self.config.attention_scale())
        return f"""scores AS {m}(SELECT q.pos, q.hd, k.pos AS kpos, ({row_dot('q', 'c', 'k', 'c', D)}) * {scale} AS s
             FROM cache{l} q JOIN cache{l} k ON k.kind = {KEY} AND k.hd = q.hd AND k.pos <= q.pos
             WHERE q.kind = {QUERY} AND q.pos >= {self.first}),
  peaks AS {m}(SELECT s.pos, s.hd, s.kpos, exp(s.s - r.top) AS e FROM scores s
             JOIN (SELECT pos, hd, max(s) AS top FROM scores GROUP BY pos, hd) r ON r.pos = s.pos AND r.hd = s.hd)"""

    def layer(self, l: int) -> list[Statement]:
        cfg, m = self.config, self.d.materialized
        C, D = cfg.n_embd, cfg.head_size
        pivot = ", ".join(f"max(CASE WHEN d = {k} THEN y END) AS c{k}" for k in range(D))
        qkv = Statement.insert(
            f"layer {l}: layer norm 1 and the QKV projection; cache each head's query, key and value", f"cache{l}",
            f"WITH\n  {self.norm_ctes('n', f'(SELECT * FROM x{l} WHERE pos >= {self.first})')},\n"
            f"  y AS {m}({self.by_output(f'h{l}_qkv', 'n', extra=', m.kind, m.hd, m.d')})\n"
            f"SELECT kind, hd, pos, {pivot} FROM y GROUP BY kind, hd, pos",
            separator="\n",
        )
        weighted = ", ".join(f"sum(p.e * v.c{k}) / sum(p.e) AS a{k}" for k in range(D))
        unpivot = " ".join(f"WHEN {k} THEN a.a{k}" for k in range(D))
        gelu = "0.5 * f.y * (1 + tanh(0.7978845608028654 * (f.y + 0.044715 * f.y * f.y * f.y)))"
        plus = lambda a, b: ", ".join(f"{a}{k} + {b}{k} AS x{k}" for k in range(C))  # noqa: E731
        attention = Statement.insert(
            f"layer {l}: causal self-attention, projection + residual, then the MLP + residual", f"x{l + 1}",
            f"""WITH
  -- each new query against the cached keys of its head up to its own position; stable softmax
  {self.attention_scores(l)},
  -- each head's output: the softmax weights · the values, one column per channel
  heads AS {m}(SELECT p.pos, p.hd, {weighted}
           FROM peaks p JOIN cache{l} v ON v.kind = {VALUE} AND v.hd = p.hd AND v.pos = p.kpos GROUP BY p.pos, p.hd),
  -- the same as long rows, one per input channel of the projection
  attn AS {m}(SELECT a.pos, a.hd * {D} + c.d AS i, CASE c.d {unpivot} END AS v
           FROM heads a, (SELECT DISTINCT d FROM {self.weights(f'h{l}_qkv')}) c),
  -- output projection (by input, bias included), plus the residual stream
  resid AS {m}(SELECT p.pos, {plus('p.y', 'x.x')} FROM ({self.by_input(f'h{l}_attn_proj', 'attn', C)}) p
           JOIN x{l} x ON x.pos = p.pos),
  -- layer norm 2 and the MLP's first layer, then GELU (tanh form, as GPT-2) on each unit
  {self.norm_ctes('n2', 'resid')},
  pre AS {m}({self.by_output(f'h{l}_fc', 'n2')}),
  fc AS {m}(SELECT f.pos, f.j AS i, {gelu} AS v FROM pre f)
-- the MLP's projection (by input, bias included), plus the residual stream: the next layer's input
SELECT p.pos, {plus('p.y', 'r.x')} FROM ({self.by_input(f'h{l}_mlp_proj', 'fc', 4 * C)}) p JOIN resid r ON r.pos = p.pos""",
            separator="\n",
        )
        statements = [qkv, attention]
        if self.inspect:
            statements.append(Statement.insert(
                f"layer {l}: record the attention weights (for inspection only)", f"attn{l}",
                f"WITH {self.attention_scores(l)}\n"
                f"SELECT pos, hd, kpos, e / sum(e) OVER (PARTITION BY pos, hd) FROM peaks"))
        return statements

    def final_norm(self) -> Statement:
        C, L = self.config.n_embd, self.config.n_layer
        normed = ", ".join(f"(n.x{k} - n.mu) * n.r * f.g{k} + f.b{k}" for k in range(C))
        return Statement.insert(
            "final layer norm", "final",
            f"WITH\n  {self.norm_ctes('n', f'(SELECT * FROM x{L} WHERE pos >= {self.first})')}\n"
            f"SELECT n.pos, {normed} FROM n, {self.weights('ln_f')} f",
            separator="\n",
        )

    def logits(self, last_only: bool) -> Statement:
        where = f"f.pos = {self.first}" if last_only else f"f.pos >= {self.first}"
        return Statement(
            "logits: the final hidden state · every token's embedding",
            f"SELECT f.pos, e.j, {row_dot('e', 'w', 'f', 'xn', self.config.n_embd)} AS logit "
            f"FROM {self.weights('wte')} e, final f WHERE {where}",
        )
