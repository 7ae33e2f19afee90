"""The standalone SQL script: prompt in, generated text out, all in the database's own shell.

`build_script` writes one file of SQL that runs in `duckdb`, `psql` or `sqlite3` against a
database where the model is already installed, and prints the text the model generates
after a prompt: the article "GPT in 500 lines of SQL", made exact and cached. From text to
text, every step is SQL:

1. the tokenizer's table: each token's bytes (as hex) and merge rank, created from VALUES;
2. GPT-2's pre-tokenizer: the database's own regex (DuckDB's RE2, PostgreSQL's AREs), or a
   scan over the characters where there is none (SQLite). The pattern's classes (letters,
   numbers, white space) are written out as code-point ranges from the `regex` package that
   `sqlgpt.Tokenizer` uses, so every database splits exactly as it does;
3. byte pair encoding as a recursive CTE: each round merges, in every pre-token, the adjacent
   pair whose bytes have the lowest merge rank (the leftmost of equals), until none is a token;
4. the forward passes: the compiler's own statements with the KV cache in session tables,
   defined once (PREPARE in PostgreSQL, views in DuckDB and SQLite) and run once per new
   token, unrolled; their position comes from the session's tables, in SQL;
5. each next token: greedy (argmax, ties to the lower id, as NumPy's argmax) or sampled as
   sqlgpt's NumPy sampler does with a seed. The seed's uniform draws are written into the
   script (they never depend on the model, one per token); the softmax at the temperature,
   the cumulative sum and the search for the draw's bucket run in SQL;
6. the detokenizer: the generated tokens' bytes, decoded from UTF-8 in SQL, each invalid
   sequence becoming U+FFFD as in Python's `errors="replace"`; the script prints the text.

What it does not do: install the model (the header says how), top-k, top-p or stop strings.
The header of each script lists where it can differ from `sqlgpt generate`. What differs
between databases (types, string functions, the pre-tokenizer, the shell's settings and
command line) is their dialects' (`dialects/<db>.py`); a database whose dialect has no
`run_hint` (Spark) has no script.

The prompt is the one piece of user text in the script, and a file the user runs has only
one place for it: a string literal. Single quotes are doubled; control characters other than
newline and tab are written as chr() calls, so that no editor or newline translation can
change them; NUL is rejected (no database's text holds it). PostgreSQL's script turns
standard_conforming_strings on, so a backslash is an ordinary character there too.
"""

from __future__ import annotations

import shlex
import textwrap

import numpy as np

from ...checkpoint import Checkpoint
from ...errors import SqlgptError
from ...tokenizer import Tokenizer
from .databases import DATABASES, dialect_class, get_dialect
from .dialects.base import Dialect
from .install import CATALOGUE, schema_name
from .layouts import format_version
from .plan import Plan, Statement

# The databases with a standalone script: those whose dialect says how its shell runs one.
DIALECTS = tuple(name for name in DATABASES if dialect_class(name).run_hint is not None)
STEP_START = "(SELECT pos FROM step_start)"  # the first position a step computes
LAST_POSITION = "(SELECT max(pos) FROM tokens)"  # the position whose logits pick the next token
TWO_TO_53 = 2**53  # NumPy's random() is an integer below 2**53 times 2**-53


def _dialect(name: str) -> Dialect:
    """The dialect of the database called `name`, if it has a standalone script."""
    if name not in DIALECTS:
        raise SqlgptError(f"no standalone script for {name!r}; choose one of: {', '.join(DIALECTS)}")
    return get_dialect(name)


def run_command(dialect: str, script: str) -> str:
    """The shell command that runs the script file `script` against a database DATABASE."""
    return _dialect(dialect).run_hint.replace("script.sql", shlex.quote(script))


