"""Spark's connections through PySpark: sessions, the metastore, installs without transactions.

The engine for batches over many rows and for clusters: any Spark master URL (`local[2]`,
`spark://host:7077`, ...) or a `SparkSession` the caller already has. Every query costs a
fixed 0.1-0.5 s, so decoding token by token is slow here by nature.

What differs from the other databases, and how this driver copes:

* Weight tables are managed parquet tables in a database per model; the engine caches
  them in memory while it is open. With a local master sqlgpt starts Spark itself, with
  its warehouse and (Hive/Derby) metastore under the user's cache directory, so installed
  models outlive the process; only one process at a time can use that metastore. (Those
  settings are `local_settings` in `dialects/spark.py`: the standalone script's spark-sql
  command line passes the same ones, to find the same models.) With another master, or a
  given session, Spark's own configuration says where tables live.
* Plain tables have no UPDATE or DELETE: the catalogue's rare edits rewrite its few rows.
* There are no transactions: an install creates its model database first and writes the
  catalogue row last, so an interrupted one is never used; a failure or Ctrl-C drops
  what the install created, and a killed install is replaced by the next one.
* Each sqlgpt session is a `SparkSession.newSession()` whose current database is a
  private `sqlgpt_session_<random>` holding its KV cache, dropped when it closes.

sqlgpt reports every failure itself, in one line, so Spark's own reports stay off the
terminal: a Spark application sqlgpt starts writes its JVM's console output (start-up
notices, log records) to `spark.log` in sqlgpt's cache directory, and PySpark's loggers of
failed queries are turned down to CRITICAL.

No SQL text here: every statement comes from `dialects/spark.py`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ....errors import SqlgptError, first_line
from ..dialects.spark import LOG_CONFIG, SESSION_SETTINGS, SparkDialect, local_settings
from . import scratch
from .base import Driver, cache_path

DEFAULT_MASTER = "local[*]"
SESSION_DATABASE_PREFIX = "sqlgpt_session_"
BATCH_VIEW = "sqlgpt_batch"  # the temporary view a bulk load's rows are inserted from
# Keeps Spark's log short: sqlgpt raises every error itself, in one line, and Spark would
# otherwise log each failed query again as a long JSON record.
LOG4J2_PROPERTIES = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
logger.queries.name = SQLQueryContextLogger
logger.queries.level = off
"""


class SparkSqlError(Exception):
    """A failure inside Spark's JVM, with Java's message (not py4j's wrapper) as its text."""


