"""SQLite through Python's sqlite3: the wide layout (a REAL column per vector element).

SQLite has no array type, so this dialect uses `wide.py`'s layout, measured fastest here
(docs/measurements.md): weight tables `WITHOUT ROWID` with one row per unit and a column
per element, and expressions written out term by term. SQLite sums REALs in double
precision. `exp`, `tanh`, `sqrt` and `ln` are SQLite's own math functions (3.35+); if the build
lacks them, they are registered from Python's `math` — every dot product, sum and softmax
still runs in SQL.

A "schema" is a prefix of table names (`m_…__wte`), as SQLite's only schemas are attached
files. Each session is its own connection to the same file (an in-memory database is shared
between its connections by a URI), so its temporary tables — its KV cache — are its own.
Installs run in one transaction with the rollback journal on, so an interrupted install is
rolled back when the file is next opened.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import sqlite3
from typing import Any

import numpy as np

from ....errors import SqlgptError, first_line
from .base import Dialect, cache_path

# Rows of 769+ REAL columns fit a 32 KiB page; at SQLite's default 4 KiB they spill into
# overflow pages and every scan slows down by half (measured).
PAGE_SIZE = 32768
_OWN_TABLE = re.compile(r"m_[0-9a-f]{16}__[a-z0-9_]+|sqlgpt_inspect__[a-z0-9_]+")
_memory_databases = itertools.count()


class SQLiteDialect(Dialect):
    name = "sqlite"
    layout = "wide"
    vector_type = "BLOB"  # unused: the wide layout has no vector columns
    float_type = "REAL"
    placeholder = "?"
    materialized = "MATERIALIZED "  # or the planner copies a mean into every term of a variance

    def default_database(self) -> str:
        return str(cache_path("models.sqlite"))

    def qualify(self, schema: str, table: str) -> str:
        return f"{schema}__{table}"

    def param(self, n: int) -> str:
        return f"?{n}"

    def int_div(self, a: str, b: int) -> str:
        return f"({a}) / {b}"  # integer operands: integer division

    def mod(self, a: str, b: int) -> str:
        return f"({a}) % {b}"

    # -- catalogue and weight tables -----------------------------------------------------------

    def table_exists(self, conn: Any, schema: str | None, table: str) -> bool:
        name = table if schema is None else self.qualify(schema, table)
        rows = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", [name]).fetchall()
        return rows[0][0] > 0

    def create_schema(self, conn: Any, schema: str) -> None:
        """Nothing to create: a schema is a prefix of table names."""

    def create_schema_if_missing(self, schema: str) -> str:
        return "SELECT 1"

    def drop_schema(self, conn: Any, schema: str) -> None:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, ?) = ?",
                            [len(schema) + 2, schema + "__"]).fetchall()
        for (name,) in rows:
            if _OWN_TABLE.fullmatch(name):  # names read from the file are pasted into SQL: only ours
                conn.execute(f"DROP TABLE {name}")

    def create_table(self, conn: Any, schema: str, table: str, columns: list[tuple[str, str]]) -> None:
        # The first column is the key: rows are found by it and stored in its order.
        conn.execute(f"CREATE TABLE {self.qualify(schema, table)} ({self.column_list(columns)}, "
                     f"PRIMARY KEY ({columns[0][0]})) WITHOUT ROWID")

    def insert_columns(self, conn: Any, schema: str, table: str, columns: dict[str, np.ndarray]) -> None:
        """Rows in batches: a 2-D array fills as many consecutive columns as it is wide."""
        parts = [v.reshape(len(v), -1) for v in columns.values()]
        width = sum(p.shape[1] for p in parts)
        sql = f"INSERT INTO {self.qualify(schema, table)} VALUES ({', '.join(['?'] * width)})"
        n = len(parts[0])
        for start in range(0, n, 1024):
            block = [p[start : start + 1024] for p in parts]
            # Keys stay ints; everything else goes in as double (float32 values exactly).
            rows = zip(*(b[:, 0].tolist() if b.dtype.kind in "iu" else b.astype(np.float64).tolist() for b in block))
            conn.executemany(sql, [_flatten(row) for row in rows])

    def before_install(self, conn: Any) -> None:
        conn.execute("PRAGMA synchronous = NORMAL")

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

    def temp_table_names(self, cursor: Any) -> list[str]:
        rows = cursor.execute("SELECT name FROM sqlite_temp_master WHERE type = 'table' ORDER BY name").fetchall()
        return [name for (name,) in rows]

    # -- connections ---------------------------------------------------------------------------

    def open(self, database: str, writable: bool) -> Any:
        if database == ":memory:":  # a name, so that each session's connection sees the same one
            database = f"file:sqlgpt-memory-{next(_memory_databases)}?mode=memory&cache=shared"
        return self._connect(database)

    def _connect(self, database: str) -> "_Connection":
        try:
            conn = sqlite3.connect(database, uri=database.startswith("file:"), isolation_level=None,
                                   check_same_thread=False, cached_statements=512, timeout=30, factory=_Connection)
            conn.database_name = database
            if database.startswith("file:") or not _has_tables(conn):
                conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # only takes effect on an empty file
            conn.execute(f"PRAGMA temp.page_size = {PAGE_SIZE}")  # before the first temp table
            conn.execute("PRAGMA temp_store = MEMORY")
        except sqlite3.Error as e:
            raise SqlgptError(f"cannot open SQLite database {database}: {first_line(e)}") from None
        _ensure_math(conn)
        return conn

    def cursor(self, conn: Any, database: str) -> Any:
        return self._connect(conn.database_name)  # temp tables belong to a connection

    def execute_prepared(self, cursor: Any, handle: str, position: int) -> Any:
        # sqlite3 keeps each statement compiled in its cache, keyed by its text.
        return cursor.execute(handle, [int(position)])

    def fetch_columns(self, cursor: Any) -> dict[str, np.ndarray]:
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
        return {name: np.array([row[i] for row in rows]) for i, name in enumerate(names)}

    def errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error,)


class _Connection(sqlite3.Connection):
    """A connection that remembers what it opened, so sessions can open their own."""

    database_name = ""


def _flatten(row: tuple) -> list:
    out: list = []
    for part in row:
        if isinstance(part, list):
            out += part
        else:
            out.append(part)
    return out


def _has_tables(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0


def _ensure_math(conn: sqlite3.Connection) -> None:
    """Register exp, tanh, sqrt and ln if this SQLite was built without its math functions."""
    try:
        conn.execute("SELECT exp(0), tanh(0), sqrt(1), ln(1)").fetchone()
    except sqlite3.OperationalError:
        for name, fn in (("exp", math.exp), ("tanh", math.tanh), ("sqrt", math.sqrt), ("ln", math.log)):
            conn.create_function(name, 1, fn, deterministic=True)
