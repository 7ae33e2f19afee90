"""Spark SQL through PySpark: weights as `ARRAY<FLOAT>` rows, activations as `ARRAY<DOUBLE>`.

The engine for batches over many rows and for clusters: any Spark master URL (`local[2]`,
`spark://host:7077`, ...) or a `SparkSession` the caller already has. Measured on this
project's machine (docs/measurements.md): a dot product is `aggregate(zip_with(...))` of a
float weight with a double activation (two floats would round every product to float32);
an ordered list is `collect_list` of (key, value) structs, sorted. Every query costs a
fixed 0.1-0.5 s, so decoding token by token is slow here by nature.

What differs from the other databases, and how this dialect copes:

* Weight tables are managed parquet tables in a database per model; the engine caches
  them in memory while it is open. With a local master sqlgpt starts Spark itself, with
  its warehouse and (Hive/Derby) metastore under the user's cache directory, so installed
  models outlive the process; only one process at a time can use that metastore. With
  another master, or a given session, Spark's own configuration says where tables live.
* Plain tables have no UPDATE or DELETE: a layer's transposed values are a view over its
  KV cache rather than a table grown in place, session tables are emptied with TRUNCATE,
  and the catalogue's rare edits rewrite its few rows.
* There are no transactions: an install creates its model database first and writes the
  catalogue row last, so an interrupted one is never used; a failure or Ctrl-C drops
  what the install created, and a killed install is replaced by the next one.
* Each sqlgpt session is a `SparkSession.newSession()` whose current database is a
  private `sqlgpt_session_<random>` holding its KV cache, dropped when it closes.

sqlgpt reports every failure itself, in one line, so Spark's own reports stay off the
terminal: a Spark application sqlgpt starts writes its JVM's console output (start-up
notices, log records) to `spark.log` in sqlgpt's cache directory, and PySpark's loggers of
failed queries are turned down to CRITICAL.

User text never reaches SQL text: token ids and catalogue values are bound parameters
(`:name` or `?` markers of `spark.sql(..., args=...)`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ....errors import SqlgptError, first_line
from .base import Dialect, cache_path

DEFAULT_MASTER = "local[*]"
SESSION_DATABASE_PREFIX = "sqlgpt_session_"
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


class SparkDialect(Dialect):
    name = "spark"
    vector_type = "ARRAY<FLOAT>"  # weights; activations are ARRAY<DOUBLE> (see temp_table_def)
    float_type = "FLOAT"
    placeholder = "?"
    transposed_values = "view"
    database_alias = "session"  # a SparkSession of the caller's, used as it is

    def default_database(self) -> str:
        return DEFAULT_MASTER

    # -- vector primitives ---------------------------------------------------------------------

    def dot(self, a: str, b: str) -> str:
        # Lambda variables get names no column has: they would shadow table aliases.
        return f"aggregate(zip_with({a}, {b}, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_)"

    def collect(self, expr: str, order_by: str) -> str:
        # collect_list keeps no order: sort (key, value) pairs, then keep the values.
        return f"transform(sort_array(collect_list(named_struct('k', {order_by}, 'v', {expr}))), e_ -> e_.v)"

    def collect_plus(self, expr: str, index: str, vector: str) -> str:
        return self.collect(f"{expr} + {vector}[{index}]", index)  # Spark's [] counts from 0

    def to_float(self, expr: str) -> str:
        return f"CAST({expr} AS DOUBLE)"  # activations stay double: see the module docstring

    def int_div(self, a: str, b: int) -> str:
        return f"CAST({a} DIV {b} AS INT)"  # DIV gives BIGINT, which an INT column refuses

    def mod(self, a: str, b: int) -> str:
        return f"{a} % {b}"

    def as_vector(self, expr: str) -> str:
        return expr

    def element(self, vector: str, index: str) -> str:
        return f"{vector}[{index}]"  # Spark's [] counts from 0

    def map_vectors(self, vectors: list[str], fn: Callable[..., str]) -> str:
        first, rest = vectors[0], vectors[1:]
        return f"transform({first}, (v_, i_) -> {fn('v_', *(f'{v}[i_]' for v in rest))})"

    def vector_mean(self, vector: str) -> str:
        return f"(aggregate({vector}, 0D, (s_, e_) -> s_ + e_) / size({vector}))"

    def vector_var(self, vector: str) -> str:
        # E[x²] - E[x]², in double: one pass, and no aggregate nested in a lambda (which
        # Spark would recompute for every element).
        return f"(aggregate({vector}, 0D, (s_, e_) -> s_ + e_ * e_) / size({vector}) - pow({self.vector_mean(vector)}, 2))"

    def range_rows(self, n: int, column: str, alias: str = "r") -> str:
        return f"(SELECT CAST(id AS INT) AS {column} FROM range({n})) {alias}"

    def param(self, n: int) -> str:
        return f":p{n}"

    def position_params(self, position: int) -> dict[str, int]:
        return {"p1": int(position)}

    # -- session tables ------------------------------------------------------------------------

    def temp_table_def(self, name: str, columns: list[tuple[str, str]], key: list[str] | None = None) -> str:
        # In the session's private database (see `cursor`); activations in double precision.
        types = {"int": "INT", "float": "DOUBLE", "vector": "ARRAY<DOUBLE>"}
        return f"CREATE TABLE {name} ({', '.join(f'{c} {types[k]}' for c, k in columns)}) USING parquet"

    def temp_table_as(self, name: str, select: str) -> str:
        return f"CREATE TABLE {name} USING parquet AS\n{select}"

    def temp_view(self, name: str, select: str) -> str:
        return f"CREATE TEMPORARY VIEW {name} AS {select}"

    def batch_settings(self, cursor: Any) -> None:
        # A batch's step shuffles many rows: spread them over the cores again (see private_session).
        cursor.spark.conf.set("spark.sql.shuffle.partitions", str(4 * cursor.spark.sparkContext.defaultParallelism))

    def insert_rows(self, cursor: Any, table: str, columns: list[list[int]]) -> None:
        # Through Arrow: array parameters of thousands of elements take Spark's parser minutes.
        import pyarrow as pa

        frame = cursor.spark.createDataFrame(pa.table({f"c{i}": pa.array(c, pa.int32()) for i, c in enumerate(columns)}))
        frame.write.insertInto(self.qualify(cursor.database, table))

    def empty_table(self, name: str) -> str:
        return f"TRUNCATE TABLE {name}"

    def load_tokens_sql(self, table: str) -> str:
        return (f"INSERT INTO {table} SELECT CAST(:first AS INT) + CAST(i AS INT), CAST(t AS INT) "
                f"FROM (SELECT posexplode(CAST(:ids AS ARRAY<INT>)) AS (i, t))")

    def token_params(self, first: int, ids: list[int]) -> dict[str, Any]:
        return {"first": int(first), "ids": [int(i) for i in ids]}

    def temp_table_names(self, cursor: Any) -> list[str]:
        return sorted(t.name for t in cursor.spark.catalog.listTables(cursor.database))

    def copy_table(self, name: str, source: str) -> list[str]:
        return [f"DROP TABLE IF EXISTS {name}", f"CREATE TABLE {name} USING parquet AS SELECT * FROM {source}"]

    def result_type(self, kind: str) -> str:
        return {"int": "INT", "double": "DOUBLE", "text": "STRING"}[kind]

    def write_table(self, conn: Any, name: str, empty_select: str, rows: list[tuple], replace: bool) -> None:
        """One Spark write of a DataFrame: its files appear when the job commits, whole or
        not at all (with `replace`, the old table is dropped first)."""
        schema = conn.execute(empty_select).frame.schema
        frame = conn.spark.createDataFrame(rows, schema=schema)
        frame.write.saveAsTable(name, format="parquet", mode="overwrite" if replace else "errorifexists")

    # -- catalogue and weight tables -----------------------------------------------------------

    def table_exists(self, conn: Any, schema: str | None, table: str) -> bool:
        return conn.spark.catalog.tableExists(table if schema is None else self.qualify(schema, table))

    def create_catalogue(self, conn: Any, name: str) -> None:
        if self.table_exists(conn, None, name):
            return
        conn.execute(f"CREATE TABLE {name} (schema_name STRING, model STRING, source STRING, source_key STRING, "
                     "fingerprint STRING, config STRING, format_version INT, installed_at TIMESTAMP) USING parquet")
        conn.on_rollback(f"DROP TABLE IF EXISTS {name}")

    def create_schema(self, conn: Any, schema: str) -> None:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.on_rollback(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    def create_table(self, conn: Any, schema: str, table: str, columns: list[tuple[str, str]]) -> None:
        conn.execute(f"CREATE TABLE {self.qualify(schema, table)} ({self.column_list(columns)}) USING parquet")

    def insert_columns(self, conn: Any, schema: str, table: str, columns: dict[str, np.ndarray]) -> None:
        """Through Arrow: a 2-D array becomes an ARRAY<FLOAT> column, one row per row."""
        import pyarrow as pa

        arrays = {}
        for name, values in columns.items():
            values = np.ascontiguousarray(values)
            if values.ndim == 2:
                arrays[name] = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])
            else:
                arrays[name] = pa.array(values)
        frame = conn.spark.createDataFrame(pa.table(arrays))
        # As many files as Spark has cores, so that scanning the weights keeps them all busy.
        frame.repartition(conn.spark.sparkContext.defaultParallelism).createOrReplaceTempView("sqlgpt_batch")
        names = ", ".join(columns)
        try:
            conn.execute(f"INSERT INTO {self.qualify(schema, table)} ({names}) SELECT {names} FROM sqlgpt_batch")
        finally:
            conn.spark.catalog.dropTempView("sqlgpt_batch")

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

    def use_model(self, conn: Any, schema: str, tables: list[str]) -> None:
        """Cache the weights in memory (Spark's storage, spilling to disk if short), shared by
        every session of this Spark application."""
        conn.cache([self.qualify(schema, t) for t in tables])

    # -- connections ---------------------------------------------------------------------------

    def begin(self, conn: Any) -> None:
        conn.begin()

    def commit(self, conn: Any) -> None:
        conn.commit()

    def rollback(self, conn: Any) -> None:
        conn.rollback()

    def open(self, database: Any, writable: bool) -> SparkConnection:
        """`database` is a master URL, or a SparkSession to use as it is."""
        _quiet_query_loggers()
        if isinstance(database, str):
            return SparkConnection(*_acquire(database))
        return SparkConnection(database, owned=False)

    def cursor(self, conn: Any, database: Any) -> SparkConnection:
        return conn.private_session()

    def execute_prepared(self, cursor: Any, handle: str, position: int) -> Any:
        return cursor.execute(handle, self.position_params(position))  # no PREPARE in Spark: planned per run

    def fetch_columns(self, cursor: Any) -> dict[str, np.ndarray]:
        table = cursor.frame.toArrow()
        return {name: table.column(name).to_numpy() for name in table.column_names}

    def errors(self) -> tuple[type[BaseException], ...]:
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException

        return (SparkSqlError, PySparkException, Py4JError)


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

    def __init__(self, spark: Any, owned: bool, database: str | None = None) -> None:
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
        # What a step shuffles is a few small rows (the dot products happen before): one
        # partition saves a task per stage; the weight scans keep their own partitions.
        session.conf.set("spark.sql.shuffle.partitions", "1")
        database = SESSION_DATABASE_PREFIX + uuid.uuid4().hex[:16]
        private = SparkConnection(session, owned=False, database=database)
        private.execute(f"CREATE DATABASE {database}")
        private.execute(f"USE {database}")
        return private

    def cache(self, tables: list[str]) -> None:
        with _lock:
            for table in tables:
                if _cache_users.get(table, 0) == 0:
                    self.execute(f"CACHE TABLE {table}")
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
            spark.sql(f"DROP DATABASE IF EXISTS {self.database} CASCADE")
        with _lock:
            for table in self._cached:
                _cache_users[table] -= 1
                if _cache_users[table] == 0:
                    spark.sql(f"UNCACHE TABLE IF EXISTS {table}")
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
    return _start(master, directory, {
        "spark.sql.warehouse.dir": str(directory / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={directory / 'metastore_db'};create=true",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={directory} -Dlog4j2.configurationFile={_log_config(directory)}",
        # Local mode runs tasks inside the driver, so its heap holds the cached weights.
        "spark.driver.memory": "4g",
    })


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


def _log_config(directory: Path) -> Path:
    path = directory / "log4j2.properties"
    if not path.is_file() or path.read_text() != LOG4J2_PROPERTIES:
        path.write_text(LOG4J2_PROPERTIES)
    return path