def _vocabulary_rows(tokenizer: Tokenizer) -> list[str]:
    """(id, hex bytes, merge rank or NULL) for every token, special tokens included."""
    # The ranks are the tokenizer's own merge order (by bytes, as tiktoken merges); ids
    # below vocab_size that no token has are skipped.
    ranks = tokenizer.merge_ranks
    rows = []
    for token_id in range(tokenizer.vocab_size):
        try:
            data = tokenizer.token_bytes(token_id)
        except SqlgptError:
            continue
        rank = ranks.get(data) if len(data) > 1 else None  # pairs have two bytes or more
        rows.append(f"({token_id}, '{data.hex()}', {'NULL' if rank is None else rank})")
    return rows


def vocabulary_statements(tokenizer: Tokenizer, dialect: str) -> list[Statement]:
    """The tokenizer's tables: vocab(id, hex, merge_rank), every token's bytes as hex and its
    merge rank, and what the dialect's pre-tokenizer needs besides. No prompt, no model."""
    sql_dialect = _dialect(dialect)
    return [
        Statement("the vocabulary: every token's bytes (hex) and merge rank (lower merges first)",
                  f"CREATE TEMP TABLE vocab (id INTEGER PRIMARY KEY, hex {sql_dialect.text_type} NOT NULL, merge_rank INTEGER)"),
        *(Statement("", sql) for sql in sql_dialect.values_sql("vocab", _vocabulary_rows(tokenizer))),
        Statement("tokens are looked up by their bytes", "CREATE INDEX vocab_hex ON vocab (hex)"),
        *(Statement(comment, sql) for comment, sql in sql_dialect.class_tables()),
    ]


def encode_statements(dialect: str, prompt: str) -> list[Statement]:
    """Statements that encode `prompt` into prompt_tokens(pos, token) with the vocabulary's
    tables, creating prompt(txt), nums(i) and pieces(piece, hex) on the way."""
    sql_dialect = _dialect(dialect)
    return [
        Statement("the prompt: the script's one piece of user text",
                  f"CREATE TEMP TABLE prompt AS SELECT {sql_dialect.literal(prompt)} AS txt"),
        Statement("the numbers 1, 2, ...: as many as the longest hex string (a token or the prompt) has characters",
                  f"CREATE TEMP TABLE nums AS WITH RECURSIVE\n"
                  f"  top AS MATERIALIZED (SELECT max(k) AS k FROM (SELECT max(length(hex)) AS k FROM vocab "
                  f"UNION ALL SELECT length({sql_dialect.utf8_hex('txt')}) FROM prompt) a),\n"
                  f"  n(i) AS (SELECT 1 UNION ALL SELECT n.i + 1 FROM n, top WHERE n.i < top.k)\nSELECT i FROM n"),
        Statement("the pre-tokens: GPT-2's pattern splits the prompt into words, numbers, symbols and spaces",
                  f"CREATE TEMP TABLE pieces (piece INTEGER, hex {sql_dialect.text_type})"),
        Statement(*sql_dialect.pieces()),
        Statement("byte pair encoding: in each pre-token, merge the lowest-ranked pair of adjacent parts, "
                  "again and again (a mask marks where parts start)", _bpe(sql_dialect)),
    ]


