"""What every driver does: a database's connections, and running what its dialect writes.

A driver opens connections (read-only or `writable`), gives each session its own cursor,
prepares and runs statements, fetches results as NumPy columns, runs transactions, creates
and fills weight tables (bulk loads in the database's fastest way) and knows where the
database lives when none is given. It holds its dialect (`self.dialect`) and asks it for
the text of every statement it runs: a driver writes no SQL (tests/test_sql_layers.py
checks). A new database is a subclass overriding only what differs.

Connections are the database's own DB-API objects (`execute`, `close`), or stand-ins with
the same few methods (Spark's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..dialects.base import Dialect


def cache_path(name: str) -> Path:
    """`name` (a file or a folder) in sqlgpt's folder of the user's cache directory, which is
    made if missing: where each database keeps what sqlgpt makes when none is given."""
    import platformdirs

    directory = Path(platformdirs.user_cache_dir("sqlgpt")).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    return directory / name


class Driver:
    single_writer = False  # True: a file one process writes or many read (reopen read-only)

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    # -- connections ---------------------------------------------------------------------------

    def default_database(self) -> Any:
        """The database used when none is given, under the user's cache directory: a file, a
        private server's connection string, or a local Spark master."""
        raise NotImplementedError

    def open(self, database: Any, writable: bool) -> Any:
        """A connection to `database`; read-only where the database allows it unless `writable`."""
        raise NotImplementedError

    def cursor(self, conn: Any, database: Any) -> Any:
        """A session's own connection to the database of `conn` (its temporary tables are its own)."""
        raise NotImplementedError

    def errors(self) -> tuple[type[BaseException], ...]:
        """The exceptions the database's client raises for a failed statement."""
        raise NotImplementedError

    def prepare(self, cursor: Any, name: str, sql: str) -> Any:
        """Get `sql` (whose one parameter is a position) ready to run many times; a handle."""
        return sql

    def execute_prepared(self, cursor: Any, handle: Any, position: int) -> Any:
        """Run a prepared statement with its position; returns the cursor."""
        raise NotImplementedError

    def fetch_columns(self, cursor: Any) -> dict[str, np.ndarray]:
        """The rows of the cursor's last query, column by column."""
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
        return {name: np.array([row[i] for row in rows]) for i, name in enumerate(names)}

    def executemany(self, conn: Any, sql: str, rows: list) -> None:
        """Run `sql` once for each row of parameters."""
        conn.executemany(sql, rows)

    # -- transactions --------------------------------------------------------------------------

    def begin(self, conn: Any) -> None:
        """Start a transaction (an install, a result table's write)."""
        conn.execute(self.dialect.begin_sql)

    def commit(self, conn: Any) -> None:
        """Commit the transaction `begin` started."""
        conn.execute(self.dialect.commit_sql)

    def rollback(self, conn: Any) -> None:
        """Undo the transaction `begin` started."""
        conn.execute(self.dialect.rollback_sql)

    # -- catalogue and weight tables -----------------------------------------------------------

    def table_exists(self, conn: Any, schema: str | None, table: str) -> bool:
        """Whether schema.table exists (schema None: the current one)."""
        rows = conn.execute(*self.dialect.table_exists_sql(schema, table)).fetchall()
        return rows[0][0] > 0

    def row_counts(self, conn: Any, schema: str, tables: list[str]) -> list[int]:
        """Rows in each of `schema`'s `tables`, -1 for one that does not exist."""
        present = [table for table in tables if self.table_exists(conn, schema, table)]
        rows = conn.execute(self.dialect.count_rows_sql(schema, present)).fetchall() if present else []
        counts = {present[i]: n for i, n in rows}
        return [counts.get(table, -1) for table in tables]

    def create_catalogue(self, conn: Any, name: str) -> None:
        """The catalogue table `name`, unless it exists."""
        conn.execute(self.dialect.catalogue_sql(name))

    def create_schema(self, conn: Any, schema: str) -> None:
        """Create `schema`, where a model's weight tables go."""
        for sql in self.dialect.create_schema_sql(schema):
            conn.execute(sql)

    def drop_schema(self, conn: Any, schema: str) -> None:
        """Drop `schema`, if it exists, with its tables."""
        conn.execute(self.dialect.drop_schema_sql(schema))

    def create_table(self, conn: Any, schema: str, table: str, columns: list[tuple[str, str]]) -> None:
        """Create the weight table schema.table with `columns` (name, kind), keyed by the first."""
        conn.execute(self.dialect.create_table_sql(schema, table, columns))

    def insert_columns(self, conn: Any, schema: str, table: str, columns: dict[str, np.ndarray]) -> None:
        """Bulk-load rows given column-wise (a 2-D array is a vector column, one row per row)."""
        raise NotImplementedError

    def delete_row(self, conn: Any, table: str, key_column: str, key: Any) -> None:
        """Delete the rows of `table` whose `key_column` is `key` (a bound parameter)."""
        conn.execute(self.dialect.delete_row_sql(table, key_column), [key])

    def update_row(self, conn: Any, table: str, key_column: str, key: Any, values: dict[str, Any]) -> None:
        """Set `values` (column -> value, bound parameters) in the rows whose `key_column` is `key`."""
        conn.execute(self.dialect.update_row_sql(table, key_column, list(values)), [*values.values(), key])

    def write_table(self, conn: Any, name: str, empty_select: str, rows: list[tuple], replace: bool) -> None:
        """A new table `name` with the columns of `empty_select` and these `rows` (bound
        parameters), replacing an old one if `replace`: in one transaction, whole or not at all."""
        self.begin(conn)
        try:
            if replace:
                conn.execute(self.dialect.drop_table_sql(name))
            conn.execute(self.dialect.create_table_as_sql(name, empty_select))
            if rows:
                self.executemany(conn, self.dialect.insert_placeholders_sql(name, len(rows[0])), rows)
            self.commit(conn)
        except BaseException:
            self.rollback(conn)
            raise

    def replace_keyed_rows(self, conn: Any, table: str, key_column: str, stale_keys: list[Any],
                           rows: list[tuple]) -> None:
        """In `table`, the rows whose `key_column` is one of `stale_keys` deleted and `rows`
        inserted (all bound values), inside the caller's transaction."""
        if stale_keys:
            self.executemany(conn, self.dialect.delete_row_sql(table, key_column), [(key,) for key in stale_keys])
        if rows:
            self.executemany(conn, self.dialect.insert_placeholders_sql(table, len(rows[0])), rows)

    def temp_rows(self, conn: Any, name: str, columns: list[tuple[str, str]], rows: list[tuple]) -> None:
        """A table `name` of this connection's session holding `rows` (bound values), its
        columns (name, 'int' | 'text'), replacing an old one."""
        conn.execute(self.dialect.drop_table_sql(name))
        conn.execute(self.dialect.temp_table_def(name, columns))
        if rows:
            self.executemany(conn, self.dialect.insert_placeholders_sql(name, len(rows[0])), rows)

    def drop_temp_rows(self, conn: Any, name: str) -> None:
        """Drop the session's table `name` made by `temp_rows`."""
        conn.execute(self.dialect.drop_table_sql(name))

    def lock_installs(self, conn: Any) -> None:
        """Wait for any other install into this database to end (first in the transaction)."""
        for sql in self.dialect.install_lock_sql():
            conn.execute(sql)

    def before_install(self, conn: Any) -> None:
        """Settings for writing weights (before the install transaction)."""
        for sql in self.dialect.before_install_sql():
            conn.execute(sql)

    def after_install(self, conn: Any) -> None:
        """Work after the install transaction committed (e.g. writing it out compactly)."""
        for sql in self.dialect.after_install_sql():
            conn.execute(sql)

    def use_model(self, conn: Any, schema: str, tables: list[str]) -> None:
        """Called once an engine has found its model's weight `tables` in `schema`, complete."""

    # -- session tables ------------------------------------------------------------------------

    def batch_settings(self, cursor: Any) -> None:
        """Settings for a session that runs one big batched step (not token by token)."""

    def insert_rows(self, cursor: Any, table: str, columns: list[list[int]]) -> None:
        """Append rows of integers, given column by column, to the session table `table`."""
        cursor.execute(self.dialect.load_rows_sql(table, len(columns)), columns)

    def temp_table_names(self, cursor: Any) -> list[str]:
        """The names of the session's tables, in order."""
        return [name for (name,) in cursor.execute(self.dialect.temp_table_names_sql()).fetchall()]
