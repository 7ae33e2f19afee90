"""PostgreSQL with pgvector: vectors as `vector`, `inner_product`, binary COPY for installs.

The system the original "GPT in 500 lines of SQL" ran on, over psycopg 3. pgvector's
`inner_product` is the matrix-vector workhorse. Where the server has no pgvector, the same
tables hold plain `real[]` arrays and a dot product is an `unnest` + `sum` (~100× slower,
but it runs on any PostgreSQL, 15 included); the engine says so on stderr when it falls back;
element-wise work on single vectors goes through `unnest ... WITH ORDINALITY`, and the
values' transposed rows grow as `real[]` (a pgvector vector cannot be empty). With no DSN,
`pgserver` (PostgreSQL 16 + pgvector, from PyPI) runs a private server under the user's
cache directory. Every session is its own connection, so its temporary tables — its KV
cache — are its own. `%` never appears in generated SQL (psycopg reads it as a parameter).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ....errors import SqlgptError, first_line
from .base import Dialect, cache_path

FLOAT4_OID = 700  # PostgreSQL's type id of real, in the binary form of a real[]


class PostgresDialect(Dialect):
    name = "postgres"
    float_type = "real"
    placeholder = "%s"
    single_writer = False  # the server arbitrates: no read-only reopening
    # Without these, the planner inlines a layer norm's statistics into the cross join with
    # the weights and recomputes them for every weight row (0.5 s instead of 15 ms).
    materialized = "MATERIALIZED "
    options = frozenset({"pgvector"})
    database_alias = "dsn"  # a connection string

    def __init__(self, pgvector: bool | None = None) -> None:
        """pgvector: True requires it, False never uses it, None (default) uses it where the
        server has it. `open` settles which, in `self.pgvector`."""
        self.wanted = pgvector
        self.pgvector = pgvector is not False

    @property
    def vector_type(self) -> str:  # type: ignore[override]
        return "vector" if self.pgvector else "real[]"

    @property
    def layout_variant(self) -> int:  # type: ignore[override]
        # Other column types: an install of one is not the other's. (2 and 3 since weight
        # vectors are kept in the row where they fit: installs made before are redone.)
        return 2 if self.pgvector else 3

    def default_database(self) -> str:
        return default_server()

    def fence(self, subquery: str) -> str:
        return f"({subquery} OFFSET 0)"

    # -- vector primitives ---------------------------------------------------------------------

    def dot(self, a: str, b: str) -> str:
        if self.pgvector:
            return f"inner_product({a}, {b})"
        return f"(SELECT sum(CAST(u.a AS double precision) * u.b) FROM unnest({a}, {b}) AS u(a, b))"

    def collect(self, expr: str, order_by: str) -> str:
        return f"CAST(array_agg(CAST({expr} AS real) ORDER BY {order_by}) AS {self.vector_type})"

    def collect_plus(self, expr: str, index: str, vector: str) -> str:
        if self.pgvector:  # pgvector adds element-wise; the residual is one vector per group (any_value: PG 16+)
            return f"({self.collect(expr, index)} + any_value({vector}))"
        return self.collect(f"{expr} + ({vector})[{index} + 1]", index)

    def to_float(self, expr: str) -> str:
        return f"CAST({expr} AS real)"

    def int_div(self, a: str, b: int) -> str:
        return f"({a}) / {b}"  # integer operands: integer division

    def mod(self, a: str, b: int) -> str:
        return f"mod({a}, {b})"

    def as_vector(self, expr: str) -> str:
        return f"CAST({expr} AS {self.vector_type})"

    def empty_growing_vector(self) -> str:
        return "CAST(ARRAY[] AS real[])"

    def map_vectors(self, vectors: list[str], fn: Callable[..., str]) -> str:
        names = [f"a{i}" for i in range(len(vectors))]
        arrays = ", ".join(f"CAST({v} AS real[])" for v in vectors)
        body = fn(*(f"u.{n}" for n in names))
        return (f"(SELECT CAST(array_agg(CAST({body} AS real) ORDER BY u.i) AS {self.vector_type}) "
                f"FROM unnest({arrays}) WITH ORDINALITY AS u({', '.join(names)}, i))")

    def vector_mean(self, vector: str) -> str:
        return f"(SELECT avg(v) FROM unnest(CAST({vector} AS real[])) AS v)"

    def vector_var(self, vector: str) -> str:
        return f"(SELECT var_pop(v) FROM unnest(CAST({vector} AS real[])) AS v)"

    def range_rows(self, n: int, column: str, alias: str = "r") -> str:
        return f"generate_series(0, {n - 1}) AS {alias}({column})"

    def param(self, n: int) -> str:
        return f"%(p{n})s"

    def position_params(self, position: int) -> Any:
        return {"p1": position}

    # -- session tables ------------------------------------------------------------------------

    def load_tokens_sql(self, table: str) -> str:
        return (f"INSERT INTO {table} SELECT CAST(%s AS integer) + CAST(u.i AS integer) - 1, u.t "
                f"FROM unnest(CAST(%s AS integer[])) WITH ORDINALITY AS u(t, i)")

    def element(self, vector: str, index: str) -> str:
        return f"(CAST({vector} AS real[]))[{index} + 1]"

    def load_rows_sql(self, table: str, n_columns: int) -> str:
        return f"INSERT INTO {table} SELECT * FROM unnest(" + ", ".join(["CAST(%s AS integer[])"] * n_columns) + ")"

    def temp_table_def(self, name: str, columns: list[tuple[str, str]], key: list[str] | None = None) -> str:
        # Vectors stay in the row, not out of line (TOAST): a step reads them for every weight row.
        plain = "".join(f"; ALTER TABLE {name} ALTER COLUMN {c} SET STORAGE PLAIN" for c, kind in columns if kind == "vector")
        return super().temp_table_def(name, columns, key) + plain

    def append_values(self, table: str, cache: str, new: str, head_size: int) -> str:
        new = (f"SELECT r.c, array_agg({self.element('k.vec', self.mod('r.c', head_size))} ORDER BY k.pos) AS vals "
               f"FROM {table} r JOIN (SELECT * FROM {cache} WHERE {new}) k ON k.hd = r.c / {head_size} GROUP BY r.c")
        return f"UPDATE {table} SET vals = {table}.vals || n.vals FROM ({new}) n WHERE n.c = {table}.c"

    def temp_table_names(self, cursor: Any) -> list[str]:
        rows = cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = pg_my_temp_schema()::regnamespace::text ORDER BY 1"
        ).fetchall()
        return [name for (name,) in rows]

    # -- connections and loading ---------------------------------------------------------------

    def open(self, database: str, writable: bool) -> Any:
        """A connection; settles whether pgvector is used (saying so on stderr if it was
        wanted by default but is missing)."""
        import psycopg

        conn = self._connect(database)
        if self.wanted is False:
            self.pgvector = False
            return conn
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.Error as e:
            if self.wanted:
                conn.close()
                raise SqlgptError(f"pgvector was asked for, but this server lacks it ({first_line(e)})") from None
            self.pgvector = False
            print("sqlgpt: this PostgreSQL has no pgvector extension: using plain real[] arrays, about 100x slower "
                  "(install pgvector for speed)", file=sys.stderr)
            return conn
        self.pgvector = True
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
        return self._connect(database)  # temp tables belong to a connection

    def execute_prepared(self, cursor: Any, handle: str, position: int) -> Any:
        # psycopg prepares it server-side on first use and reuses the plan afterwards.
        return cursor.execute(handle, {"p1": int(position)}, prepare=True)

    def fetch_columns(self, cursor: Any) -> dict[str, np.ndarray]:
        names = [d.name for d in cursor.description]
        rows = cursor.fetchall()
        return {name: np.array([row[i] for row in rows]) for i, name in enumerate(names)}

    def errors(self) -> tuple[type[BaseException], ...]:
        import psycopg

        return (psycopg.Error,)

    def insert_columns(self, conn: Any, schema: str, table: str, columns: dict[str, np.ndarray]) -> None:
        """Binary COPY, built with NumPy: every row of a table has the same byte layout."""
        n = len(next(iter(columns.values())))
        for name, values in columns.items():
            if values.ndim == 2:
                # Vectors over ~2 kB are moved out of line (TOAST) by default, and every token
                # would fetch them back from there; a row that fits a page stays in it.
                fits = 4 * values.shape[1] <= 7000
                conn.execute(f"ALTER TABLE {schema}.{table} ALTER COLUMN {name} SET STORAGE {'PLAIN' if fits else 'EXTERNAL'}")
        fields: list[tuple] = [("count", ">i2")]
        for name, values in columns.items():
            if values.ndim == 2 and self.pgvector:  # pgvector's binary form: dim, unused, then the floats
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
            if values.ndim == 2 and self.pgvector:
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
        with conn.cursor().copy(f"COPY {schema}.{table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
            for start in range(0, len(data), 1 << 24):
                copy.write(data[start : start + (1 << 24)])
        if "j" in columns:  # the embeddings are looked up by j; a scan of the vectors inline would read them all
            conn.execute(f"CREATE INDEX ON {schema}.{table} (j)")
        conn.execute(f"ANALYZE {schema}.{table}")


def default_server() -> str:
    """A private PostgreSQL (pgserver) under the user's cache directory; its connection URI."""
    try:
        with warnings.catch_warnings():
            # pgserver asks platformdirs for a runtime directory at import; where
            # XDG_RUNTIME_DIR is unset (root, containers) that warns in two lines and
            # falls back to a private directory under /tmp, which serves.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", category=UserWarning)
            import pgserver
    except ImportError:
        raise SqlgptError("no --database DSN given and pgserver is not installed: pip install pgserver, "
                          "or pass a PostgreSQL connection string") from None
    directory = cache_path("postgres")
    directory.mkdir(exist_ok=True)
    try:
        return pgserver.get_server(directory, cleanup_mode="stop").get_uri()
    except Exception as e:  # pgserver reports start-up failures in several ways
        raise SqlgptError(f"could not start a private PostgreSQL in {directory}: {first_line(e)}") from None