def _bpe(sql_dialect: Dialect) -> str:
    f = sql_dialect.find

    def part_end(mask: str, start: str) -> str:
        """Where the part starting at byte `start` ends (the next part's start)."""
        after = f(f"substr({mask}, {start} + 1)", "'1'")
        return f"CASE WHEN {after} = 0 THEN length({mask}) + 1 ELSE {start} + {after} END"

    def best(h: str, mask: str) -> str:
        """The start of the right part of the lowest-ranked adjacent pair that is a token
        (the leftmost of equals), NULL when there is none: no more merges."""
        after = f(f"substr({mask}, n.i + 1)", "'1'")
        pairs = (f"SELECT n.i, n.i + {after} AS b FROM nums n "
                 f"WHERE n.i < length({mask}) AND substr({mask}, n.i, 1) = '1' AND {after} > 0")
        return (f"(SELECT q.b FROM ({pairs}) q JOIN vocab v ON v.hex = "
                f"substr({h}, 2 * q.i - 1, 2 * ({part_end(mask, 'q.b')} - q.i)) "
                f"WHERE v.merge_rank IS NOT NULL ORDER BY v.merge_rank, q.i LIMIT 1)")

    # Outer columns are qualified: inside best()'s subquery, `hex` and `b` name others.
    merged = "substr(r.mask, 1, r.b - 1) || '0' || substr(r.mask, r.b + 1)"
    return f"""CREATE TEMP TABLE prompt_tokens AS
WITH RECURSIVE
  bpe(piece, h, mask, b) AS (
    SELECT p.piece, p.hex, p.mask, {best('p.hex', 'p.mask')}
    FROM (SELECT piece, hex, {sql_dialect.ones(sql_dialect.half('length(hex)'))} AS mask FROM pieces) p
    UNION ALL
    SELECT r.piece, r.h, {merged}, {best('r.h', f'({merged})')} FROM bpe r WHERE r.b IS NOT NULL),
  done AS (SELECT piece, h, mask FROM bpe WHERE b IS NULL)
SELECT CAST(row_number() OVER (ORDER BY d.piece, n.i) - 1 AS INTEGER) AS pos, v.id AS token
FROM done d JOIN nums n ON n.i <= length(d.mask) AND substr(d.mask, n.i, 1) = '1'
JOIN vocab v ON v.hex = substr(d.h, 2 * n.i - 1, 2 * ({part_end('d.mask', 'n.i')} - n.i))"""


def decode_statement(dialect: str, eot: int | None) -> Statement:
    """The text of the tokens in picked(k, token) in order of k, `eot` left out: their bytes
    decoded from UTF-8, each invalid sequence as U+FFFD (Python's errors="replace": a
    maximal valid prefix of a sequence, or one bad byte); a NUL byte also becomes U+FFFD."""
    sql_dialect = _dialect(dialect)
    f, ch = sql_dialect.find, sql_dialect.char
    digit = lambda i: f"({f(repr('0123456789abcdef'), f'substr(v.hex, 2 * n.i - {1 - i}, 1)')} - 1)"  # noqa: E731
    stop = "" if eot is None else f" WHERE g.token <> {eot}"
    cont = lambda b: f"coalesce({b} BETWEEN 128 AND 191, FALSE)"  # noqa: E731
    second = ("coalesce(b1 BETWEEN (CASE b0 WHEN 224 THEN 160 WHEN 240 THEN 144 ELSE 128 END) "
              "AND (CASE b0 WHEN 237 THEN 159 WHEN 244 THEN 143 ELSE 191 END), FALSE)")
    code = ("CASE need WHEN 1 THEN (b0 - 192) * 64 + b1 - 128 WHEN 2 THEN (b0 - 224) * 4096 + (b1 - 128) * 64 + b2 - 128 "
            "ELSE (b0 - 240) * 262144 + (b1 - 128) * 4096 + (b2 - 128) * 64 + b3 - 128 END")
    return Statement("the generated text: the tokens' bytes, decoded from UTF-8 (U+FFFD for invalid bytes)", f"""WITH RECURSIVE
  bytes AS (SELECT row_number() OVER (ORDER BY g.k, n.i) AS o, {digit(0)} * 16 + {digit(1)} AS b
            FROM picked g JOIN vocab v ON v.id = g.token JOIN nums n ON n.i <= {sql_dialect.half('length(v.hex)')}{stop}),
  ahead AS (SELECT o, b AS b0, lead(b, 1) OVER (ORDER BY o) AS b1, lead(b, 2) OVER (ORDER BY o) AS b2,
                   lead(b, 3) OVER (ORDER BY o) AS b3 FROM bytes),
  -- need: continuation bytes the first byte announces (-1: it cannot start a character);
  -- ok: how many of the next bytes continue it validly (the second byte's range depends on the first)
  seq AS (SELECT o, b0, b1, b2, b3,
                 CASE WHEN b0 < 128 THEN 0 WHEN b0 BETWEEN 194 AND 223 THEN 1 WHEN b0 BETWEEN 224 AND 239 THEN 2
                      WHEN b0 BETWEEN 240 AND 244 THEN 3 ELSE -1 END AS need,
                 CASE WHEN NOT {second} THEN 0 WHEN NOT {cont('b2')} THEN 1 WHEN NOT {cont('b3')} THEN 2 ELSE 3 END AS ok
          FROM ahead),
  chars AS (SELECT o, CASE WHEN need >= 0 AND ok >= need THEN need + 1 WHEN need < 0 THEN 1 ELSE ok + 1 END AS width,
                   CASE WHEN need = 0 AND b0 > 0 THEN {ch('b0')} WHEN need > 0 AND ok >= need THEN {ch(code)}
                        ELSE {ch('65533')} END AS piece FROM seq),
  walk(o, txt) AS (SELECT 1, CAST('' AS {sql_dialect.text_type})
                   UNION ALL SELECT w.o + c.width, w.txt || c.piece FROM walk w JOIN chars c ON c.o = w.o)
SELECT txt FROM walk ORDER BY o DESC LIMIT 1""")