class SparkDriver(Driver):
    dialect: SparkDialect

    def default_database(self) -> str:
        return DEFAULT_MASTER

    def open(self, database: Any, writable: bool) -> SparkConnection:
        """`database` is a master URL, or a SparkSession to use as it is."""
        _quiet_query_loggers()
        if isinstance(database, str):
            conn = SparkConnection(self.dialect, *_acquire(database))
        else:
            conn = SparkConnection(self.dialect, database, owned=False)
        try:
            self._settle_vector_functions(conn.spark)
            self._drop_orphaned_sessions(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _drop_orphaned_sessions(self, conn: SparkConnection) -> None:
        """Drop the private databases of sessions whose processes ended holding them (killed:
        `close` never ran). Each session claims its database in its process's scratch
        directory (`scratch.claim`); a database in another metastore is not this one's to find,
        and its record is forgotten with the rest."""
        for database in scratch.orphans(SESSION_DATABASE_PREFIX):
            conn.execute(self.dialect.drop_database_sql(database))
            scratch.forget(database)

    def _settle_vector_functions(self, spark: Any) -> None:
        """Whether the dialect uses Spark's vector functions (`dialect.vector_functions`): where
        they exist (Spark 4.2+), unless the caller said otherwise; once, when the engine opens."""
        dialect = self.dialect
        if dialect.wanted is False:
            dialect.vector_functions = False
            return
        found = spark.catalog.functionExists(dialect.probe_function)
        if dialect.wanted and not found:
            raise SqlgptError(f"vector_functions=True, but Spark {spark.version} has no {dialect.probe_function} "
                              f"(Spark {dialect.vector_functions_since} brought it)")
        dialect.vector_functions = found

    def cursor(self, conn: Any, database: Any) -> SparkConnection:
        return conn.private_session()

    def execute_prepared(self, cursor: Any, handle: str, position: int) -> Any:
        # No PREPARE in Spark: planned per run.
        return cursor.execute(handle, self.dialect.position_params(position))

    def fetch_columns(self, cursor: Any) -> dict[str, np.ndarray]:
        table = cursor.frame.toArrow()
        return {name: table.column(name).to_numpy() for name in table.column_names}

    def errors(self) -> tuple[type[BaseException], ...]:
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException

        return (SparkSqlError, PySparkException, Py4JError)

    # -- transactions: what an install created is dropped again if it fails -------------------

    def begin(self, conn: Any) -> None:
        conn.begin()

    def commit(self, conn: Any) -> None:
        conn.commit()

    def rollback(self, conn: Any) -> None:
        conn.rollback()

    # -- catalogue and weight tables -----------------------------------------------------------

    def table_exists(self, conn: Any, schema: str | None, table: str) -> bool:
        return conn.spark.catalog.tableExists(table if schema is None else self.dialect.qualify(schema, table))

    def create_catalogue(self, conn: Any, name: str) -> None:
        if self.table_exists(conn, None, name):
            return
        conn.execute(self.dialect.catalogue_sql(name))
        conn.on_rollback(self.dialect.drop_table_sql(name))

    def create_schema(self, conn: Any, schema: str) -> None:
        super().create_schema(conn, schema)
        conn.on_rollback(self.dialect.drop_schema_sql(schema))

    def insert_columns(self, conn: Any, schema: str, table: str, columns: dict[str, np.ndarray]) -> None:
        """Through Arrow: a 2-D array becomes an ARRAY<FLOAT> column, one row per row; a 3-D
        one, or a list of 2-D arrays of one width, an ARRAY<ARRAY<FLOAT>> column (a matrix per row)."""
        import pyarrow as pa

        arrays = {}
        for name, values in columns.items():
            if isinstance(values, list):  # matrices with different numbers of rows
                offsets = np.cumsum([0] + [len(v) for v in values], dtype=np.int32)
                rows = np.ascontiguousarray(np.concatenate(values))
                arrays[name] = pa.ListArray.from_arrays(pa.array(offsets), pa.FixedSizeListArray.from_arrays(
                    pa.array(rows.reshape(-1)), rows.shape[1]))
                continue
            values = np.ascontiguousarray(values)
            array = pa.array(values.reshape(-1))
            for size in reversed(values.shape[1:]):  # innermost first
                array = pa.FixedSizeListArray.from_arrays(array, size)
            arrays[name] = array
        frame = conn.spark.createDataFrame(pa.table(arrays))
        # As many files as Spark has cores, so that scanning the weights keeps them all busy.
        frame.repartition(conn.spark.sparkContext.defaultParallelism).createOrReplaceTempView(BATCH_VIEW)
        try:
            conn.execute(self.dialect.insert_select_sql(self.dialect.qualify(schema, table), list(columns), BATCH_VIEW))
        finally:
            conn.spark.catalog.dropTempView(BATCH_VIEW)

    def delete_row(self, conn: Any, table: str, key_column: str, key: Any) -> None:
        self._rewrite(conn, table, key_column, key, None)

    def update_row(self, conn: Any, table: str, key_column: str, key: Any, values: dict[str, Any]) -> None:
        self._rewrite(conn, table, key_column, key, values)

    def _rewrite(self, conn: Any, table: str, key_column: str, key: Any, values: dict[str, Any] | None) -> None:
        """Rewrite the small table `table` without (values None) or with `values` in the rows
        whose `key_column` is `key`: plain Spark tables have no DELETE or UPDATE."""
        frame = conn.spark.table(table)
        rows = [row.asDict() for row in frame.collect()]  # read whole before overwriting
        kept = [r for r in rows if r[key_column] != key] if values is None else \
            [r | values if r[key_column] == key else r for r in rows]
        if kept != rows:
            conn.spark.createDataFrame(kept, schema=frame.schema).write.insertInto(table, overwrite=True)

    def replace_keyed_rows(self, conn: Any, table: str, key_column: str, stale_keys: list[Any],
                           rows: list[tuple]) -> None:
        """`table` rewritten whole without the stale keys' rows and with `rows`: plain Spark
        tables have no DELETE (the caller's index tables are its own, a few rows per text)."""
        if not stale_keys and not rows:
            return
        frame = conn.spark.table(table)
        stale = set(stale_keys)
        kept = [tuple(row) for row in frame.collect() if row[key_column] not in stale]  # read whole before overwriting
        conn.spark.createDataFrame(kept + list(rows), schema=frame.schema).write.insertInto(table, overwrite=True)

    def temp_rows(self, conn: Any, name: str, columns: list[tuple[str, str]], rows: list[tuple]) -> None:
        """A temporary view of a DataFrame of `rows`: Spark's own session-scoped table."""
        schema = self.dialect.column_list(columns)
        conn.spark.createDataFrame(list(rows), schema=schema).createOrReplaceTempView(name)

    def drop_temp_rows(self, conn: Any, name: str) -> None:
        conn.spark.catalog.dropTempView(name)

    def write_table(self, conn: Any, name: str, empty_select: str, rows: list[tuple], replace: bool) -> None:
        """One Spark write of a DataFrame: its files appear when the job commits, whole or
        not at all (with `replace`, the old table is dropped first)."""
        schema = conn.execute(empty_select).frame.schema
        frame = conn.spark.createDataFrame(rows, schema=schema)
        frame.write.saveAsTable(name, format="parquet", mode="overwrite" if replace else "errorifexists")

    def use_model(self, conn: Any, schema: str, tables: list[str]) -> None:
        """Cache the weights in memory (Spark's storage, spilling to disk if short), shared by
        every session of this Spark application."""
        conn.cache([self.dialect.qualify(schema, t) for t in tables])

    # -- session tables ------------------------------------------------------------------------

    def batch_settings(self, cursor: Any) -> None:
        # A batch's step shuffles many rows: spread them over the cores again (see SESSION_SETTINGS),
        # and keep them spread however few bytes they are (adaptive execution would join a small
        # shuffle's partitions into one, and one core would compute the MLP of every position).
        conf = cursor.spark.conf
        conf.set("spark.sql.shuffle.partitions", str(4 * cursor.spark.sparkContext.defaultParallelism))
        conf.set("spark.sql.adaptive.coalescePartitions.minPartitionSize", "1")

    def insert_rows(self, cursor: Any, table: str, columns: list[list[int]]) -> None:
        # Through Arrow: array parameters of thousands of elements take Spark's parser minutes.
        import pyarrow as pa

        frame = cursor.spark.createDataFrame(pa.table({f"c{i}": pa.array(c, pa.int32()) for i, c in enumerate(columns)}))
        frame.write.insertInto(self.dialect.qualify(cursor.database, table))

    def temp_table_names(self, cursor: Any) -> list[str]:
        return sorted(t.name for t in cursor.spark.catalog.listTables(cursor.database))


class _Result:
    """What `execute` returns: the query's DataFrame, read when asked (commands have run)."""

    def __init__(self, frame: Any) -> None:
        self.frame = frame

    @property
    def description(self) -> list[tuple[str]]:
        return [(name,) for name in self.frame.columns]

    def fetchall(self) -> list[tuple]:
        return [tuple(row) for row in self.frame.collect()]

    def fetchone(self) -> tuple | None:
        rows = self.frame.take(1)
        return tuple(rows[0]) if rows else None


class SparkConnection:
    """A SparkSession behind the small DB-API subset the engine uses (`execute`, `close`).

    The engine's connection reads the catalogue and installs; `private_session` makes a
    session's own, in a database nobody else uses. `begin`, `commit` and `rollback` stand
    in for a transaction: what an install created is dropped again if it fails.
    """

    def __init__(self, dialect: SparkDialect, spark: Any, owned: bool, database: str | None = None) -> None:
        self.dialect = dialect  # the text of what it runs itself
        self.spark = spark
        self.owned = owned  # sqlgpt started this Spark application: stop it with its last user
        self.database = database  # a session's private database, dropped at close
        self._undo: list[str] | None = None
        self._cached: list[str] = []

    def execute(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> _Result:
        from py4j.protocol import Py4JJavaError

        try:
            return _Result(self.spark.sql(sql, args=params or None))
        except Py4JJavaError as e:  # py4j's first line names only the JVM method that failed
            raise SparkSqlError(str(e).split("\n: ", 1)[-1]) from e

    def private_session(self) -> SparkConnection:
        """A new SparkSession on the same application, working in a new private database."""
        session = self.spark.newSession()
        for key, value in SESSION_SETTINGS.items():
            session.conf.set(key, value)
        database = SESSION_DATABASE_PREFIX + uuid.uuid4().hex[:16]
        private = SparkConnection(self.dialect, session, owned=False, database=database)
        scratch.claim(database)  # dropped by the next sqlgpt if this process is killed first
        private.execute(self.dialect.create_database_sql(database))
        private.execute(self.dialect.use_database_sql(database))
        return private

    def cache(self, tables: list[str]) -> None:
        with _lock:
            for table in tables:
                # Also when another engine still uses it: a reinstall (of damaged tables) made
                # the table anew, and the old one's cache went with it.
                if _cache_users.get(table, 0) == 0 or not self.spark.catalog.isCached(table):
                    self.execute(self.dialect.cache_table_sql(table))
                _cache_users[table] = _cache_users.get(table, 0) + 1
        self._cached += tables

    def begin(self) -> None:
        self._undo = []

    def on_rollback(self, sql: str) -> None:
        """Remember `sql` to run if the current install fails."""
        if self._undo is not None:
            self._undo.append(sql)

    def commit(self) -> None:
        self._undo = None

    def rollback(self) -> None:
        undo, self._undo = self._undo or [], None
        for sql in reversed(undo):
            self.execute(sql)

    def close(self) -> None:
        if self.spark is None:
            return
        spark, self.spark = self.spark, None
        if self.database is not None:
            for view in spark.catalog.listTables(self.database):
                if view.isTemporary:
                    spark.catalog.dropTempView(view.name)
            spark.sql(self.dialect.drop_database_sql(self.database))
            scratch.release(self.database)
        with _lock:
            for table in self._cached:
                _cache_users[table] -= 1
                if _cache_users[table] == 0:
                    spark.sql(self.dialect.uncache_table_sql(table))
        if self.owned:
            _release(spark)


# Spark runs one application (one SparkContext) per process; sqlgpt starts it for the
# first engine opened on a master URL and stops it when the last such engine closes.
_lock = threading.Lock()
_users = 0
_cache_users: dict[str, int] = {}  # weight table -> open engines that cached it


def _acquire(master: str) -> tuple[Any, bool]:
    """This process's Spark application on `master` and whether sqlgpt owns it, starting one if none runs."""
    global _users
    try:
        from pyspark import SparkContext
    except ImportError:
        raise SqlgptError("the spark engine needs pyspark: pip install 'sqlgpt[spark]'") from None
    if master.startswith("spark://"):
        _check_reachable(master)
    with _lock:
        running = SparkContext._active_spark_context  # the only way to ask without starting one
        if running is not None:
            if running.master != master:
                raise SqlgptError(f"this process already runs Spark on master {running.master} (one per process); "
                                  f"load with database={running.master!r}, or pass session=")
            from pyspark.sql import SparkSession

            owned = _users > 0  # started by an engine of ours that is still open
            _users += owned
            return SparkSession.builder.getOrCreate(), owned
        spark = local_session(master) if master.startswith("local") else _start(master, cache_path("spark"), {})
        _users += 1
        return spark, True


def _release(spark: Any) -> None:
    global _users
    with _lock:
        _users -= 1
        if _users == 0:
            spark.stop()


def local_session(master: str = DEFAULT_MASTER, directory: str | os.PathLike[str] | None = None) -> Any:
    """A SparkSession on a local master whose managed tables persist: warehouse and Derby
    metastore in `directory` (default: the user's cache directory, `sqlgpt/spark`)."""
    directory = cache_path("spark") if directory is None else Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    _write_log_config(directory)
    return _start(master, directory, local_settings(directory))  # as the standalone script's spark-sql has them


def _start(master: str, directory: Path, settings: dict[str, str]) -> Any:
    """Start a Spark application on `master`, its JVM's console output going to
    `directory`/spark.log; one-line errors for what commonly goes wrong."""
    from pyspark.sql import SparkSession

    if not java_found():
        raise SqlgptError("the spark engine needs a Java 17+ runtime: install one (e.g. openjdk-17-jre) or set JAVA_HOME")
    builder = SparkSession.builder.master(master).appName("sqlgpt")
    for key, value in settings.items():
        builder = builder.config(key, value)
    # Hive's metastore (Spark's usual catalogue, as in the pyspark shell) keeps the installed
    # tables known after the application ends; an in-memory catalogue would forget them.
    builder = (builder.config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true").enableHiveSupport())
    try:
        with _stderr_into(directory / "spark.log"):  # the JVM, started now, keeps this stderr
            spark = builder.getOrCreate()
    except Exception as e:  # noqa: BLE001 - PySpark reports start-up failures in several ways
        raise SqlgptError(f"could not start Spark on {master}: {first_line(e)} (the spark engine needs a Java 17+ "
                          f"runtime; its log: {directory / 'spark.log'})") from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _quiet_query_loggers() -> None:
    """PySpark logs every failed query to stderr itself, as a JSON record of many lines, before
    raising it; sqlgpt raises each failure as one line of its own, so those loggers (this
    process's) stay quiet."""
    import logging

    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)  # they log at ERROR


@contextlib.contextmanager
def _stderr_into(path: Path) -> Iterator[None]:
    """Point this process's file descriptor 2 at `path` (appending) for the duration, so that
    a child started meanwhile, such as Spark's JVM, writes its console output there for good;
    Python's own stderr is back as before afterwards."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(log, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(log)


def java_found() -> bool:
    """Whether PySpark will find a `java` to launch: JAVA_HOME's, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        return os.access(os.path.join(home, "bin", "java"), os.X_OK)
    return shutil.which("java") is not None


def _check_reachable(master: str) -> None:
    """Fail in seconds, not after Spark's minute of retries, when no listed master answers."""
    reasons = []
    for address in master.removeprefix("spark://").split(","):
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
            return
        except (OSError, ValueError) as e:
            reasons.append(f"{address}: {e}")
    raise SqlgptError(f"cannot reach the Spark master at {master} ({'; '.join(reasons)})")


def _write_log_config(directory: Path) -> None:
    """The log settings `local_settings` names, in `directory`."""
    path = directory / LOG_CONFIG
    if not path.is_file() or path.read_text() != LOG4J2_PROPERTIES:
        path.write_text(LOG4J2_PROPERTIES)
