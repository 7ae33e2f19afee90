"""What every SQL dialect provides to the compiler and the installer.

The compiler writes standard SQL where it can and asks the dialect for the few primitives
that differ between databases: the vector type and its dot product, building a vector from
rows, element access, lambdas over vectors, temporary tables, bulk loading of weights and
the catalogue queries. A new database is a subclass overriding only what differs (the
SQLGlot `dialects/` pattern). Identifiers passed in here are the project's own names
(schemas derived from checksums, fixed table names); user text never reaches these methods.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def cache_path(name: str) -> Path:
    """`name` (a file or a folder) in sqlgpt's folder of the user's cache directory, which is
    made if missing: where each database keeps what sqlgpt makes when none is given."""
    import platformdirs

    directory = Path(platformdirs.user_cache_dir("sqlgpt")).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    return directory / name


class Dialect:
    name = "base"
    # What `sqlgpt.load(..., engine=name)` takes for this database beyond database=, progress=
    # and inspect=: options of the dialect's constructor, and another name for database=.
    options: frozenset[str] = frozenset()
    database_alias: str | None = None
    vector_type = "FLOAT[]"  # a float32 vector column
    float_type = "FLOAT"
    placeholder = "?"  # the driver's positional parameter marker
    single_writer = False  # True: a file one process writes or many read (reopen read-only)
    materialized = ""  # how a CTE is marked to be computed once ("MATERIALIZED " where needed)
    # "vector": vectors are values of a vector type (compiler.py); "wide": a column per
    # element (wide.py), for databases without one.
    layout = "vector"
    # How the vector layout keeps a layer's values transposed (a row per channel, a vector
    # over positions): "table", grown each step by `append_values`; or "view", recomputed
    # from the KV cache by a view, for databases that cannot update rows in place.
    transposed_values = "table"
    # A variant of the layout with other column types (installs of one are not the other's).
    layout_variant = 0

    def default_database(self) -> Any:
        """The database used when none is given, under the user's cache directory: a file, a
        private server's connection string, or a local Spark master."""
        raise NotImplementedError

    def qualify(self, schema: str, table: str) -> str:
        """The name of `table` in `schema`."""
        return f"{schema}.{table}"

    def create_schema(self, conn: Any, schema: str) -> None:
        conn.execute(f"CREATE SCHEMA {schema}")

    def create_schema_if_missing(self, schema: str) -> str:
        return f"CREATE SCHEMA IF NOT EXISTS {schema}"

    def position_params(self, position: int) -> Any:
        """Parameters for a statement whose one parameter, $1, is a position."""
        return [position]

    def token_params(self, first: int, ids: list[int]) -> list[Any]:
        """The parameters of `load_tokens_sql`: the first new position and the ids."""
        return [first, ids]

    def element(self, vector: str, index: str) -> str:
        """Element `index` (counted from 0) of a vector."""
        return f"{vector}[{index} + 1]"

    def fence(self, subquery: str) -> str:
        """`subquery` in parentheses, kept from being merged into the query around it."""
        return f"({subquery})"

    def prepare(self, cursor: Any, name: str, sql: str) -> Any:
        """Get `sql` (whose one parameter is a position) ready to run many times; a handle."""
        return sql

    def execute_prepared(self, cursor: Any, handle: Any, position: int) -> Any:
        """Run a prepared statement with its position; returns the cursor."""
        raise NotImplementedError

    # -- connections and transactions ----------------------------------------------------------

    def begin(self, conn: Any) -> None:
        conn.execute("BEGIN TRANSACTION")

    def commit(self, conn: Any) -> None:
        conn.execute("COMMIT")

    def rollback(self, conn: Any) -> None:
        conn.execute("ROLLBACK")

    # -- catalogue and weight tables -----------------------------------------------------------

    def table_exists(self, conn: Any, schema: str | None, table: str) -> bool:
        rows = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = {0} AND table_schema = "
            "coalesce({0}, current_schema())".format(self.placeholder),
            [table, schema],
        ).fetchall()
        return rows[0][0] > 0

    def row_count(self, conn: Any, schema: str, table: str) -> int:
        """Rows in schema.table, or -1 if it does not exist."""
        if not self.table_exists(conn, schema, table):
            return -1
        return conn.execute(f"SELECT count(*) FROM {self.qualify(schema, table)}").fetchall()[0][0]

    def copy_table(self, name: str, source: str) -> list[str]:
        """Statements making `name` an ordinary table holding the rows of `source`, replacing
        any old one."""
        return [f"DROP TABLE IF EXISTS {name}", f"CREATE TABLE {name} AS SELECT * FROM {source}"]

    def result_type(self, kind: str) -> str:
        """The column type of a result table's 'int', 'double' or 'text' column."""
        return {"int": "INTEGER", "double": "DOUBLE PRECISION", "text": "VARCHAR"}[kind]

    def read_rows(self, table: str, columns: list[str]) -> str:
        """Every row's `columns` of `table` (identifiers the caller has checked)."""
        return f"SELECT {', '.join(columns)} FROM {table}"

    def insert_row(self, table: str, columns: list[str], stamped: str) -> str:
        """An INSERT of one row into `table`: bound values for `columns`, and the current
        time into the column `stamped`."""
        values = ", ".join([self.placeholder] * len(columns))
        return f"INSERT INTO {table} ({', '.join(columns)}, {stamped}) VALUES ({values}, CURRENT_TIMESTAMP)"

    def empty_result(self, table: str, key: str, columns: list[tuple[str, str]]) -> str:
        """A query of no rows whose columns are `key`, typed as in `table`, then `columns`,
        (name, kind) with kind as in `result_type`: the shape of a result table."""
        nulls = ", ".join(f"CAST(NULL AS {self.result_type(kind)}) AS {name}" for name, kind in columns)
        return f"SELECT {key}, {nulls} FROM {table} WHERE 1 = 0"

    def write_table(self, conn: Any, name: str, empty_select: str, rows: list[tuple], replace: bool) -> None:
        """A new table `name` with the columns of `empty_select` and these `rows` (bound
        parameters), replacing an old one if `replace`: in one transaction, whole or not at all."""
        self.begin(conn)
        try:
            if replace:
                conn.execute(f"DROP TABLE IF EXISTS {name}")
            conn.execute(f"CREATE TABLE {name} AS {empty_select}")
            if rows:  # psycopg runs executemany on a cursor of the connection (same transaction)
                placeholders = ", ".join([self.placeholder] * len(rows[0]))
                (conn.executemany if hasattr(conn, "executemany") else conn.cursor().executemany)(
                    f"INSERT INTO {name} VALUES ({placeholders})", rows)
            self.commit(conn)
        except BaseException:
            self.rollback(conn)
            raise

    def create_catalogue(self, conn: Any, name: str) -> None:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {name} (schema_name VARCHAR PRIMARY KEY, model VARCHAR NOT NULL,"
            " source VARCHAR NOT NULL, source_key VARCHAR NOT NULL, fingerprint VARCHAR NOT NULL, config VARCHAR NOT NULL,"
            " format_version INTEGER NOT NULL, installed_at TIMESTAMP NOT NULL)"
        )

    def delete_row(self, conn: Any, table: str, key_column: str, key: Any) -> None:
        """Delete the rows of `table` whose `key_column` is `key` (a bound parameter)."""
        conn.execute(f"DELETE FROM {table} WHERE {key_column} = {self.placeholder}", [key])

    def update_row(self, conn: Any, table: str, key_column: str, key: Any, values: dict[str, Any]) -> None:
        """Set `values` (column -> value, bound parameters) in the rows whose `key_column` is `key`."""
        sets = ", ".join(f"{column} = {self.placeholder}" for column in values)
        conn.execute(f"UPDATE {table} SET {sets} WHERE {key_column} = {self.placeholder}", [*values.values(), key])

    def use_model(self, conn: Any, schema: str, tables: list[str]) -> None:
        """Called once an engine has found its model's weight `tables` in `schema`, complete."""

    def drop_schema(self, conn: Any, schema: str) -> None:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    def create_table(self, conn: Any, schema: str, table: str, columns: list[tuple[str, str]]) -> None:
        conn.execute(f"CREATE TABLE {self.qualify(schema, table)} ({self.column_list(columns)})")

    def column_list(self, columns: list[tuple[str, str]]) -> str:
        return ", ".join(f"{name} {self.sql_type(kind)}" for name, kind in columns)

    # -- session tables (each session is a fresh connection, so plain CREATE suffices) ---------

    def temp_table_def(self, name: str, columns: list[tuple[str, str]], key: list[str] | None = None) -> str:
        """A session table; `key` is a primary key for databases that profit from one."""
        return f"CREATE TEMP TABLE {name} ({self.column_list(columns)})"

    def temp_table_as(self, name: str, select: str) -> str:
        return f"CREATE TEMP TABLE {name} AS\n{select}"

    def temp_view(self, name: str, select: str) -> str:
        """A session's view, recomputed by each query that reads it."""
        return f"CREATE TEMP VIEW {name} AS {select}"

    def batch_settings(self, cursor: Any) -> None:
        """Settings for a session that runs one big batched step (not token by token)."""

    def insert_rows(self, cursor: Any, table: str, columns: list[list[int]]) -> None:
        """Append rows of integers, given column by column, to the session table `table`."""
        cursor.execute(self.load_rows_sql(table, len(columns)), columns)

    def load_rows_sql(self, table: str, n_columns: int) -> str:
        """The statement of `insert_rows`, whose parameters are one integer array per column."""
        raise NotImplementedError

    def empty_table(self, name: str) -> str:
        """A statement deleting every row of the session table `name`."""
        return f"DELETE FROM {name}"

    def sql_type(self, kind: str) -> str:
        """The column type for a layout kind: 'int', 'float' or 'vector'."""
        return {"int": "INTEGER", "float": self.float_type, "vector": self.vector_type}[kind]

    def before_install(self, conn: Any) -> None:
        """Settings for writing weights (before the install transaction)."""

    def after_install(self, conn: Any) -> None:
        """Work after the install transaction committed (e.g. writing it out compactly)."""

    def insert_columns(self, conn: Any, schema: str, table: str, columns: dict[str, np.ndarray]) -> None:
        """Bulk-load rows given column-wise (a 2-D array is a vector column, one row per row)."""
        raise NotImplementedError
