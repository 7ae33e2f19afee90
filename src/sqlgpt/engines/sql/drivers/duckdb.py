"""DuckDB's connections: a file opened read-only or for writing, a cursor per session, Arrow bulk loads.

DuckDB allows one process to write a file or many to read it, so the engine keeps its
connection read-only and reopens it writable only to install (`single_writer`). A DuckDB
cursor is its own connection to the same database, with its own temporary tables: a
session's KV cache. Statements are prepared with the dialect's PREPARE and EXECUTE.

No SQL text here: every statement comes from `dialects/duckdb.py`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ....errors import SqlgptError, first_line
from .base import Driver, cache_path
from .scratch import scratch_directory

# The storage format of the files sqlgpt creates: DuckDB 1.0's, which every DuckDB since 1.0
# reads, the newest `duckdb` shell on PyPI (duckdb-cli 1.5) included; a file in DuckDB 2's
# own format is unreadable to it. Files that exist keep the format they have.
STORAGE_VERSION = "v1.0.0"
BATCH_VIEW = "sqlgpt_batch"  # the name a bulk load's Arrow table is registered under


class DuckDBDriver(Driver):
    single_writer = True  # one process writes a file, or many read it

    def default_database(self) -> str:
        return str(cache_path("models.duckdb"))

    def open(self, database: str, writable: bool) -> Any:
        """A connection; files that exist open read-only unless `writable`, so that several
        processes can read one database at once (DuckDB allows one writer or many readers)."""
        import duckdb

        read_only = not writable and database != ":memory:" and os.path.exists(database)
        if read_only and os.path.exists(database + ".wal"):
            _recover(database)
        try:
            # One thread: DuckDB splits a scan by row groups of 122,880 rows, and no weight
            # table has that many, so more threads only add scheduling (measured ~10% slower).
            # Concurrent sessions still run side by side, each on its caller's thread.
            # Spill files go to this process's scratch directory, which the next sqlgpt
            # process removes if this one is killed (DuckDB's own `<database>.tmp/` stays).
            config = {"threads": 1, "storage_compatibility_version": STORAGE_VERSION,
                      "temp_directory": str(scratch_directory())}
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

    def cursor(self, conn: Any, database: str) -> Any:
        # A DuckDB cursor is its own connection to the same database, with its own temp tables.
        return conn.cursor()

    def prepare(self, cursor: Any, name: str, sql: str) -> str:
        cursor.execute(self.dialect.prepare_sql(name, sql))
        return name

    def execute_prepared(self, cursor: Any, handle: str, position: int) -> Any:
        # DuckDB's EXECUTE takes no bound parameters: the position is written into it.
        return cursor.execute(self.dialect.execute_prepared_sql(handle, position))

    def fetch_columns(self, cursor: Any) -> dict[str, np.ndarray]:
        return cursor.fetchnumpy()

    def errors(self) -> tuple[type[BaseException], ...]:
        import duckdb

        return (duckdb.Error,)

    def insert_columns(self, conn: Any, schema: str, table: str, columns: dict[str, np.ndarray]) -> None:
        """Through an Arrow table registered with the connection, inserted by one statement."""
        import pyarrow as pa

        arrays = {}
        for name, values in columns.items():
            values = np.ascontiguousarray(values)
            if values.ndim == 2:  # a vector column: Arrow fixed-size lists, zero-copy
                arrays[name] = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])
            else:
                arrays[name] = pa.array(values)
        batch = pa.table(arrays)
        conn.register(BATCH_VIEW, batch)
        try:
            conn.execute(self.dialect.insert_select_sql(self.dialect.qualify(schema, table), list(columns), BATCH_VIEW))
        finally:
            conn.unregister(BATCH_VIEW)


def _recover(database: str) -> None:
    """Fold the write-ahead log a killed writer left into the file (DuckDB does so when a
    writable connection closes), so that read-only opens do not replay it each time and the
    file stands alone. Skipped while another process writes it: that one will."""
    import duckdb

    try:
        duckdb.connect(database, config={"threads": 1, "temp_directory": str(scratch_directory())}).close()
    except duckdb.Error:
        pass
