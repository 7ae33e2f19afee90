"""SQLite's SQL: the wide layout (a REAL column per vector element); its shell's script.

SQLite has no array type, so this dialect uses `wide.py`'s layout, measured fastest here
(docs/measurements.md): weight tables `WITHOUT ROWID` with one row per unit and a column
per element, and expressions written out term by term. SQLite sums REALs in double
precision. A "schema" is a prefix of table names (`m_…__wte`), as SQLite's only schemas
are attached files. Rows of 769+ REAL columns want big pages (`PAGE_SIZE`).

SQL text only: connecting, sessions' connections, the math functions a build may lack and
bulk loads are `drivers/sqlite.py`'s.
"""

from __future__ import annotations

import json
from typing import Any

from .base import Dialect
from .pretokenize import unicode_classes

# Rows of 769+ REAL columns fit a 32 KiB page; at SQLite's default 4 KiB they spill into
# overflow pages and every scan slows down by half (measured).
PAGE_SIZE = 32768
# A session's settings: wide rows fit big pages (set before its first temp table), and its
# tables stay in memory. The engine's sessions and the standalone script both run them.
SESSION_SETTINGS = (f"PRAGMA temp.page_size = {PAGE_SIZE}", "PRAGMA temp_store = MEMORY")


class SQLiteDialect(Dialect):
    name = "sqlite"
    layout = "wide"
    vector_type = "BLOB"  # unused: the wide layout has no vector columns
    float_type = "REAL"
    placeholder = "?"
    materialized = "MATERIALIZED "  # or the planner copies a mean into every term of a variance
    has_tables_sql = "SELECT count(*) FROM sqlite_master"  # 0 in a new file
    # Fails where the build lacks SQLite's own math functions (3.35+): the driver registers them.
    math_check_sql = "SELECT exp(0), tanh(0), sqrt(1), ln(1)"

    def qualify(self, schema: str, table: str) -> str:
        return f"{schema}__{table}"

    def param(self, n: int) -> str:
        return f"?{n}"

    def connection_settings(self, new_file: bool) -> list[str]:
        """PRAGMAs for a new connection; the page size of the file only where it is new
        (it takes effect on an empty file only)."""
        return ([f"PRAGMA page_size = {PAGE_SIZE}"] if new_file else []) + list(SESSION_SETTINGS)

    def int_div(self, a: str, b: int) -> str:
        return f"({a}) / {b}"  # integer operands: integer division

    def mod(self, a: str, b: int) -> str:
        return f"({a}) % {b}"

    # -- catalogue and weight tables -----------------------------------------------------------

    def table_exists_sql(self, schema: str | None, table: str) -> tuple[str, list[Any]]:
        name = table if schema is None else self.qualify(schema, table)
        return "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", [name]

    def create_schema_sql(self, schema: str) -> list[str]:
        return []  # nothing to create: a schema is a prefix of table names

    def create_schema_if_missing(self, schema: str) -> str:
        return "SELECT 1"

    def schema_tables_sql(self, schema: str) -> tuple[str, list[Any]]:
        """A query of the names of the tables in `schema` (those with its prefix), and its
        parameters: what dropping the schema drops."""
        return ("SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, ?) = ?",
                [len(schema) + 2, schema + "__"])

    def create_table_sql(self, schema: str, table: str, columns: list[tuple[str, str]]) -> str:
        # The first column is the key: rows are found by it and stored in its order.
        return (f"CREATE TABLE {self.qualify(schema, table)} ({self.column_list(columns)}, "
                f"PRIMARY KEY ({columns[0][0]})) WITHOUT ROWID")

    def before_install_sql(self) -> list[str]:
        return ["PRAGMA synchronous = NORMAL"]

    # -- session tables ------------------------------------------------------------------------

    def temp_table_def(self, name: str, columns: list[tuple[str, str]], key: list[str] | None = None) -> str:
        if key is None:
            return super().temp_table_def(name, columns)
        return f"CREATE TEMP TABLE {name} ({self.column_list(columns)}, PRIMARY KEY ({', '.join(key)})) WITHOUT ROWID"

    def load_tokens_sql(self, table: str) -> str:
        # Parameters: the first new position, then the ids as a JSON array (json_each's key
        # is the 0-based index).
        return f"INSERT INTO {table} SELECT ?1 + key, value FROM json_each(?2)"

    def token_params(self, first: int, ids: list[int]) -> list[Any]:
        return [first, json.dumps([int(i) for i in ids])]

    def temp_table_names_sql(self) -> str:
        return "SELECT name FROM sqlite_temp_master WHERE type = 'table' ORDER BY name"

    # -- the standalone script -----------------------------------------------------------------

    run_hint = "sqlite3 -bail DATABASE < script.sql"
    text_type = "TEXT"
    double_type = "REAL"
    chr_function = "char"
    script_differences = (("Logits are compared in double precision, where sqlgpt rounds them to float32 first: a "
                           "different token only where two logits agree to float32's precision."),)

    def ones(self, n: str) -> str:
        return f"printf('%.*c', {n}, '1')"  # SQLite's printf repeats %c `precision` times

    def as_float32(self, expr: str) -> str:
        return expr  # no float32 type: compared in double precision (said in the header)

    def script_preamble(self) -> list[str]:
        return [f"{sql};" for sql in SESSION_SETTINGS]  # as the engine's sessions

    def model_check(self, condition: str, message: str) -> list[str]:
        # No error function: a failed CHECK constraint names itself in the error.
        return [f'CREATE TEMP TABLE model_check (ok INTEGER CONSTRAINT "{message}" CHECK (ok = 1))',
                f"INSERT INTO model_check SELECT ({condition})"]

    def class_tables(self) -> list[tuple[str, str]]:
        classes = sorted((lo, hi, k) for k, ranges in unicode_classes().items() for lo, hi in ranges)
        return [("the pattern's character classes: L letters, N numbers, S white space (else O)",
                 "CREATE TEMP TABLE uclass (lo INTEGER PRIMARY KEY, hi INTEGER NOT NULL, k TEXT NOT NULL)"),
                *(("", sql) for sql in self.values_sql("uclass", [f"({lo}, {hi}, '{k}')" for lo, hi, k in classes]))]

    def pieces(self) -> tuple[str, str]:
        return ("""SQLite has no regex functions: GPT-2's pattern as a scan over the characters, classed by the
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
