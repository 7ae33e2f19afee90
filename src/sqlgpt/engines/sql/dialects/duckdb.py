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

from .base import Dialect


class DuckDBDialect(Dialect):
    name = "duckdb"

    # -- vector primitives ---------------------------------------------------------------------

    def dot(self, a: str, b: str) -> str:
        return f"list_dot_product({a}, {b})"

    def collect(self, expr: str, order_by: str) -> str:
        return f"list({expr} ORDER BY {order_by})"

    def to_float(self, expr: str) -> str:
        return f"CAST({expr} AS FLOAT)"

    def slice(self, vector: str, start0: str, length: int) -> str:
        return f"{vector}[{start0} + 1 : {start0} + {length}]"

    def element(self, vector: str, index0: str) -> str:
        return f"{vector}[{index0} + 1]"

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

    def empty_vector(self) -> str:
        return "CAST([] AS FLOAT[])"

    def range_rows(self, n: int, column: str, alias: str = "r") -> str:
        return f"range({n}) {alias}({column})"

    # -- session tables ------------------------------------------------------------------------

    def temp_table_def(self, name: str, columns: list[tuple[str, str]]) -> str:
        body = ", ".join(f"{col} {self.sql_type(kind)}" for col, kind in columns)
        return f"CREATE OR REPLACE TEMP TABLE {name} ({body})"

    def temp_table_as(self, name: str, select: str) -> str:
        return f"CREATE OR REPLACE TEMP TABLE {name} AS\n{select}"

    def param(self, n: int) -> str:
        return f"${n}"

    def load_tokens_sql(self, table: str) -> str:
        # Parameters: the first new position, then the token ids as one INTEGER[] list.
        return (f"INSERT INTO {table} SELECT CAST($1 AS INTEGER) + CAST(i AS INTEGER) - 1, t "
                f"FROM (SELECT unnest(CAST($2 AS INTEGER[])) AS t, generate_subscripts(CAST($2 AS INTEGER[]), 1) AS i)")

    def append_vector_elements(self, table: str, key: str, rows_query: str, width: int) -> str:
        """Append to row `key` of `table` element key % width of each vector in the list `rows`
        of the row `hd = key // width` of `rows_query` (the new values, by head)."""
        return (f"UPDATE {table} SET vals = list_concat(vals, "
                f"list_transform(n.rows, lambda r: r[{table}.{key} % {width} + 1])) "
                f"FROM ({rows_query}) n WHERE n.hd = {table}.{key} // {width}")

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

        from ....errors import SqlgptError

        read_only = not writable and database != ":memory:" and os.path.exists(database)
        try:
            return duckdb.connect(database, read_only=read_only)
        except duckdb.IOException as e:
            if "lock" in str(e).lower():
                raise SqlgptError(
                    f"database {database} is busy: another process has it open (DuckDB allows one writer or "
                    "many readers); try again when it is done, or use another --database"
                ) from None
            raise SqlgptError(f"cannot open database {database}: {_first_line(e)}") from None
        except duckdb.ConnectionException as e:
            if "different configuration" in str(e):
                raise SqlgptError(
                    f"database {database} is already open in this process for {'reading' if writable else 'writing'}; "
                    "close that model first (gpt.close())"
                ) from None
            raise SqlgptError(f"cannot open database {database}: {_first_line(e)}") from None
        except duckdb.Error as e:
            raise SqlgptError(f"cannot open database {database}: {_first_line(e)}") from None

    def prepare(self, cursor: Any, name: str, sql: str) -> str:
        """Prepare `sql` once; returns the statement that runs it, with `{}` where its one
        integer argument goes (DuckDB's EXECUTE takes no bound parameters)."""
        cursor.execute(f"PREPARE {name} AS {sql}")
        return f"EXECUTE {name}({{}})"

    def cursor(self, conn: Any) -> Any:
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


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
