"""DuckDB's connections: a file opened read-only or for writing, a cursor per session, Arrow bulk loads.

DuckDB allows one process to write a file or many to read it, so the engine keeps its
connection read-only and reopens it writable only to install (`single_writer`). A DuckDB
cursor is its own connection to the same database, with its own temporary tables: a
session's KV cache. Statements are prepared with the dialect's PREPARE and EXECUTE.

sqlgpt's vector kernel (`vdot`, `../kernel.py`) is settled when the driver first connects:
built or found in the user's cache, loaded on a throwaway in-memory connection and checked
there; then every connection the driver opens is opened with `allow_unsigned_extensions` and
loads it. Where it cannot be had (no compiler, a failed build or load) or is not wanted
(`vector_kernel=False`), connections are opened as before and dot products are
list_dot_product; the driver says which on stderr, once per process and reason. Only
sqlgpt's own connections are ever opened so: a user's connection is never changed.

No SQL text here: every statement comes from `dialects/duckdb.py`.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

from ....errors import SqlgptError, first_line
from ..dialects.duckdb import DuckDBDialect
from .base import Driver, cache_path
from .scratch import scratch_directory

# The storage format of the files sqlgpt creates: DuckDB 1.0's, which every DuckDB since 1.0
# reads, the newest `duckdb` shell on PyPI (duckdb-cli 1.5) included; a file in DuckDB 2's
# own format is unreadable to it. Files that exist keep the format they have.
STORAGE_VERSION = "v1.0.0"
BATCH_VIEW = "sqlgpt_batch"  # the name a bulk load's Arrow table is registered under
UNSIGNED = "allow_unsigned_extensions"  # the setting that lets a connection load the kernel's file
_said: set[str] = set()  # what the kernel's choice has said on stderr in this process


def say_once(message: str) -> None:
    """`message` on stderr, unless this process has said it already."""
    if message not in _said:
        _said.add(message)
        print(message, file=sys.stderr)


class DuckDBDriver(Driver):
    single_writer = True  # one process writes a file, or many read it
    dialect: DuckDBDialect  # whose `kernel` the first `open` settles

    def __init__(self, dialect: DuckDBDialect) -> None:
        super().__init__(dialect)
        self.kernel: str | None = None  # the kernel's file, once loaded; None: list_dot_product
        self._settled = False

    def default_database(self) -> str:
        return str(cache_path("models.duckdb"))

    def open(self, database: str, writable: bool) -> Any:
        """A connection; files that exist open read-only unless `writable`, so that several
        processes can read one database at once (DuckDB allows one writer or many readers).
        With the vector kernel, the connection has loaded it."""
        import duckdb

        if not self._settled:
            self._settle_kernel()
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
            if self.kernel is not None:
                config[UNSIGNED] = "true"
            conn = duckdb.connect(database, read_only=read_only, config=config)
        except duckdb.Error as e:
            if isinstance(e, duckdb.IOException) and "lock" in str(e).lower():
                why = (f"database {database} is busy: another process has it open (DuckDB allows one writer or "
                       "many readers); try again when it is done, or use another --database")
            elif isinstance(e, duckdb.ConnectionException) and "different configuration" in str(e):
                why = (f"database {database} is already open in this process, for "
                       f"{'reading' if writable else 'writing'} or with{'out' if self.kernel else ''} sqlgpt's "
                       "vector kernel; close that model (gpt.close()) or connection first")
            else:
                why = f"cannot open database {database}: {first_line(e)}"
            raise SqlgptError(why) from None
        if self.kernel is not None:
            try:
                conn.execute(self.dialect.load_extension_sql(self.kernel))
            except duckdb.Error as e:
                conn.close()
                raise SqlgptError(f"cannot load sqlgpt's vector kernel {self.kernel} into {database}: {first_line(e)} "
                                  "(vector_kernel=False, --no-kernel, runs without it)") from None
        return conn

    def _settle_kernel(self) -> None:
        """Whether dot products are vdot (`dialect.kernel`, `self.kernel`: its file): the
        kernel built or found, loaded and checked on an in-memory connection of its own."""
        import duckdb

        from ..kernel import KernelUnavailable, build

        self._settled = True
        dialect = self.dialect
        if dialect.wanted is False:
            say_once("sqlgpt: DuckDB's dot products are list_dot_product (vector_kernel=False)")
            return
        probe = None
        try:
            probe = duckdb.connect(":memory:", config={UNSIGNED: "true"})
            version, platform = probe.execute(dialect.kernel_target_sql).fetchone()
            path = str(build(version, platform))
            probe.execute(dialect.load_extension_sql(path))
            (check,) = probe.execute(dialect.kernel_check_sql).fetchone()
            if check != 32:
                raise KernelUnavailable(f"it computed {check} for 32")
        except (KernelUnavailable, duckdb.Error) as e:
            why = first_line(e) if isinstance(e, duckdb.Error) else str(e)
            if dialect.wanted:
                raise SqlgptError(f"vector_kernel=True, but sqlgpt's vector kernel is not available: {why}") from None
            say_once(f"sqlgpt: DuckDB's dot products are list_dot_product, sqlgpt's vector kernel is not available "
                     f"({why}); prefill runs several times slower")
            return
        finally:
            if probe is not None:
                probe.close()
        self.kernel, dialect.kernel = path, True

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
