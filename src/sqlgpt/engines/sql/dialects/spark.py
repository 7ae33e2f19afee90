"""Spark SQL's text: weights as `ARRAY<FLOAT>` rows, activations as `ARRAY<DOUBLE>`, parquet tables.

Measured on this project's machine (docs/measurements.md): a dot product is
`aggregate(zip_with(...))` of a float weight with a double activation (two floats would
round every product to float32); an ordered list is `collect_list` of (key, value)
structs, sorted. Plain tables have no UPDATE or DELETE: a layer's transposed values are a
view over its KV cache rather than a table grown in place, and session tables are emptied
with TRUNCATE. Tables are managed parquet tables; a session's tables live in its private
database (see `drivers/spark.py`). Lambda variables get names no column has (`a_`, `e_`,
...): they would shadow table aliases.

User text never reaches SQL text: token ids and catalogue values are bound parameters
(`:name` or `?` markers of `spark.sql(..., args=...)`). The one exception is the standalone
script's prompt, which `literal` quotes (a backslash and `$` as format_string calls too:
Spark's literals read backslash escapes, and spark-sql substitutes `${name}`).

The standalone script (`run_hint`: pyspark's `spark-sql` shell, in the folder of sqlgpt's
local Spark) computes as an install on Spark 4.2+ does, with `vector_inner_product`, so it
needs that Spark. Spark has no temporary tables: the script's tables are parquet tables in
a database of its own, `sqlgpt_script`, dropped when it ends (and when the next run starts,
if one stopped early). Its pre-tokenizer is Java's regex, which has GPT-2's lookahead.
Spark's recursive CTEs (new in 4.x; tried on 4.3) run one job per level (seconds each on 2
cores) and fail on the plan's byte pair encoding (a correlated subquery in the recursion), so
the script has none: byte pair encoding is a bounded loop (`aggregate` over as many rounds as a
pre-token has bytes), the numbers a `sequence`, the decoder's walk an `aggregate`.

SQL text only, and the settings that say where a local Spark keeps its tables
(`local_settings`), which the driver's local sessions and the script's `spark-sql` command
line share: sessions, the metastore, the no-transaction installs and Arrow loads are
`drivers/spark.py`'s.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ....errors import SqlgptError
from .base import Dialect
from .pretokenize import gpt2_pattern

LOG_CONFIG = "log4j2.properties"  # a local Spark's log settings, in its folder (written by the driver)
SCRIPT_DATABASE = "sqlgpt_script"  # where the standalone script keeps its tables


def local_settings(directory: str | Path) -> dict[str, str]:
    """The settings of a local Spark whose managed tables persist in the folder `directory`:
    its warehouse, its Derby metastore (one process at a time), and its log settings there.
    sqlgpt's local sessions (`drivers/spark.py`'s `local_session`) start with these, and the
    standalone script's `spark-sql` command line (`run_hint`) passes them, so that both find
    the same installed models."""
    home = Path(directory)
    return {
        "spark.sql.warehouse.dir": str(home / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={home / 'metastore_db'};create=true",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={home} -Dlog4j2.configurationFile={home / LOG_CONFIG}",
        # Local mode runs tasks inside the driver, so its heap holds the cached weights.
        "spark.driver.memory": "4g",
        # A step's statements generate more classes than the default 100 kept: each run
        # compiled them again, and the JIT with them (a core's worth while batch scoring).
        "spark.sql.codegen.cache.maxEntries": "2000",
    }


# How every session of sqlgpt's runs (drivers/spark.py's `private_session`), and the standalone
# script too, on spark-sql's command line (a SET in the script would print its value where
# only the text may be printed).
SESSION_SETTINGS = {
    # What a step shuffles is a few small rows (the dot products happen before): one
    # partition saves a task per stage; the weight scans keep their own partitions.
    "spark.sql.shuffle.partitions": "1",
    # Whole-stage code generation made a layer's statement up to 4x slower, and decoding
    # 1.7x (measured, docs/measurements.md; why is not pinned down).
    "spark.sql.codegen.wholeStage": "false",
}


def _spark_sql_command() -> str:
    """The `spark-sql` command line running script.sql against the local Spark in the folder DATABASE."""
    settings = local_settings("DATABASE") | SESSION_SETTINGS
    options = (f"--conf {shlex.quote(f'{key}={value}')}" for key, value in settings.items())
    return " ".join(["spark-sql", *options, "-S", "-f", "script.sql"])


class SparkDialect(Dialect):
    name = "spark"
    vector_type = "ARRAY<FLOAT>"  # weights; activations too with vector functions, else ARRAY<DOUBLE>
    float_type = "FLOAT"
    text_type = "STRING"
    placeholder = "?"
    transposed_values = "view"
    vector_functions_since = "4.2.0"  # the Spark that brought vector_inner_product and its friends
    probe_function = "vector_inner_product"  # whose presence says a Spark has them

    matrix_type = "ARRAY<ARRAY<FLOAT>>"
    _LAYOUTS = ("matrix", "vector")

    def __init__(self, vector_functions: bool | None = None, layout: str = "matrix") -> None:
        """vector_functions: True requires Spark's own (`vector_inner_product`, Spark 4.2+),
        False never uses them (the lambdas older Spark runs), None (default) uses them where
        the Spark has them. The driver settles which when it opens, in `self.vector_functions`.
        layout: "matrix" (a weight matrix is one value, an array of rows: `layouts/matrix.py`)
        or "vector" (a row per output unit, as DuckDB's; how Spark ran before, kept to measure
        against). Installs of one are not the other's."""
        if layout not in self._LAYOUTS:
            raise SqlgptError(f"layout must be one of {', '.join(self._LAYOUTS)}, got {layout!r}")
        self.wanted = vector_functions
        self.vector_functions = vector_functions is not False
        self.layout = layout

    @property
    def _activation_type(self) -> str:
        """The element type of the activations' vectors: FLOAT, as `vector_inner_product`
        takes them (it sums in double), or DOUBLE for the lambdas."""
        return "FLOAT" if self.vector_functions else "DOUBLE"

    def header_notes(self) -> list[str]:
        how = ("Spark's vector_inner_product" if self.vector_functions else
               f"aggregate(zip_with(...)) lambdas (Spark's vector functions came in {self.vector_functions_since})")
        layout = ("a weight matrix is one ARRAY<ARRAY<FLOAT>> value" if self.layout == "matrix" else
                  "a weight matrix is a row per output unit")
        return [f"dot products: {how}; {layout}; activations ARRAY<{self._activation_type}>"]

    # -- vector primitives ---------------------------------------------------------------------

    def dot(self, a: str, b: str) -> str:
        if self.vector_functions:
            # Both float arrays; the products are summed in double, the result a float.
            return f"vector_inner_product({a}, {b})"
        # Lambda variables get names no column has: they would shadow table aliases.
        return f"aggregate(zip_with({a}, {b}, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_)"

    def collect(self, expr: str, order_by: str) -> str:
        # collect_list keeps no order: sort (key, value) pairs, then keep the values.
        return f"transform(sort_array(collect_list(named_struct('k', {order_by}, 'v', {expr}))), e_ -> e_.v)"

    def collect_plus(self, expr: str, index: str, vector: str) -> str:
        return self.collect(f"{expr} + {vector}[{index}]", index)  # Spark's [] counts from 0

    def to_float(self, expr: str) -> str:
        return f"CAST({expr} AS {self._activation_type})"  # see the module docstring

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
        total = self.vector_sum(vector) if self.vector_functions else f"aggregate({vector}, 0D, (s_, e_) -> s_ + e_)"
        return f"({total} / size({vector}))"

    def vector_var(self, vector: str) -> str:
        # E[x²] - E[x]², in double: one pass, and no aggregate nested in a lambda (which
        # Spark would recompute for every element).
        squares = self.dot(vector, vector) if self.vector_functions else f"aggregate({vector}, 0D, (s_, e_) -> s_ + e_ * e_)"
        return f"({squares} / size({vector}) - pow({self.vector_mean(vector)}, 2))"

    # -- the matrix layout's primitives --------------------------------------------------------

    def map_indexed(self, vector: str, fn: Callable[[str, str], str]) -> str:
        return f"transform({vector}, (u_, n_) -> {fn('u_', 'n_')})"

    def sub_vector(self, vector: str, start: str, length: int | str) -> str:
        return f"slice({vector}, {start} + 1, {length})"

    def vector_max(self, vector: str) -> str:
        return f"array_max({vector})"

    def vector_sum(self, vector: str) -> str:
        if self.vector_functions:  # a float vector · ones, summed in double: no lambda call per element
            return f"vector_inner_product({vector}, array_repeat(CAST(1 AS FLOAT), size({vector})))"
        return f"aggregate({vector}, 0D, (s_, e_) -> s_ + e_)"

    def transpose(self, rows: str, n: int) -> str:
        return f"transform(sequence(0, {n - 1}), c_ -> transform({rows}, t_ -> t_[c_]))"

    def split_vector(self, vector: str, n: int, size: int) -> str:
        return f"transform(sequence(0, {n - 1}), k_ -> slice({vector}, k_ * {size} + 1, {size}))"

    def unnest_indexed(self, array: str, index: str, value: str) -> str:
        return f"posexplode({array}) AS ({index}, {value})"

    def collect_concat(self, expr: str, order_by: str) -> str:
        return f"flatten({self.collect(expr, order_by)})"

    def range_rows(self, n: int, column: str, alias: str = "r") -> str:
        return f"(SELECT CAST(id AS INT) AS {column} FROM range({n})) {alias}"

    def param(self, n: int) -> str:
        return f":p{n}"

    def position_params(self, position: int) -> dict[str, int]:
        return {"p1": int(position)}

    # -- session tables ------------------------------------------------------------------------

    def temp_table_def(self, name: str, columns: list[tuple[str, str]], key: list[str] | None = None) -> str:
        # In the session's private database (see the driver); activations in double precision.
        types = {"int": "INT", "float": "DOUBLE", "vector": f"ARRAY<{self._activation_type}>", "text": "STRING"}
        return f"CREATE TABLE {name} ({', '.join(f'{c} {types[k]}' for c, k in columns)}) USING parquet"

    def temp_table_as(self, name: str, select: str) -> str:
        return f"CREATE TABLE {name} USING parquet AS\n{select}"

    def temp_view(self, name: str, select: str) -> str:
        return f"CREATE TEMPORARY VIEW {name} AS {select}"

    def empty_table(self, name: str) -> str:
        return f"TRUNCATE TABLE {name}"

    def load_tokens_sql(self, table: str) -> str:
        return (f"INSERT INTO {table} SELECT CAST(:first AS INT) + CAST(i AS INT), CAST(t AS INT) "
                f"FROM (SELECT posexplode(CAST(:ids AS ARRAY<INT>)) AS (i, t))")

    def token_params(self, first: int, ids: list[int]) -> dict[str, Any]:
        return {"first": int(first), "ids": [int(i) for i in ids]}

    # -- catalogue and weight tables -----------------------------------------------------------

    def create_table_as_sql(self, name: str, select: str) -> str:
        return f"CREATE TABLE {name} USING parquet AS {select}"

    def replace_contents_sql(self, table: str, select: str) -> list[str]:
        return [f"INSERT OVERWRITE TABLE {table} {select}"]  # plain Spark tables have no DELETE

    def result_type(self, kind: str) -> str:
        return {"int": "INT", "double": "DOUBLE", "text": "STRING"}[kind]

    def catalogue_sql(self, name: str) -> str:
        # No IF NOT EXISTS: the driver creates it only where it is missing, and drops it again
        # if the install fails.
        return (f"CREATE TABLE {name} (schema_name STRING, model STRING, source STRING, source_key STRING, "
                "fingerprint STRING, config STRING, format_version INT, installed_at TIMESTAMP) USING parquet")

    def create_table_sql(self, schema: str, table: str, columns: list[tuple[str, str]]) -> str:
        return f"CREATE TABLE {self.qualify(schema, table)} ({self.column_list(columns)}) USING parquet"

    # -- what the driver's sessions run --------------------------------------------------------

    def create_database_sql(self, database: str) -> str:
        """A statement creating a session's private database."""
        return f"CREATE DATABASE {database}"

    def use_database_sql(self, database: str) -> str:
        """A statement making `database` the session's current one."""
        return f"USE {database}"

    def drop_database_sql(self, database: str) -> str:
        """A statement dropping a session's private database with its tables."""
        return f"DROP DATABASE IF EXISTS {database} CASCADE"

    def cache_table_sql(self, table: str) -> str:
        """A statement keeping `table` in Spark's memory (spilling to disk if short), from the
        first query that reads it: caching every weight table at once took a job per table
        (docs/measurements.md)."""
        return f"CACHE LAZY TABLE {table}"

    def uncache_table_sql(self, table: str) -> str:
        """A statement releasing what `cache_table_sql` kept."""
        return f"UNCACHE TABLE IF EXISTS {table}"

    # -- the standalone script -----------------------------------------------------------------

    run_hint = _spark_sql_command()
    run_database = ("DATABASE is the folder of sqlgpt's local Spark, its warehouse and metastore (spark/ in sqlgpt's "
                    "cache folder: ~/.cache/sqlgpt/spark on Linux; no other Spark may use it meanwhile), which holds the "
                    "model")
    install_options = ()  # a local Spark: its tables in that folder
    text_type = "STRING"
    script_key = ""  # Spark's tables have no keys (nor indexes)
    # Also a backslash (an escape in Spark's string literals) and $ (spark-sql substitutes ${name}).
    literal_escapes = Dialect.literal_escapes + r"\\$"

    def script_table(self, name: str, columns: str) -> str:
        return f"CREATE TABLE {name} ({columns}) USING parquet"  # in the script's database (script_workspace)

    def script_table_as(self, name: str) -> str:
        return f"CREATE TABLE {name} USING parquet AS"

    def script_index(self, name: str, table: str, column: str) -> list[str]:
        return []

    def script_set(self, table: str, column: str, value: str) -> str:
        return f"INSERT OVERWRITE TABLE {table} SELECT {value} AS {column}"  # plain tables have no UPDATE

    def half(self, n: str) -> str:
        return f"({n}) DIV 2"  # `/` divides as decimals in Spark

    def values_sql(self, table: str, rows: list[str], per_insert: int = 10_000) -> list[str]:
        # Each INSERT is a Spark job writing its own files: GPT-2's vocabulary in 6, not 101.
        return super().values_sql(table, rows, per_insert)

    # Spark runs a recursive CTE as one job per level (seconds each here), and rejects the
    # plan's byte pair encoding (a correlated subquery in the recursion): arrays and lambdas
    # instead, one job each.

    def script_numbers(self, top: str) -> str:
        return f"SELECT explode(sequence(1, top.k)) AS i FROM ({top}) top"

    def script_bpe(self) -> tuple[str, str]:
        comment = """byte pair encoding as a bounded loop, not a recursion: each pre-token's parts (a byte
each, as hex) go through as many rounds as it has bytes (`aggregate`), each merging the adjacent
pair of lowest merge rank, the leftmost of equals, if one is a token. The ranks are a map of the
merges that occur in some pre-token (Spark looks a map's keys up one by one)."""
        pairs = "zip_with(slice(ps_, 1, size(ps_) - 1), slice(ps_, 2, size(ps_) - 1), (a_, b_) -> a_ || b_)"
        # The lowest (rank, j): j the pair's left part, counted from 1; NULL if no pair is a token.
        best = (f"array_min(filter(transform({pairs}, (p_, j_) -> named_struct('rank', try_element_at(r.ranks, p_), "
                f"'j', j_ + 1)), c_ -> c_.rank IS NOT NULL))")
        merge = ("CASE WHEN b_ IS NULL THEN ps_ ELSE concat(slice(ps_, 1, b_.j - 1), "
                 "array(ps_[b_.j - 1] || ps_[b_.j]), slice(ps_, b_.j + 2, size(ps_))) END")
        one_round = f"transform(array({best}), b_ -> {merge})[0]"  # the best pair b_, computed once
        return comment, f"""WITH
  ranks AS (SELECT map_from_entries(collect_list(struct(v.hex, v.merge_rank))) AS ranks
            FROM vocab v LEFT SEMI JOIN pieces p ON instr(p.hex, v.hex) > 0 WHERE v.merge_rank IS NOT NULL),
  parts AS (SELECT piece, transform(sequence(1, length(hex) DIV 2), i_ -> substr(hex, 2 * i_ - 1, 2)) AS ps
            FROM pieces),
  merged AS (SELECT p.piece, aggregate(p.ps, p.ps, (ps_, x_) -> {one_round}) AS ps FROM parts p, ranks r),
  tokens AS (SELECT piece, posexplode(ps) AS (k, part) FROM merged)
SELECT CAST(row_number() OVER (ORDER BY t.piece, t.k) - 1 AS INT) AS pos, v.id AS token
FROM tokens t JOIN vocab v ON v.hex = t.part"""

    def script_walk(self) -> tuple[str, str]:
        step = ("(a_, c_) -> CASE WHEN c_.o = a_.o THEN named_struct('o', a_.o + c_.width, 'txt', a_.txt || c_.piece) "
                "ELSE a_ END")
        return ("  walk AS (SELECT sort_array(collect_list(struct(o, width, piece))) AS cs FROM chars)",
                f"SELECT aggregate(cs, named_struct('o', 1, 'txt', CAST('' AS STRING)), {step}).txt FROM walk")

    def char(self, code: str) -> str:
        return f"format_string('%c', CAST({code} AS INT))"  # Spark's chr() is chr(code % 256)

    def script_preamble(self) -> list[str]:
        if not self.vector_functions:
            return []
        return [f"-- Spark {self.vector_functions_since} or later: dot products are its vector_inner_product, as "
                "sqlgpt computes on that Spark."]

    def model_check(self, condition: str, message: str) -> list[str]:
        # CACHE TABLE ... AS computes its query at once, and prints nothing where a SELECT would print a row.
        return [(f"CACHE TABLE model_check AS SELECT CASE WHEN ({condition}) = 1 THEN 1 "
                 f"ELSE raise_error('{message}') END AS ok"), "UNCACHE TABLE model_check"]

    def script_workspace(self) -> list[tuple[str, str]]:
        return [("a database of the script's own for its tables, dropped at the end (or here, if a run stopped early)",
                 f"DROP DATABASE IF EXISTS {SCRIPT_DATABASE} CASCADE"),
                ("", f"CREATE DATABASE {SCRIPT_DATABASE}"), ("", f"USE {SCRIPT_DATABASE}")]

    def script_after_output(self) -> list[str]:
        return ["USE default;", f"DROP DATABASE {SCRIPT_DATABASE} CASCADE;"]  # Spark drops no current database

    def pieces(self) -> tuple[str, str]:
        def escape(c: int) -> str:
            return f"\\\\x{{{c:x}}}"  # Java's \x{h..h}, its backslash doubled in Spark's literal

        pattern = gpt2_pattern(escape, lookahead=True).replace("'", "''")
        return ("Spark's regex is Java's: GPT-2's pattern as it is, lookahead and first-match alternatives included.",
                (f"INSERT INTO pieces\nSELECT CAST(u.i + 1 AS INT), {self.utf8_hex('u.piece')} "
                 f"FROM prompt p LATERAL VIEW posexplode(regexp_extract_all(p.txt, '{pattern}', 0)) u AS i, piece"))
