"""DuckDB: float32 vectors as `FLOAT[]` lists, `list_dot_product`, lambdas, Arrow bulk loads.

Measured on this project's 2-core machine (see SQL-ENGINES.md and the README): one row per
output unit with a `FLOAT[]` list and `list_dot_product` is the fastest matrix-vector
product DuckDB offers; fixed-size `FLOAT[N]` arrays and relational (i, j, v) joins are slower.
Lambdas capture only scalars (capturing lists makes them quadratic), and aggregates over a
list are computed before the lambda that uses them, in their own subquery.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ....errors import SqlgptError, first_line
from .base import Dialect, cache_path

# The storage format of the files sqlgpt creates: DuckDB 1.0's, which every DuckDB since 1.0
# reads, the newest `duckdb` shell on PyPI (duckdb-cli 1.5) included; a file in DuckDB 2's
# own format is unreadable to it. Files that exist keep the format they have.
STORAGE_VERSION = "v1.0.0"


class DuckDBDialect(Dialect):
    name = "duckdb"
    single_writer = True  # one process writes a file, or many read it

    def default_database(self) -> str:
        return str(cache_path("models.duckdb"))

    # -- vector primitives ---------------------------------------------------------------------

    def dot(self, a: str, b: str) -> str:
        return f"list_dot_product({a}, {b})"

    def collect(self, expr: str, order_by: str) -> str:
        return f"list({expr} ORDER BY {order_by})"

    def to_float(self, expr: str) -> str:
        return f"CAST({expr} AS FLOAT)"

    def collect_plus(self, expr: str, index: str, vector: str) -> str:
        # Adding element by element while gathering is cheap; a lambda over lists is not.
        return self.collect(f"{expr} + {vector}[{index} + 1]", index)

    def int_div(self, a: str, b: int) -> str:
        return f"{a} // {b}"

    def mod(self, a: str, b: int) -> str:
        return f"{a} % {b}"

    def as_vector(self, expr: str) -> str:
        return expr

    def empty_growing_vector(self) -> str:
        return "CAST([] AS FLOAT[])"

    def map_vectors(self, vectors: list[str], fn: Callable[..., str]) -> str:
        """Element-wise `fn` over equal-length vectors, as a FLOAT[] vector."""
        if len(vectors) == 1:
            return f"CAST(list_transform({vectors[0]}, lambda v: {fn('v')}) AS FLOAT[])"
        # list_zip + struct fields: index lambdas that capture lists go quadratic.
        body = fn(*(f"z[{i + 1}]" for i in range(len(vectors))))
        return f"CAST(list_transform(list_zip({', '.join(vectors)}), lambda z: {body}) AS FLOAT[])"

    def vector_mean(self, vector: str) -> str:
        return f"list_avg({vector})"

    def vector_var(self, vector: str) -> str:
        return f"list_var_pop({vector})"  # accumulated in double precision

    def range_rows(self, n: int, column: str, alias: str = "r") -> str:
        return f"range({n}) {alias}({column})"

    # -- session tables ------------------------------------------------------------------------

    def param(self, n: int) -> str:
        return f"${n}"

    def load_tokens_sql(self, table: str) -> str:
        # Parameters: the first new position, then the token ids as one INTEGER[] list.
        return (f"INSERT INTO {table} SELECT CAST($1 AS INTEGER) + CAST(i AS INTEGER) - 1, t "
                f"FROM (SELECT unnest(CAST($2 AS INTEGER[])) AS t, generate_subscripts(CAST($2 AS INTEGER[]), 1) AS i)")

    def load_rows_sql(self, table: str, n_columns: int) -> str:
        # unnest of several lists in one SELECT zips them, row by row.
        return f"INSERT INTO {table} SELECT " + ", ".join(f"unnest(CAST(${i + 1} AS INTEGER[]))" for i in range(n_columns))

    def append_values(self, table: str, cache: str, new: str, head_size: int) -> str:
        """Append to each channel row c of `table` element c % head_size of the value vectors
        (hd, pos, vec) of `cache` meeting condition `new`, for head c // head_size, by position."""
        rows = f"SELECT hd, list(vec ORDER BY pos) AS rows FROM {cache} WHERE {new} GROUP BY hd"
        return (f"UPDATE {table} SET vals = list_concat(vals, "
                f"list_transform(n.rows, lambda r: r[{table}.c % {head_size} + 1])) "
                f"FROM ({rows}) n WHERE n.hd = {table}.c // {head_size}")

    # -- connections and loading ---------------------------------------------------------------

    def before_install(self, conn: Any) -> None:
        # Compressed float columns (ALP) scan about 2x slower, and every token scans them all.
        conn.execute("SET force_compression = 'uncompressed'")
        conn.execute("SET memory_limit = '300MB'")

    def after_install(self, conn: Any) -> None:
        conn.execute("CHECKPOINT")  # write the weights into the file now, uncompressed
        conn.execute("RESET memory_limit")

    def insert_columns(self, conn: Any, schema: str, table: str, columns: dict[str, np.ndarray]) -> None:
        import pyarrow as pa

        arrays = {}
        for name, values in columns.items():
            values = np.ascontiguousarray(values)
            if values.ndim == 2:  # a vector column: Arrow fixed-size lists, zero-copy
                arrays[name] = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])
            else:
                arrays[name] = pa.array(values)
        batch = pa.table(arrays)
        names = ", ".join(columns)
        conn.register("sqlgpt_batch", batch)
        try:
            conn.execute(f"INSERT INTO {schema}.{table} ({names}) SELECT {names} FROM sqlgpt_batch")
        finally:
            conn.unregister("sqlgpt_batch")

    def open(self, database: str, writable: bool) -> Any:
        """A connection; files that exist open read-only unless `writable`, so that several
        processes can read one database at once (DuckDB allows one writer or many readers)."""
        import duckdb

        read_only = not writable and database != ":memory:" and os.path.exists(database)
        try:
            # One thread: DuckDB splits a scan by row groups of 122,880 rows, and no weight
            # table has that many, so more threads only add scheduling (measured ~10% slower).
            # Concurrent sessions still run side by side, each on its caller's thread.
            config = {"threads": 1, "storage_compatibility_version": STORAGE_VERSION}
            return duckdb.connect(database, read_only=read_only, config=config)
        except duckdb.Error as e:
            if isinstance(e, duckdb.IOException) and "lock" in str(e).lower():
                why = (f"database {database} is busy: another process has it open (DuckDB allows one writer or "
                       "many readers); try again when it is done, or use another --database")
            elif isinstance(e, duckdb.ConnectionException) and "different configuration" in str(e):
                why = (f"database {database} is already open in this process for "
                       f"{'reading' if writable else 'writing'}; close that model first (gpt.close())")
            else:
                why = f"cannot open database {database}: {first_line(e)}"
            raise SqlgptError(why) from None

    def prepare(self, cursor: Any, name: str, sql: str) -> str:
        cursor.execute(f"PREPARE {name} AS {sql}")
        return name

    def execute_prepared(self, cursor: Any, handle: str, position: int) -> Any:
        # DuckDB's EXECUTE takes no bound parameters; the argument is a position we computed,
        # an int, so formatting it into the statement cannot inject anything.
        return cursor.execute(f"EXECUTE {handle}({int(position)})")

    def cursor(self, conn: Any, database: str) -> Any:
        # A DuckDB cursor is its own connection to the same database, with its own temp tables.
        return conn.cursor()

    def temp_table_names(self, cursor: Any) -> list[str]:
        rows = cursor.execute("SELECT table_name FROM duckdb_tables() WHERE temporary ORDER BY table_name").fetchall()
        return [name for (name,) in rows]

    def fetch_columns(self, cursor: Any) -> dict[str, np.ndarray]:
        return cursor.fetchnumpy()

    def errors(self) -> tuple[type[BaseException], ...]:
        import duckdb

        return (duckdb.Error,)