def _exact_double(sql_dialect: Dialect, x: float) -> str:
    """SQL for the double `x`, exactly: a ratio of integers that doubles represent exactly
    (a decimal literal would be parsed by each database's own rounding)."""
    numerator, denominator = x.as_integer_ratio()
    parts = [f"CAST({numerator} AS {sql_dialect.double_type})"]
    while denominator > 1:  # powers of two, at most 2**62 each: every division is exact
        step = min(denominator, 2**62)
        parts.append(f"CAST({step} AS {sql_dialect.double_type})")
        denominator //= step
    return "(" + " / ".join(parts) + ")"


def _pick_statement(sql_dialect: Dialect, logits: str, vocab_size: int, eot: int | None, temperature: float,
                    materialized: str) -> Statement:
    """INSERT INTO picked (k, token): the next token from the last position's logits, unless
    <|endoftext|> was picked already."""
    step = "(SELECT count(*) FROM picked)"
    not_stopped = "" if eot is None else f" AND NOT EXISTS (SELECT 1 FROM picked WHERE token = {eot})"
    if temperature == 0:
        return Statement.insert("the next token, greedily: the highest logit, the lower id of equals (NumPy's argmax)",
                                "picked", f"SELECT {step}, l.j FROM ({logits}) l WHERE l.j < {vocab_size}{not_stopped}\n"
                                f"ORDER BY l.logit DESC, l.j LIMIT 1", separator="\n")
    d, m, last = sql_dialect.double_type, materialized, vocab_size - 1
    return Statement.insert(
        f"the next token, sampled at temperature {temperature!r} as sqlgpt's sampler: softmax, cumulative sum, and "
        f"the first token whose sum passes the step's draw times the total", "picked", f"""WITH
  l AS {m}(SELECT j, CAST({sql_dialect.as_float32('logit')} AS {d}) / {_exact_double(sql_dialect, temperature)} AS z FROM ({logits}) a WHERE j < {vocab_size}),
  e AS {m}(SELECT j, exp(z - (SELECT max(z) FROM l)) AS e FROM l),
  p AS {m}(SELECT j, e / (SELECT sum(e) FROM e) AS p FROM e),
  q AS {m}(SELECT j, p / (SELECT sum(p) FROM p) AS q FROM p),
  cum AS {m}(SELECT j, sum(q) OVER (ORDER BY j ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS c FROM q),
  x AS (SELECT CAST(m AS {d}) / CAST({TWO_TO_53} AS {d}) * (SELECT c FROM cum WHERE j = {last}) AS x
        FROM draws WHERE k = {step})
SELECT {step}, coalesce((SELECT min(cum.j) FROM cum, x WHERE cum.c > x.x), {last})
WHERE TRUE{not_stopped}""", separator="\n")


