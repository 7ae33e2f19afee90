"""PostgreSQL's connections over psycopg 3: pgvector settled at connect, binary COPY, a private server.

The system the original "GPT in 500 lines of SQL" ran on. Opening a connection settles
whether the dialect uses pgvector (`dialect.pgvector`): it is created where missing, and
where the server has none the engine says so on stderr and falls back to `real[]`. With no
DSN, `pgserver` (PostgreSQL 16 + pgvector, from PyPI) runs a private server under the
user's cache directory. Every session is its own connection, so its temporary tables — its
KV cache — are its own; psycopg prepares a session's statements server-side on first use.
The server arbitrates between writers, so connections are never reopened read-only.

No SQL text here: every statement comes from `dialects/postgres.py`.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ....errors import SqlgptError, first_line
from ..dialects.postgres import PostgresDialect
from . import private_server
from .base import Driver

FLOAT4_OID = 700  # PostgreSQL's type id of real, in the binary form of a real[]


class PostgresDriver(Driver):
    dialect: PostgresDialect  # which settles pgvector in `open`

    def default_database(self) -> str:
        return private_server.start()

    def open(self, database: str, writable: bool) -> Any:
        """A connection; settles whether pgvector is used (saying so on stderr if it was
        wanted by default but is missing)."""
        import psycopg

        dialect = self.dialect
        conn = self._connect(database)
        if dialect.wanted is False:
            dialect.pgvector = False
            return conn
        try:
            try:
                conn.execute(dialect.pgvector_sql)
            except psycopg.errors.UniqueViolation:  # another connection created it at this moment
                conn.execute(dialect.pgvector_sql)  # now it exists: IF NOT EXISTS holds
        except psycopg.Error as e:
            if dialect.wanted:
                conn.close()
                raise SqlgptError(f"pgvector was asked for, but this server lacks it ({first_line(e)})") from None
            dialect.pgvector = False
            print("sqlgpt: this PostgreSQL has no pgvector extension: using plain real[] arrays, about 100x slower "
                  "(install pgvector for speed)", file=sys.stderr)
            return conn
        dialect.pgvector = True
        if conn.info.server_version < 160000:
            version = conn.info.server_version
            conn.close()
            raise SqlgptError(f"the postgres engine with pgvector needs PostgreSQL 16 or newer (for any_value); this "
                              f"server is {version // 10000}.{version % 10000} (pgvector=False runs on it, slowly)")
        return conn

    def _connect(self, database: str) -> Any:
        import psycopg

        try:
            return psycopg.connect(database, autocommit=True)
        except psycopg.Error as e:
            raise SqlgptError(f"cannot connect to PostgreSQL ({first_line(e)})") from None

    def cursor(self, conn: Any, database: str) -> Any:
        session = self._connect(database)  # temp tables belong to a connection
        for sql in self.dialect.session_sql:
            session.execute(sql)
        return session

    def execute_prepared(self, cursor: Any, handle: str, position: int) -> Any:
        # psycopg prepares it server-side on first use and reuses the plan afterwards.
        return cursor.execute(handle, self.dialect.position_params(int(position)), prepare=True)

    def fetch_columns(self, cursor: Any) -> dict[str, np.ndarray]:
        names = [d.name for d in cursor.description]
        rows = cursor.fetchall()
        return {name: np.array([row[i] for row in rows]) for i, name in enumerate(names)}

    def executemany(self, conn: Any, sql: str, rows: list) -> None:
        conn.cursor().executemany(sql, rows)  # a cursor of the connection: the same transaction

    def errors(self) -> tuple[type[BaseException], ...]:
        import psycopg

        return (psycopg.Error,)

    def insert_columns(self, conn: Any, schema: str, table: str, columns: dict[str, np.ndarray]) -> None:
        """Binary COPY, built with NumPy: every row of a table has the same byte layout."""
        dialect = self.dialect
        qualified = dialect.qualify(schema, table)
        n = len(next(iter(columns.values())))
        for name, values in columns.items():
            if values.ndim == 2:
                # Vectors over ~2 kB are moved out of line (TOAST) by default, and every token
                # would fetch them back from there; a row that fits a page stays in it.
                fits = 4 * values.shape[1] <= 7000
                conn.execute(dialect.storage_sql(qualified, name, "PLAIN" if fits else "EXTERNAL"))
        fields: list[tuple] = [("count", ">i2")]
        for name, values in columns.items():
            if values.ndim == 2 and dialect.pgvector:  # pgvector's binary form: dim, unused, then the floats
                fields += [(f"{name}_len", ">i4"), (f"{name}_dim", ">i2"), (f"{name}_pad", ">i2"),
                           (name, ">f4", (values.shape[1],))]
            elif values.ndim == 2:  # a real[]: ndim, flags, element type, length, lower bound, then
                # each element as (byte length, float)
                fields += [(f"{name}_len", ">i4"), (f"{name}_head", ">i4", (5,)), (name, [("n", ">i4"), ("v", ">f4")],
                                                                                   (values.shape[1],))]
            else:
                fields += [(f"{name}_len", ">i4"), (name, ">i4" if values.dtype.kind == "i" else ">f4")]
        rows = np.zeros(n, dtype=np.dtype(fields))
        rows["count"] = len(columns)
        for name, values in columns.items():
            if values.ndim == 2 and dialect.pgvector:
                rows[f"{name}_len"] = 4 + 4 * values.shape[1]
                rows[f"{name}_dim"] = values.shape[1]
                rows[name] = values
            elif values.ndim == 2:
                rows[f"{name}_len"] = 20 + 8 * values.shape[1]
                rows[f"{name}_head"] = [1, 0, FLOAT4_OID, values.shape[1], 1]
                rows[name]["n"] = 4
                rows[name]["v"] = values
            else:
                rows[f"{name}_len"] = 4
                rows[name] = values
        header = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") * 2
        trailer = (-1).to_bytes(2, "big", signed=True)
        data = memoryview(header + rows.tobytes() + trailer)
        with conn.cursor().copy(dialect.copy_binary_sql(qualified, list(columns))) as copy:
            for start in range(0, len(data), 1 << 24):
                copy.write(data[start : start + (1 << 24)])
        if "j" in columns:  # the embeddings are looked up by j; a scan of the vectors inline would read them all
            conn.execute(dialect.index_sql(qualified, "j"))
        conn.execute(dialect.analyze_sql(qualified))
