"""The model's queries: the forward step and every query over it, for every database and layout.

Given a config (and its model family, `family.py`), a dialect and a schema, the plan writes
the statements of one forward step, which extend a session's KV cache by the new positions
and leave the final hidden states in a table, and the queries over them: logits, loss,
softmax and top-k, and explain's measurements. Where a query touches a vector's elements it
asks the layout (`layouts/`: a vector type, or a column per element), and for each primitive
the dialect; neither decides what is computed or in which order.

A step reads the new token ids from the session table `tokens(pos, token)`. Per layer l:

    cache{l}  += queries, keys and values of the new positions,   (kind 0/1/2, hd, pos, vec)
                 one row per head: norm 1 + QKV projection
    x{l+1}    := causal attention (scores, stable softmax,        (pos, x)
                 weighted values), projection + residual, norm
                 2 + MLP with its activation, projection + residual

so a new token costs one position's work: its query meets the cached keys, its values are
appended. Activations stay in the database; Python only starts statements and reads the
logits at the end. Batched (`batched=True`, layouts that have it), every session table is
keyed by (seq, pos): one step runs many independent sequences at once (scoring a table's
rows), and attention joins keys of the same sequence only.

All SQL text is built from the config and fixed names — never from user input, which
reaches the database only as bound parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

from ....config import GPTConfig
from ..dialects.base import Dialect
from ..layouts import layout_of
from ..layouts.base import KEY, QUERY
from .statement import Statement

# The SQL of each activation a family may name (family.ACTIVATIONS), of a unit's value `y`.
ACTIVATIONS = {
    # GELU, tanh form (GPT-2's "gelu_new")
    "gelu_tanh": lambda y: f"0.5 * {y} * (1 + tanh(0.7978845608028654 * ({y} + 0.044715 * {y} * {y} * {y})))",
    # SiLU, y·σ(y), written so that exp() never overflows (PostgreSQL raises where others give inf)
    "silu": lambda y: f"CASE WHEN {y} >= 0 THEN {y} / (1 + exp(-{y})) ELSE {y} * exp({y}) / (1 + exp({y})) END",
}


def top_k(source: str, groups: Sequence[str], k: int, order: str) -> str:
    """SELECT groups, rank, the rest of `source`'s columns: each group's first k rows by
    `order` (which must end in a unique column, so that ties have one order)."""
    partition = f"PARTITION BY {', '.join(groups)} " if groups else ""
    return (f"SELECT * FROM (SELECT t.*, row_number() OVER ({partition}ORDER BY {order}) AS rank FROM {source} t) "
            f"ranked WHERE rank <= {int(k)}")


def softmax(source: str, groups: Sequence[str], score: str) -> str:
    """SELECT groups, j, p: within each group of `source` (columns: the groups, j and
    `score`), p = exp(score − the group's maximum) / Σ of the same, as NumPy computes it."""
    over = f"OVER (PARTITION BY {', '.join(groups)})" if groups else "OVER ()"
    keys = "".join(f"{g}, " for g in groups)
    return (f"SELECT {keys}j, exp({score} - m) / sum(exp({score} - m)) {over} AS p "
            f"FROM (SELECT *, max({score}) {over} AS m FROM {source}) peaks")


def top_probabilities(source: str, groups: Sequence[str], score: str, k: int) -> str:
    """SELECT groups, j AS token, p, rank: the k most likely tokens of each group's softmax,
    ranked by probability and ties by the smaller id, as NumPy's stable argsort ranks them
    (two scores exp() rounds to one value are a tie there too)."""
    keys = "".join(f"{g}, " for g in groups)
    ranked = top_k(f"({softmax(source, groups, score)})", groups, k, "p DESC, j")
    return f"SELECT {keys}j AS token, p, rank FROM ({ranked}) r"


class Plan:
    """Writes the statements of a forward step, and the queries over it, for one model in one dialect.

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
        self.family = config.family
        self.d = dialect
        self.w = schema  # where the weights are
        self.inspect = inspect
        self.batched = batched
        self.first = dialect.param(1) if first is None else first  # the step's first new position
        layout = layout_of(dialect)
        if batched and not layout.batched:  # its tables have no seq column
            raise ValueError(f"the {layout.name} layout has no batched step")
        self.layout = layout(self)

    def weights(self, table: str) -> str:
        """A weight table's qualified name."""
        return self.d.qualify(self.w, table)

    # -- what keys a position ------------------------------------------------------------------

    def keys(self, alias: str | None = None) -> str:
        """The columns naming a position, of table `alias`: `pos`, or `seq, pos` when batched."""
        a = f"{alias}." if alias else ""
        return f"{a}seq, {a}pos" if self.batched else f"{a}pos"

    def key_names(self) -> list[str]:
        return ["seq", "pos"] if self.batched else ["pos"]

    def same_sequence(self, a: str, b: str) -> str:
        """A join condition (with a leading AND) that rows of `a` and `b` are of one sequence."""
        return f" AND {a}.seq = {b}.seq" if self.batched else ""

    def same_position(self, a: str, b: str, offset: str = "") -> str:
        """A join condition: `a`'s position is `b`'s (plus `offset`, e.g. ' + 1'), same sequence."""
        return f"{a}.pos = {b}.pos{offset}" + self.same_sequence(a, b)

    def new_rows(self, table: str) -> str:
        """The step's new positions of the session table `table`, as an aliased subquery."""
        return f"(SELECT * FROM {table} WHERE pos >= {self.first}) s"

    # -- session tables ------------------------------------------------------------------------

    def session_tables(self) -> list[Statement]:
        """A session's tables: its tokens, residual streams and KV cache, all empty."""
        d, lay, C, D, L = self.d, self.layout, self.config.n_embd, self.config.head_size, self.config.n_layer
        table, names = d.temp_table_def, self.key_names()
        key = [(name, "int") for name in names]
        scored = [("scored", "int")] if self.batched else []  # 1: the loss counts this token
        out = [Statement("the tokens so far", table("tokens", key + [("token", "int")] + scored, key=names))]
        out += [Statement(f"the residual stream entering layer {l}" if l < L else "the residual stream after the last layer",
                          table(f"x{l}", key + lay.vector_columns("x", C), key=names)) for l in range(L + 1)]
        out.append(Statement("the final norm's output", table("final", key + lay.vector_columns("xn", C), key=names)))
        for l in range(L):
            out.append(Statement(
                f"layer {l} queries (kind 0), keys (1) and values (2): a row per head and position",
                table(f"cache{l}", [("kind", "int"), ("hd", "int")] + key + lay.vector_columns("vec", D),
                      key=["kind", "hd", *names])))
            out += [Statement(comment, sql) for comment, sql in lay.value_tables(l)]
            if self.inspect:
                out.append(Statement(f"layer {l} attention weights", table(
                    f"attn{l}", [("pos", "int"), ("hd", "int"), ("kpos", "int"), ("p", "float")])))
        return out

    def reset(self) -> list[Statement]:
        """Empty the session's tables, for a new sequence on the same session."""
        L = self.config.n_layer
        tables = ["tokens", *(f"x{l}" for l in range(L + 1)), "final", *(f"cache{l}" for l in range(L))]
        tables += [f"attn{l}" for l in range(L)] if self.inspect else []
        return ([Statement(f"empty {name}", self.d.empty_table(name)) for name in tables]
                + [Statement(comment, sql) for comment, sql in self.layout.reset_values()])

    def load_tokens(self) -> Statement:
        """Append the step's tokens; parameters: the first new position, then the ids."""
        return Statement("the new tokens, from bound parameters", self.d.load_tokens_sql("tokens"))

    # -- one forward step ----------------------------------------------------------------------

    def step(self) -> list[Statement]:
        """All statements of one forward step, embeddings to final norm."""
        out = [self.embed()]
        for l in range(self.config.n_layer):
            out += self.layer(l)
        out.append(self.final_norm())
        return out

    def embed(self) -> Statement:
        C, wte = self.config.n_embd, self.weights("wte")
        if self.family.positions == "learned":
            comment = "token embedding + position embedding: the residual stream x0"
            x = self.layout.elementwise(["e.w", "p.w"], lambda a, b: f"{a} + {b}", C)
            joins = f"JOIN {wte} e ON e.j = t.token JOIN {self.weights('wpe')} p ON p.j = t.pos"
        else:  # rotary: positions turn the queries and keys instead (`rotary`)
            comment = "token embedding: the residual stream x0 (positions rotate the queries and keys later)"
            x = self.layout.elementwise(["e.w"], lambda a: a, C)
            joins = f"JOIN {wte} e ON e.j = t.token"
        return Statement.insert(
            comment, "x0", f"SELECT {self.keys('t')}, {x} FROM tokens t {joins} WHERE t.pos >= {self.first}")

    def units(self, table: str, stats: str, extra: Sequence[str] = (), where: str = "") -> str:
        """SELECT keys, j[, extra], y: norm(x)·W + b, one row per position and output unit, for
        the rows of `stats` (keys, x, mu, r) and a weight table with the norm folded in
        (`where`: a condition on its rows m)."""
        dot = self.layout.dot("m.w", "n.x", self.config.n_embd)
        columns = "".join(f", m.{c}" for c in extra)
        return (f"SELECT {self.keys('n')}, m.j{columns}, n.r * ({dot} - n.mu * m.s) + m.b AS y "
                f"FROM {self.weights(table)} m, {stats} n{f' WHERE {where}' if where else ''}")

    def kv_head(self, head: str) -> str:
        """The KV head that query head `head` reads (grouped-query attention shares one among
        n_head / n_kv_head query heads)."""
        group = self.config.n_head // self.config.n_kv_head
        return head if group == 1 else self.d.int_div(head, group)

    def rotary(self, units: str) -> str:
        """SELECT keys, j[, head columns], y: the QKV units with every query and key head
        rotated by its position (rotary embeddings, as transformers applies them: element d
        of a head becomes y_d·cos + y_{d±D/2}·(∓sin), the angles from the table `rope`)."""
        d, D, H, KV = self.d, self.config.head_size, self.config.n_head, self.config.n_kv_head
        half, key = D // 2, self.keys()
        element = d.mod("u.j", D)
        head = f"PARTITION BY {key}, {d.int_div('j', D)} ORDER BY j"  # one head's units, in order
        partner = f"CASE WHEN {element} < {half} THEN -u.ahead ELSE u.behind END"
        y = f"CASE WHEN u.j < {(H + KV) * D} THEN u.y * r.cos + {partner} * r.sin ELSE u.y END"
        extra = "".join(f", u.{c}" for c in self.layout.head_unit_columns)
        return (f"SELECT {self.keys('u')}, u.j{extra}, {y} AS y FROM (SELECT *, lead(y, {half}) OVER ({head}) AS ahead, "
                f"lag(y, {half}) OVER ({head}) AS behind FROM {units}) u JOIN {self.weights('rope')} r "
                f"ON r.k = u.pos * {D} + {element}")

    def mlp_hidden(self, table: str, stats: str) -> str:
        """CTEs ending in `fc`: the MLP's hidden layer, activated. Gated (SwiGLU), the first
        n_inner units are the gate, the next n_inner the up projection: act(gate) · up."""
        m, I = self.d.materialized, self.config.n_inner
        activation = ACTIVATIONS[self.family.activation]
        if not self.family.gated_mlp:
            return f"pre AS {m}({self.units(table, stats)}),\n  fc AS {m}({self.layout.hidden('pre', activation)})"
        gated = (f"SELECT {self.keys('g')}, g.j, {activation('g.y')} * u.y AS y FROM gate g "
                 f"JOIN up u ON {self.same_position('u', 'g')} AND u.j = g.j + {I}")
        return (f"gate AS {m}({self.units(table, stats, where=f'm.j < {I}')}),\n"
                f"  up AS {m}({self.units(table, stats, where=f'm.j >= {I}')}),\n"
                f"  pre AS {m}({gated}),\n"
                f"  fc AS {m}({self.layout.hidden('pre', lambda y: y)})")

    def attention_scores(self, l: int) -> str:
        """CTEs `scores` and `peaks`: each new query · every cached key of its head, scaled,
        whether the key is visible (not later), and its row's maximum over the visible keys."""
        m, scale, key, D = self.d.materialized, repr(self.config.attention_scale()), self.keys(), self.config.head_size
        return f"""scores AS {m}(SELECT {self.keys('q')}, q.hd, k.pos AS kpos, {self.layout.dot('q.vec', 'k.vec', D)} * {scale} AS s, k.pos <= q.pos AS visible
             FROM cache{l} q JOIN cache{l} k ON k.hd = {self.kv_head('q.hd')} AND k.kind = {KEY}{self.same_sequence('k', 'q')}
             WHERE q.kind = {QUERY} AND q.pos >= {self.first}),
  peaks AS {m}(SELECT s.*, r.m FROM scores s JOIN (SELECT {key}, hd, max(CASE WHEN visible THEN s END) AS m
             FROM scores GROUP BY {key}, hd) r ON {self.same_position('r', 's')} AND r.hd = s.hd)"""

    def layer(self, l: int) -> list[Statement]:
        lay, m, C, key = self.layout, self.d.materialized, self.config.n_embd, self.keys()
        (qkv, attn_proj), (fc, mlp_proj) = self.family.attention, self.family.mlp
        units = f"  units AS {m}({lay.units(f'h{l}_{qkv.name}', 'n', lay.head_unit_columns)})"
        if self.family.positions == "rotary":
            units += f",\n  rotated AS {m}({lay.rotary('units')})"
        statements = [Statement.insert(
            f"layer {l}: norm 1 and the QKV projection; cache each head's query, key and value", f"cache{l}",
            f"WITH\n  {lay.norm_ctes('n', self.new_rows(f'x{l}'), key)},\n{units}\n"
            + lay.heads("rotated" if self.family.positions == "rotary" else "units"),
            separator="\n",
        )]
        statements += [Statement(comment, sql) for comment, sql in lay.append_values(l)]
        statements.append(Statement.insert(
            f"layer {l}: causal self-attention, projection + residual, then the MLP + residual", f"x{l + 1}",
            f"""WITH
  {lay.attention(l)},
  -- output projection, plus the residual stream
  resid AS {m}({lay.project(f'h{l}_{attn_proj.name}', 'attn', C, f'x{l}')}),
  -- norm 2 and the MLP's first layer, then its activation on each unit
  {lay.norm_ctes('n2', 'resid s', key)},
  {lay.mlp_hidden(f'h{l}_{fc.name}', 'n2', ACTIVATIONS[self.family.activation])}
-- the MLP's projection, plus the residual stream: the next layer's input
{lay.project(f'h{l}_{mlp_proj.name}', 'fc', self.config.n_inner, 'resid')}""",
            separator="\n",
        ))
        if self.inspect:
            exp = "CASE WHEN visible THEN exp(s - m) ELSE 0 END"
            statements.append(Statement.insert(
                f"layer {l}: record the attention weights (for inspection only)", f"attn{l}",
                f"WITH {self.attention_scores(l)}\n"
                f"SELECT pos, hd, kpos, {exp} / sum({exp}) OVER (PARTITION BY pos, hd) FROM peaks WHERE visible"))
        return statements

    def final_norm(self) -> Statement:
        names = self.key_names()
        return Statement.insert(
            "final norm", "final",
            f"WITH\n  {self.layout.norm_ctes('n', self.new_rows(f'x{self.config.n_layer}'), self.keys())}\n"
            + self.layout.final_norm("n", names, self.family.final_norm),
            separator="\n",
        )

    # -- the queries over a step -----------------------------------------------------------------

    def unembedding(self) -> str:
        """The weight table whose rows the logits are dot products with."""
        return self.weights("wte" if self.family.tied_unembedding else "lm_head")

    def logits(self, last_only: bool) -> Statement:
        """Logits as long rows ([seq,] pos, j, logit) from position $1 on (only $1 if
        `last_only`); batched, at the positions whose next token is scored."""
        source = "final f"
        if self.batched:
            source += f" JOIN tokens t ON {self.same_position('t', 'f', ' + 1')} WHERE t.scored = 1 AND f.pos >= {self.first}"
        else:
            source += f" WHERE f.pos = {self.first}" if last_only else f" WHERE f.pos >= {self.first}"
        return Statement(
            "logits: the final hidden state · every token's unembedding",
            f"SELECT {self.keys('f')}, e.j, {self.layout.dot('e.w', 'f.xn', self.config.n_embd)} AS logit "
            f"FROM {self.unembedding()} e, {source}",
        )

    def loss(self) -> Statement:
        """The negative log-likelihood (nats) of the tokens after position $1, each predicted by
        the logits of the position before it: log-sum-exp minus the target's logit, summed.
        Batched: of the scored tokens, a row (seq, nll) per sequence. The layout writes it
        (`Layout.loss`), by default as `loss_rows`."""
        return Statement("the loss: how surprised the model is by each next token, summed", self.layout.loss())

    def loss_rows(self) -> str:
        """The loss's query over the logits as long rows, one per position and token."""
        m, key = self.d.materialized, self.keys()
        seq, by_seq = ("s.seq, ", " GROUP BY s.seq") if self.batched else ("", "")
        return f"""WITH
  l AS {m}({self.logits(last_only=False).sql}),
  peak AS {m}(SELECT {key}, max(logit) AS top FROM l GROUP BY {key}),
  lse AS {m}(SELECT {self.keys('l')}, ln(sum(exp(l.logit - p.top))) + p.top AS z FROM l JOIN peak p ON {self.same_position('p', 'l')}
             GROUP BY {self.keys('l')}, p.top)
SELECT {seq}sum(s.z - l.logit) AS nll FROM lse s JOIN tokens t ON {self.same_position('t', 's', ' + 1')}
  JOIN l ON {self.same_position('l', 's')} AND l.j = t.token{by_seq}"""

    def top(self, k: int, vocab_size: int) -> Statement:
        """The k most likely tokens (below `vocab_size`) after position $1, rows (token, p),
        most likely first: a softmax over the last position's logits, ranked in SQL."""
        m = self.d.materialized
        return Statement(f"the {k} most likely next tokens", f"""WITH
  l AS {m}(SELECT j, logit FROM ({self.logits(last_only=True).sql}) a WHERE j < {int(vocab_size)})
SELECT token, p FROM ({top_probabilities('l', [], 'logit', k)}) t ORDER BY rank""")

    def top_batch(self, k: int, vocab_size: int) -> Statement:
        """Batched `top`: the k most likely tokens after the last position of every sequence,
        as rows (seq, rank, token, p)."""
        m, dot = self.d.materialized, self.layout.dot("e.w", "f.xn", self.config.n_embd)
        return Statement(f"the {k} most likely next tokens after each sequence", f"""WITH
  last AS {m}(SELECT seq, max(pos) AS pos FROM tokens GROUP BY seq),
  l AS {m}(SELECT f.seq, e.j, {dot} AS logit FROM {self.unembedding()} e, final f
           JOIN last t ON t.seq = f.seq AND t.pos = f.pos WHERE e.j < {int(vocab_size)})
SELECT seq, rank, token, p FROM ({top_probabilities('l', ['seq'], 'logit', k)}) t ORDER BY seq, rank""")

    # -- explain's measurements ----------------------------------------------------------------

    def explain(self, top_k_: int, vocab_size: int, temperatures: Sequence[float]) -> list[Statement]:
        """The statements creating explain's four tables, for an inspecting session that has
        run the step (see `explain.py` for what they hold):

            norms(layer, pos, norm)                   length of residual stream x{layer} at pos
            lens(layer, pos, token, p, rank)          logit lens: x{layer} (layer >= 1) through the
                                                      final norm and the unembedding; top k
            next_token(temperature, token, p, rank)   softmax(logits / temperature) after the prompt
            neighbours(pos, token, similarity, rank)  the prompt token's nearest other tokens in
                                                      the token embedding by cosine similarity
        """
        d, lay, m = self.d, self.layout, self.d.materialized
        C, L, k, V = self.config.n_embd, self.config.n_layer, int(top_k_), int(vocab_size)
        wte = self.weights("wte")
        norms = " UNION ALL ".join(f"SELECT {l} AS layer, s.pos, sqrt({lay.dot('s.x', 's.x', C)}) AS norm FROM x{l} s"
                                   for l in range(L + 1))

        # The final norm applied to every stream, as the step applies it to the last one.
        streams = " UNION ALL ".join(f"SELECT {l} AS layer, s.* FROM x{l} s" for l in range(1, L + 1))
        lens = f"""WITH
  {lay.norm_ctes('n', f'({streams}) s', 'layer, pos')},
  normed AS {m}({lay.final_norm('n', ['layer', 'pos'], self.family.final_norm)}),
  logits AS {m}(SELECT n.layer, n.pos, e.j, {lay.dot('e.w', 'n.xn', C)} AS score FROM {self.unembedding()} e, normed n WHERE e.j < {V})
{top_probabilities('logits', ['layer', 'pos'], 'score', k)}"""

        # The model's own output: the last position of `final`, which the step normed.
        temps = " UNION ALL ".join(f"SELECT CAST({float(t)!r} AS {d.result_type('double')}) AS temperature"
                                   for t in temperatures)
        next_token = f"""WITH
  logits AS {m}(SELECT t.temperature, e.j, {lay.dot('e.w', 'f.xn', C)} / t.temperature AS score
             FROM {self.unembedding()} e, final f, ({temps}) t WHERE f.pos = (SELECT max(pos) FROM final) AND e.j < {V})
{top_probabilities('logits', ['temperature'], 'score', k)}"""

        norm_of = lambda v: f"sqrt({lay.dot(v, v, C)})"  # noqa: E731
        cosine = f"{lay.dot('e.w', 's.w', C)} / NULLIF({norm_of('e.w')} * {norm_of('s.w')}, 0)"
        similar = (f"(SELECT t.pos, e.j AS token, {cosine} AS similarity "
                   f"FROM tokens t JOIN {wte} s ON s.j = t.token, {wte} e WHERE e.j <> t.token AND e.j < {V})")
        neighbours = top_k(similar, ["pos"], k, "similarity DESC NULLS LAST, token")
        return [
            Statement("the length of every residual stream at every position", d.temp_table_as("norms", norms)),
            Statement("the logit lens: every block's output read as if it were the last", d.temp_table_as("lens", lens)),
            Statement("the next token after the prompt at each temperature", d.temp_table_as("next_token", next_token)),
            Statement("each prompt token's nearest tokens in the embedding matrix",
                      d.temp_table_as("neighbours", f"SELECT pos, token, similarity, rank FROM ({neighbours}) n")),
        ]

    def explain_read_back(self) -> dict[str, Statement]:
        """The queries that read the measurements back, by name: the attention weights of
        every layer, then the four tables `explain` made."""
        attention = " UNION ALL ".join(f"SELECT {l} AS layer, pos, hd, kpos, p FROM attn{l}" for l in range(self.config.n_layer))
        return {"attention": Statement("the attention weights", attention),
                "norms": Statement("the residual norms", "SELECT layer, pos, norm FROM norms"),
                "lens": Statement("the logit lens", "SELECT layer, pos, rank, token, p FROM lens"),
                "next_token": Statement("the next-token distributions", "SELECT temperature, rank, token, p FROM next_token"),
                "neighbours": Statement("the embedding neighbours", "SELECT pos, rank, token, similarity FROM neighbours")}

    # -- sequences that share a beginning --------------------------------------------------------

    def rewind(self) -> list[Statement] | None:
        """Statements forgetting the positions from $1 on, for a session whose sequence goes
        on from an earlier point; None where the layout's value tables grow by appending
        vectors (the vector layout outside a batch), which cannot be cut back."""
        L = self.config.n_layer
        if self.batched or any(self.layout.append_values(l) for l in range(L)):
            return None
        tables = ["tokens", *(f"x{l}" for l in range(L + 1)), "final", *(f"cache{l}" for l in range(L))]
        tables += [f"attn{l}" for l in range(L)] if self.inspect else []
        return [Statement(f"forget {name} from the position on", f"DELETE FROM {name} WHERE pos >= {self.first}")
                for name in tables]

    def empty_activations(self) -> list[Statement]:
        """Empty every session table but the KV cache: the next step's sequences start from it."""
        tables = ["tokens", *(f"x{l}" for l in range(self.config.n_layer + 1)), "final"]
        return [Statement(f"empty {name}", self.d.empty_table(name)) for name in tables]

    def branch_caches(self, group: int) -> list[Statement]:
        """Batched: after a step over shared contexts (sequence c each), and with the next
        sequences' tokens loaded, give every next sequence s the keys and values that its
        context, sequence s // `group`, left in the KV cache, and keep nothing else there (no
        queries, no contexts). The next step then reads each sequence's new tokens against
        its context's cache, as if the context had been read in the same sequence."""
        d, D = self.d, self.config.head_size
        vectors = ", ".join(f"k.{name}" for name, _ in self.layout.vector_columns("vec", D))
        out = []
        for l in range(self.config.n_layer):
            copies = (f"SELECT k.kind, k.hd, b.seq, k.pos, {vectors} FROM cache{l} k "
                      f"JOIN (SELECT DISTINCT seq FROM tokens) b ON k.seq = {d.int_div('b.seq', int(group))} "
                      f"WHERE k.kind <> {QUERY}")
            out += [Statement(f"layer {l}: each sequence's copy of its context's keys and values",
                              d.temp_table_as(f"branch{l}", copies)),
                    Statement(f"empty cache{l}", d.empty_table(f"cache{l}")),
                    Statement.insert(f"layer {l}: the copies are the new KV cache", f"cache{l}", f"SELECT * FROM branch{l}"),
                    Statement(f"drop branch{l}", d.drop_table_sql(f"branch{l}"))]
        return out
