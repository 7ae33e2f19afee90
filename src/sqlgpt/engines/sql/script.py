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
The header of each script lists where it can differ from `sqlgpt generate`.

The prompt is the one piece of user text in the script, and a file the user runs has only
one place for it: a string literal. Single quotes are doubled; control characters other than
newline and tab are written as chr() calls, so that no editor or newline translation can
change them; NUL is rejected (no database's text holds it). PostgreSQL's script turns
standard_conforming_strings on, so a backslash is an ordinary character there too.
"""

from __future__ import annotations

import functools
import re
import shlex
import textwrap
from collections.abc import Callable

import numpy as np
import regex

from ...checkpoint import Checkpoint
from ...errors import SqlgptError
from ...tokenizer import Tokenizer
from .dialects import get_dialect
from .dialects.sqlite import PAGE_SIZE
from .install import CATALOGUE, schema_name
from .layouts import format_version
from .plan import Plan, Statement

DIALECTS = ("duckdb", "postgres", "sqlite")
STEP_START = "(SELECT pos FROM step_start)"  # the first position a step computes
LAST_POSITION = "(SELECT max(pos) FROM tokens)"  # the position whose logits pick the next token
VALUES_PER_INSERT = 500
TWO_TO_53 = 2**53  # NumPy's random() is an integer below 2**53 times 2**-53


@functools.cache
def _unicode_classes() -> dict[str, list[tuple[int, int]]]:
    """The code-point ranges of GPT-2's pattern classes, as the installed `regex` package has
    them: 'L' letters (\\p{L}), 'N' numbers (\\p{N}), 'S' white space (\\s)."""
    # Every code point but the surrogates, in order; a run of matches is a range.
    points = [*range(0xD800), *range(0xE000, 0x110000)]
    text = "".join(map(chr, points))
    classes = {}
    for name, pattern in (("L", r"\p{L}+"), ("N", r"\p{N}+"), ("S", r"\s+")):
        ranges = []
        for m in regex.finditer(pattern, text):
            lo, hi = points[m.start()], points[m.end() - 1]
            if lo < 0xD800 < hi:  # a run across the surrogates' gap is two ranges
                ranges += [(lo, 0xD7FF), (0xE000, hi)]
            else:
                ranges.append((lo, hi))
        classes[name] = ranges
    return classes


def _class_body(ranges: list[tuple[int, int]], escape: Callable[[int], str]) -> str:
    """The inside of a bracket expression matching `ranges`, each code point escaped."""
    return "".join(escape(lo) if lo == hi else f"{escape(lo)}-{escape(hi)}" for lo, hi in ranges)


def _gpt2_pattern(escape: Callable[[int], str], lookahead: bool) -> str:
    """GPT-2's pre-tokenizer pattern with its classes written out. With `lookahead`, as
    GPT-2 has it; without, its `\\s+(?!\\S)|\\s+` becomes `\\s+` (see `_DuckDB.pieces`)."""
    c = _unicode_classes()
    letters, numbers, space = (_class_body(c[k], escape) for k in "LNS")
    tail = f"[{space}]+(?![^{space}])|[{space}]" if lookahead else f"[{space}]+"
    return (f"'s|'t|'re|'ve|'m|'ll|'d| ?[{letters}]+| ?[{numbers}]+| ?[^{space}{letters}{numbers}]+|{tail}")


class _Shell:
    """What the script needs from one database beyond the compiler's dialect, and how its
    shell runs a file. One subclass per database, overriding what differs."""

    name = ""
    text_type = "VARCHAR"
    double_type = "DOUBLE"
    chr_function = "chr"
    run_hint = ""  # the header's command line; DATABASE stands for the user's database
    differences: tuple[str, ...] = ()  # where this database's script can differ from sqlgpt's text

    def find(self, haystack: str, needle: str) -> str:
        """1-based position of `needle` in `haystack`, 0 if absent."""
        return f"instr({haystack}, {needle})"

    def half(self, n: str) -> str:
        """The integer `n` halved, rounding down (a hex string's length in bytes)."""
        return f"({n}) / 2"

    def ones(self, n: str) -> str:
        """A string of `n` '1' characters."""
        return f"repeat('1', {n})"

    def utf8_hex(self, text: str) -> str:
        """The UTF-8 bytes of `text` as lowercase hex."""
        return f"lower(hex({text}))"

    def as_float32(self, expr: str) -> str:
        """`expr` rounded to float32, as sqlgpt holds logits."""
        return f"CAST({expr} AS FLOAT)"

    def char(self, code: str) -> str:
        """The character with code point `code`."""
        return f"{self.chr_function}(CAST({code} AS INTEGER))"

    def preamble(self) -> list[str]:
        """Lines at the top of the script: the shell's and session's settings."""
        return []

    def before_output(self) -> list[str]:
        """Lines before the final SELECT, so that the shell prints just the text."""
        return []

    def model_check(self, condition: str, message: str) -> list[str]:
        """Statements that stop the script with `message` unless `condition` (a query
        counting rows, 1 when the model is installed) holds."""
        raise NotImplementedError

    def class_tables(self) -> list[Statement]:
        """Tables the pre-tokenizer needs beside the prompt (the regex has its classes inline)."""
        return []

    def pieces(self) -> Statement:
        """INSERT INTO pieces (piece, hex): the prompt's pre-tokens in order, as hex bytes;
        its comment says how this database matches GPT-2's pattern."""
        raise NotImplementedError

    def reusable(self, name: str, statement: Statement) -> tuple[str | None, str]:
        """(SQL to run once or None, SQL to run at each token) for a statement of every token.

        An INSERT's query becomes a view that each token inserts from, planned afresh each
        time; other statements are written out at each token. (SQLite's SQL has no PREPARE,
        and DuckDB 1.5 plans a prepared statement whose position is a subquery with the
        statistics of its tables then, empty: the positions it writes are garbage.)"""
        if statement.target is None:
            return None, statement.sql
        return f"CREATE TEMP VIEW {name} AS\n{statement.query}", f"INSERT INTO {statement.target} SELECT * FROM {name}"

    def literal(self, text: str) -> str:
        """`text` as a SQL string expression; see the module docstring."""
        if "\0" in text:
            raise SqlgptError("the prompt contains a NUL character, which no database's text can hold")
        parts = []
        # Split at the control characters: the odd parts are they, the even parts the text between.
        for i, part in enumerate(re.split(r"([\x01-\x08\x0b-\x1f\x7f])", text)):
            if i % 2:
                parts.append(self.char(str(ord(part))))
            elif part:
                parts.append("'" + part.replace("'", "''") + "'")
        joined = " || ".join(parts) or "''"
        return f"CAST({joined} AS {self.text_type})"


class _DuckDB(_Shell):
    name = "duckdb"
    run_hint = "duckdb -bail -list -noheader DATABASE < script.sql"

    def half(self, n: str) -> str:
        return f"({n}) // 2"  # `/` divides as floats in DuckDB

    def model_check(self, condition: str, message: str) -> list[str]:
        # CREATE ... AS prints nothing in the shell, where a bare SELECT would print a row.
        return [(f"CREATE TEMP TABLE model_check AS SELECT CASE WHEN ({condition}) = 1 THEN 1 "
                 f"ELSE error('{message}') END AS ok")]

    def pieces(self) -> Statement:
        escape = lambda c: f"\\x{{{c:x}}}"  # noqa: E731
        space = _class_body(_unicode_classes()["S"], escape)
        pattern = _gpt2_pattern(escape, lookahead=False).replace("'", "''")
        return Statement("""DuckDB's RE2 has no lookahead, which GPT-2's `\\s+(?!\\S)` needs: a run of white
space before a non-space leaves its last character to the next pre-token. Emulated exactly:
cut the text into chunks (white space, then non-space), cut each chunk's leading white space
before its last character, and split the rest with the pattern, whose `\\s+(?!\\S)|\\s+` is `\\s+`.""", f"""INSERT INTO pieces
WITH
  chunks AS (SELECT u.ci, u.c, length(regexp_extract(u.c, '^[{space}]*')) AS k
             FROM prompt p, unnest(regexp_extract_all(p.txt, '[{space}]*[^{space}]+|[{space}]+')) WITH ORDINALITY AS u(c, ci)),
  cut AS (SELECT ci, c, CASE WHEN k = length(c) THEN 0 ELSE greatest(k - 1, 0) END AS k FROM chunks),
  split AS (SELECT ci, 0 AS pi, left(c, k) AS piece FROM cut WHERE k > 0
            UNION ALL
            SELECT ci, u.pi, u.piece FROM cut, unnest(regexp_extract_all(substr(c, k + 1), '{pattern}')) WITH ORDINALITY AS u(piece, pi))
SELECT row_number() OVER (ORDER BY ci, pi), {self.utf8_hex('piece')} FROM split""")


class _Postgres(_Shell):
    name = "postgres"
    text_type = "text"
    double_type = "double precision"
    run_hint = "psql -X -f script.sql DATABASE"

    def find(self, haystack: str, needle: str) -> str:
        return f"strpos({haystack}, {needle})"

    def utf8_hex(self, text: str) -> str:
        return f"encode(convert_to({text}, 'UTF8'), 'hex')"

    def as_float32(self, expr: str) -> str:
        return f"CAST({expr} AS real)"

    def preamble(self) -> list[str]:
        return ["\\set ON_ERROR_STOP on", "\\set QUIET on",
                "SET client_encoding = 'UTF8';  -- this file is UTF-8",
                "SET standard_conforming_strings = on;  -- a backslash in a string is just a backslash"]

    def before_output(self) -> list[str]:
        return ["\\pset format unaligned", "\\pset tuples_only on"]

    def model_check(self, condition: str, message: str) -> list[str]:
        return [f"DO $check$ BEGIN IF ({condition}) <> 1 THEN RAISE EXCEPTION '{message}'; END IF; END $check$"]

    def pieces(self) -> Statement:
        escape = lambda c: f"\\u{c:04x}" if c <= 0xFFFF else f"\\U{c:08x}"  # noqa: E731
        pattern = _gpt2_pattern(escape, lookahead=True).replace("'", "''")
        return Statement(
            """PostgreSQL's regex has GPT-2's lookahead, but takes the longest of the alternatives that match
where GPT-2's takes the first: a final `\\s+` would swallow the run that `\\s+(?!\\S)` ends early,
so it is `\\s` here, the same wherever GPT-2's pattern gets to it.""",
            f"INSERT INTO pieces\nSELECT u.i, {self.utf8_hex('u.m[1]')} "
            f"FROM prompt p, regexp_matches(p.txt, '{pattern}', 'g') WITH ORDINALITY AS u(m, i)")

    def reusable(self, name: str, statement: Statement) -> tuple[str | None, str]:
        return f"PREPARE {name} AS\n{statement.sql}", f"EXECUTE {name}"  # planned once, as the engine does


class _SQLite(_Shell):
    name = "sqlite"
    text_type = "TEXT"
    double_type = "REAL"
    chr_function = "char"
    run_hint = "sqlite3 -bail DATABASE < script.sql"
    differences = ("Logits are compared in double precision, where sqlgpt rounds them to float32 first: a "
                   "different token only where two logits agree to float32's precision.",)

    def ones(self, n: str) -> str:
        return f"printf('%.*c', {n}, '1')"  # SQLite's printf repeats %c `precision` times

    def as_float32(self, expr: str) -> str:
        return expr  # no float32 type: compared in double precision (said in the header)

    def preamble(self) -> list[str]:
        # As the engine's sessions: wide rows fit big pages, and session tables stay in memory.
        return [f"PRAGMA temp.page_size = {PAGE_SIZE};", "PRAGMA temp_store = MEMORY;"]

    def model_check(self, condition: str, message: str) -> list[str]:
        # No error function: a failed CHECK constraint names itself in the error.
        return [f'CREATE TEMP TABLE model_check (ok INTEGER CONSTRAINT "{message}" CHECK (ok = 1))',
                f"INSERT INTO model_check SELECT ({condition})"]

    def class_tables(self) -> list[Statement]:
        classes = sorted((lo, hi, k) for k, ranges in _unicode_classes().items() for lo, hi in ranges)
        return [Statement("the pattern's character classes: L letters, N numbers, S white space (else O)",
                          "CREATE TEMP TABLE uclass (lo INTEGER PRIMARY KEY, hi INTEGER NOT NULL, k TEXT NOT NULL)"),
                *(Statement("", sql) for sql in _values("uclass", [f"({lo}, {hi}, '{k}')" for lo, hi, k in classes]))]

    def pieces(self) -> Statement:
        return Statement("""SQLite has no regex functions: GPT-2's pattern as a scan over the characters, classed by the
ranges in uclass. A pre-token is a contraction ('s 't 're 've 'm 'll 'd); else a run of letters,
numbers or other symbols, with one space before it if there is one; else white space: all of a
run that ends the text or is one character long, otherwise all but its last (`\\s+(?!\\S)`).""", """INSERT INTO pieces
WITH RECURSIVE
  chars AS (SELECT n.i, substr(p.txt, n.i, 1) AS c FROM nums n, prompt p WHERE n.i <= length(p.txt)),
  classed AS (SELECT i, c, coalesce((SELECT CASE WHEN u.hi >= unicode(c) THEN u.k END FROM uclass u
                                     WHERE u.lo <= unicode(c) ORDER BY u.lo DESC LIMIT 1), 'O') AS k FROM chars),
  runs AS (SELECT i, c, k, max(i) OVER (PARTITION BY k, g) AS e
           FROM (SELECT i, c, k, i - row_number() OVER (PARTITION BY k ORDER BY i) AS g FROM classed) x),
  steps AS (SELECT r.i, CASE
              WHEN substr(p.txt, r.i, 3) IN ('''re', '''ve', '''ll') THEN 3
              WHEN substr(p.txt, r.i, 2) IN ('''s', '''t', '''m', '''d') THEN 2
              WHEN r.k <> 'S' THEN r.e - r.i + 1
              WHEN r.c = ' ' AND nx.k <> 'S' THEN nx.e - r.i + 1
              WHEN r.e = length(p.txt) OR r.e = r.i THEN r.e - r.i + 1
              ELSE r.e - r.i END AS len
            FROM runs r LEFT JOIN runs nx ON nx.i = r.i + 1, prompt p),
  walk(i, len) AS (SELECT i, len FROM steps WHERE i = 1
                   UNION ALL SELECT s.i, s.len FROM walk w JOIN steps s ON s.i = w.i + w.len)
SELECT row_number() OVER (ORDER BY w.i), lower(hex(substr(p.txt, w.i, w.len))) FROM walk w, prompt p""")



SHELLS: dict[str, type[_Shell]] = {"duckdb": _DuckDB, "postgres": _Postgres, "sqlite": _SQLite}


def _shell(dialect: str) -> _Shell:
    if dialect not in SHELLS:
        raise SqlgptError(f"no standalone script for {dialect!r}; choose one of: {', '.join(DIALECTS)}")
    return SHELLS[dialect]()


def run_command(dialect: str, script: str) -> str:
    """The shell command that runs the script file `script` against a database DATABASE."""
    return _shell(dialect).run_hint.replace("script.sql", shlex.quote(script))


def _values(table: str, rows: list[str]) -> list[str]:
    """INSERTs of `rows` (each a parenthesised tuple) into `table`, a few hundred at a time."""
    return [f"INSERT INTO {table} VALUES\n" + ",\n".join(rows[i : i + VALUES_PER_INSERT])
            for i in range(0, len(rows), VALUES_PER_INSERT)]


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
    shell = _shell(dialect)
    return [
        Statement("the vocabulary: every token's bytes (hex) and merge rank (lower merges first)",
                  f"CREATE TEMP TABLE vocab (id INTEGER PRIMARY KEY, hex {shell.text_type} NOT NULL, merge_rank INTEGER)"),
        *(Statement("", sql) for sql in _values("vocab", _vocabulary_rows(tokenizer))),
        Statement("tokens are looked up by their bytes", "CREATE INDEX vocab_hex ON vocab (hex)"),
        *shell.class_tables(),
    ]


def encode_statements(dialect: str, prompt: str) -> list[Statement]:
    """Statements that encode `prompt` into prompt_tokens(pos, token) with the vocabulary's
    tables, creating prompt(txt), nums(i) and pieces(piece, hex) on the way."""
    shell = _shell(dialect)
    return [
        Statement("the prompt: the script's one piece of user text",
                  f"CREATE TEMP TABLE prompt AS SELECT {shell.literal(prompt)} AS txt"),
        Statement("the numbers 1, 2, ...: as many as the longest hex string (a token or the prompt) has characters",
                  f"CREATE TEMP TABLE nums AS WITH RECURSIVE\n"
                  f"  top AS MATERIALIZED (SELECT max(k) AS k FROM (SELECT max(length(hex)) AS k FROM vocab "
                  f"UNION ALL SELECT length({shell.utf8_hex('txt')}) FROM prompt) a),\n"
                  f"  n(i) AS (SELECT 1 UNION ALL SELECT n.i + 1 FROM n, top WHERE n.i < top.k)\nSELECT i FROM n"),
        Statement("the pre-tokens: GPT-2's pattern splits the prompt into words, numbers, symbols and spaces",
                  f"CREATE TEMP TABLE pieces (piece INTEGER, hex {shell.text_type})"),
        shell.pieces(),
        Statement("byte pair encoding: in each pre-token, merge the lowest-ranked pair of adjacent parts, "
                  "again and again (a mask marks where parts start)", _bpe(shell)),
    ]


def _bpe(shell: _Shell) -> str:
    f = shell.find

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
    FROM (SELECT piece, hex, {shell.ones(shell.half('length(hex)'))} AS mask FROM pieces) p
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
    shell = _shell(dialect)
    f, ch = shell.find, shell.char
    digit = lambda i: f"({f(repr('0123456789abcdef'), f'substr(v.hex, 2 * n.i - {1 - i}, 1)')} - 1)"  # noqa: E731
    stop = "" if eot is None else f" WHERE g.token <> {eot}"
    cont = lambda b: f"coalesce({b} BETWEEN 128 AND 191, FALSE)"  # noqa: E731
    second = ("coalesce(b1 BETWEEN (CASE b0 WHEN 224 THEN 160 WHEN 240 THEN 144 ELSE 128 END) "
              "AND (CASE b0 WHEN 237 THEN 159 WHEN 244 THEN 143 ELSE 191 END), FALSE)")
    code = ("CASE need WHEN 1 THEN (b0 - 192) * 64 + b1 - 128 WHEN 2 THEN (b0 - 224) * 4096 + (b1 - 128) * 64 + b2 - 128 "
            "ELSE (b0 - 240) * 262144 + (b1 - 128) * 4096 + (b2 - 128) * 64 + b3 - 128 END")
    return Statement("the generated text: the tokens' bytes, decoded from UTF-8 (U+FFFD for invalid bytes)", f"""WITH RECURSIVE
  bytes AS (SELECT row_number() OVER (ORDER BY g.k, n.i) AS o, {digit(0)} * 16 + {digit(1)} AS b
            FROM picked g JOIN vocab v ON v.id = g.token JOIN nums n ON n.i <= {shell.half('length(v.hex)')}{stop}),
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
  walk(o, txt) AS (SELECT 1, CAST('' AS {shell.text_type})
                   UNION ALL SELECT w.o + c.width, w.txt || c.piece FROM walk w JOIN chars c ON c.o = w.o)
SELECT txt FROM walk ORDER BY o DESC LIMIT 1""")


def _exact_double(shell: _Shell, x: float) -> str:
    """SQL for the double `x`, exactly: a ratio of integers that doubles represent exactly
    (a decimal literal would be parsed by each database's own rounding)."""
    numerator, denominator = x.as_integer_ratio()
    parts = [f"CAST({numerator} AS {shell.double_type})"]
    while denominator > 1:  # powers of two, at most 2**62 each: every division is exact
        step = min(denominator, 2**62)
        parts.append(f"CAST({step} AS {shell.double_type})")
        denominator //= step
    return "(" + " / ".join(parts) + ")"


def _pick_statement(shell: _Shell, logits: str, vocab_size: int, eot: int | None, temperature: float,
                    materialized: str) -> Statement:
    """INSERT INTO picked (k, token): the next token from the last position's logits, unless
    <|endoftext|> was picked already."""
    step = "(SELECT count(*) FROM picked)"
    not_stopped = "" if eot is None else f" AND NOT EXISTS (SELECT 1 FROM picked WHERE token = {eot})"
    if temperature == 0:
        return Statement.insert("the next token, greedily: the highest logit, the lower id of equals (NumPy's argmax)",
                                "picked", f"SELECT {step}, l.j FROM ({logits}) l WHERE l.j < {vocab_size}{not_stopped}\n"
                                f"ORDER BY l.logit DESC, l.j LIMIT 1", separator="\n")
    d, m, last = shell.double_type, materialized, vocab_size - 1
    return Statement.insert(
        f"the next token, sampled at temperature {temperature!r} as sqlgpt's sampler: softmax, cumulative sum, and "
        f"the first token whose sum passes the step's draw times the total", "picked", f"""WITH
  l AS {m}(SELECT j, CAST({shell.as_float32('logit')} AS {d}) / {_exact_double(shell, temperature)} AS z FROM ({logits}) a WHERE j < {vocab_size}),
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
    shell = _shell(dialect)
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

    sql_dialect = get_dialect(dialect)
    schema = schema_name(checkpoint.fingerprint())
    stepper = Plan(config, sql_dialect, schema, first=STEP_START)
    logits = Plan(config, sql_dialect, schema, first=LAST_POSITION).logits(last_only=True).sql

    sections: list[tuple[str, list[Statement]]] = []
    message = f"model {schema} is not installed in this database (in this layout): see the header of this script"
    check = (f"SELECT count(*) FROM {CATALOGUE} WHERE schema_name = '{schema}' "
             f"AND format_version = {format_version(sql_dialect)}")
    sections.append(("the model must be installed", [Statement("", sql) for sql in shell.model_check(check, message)]))
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
                    *(Statement("", sql) for sql in _values("draws", draws))]
    sections.append(("the session: its tokens and KV cache", session))

    pick = _pick_statement(shell, logits, tokenizer.vocab_size, eot, temperature, sql_dialect.materialized)
    repeated = [(f"step_{i + 1:02d}", st) for i, st in enumerate(stepper.step())] + [("pick", pick)]
    once, each = [], []
    for name, statement in repeated:
        setup, run = shell.reusable(name, statement)
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
    header = _header(shell, checkpoint, schema, model or str(checkpoint.directory), max_new_tokens, temperature, seed)
    preamble = shell.preamble()
    lines = [*header, "", *preamble, *([""] if preamble else [])]
    for title, statements in sections:
        lines.append(f"-- ===== {title} =====")
        for statement in statements:
            lines += [f"-- {line}" for line in statement.comment.splitlines()]
            lines.append(statement.sql + ";")
        lines.append("")
    lines += ["-- ===== the generated text ====="] + shell.before_output()
    decode = decode_statement(dialect, eot)
    lines += [f"-- {decode.comment}", decode.sql + ";", ""]
    return "\n".join(lines)


def _header(shell: _Shell, checkpoint: Checkpoint, schema: str, model: str, n: int, temperature: float,
            seed: int | None) -> list[str]:
    """The script's opening comment: what it does, how to run it, where it can differ."""
    sampled = [] if temperature == 0 else ["--seed", str(seed)]
    same = shlex.join(["sqlgpt", "generate", "PROMPT", "-n", str(n), "--temperature", repr(temperature), *sampled,
                       "--model", model])
    install = shlex.join(["sqlgpt", "next", "x", "--model", model, "--engine", shell.name, "-d", "DATABASE"])
    how = "greedily" if temperature == 0 else f"sampled at temperature {temperature!r} with seed {seed}"
    differences = ["A NUL character in the generated text is printed as U+FFFD: no database's text holds NUL.",
                   *shell.differences]
    if temperature > 0:
        differences.append("Softmax and cumulative sums add up in the database's order, not NumPy's: a different "
                           "token only where a draw falls within rounding error (~1e-15) of a bucket's edge.")
    wrap = lambda text, **indents: textwrap.wrap(text, 96, break_on_hyphens=False, **indents)  # noqa: E731
    lines = [
        *wrap(f"sqlgpt: GPT in SQL, exact and cached. {checkpoint.name} ({checkpoint.config.n_params / 1e6:.1f}M "
              f"parameters) continues the prompt below by up to {n} tokens, {how}, all in {shell.name}: the "
              f"tokenizer, the forward passes with a KV cache, each next token, and the text, which it prints: "
              f"the text of"),
        f"    {same}",
        "Run it with",
        f"    {shell.run_hint}",
        f"where DATABASE holds the model (schema {schema}), installed there once with",
        f"    {install}",
        "Token ids and text are exactly sqlgpt's, except:",
        *(line for difference in differences for line in wrap(difference, initial_indent="* ", subsequent_indent="  ")),
    ]
    # Comments end at a line break: nothing from the user's arguments may start a new line.
    return ["-- " + "".join(c if c.isprintable() else "?" for c in line) for line in lines]


__all__ = ["DIALECTS", "build_script", "decode_statement", "encode_statements", "run_command", "vocabulary_statements"]