def build_script(checkpoint: Checkpoint, dialect: str, prompt: str, max_new_tokens: int, *,
                 temperature: float = 0.0, seed: int | None = None, model: str | None = None) -> str:
    """The SQL script that generates `max_new_tokens` tokens after `prompt` in `dialect`
    ('duckdb', 'postgres' or 'sqlite') and prints them as text, as
    `GPT.generate(prompt, max_new_tokens, temperature=..., seed=...)` does.

    `temperature` 0 is greedy; above 0 the script samples with the draws of NumPy's
    generator seeded with `seed` (a fresh seed, written in the header, if None). `model` is
    how the header's install command names the model (default: its directory). Raises
    SqlgptError for a prompt with NUL or too long for the model, or a bad argument.
    """
    sql_dialect = _dialect(dialect)
    if not (isinstance(max_new_tokens, int) and max_new_tokens >= 0):
        raise SqlgptError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
    if not (isinstance(temperature, (int, float)) and np.isfinite(temperature) and temperature >= 0):
        raise SqlgptError(f"temperature must be a finite number >= 0, got {temperature!r}")
    config, tokenizer = checkpoint.config, checkpoint.tokenizer
    eot = tokenizer.eot_id
    n_prompt = len(tokenizer.encode(prompt)) or 1  # an empty prompt is <|endoftext|>
    if not prompt and eot is None:
        raise SqlgptError("the prompt is empty and this vocabulary has no <|endoftext|> to start from")
    if n_prompt + max_new_tokens > config.block_size:
        raise SqlgptError(f"prompt ({n_prompt} tokens) + {max_new_tokens} new tokens exceeds the model's context "
                          f"window of {config.block_size} tokens")
    if temperature > 0 and seed is None:
        seed = int(np.random.SeedSequence().entropy % 2**32)

    schema = schema_name(checkpoint.fingerprint())
    stepper = Plan(config, sql_dialect, schema, first=STEP_START)
    logits = Plan(config, sql_dialect, schema, first=LAST_POSITION).logits(last_only=True).sql

    sections: list[tuple[str, list[Statement]]] = []
    message = f"model {schema} is not installed in this database (in this layout): see the header of this script"
    check = (f"SELECT count(*) FROM {CATALOGUE} WHERE schema_name = '{schema}' "
             f"AND format_version = {format_version(sql_dialect)}")
    sections.append(("the model must be installed", [Statement("", sql) for sql in sql_dialect.model_check(check, message)]))
    sections.append(("the tokenizer's tables", vocabulary_statements(tokenizer, dialect)))
    sections.append(("the prompt's token ids, encoded in SQL", encode_statements(dialect, prompt)))

    session = stepper.session_tables()
    session.append(Statement("the prompt's tokens", "INSERT INTO tokens SELECT pos, token FROM prompt_tokens"))
    if eot is not None:
        session.append(Statement("an empty prompt is <|endoftext|>",
                                 f"INSERT INTO tokens SELECT 0, {eot} WHERE NOT EXISTS (SELECT 1 FROM tokens)"))
    session += [
        Statement("where the next step starts: the first position not yet in the residual stream",
                  "CREATE TEMP TABLE step_start (pos INTEGER)"),
        Statement("", "INSERT INTO step_start VALUES (0)"),
        Statement("the tokens picked, one per step", "CREATE TEMP TABLE picked (k INTEGER, token INTEGER)"),
    ]
    if temperature > 0:
        rng = np.random.default_rng(seed)
        draws = [f"({k}, {int(rng.random() * TWO_TO_53)})" for k in range(max_new_tokens)]
        session += [Statement(f"NumPy's uniform draws for seed {seed}, one per token, as integers times 2**-53",
                              "CREATE TEMP TABLE draws (k INTEGER, m BIGINT)"),
                    *(Statement("", sql) for sql in sql_dialect.values_sql("draws", draws))]
    sections.append(("the session: its tokens and KV cache", session))

    pick = _pick_statement(sql_dialect, logits, tokenizer.vocab_size, eot, temperature, sql_dialect.materialized)
    repeated = [(f"step_{i + 1:02d}", st) for i, st in enumerate(stepper.step())] + [("pick", pick)]
    once, each = [], []
    for name, statement in repeated:
        setup, run = sql_dialect.reusable(name, statement.sql, statement.target, statement.query)
        if setup is not None:
            once.append(Statement(f"{name}: {statement.comment}", setup))
        each.append(Statement("", run))
    title = f"each token's work, defined once: the forward step from position {STEP_START}, then the pick"
    sections.append((title, once))
    append = ("INSERT INTO tokens SELECT (SELECT count(*) FROM tokens), token FROM picked "
              f"WHERE k = (SELECT count(*) - 1 FROM picked){'' if eot is None else f' AND token <> {eot}'}")
    for k in range(max_new_tokens):
        sections.append((f"token {k + 1} of {max_new_tokens}", [
            Statement("", "UPDATE step_start SET pos = (SELECT count(*) FROM x0)"),
            *each,
            Statement("", append),
        ]))
    header = _header(sql_dialect, checkpoint, schema, model or str(checkpoint.directory), max_new_tokens, temperature, seed)
    preamble = sql_dialect.script_preamble()
    lines = [*header, "", *preamble, *([""] if preamble else [])]
    for title, statements in sections:
        lines.append(f"-- ===== {title} =====")
        for statement in statements:
            lines += [f"-- {line}" for line in statement.comment.splitlines()]
            lines.append(statement.sql + ";")
        lines.append("")
    lines += ["-- ===== the generated text ====="] + sql_dialect.script_before_output()
    decode = decode_statement(dialect, eot)
    lines += [f"-- {decode.comment}", decode.sql + ";", ""]
    return "\n".join(lines)


