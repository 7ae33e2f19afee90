"""SQLite's connections through Python's sqlite3: a connection per session, batched inserts.

Each session is its own connection to the same file (an in-memory database is shared
between its connections by a URI), so its temporary tables — its KV cache — are its own.
Installs run in one transaction with the rollback journal on, so an interrupted install is
rolled back when the file is next opened. `exp`, `tanh`, `sqrt` and `ln` are SQLite's own
math functions (3.35+); if the build lacks them, they are registered from Python's `math` —
every dot product, sum and softmax still runs in SQL. Statements are cached compiled by
sqlite3 itself, keyed by their text.

No SQL text here: every statement comes from `dialects/sqlite.py`.
"""

from __future__ import annotations

import itertools
import math
import re
import sqlite3
from typing import Any

import numpy as np

from ....errors import SqlgptError, first_line
from ..dialects.sqlite import SQLiteDialect
from .base import Driver, cache_path

_OWN_TABLE = re.compile(r"m_[0-9a-f]{16}__[a-z0-9_]+|sqlgpt_inspect__[a-z0-9_]+")
_MATH = {"exp": math.exp, "tanh": math.tanh, "sqrt": math.sqrt, "ln": math.log}
_memory_databases = itertools.count()


class SQLiteDriver(Driver):
    dialect: SQLiteDialect

    def default_database(self) -> str:
        return str(cache_path("models.sqlite"))

    def open(self, database: str, writable: bool) -> Any:
        if database == ":memory:":  # a name, so that each session's connection sees the same one
            database = f"file:sqlgpt-memory-{next(_memory_databases)}?mode=memory&cache=shared"
        return self._connect(database)

    def _connect(self, database: str) -> _Connection:
        try:
            conn = sqlite3.connect(database, uri=database.startswith("file:"), isolation_level=None,
                                   check_same_thread=False, cached_statements=512, timeout=30, factory=_Connection)
            conn.database_name = database
            new_file = database.startswith("file:") or conn.execute(self.dialect.has_tables_sql).fetchone()[0] == 0
            for sql in self.dialect.connection_settings(new_file):
                conn.execute(sql)
        except sqlite3.Error as e:
            raise SqlgptError(f"cannot open SQLite database {database}: {first_line(e)}") from None
        self._ensure_math(conn)
        return conn

    def _ensure_math(self, conn: sqlite3.Connection) -> None:
        """Register exp, tanh, sqrt and ln if this SQLite was built without its math functions."""
        try:
            conn.execute(self.dialect.math_check_sql).fetchone()
        except sqlite3.OperationalError:
            for name, fn in _MATH.items():
                conn.create_function(name, 1, fn, deterministic=True)

    def cursor(self, conn: Any, database: str) -> Any:
        return self._connect(conn.database_name)  # temp tables belong to a connection

    def execute_prepared(self, cursor: Any, handle: str, position: int) -> Any:
        # sqlite3 keeps each statement compiled in its cache, keyed by its text.
        return cursor.execute(handle, [int(position)])

    def errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error,)

    def drop_schema(self, conn: Any, schema: str) -> None:
        """Drop the tables whose names have the schema's prefix."""
        for (name,) in conn.execute(*self.dialect.schema_tables_sql(schema)).fetchall():
            if _OWN_TABLE.fullmatch(name):  # names read from the file are pasted into SQL: only ours
                conn.execute(self.dialect.drop_table_sql(name))

    def insert_columns(self, conn: Any, schema: str, table: str, columns: dict[str, np.ndarray]) -> None:
        """Rows in batches: a 2-D array fills as many consecutive columns as it is wide."""
        parts = [v.reshape(len(v), -1) for v in columns.values()]
        width = sum(p.shape[1] for p in parts)
        sql = self.dialect.insert_placeholders_sql(self.dialect.qualify(schema, table), width)
        n = len(parts[0])
        for start in range(0, n, 1024):
            block = [p[start : start + 1024] for p in parts]
            # Keys stay ints; everything else goes in as double (float32 values exactly).
            rows = zip(*(b[:, 0].tolist() if b.dtype.kind in "iu" else b.astype(np.float64).tolist() for b in block))
            conn.executemany(sql, [_flatten(row) for row in rows])


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