def _header(sql_dialect: Dialect, checkpoint: Checkpoint, schema: str, model: str, n: int, temperature: float,
            seed: int | None) -> list[str]:
    """The script's opening comment: what it does, how to run it, where it can differ."""
    sampled = [] if temperature == 0 else ["--seed", str(seed)]
    same = shlex.join(["sqlgpt", "generate", "PROMPT", "-n", str(n), "--temperature", repr(temperature), *sampled,
                       "--model", model])
    install = shlex.join(["sqlgpt", "next", "x", "--model", model, "--engine", sql_dialect.name, "-d", "DATABASE"])
    how = "greedily" if temperature == 0 else f"sampled at temperature {temperature!r} with seed {seed}"
    differences = ["A NUL character in the generated text is printed as U+FFFD: no database's text holds NUL.",
                   *sql_dialect.script_differences]
    if temperature > 0:
        differences.append("Softmax and cumulative sums add up in the database's order, not NumPy's: a different "
                           "token only where a draw falls within rounding error (~1e-15) of a bucket's edge.")
    wrap = lambda text, **indents: textwrap.wrap(text, 96, break_on_hyphens=False, **indents)  # noqa: E731
    lines = [
        *wrap(f"sqlgpt: GPT in SQL, exact and cached. {checkpoint.name} ({checkpoint.config.n_params / 1e6:.1f}M "
              f"parameters) continues the prompt below by up to {n} tokens, {how}, all in {sql_dialect.name}: the "
              f"tokenizer, the forward passes with a KV cache, each next token, and the text, which it prints: "
              f"the text of"),
        f"    {same}",
        "Run it with",
        f"    {sql_dialect.run_hint}",
        f"where DATABASE holds the model (schema {schema}), installed there once with",
        f"    {install}",
        "Token ids and text are exactly sqlgpt's, except:",
        *(line for difference in differences for line in wrap(difference, initial_indent="* ", subsequent_indent="  ")),
    ]
    # Comments end at a line break: nothing from the user's arguments may start a new line.
    return ["-- " + "".join(c if c.isprintable() else "?" for c in line) for line in lines]


__all__ = ["DIALECTS", "build_script", "decode_statement", "encode_statements", "run_command", "vocabulary_statements"]
