"""What every SQL dialect provides: the SQL text that differs between databases, and nothing else.

The compiler writes standard SQL where it can and asks the dialect for the few primitives
that differ between databases: the vector type and its dot product, building a vector from
rows, element access, lambdas over vectors, temporary tables. The drivers (`../drivers/`)
ask it for every statement they run: transactions, the catalogue, weight tables, bulk
loads' INSERTs, settings. The standalone script (`script.py`) asks it for its shell's
types, string functions and pre-tokenizer. A dialect's methods return text (SQL, parameter
markers) or the shape of parameters; they never take or touch a connection or a cursor.

A new database is a subclass overriding only what differs (the SQLGlot `dialects/`
pattern); every hook anyone calls is declared here, raising NotImplementedError where there
is no sensible default. Identifiers passed in here are the project's own names (schemas
derived from checksums, fixed table names); user text never reaches these methods, except
the script's prompt, which `literal` quotes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ....errors import SqlgptError


class Dialect:
    name = "base"
    vector_type = "FLOAT[]"  # a float32 vector column
    float_type = "FLOAT"
    placeholder = "?"  # the driver's positional parameter marker
    materialized = ""  # how a CTE is marked to be computed once ("MATERIALIZED " where needed)
    # "vector": vectors are values of a vector type (layouts/vector.py); "wide": a column per
    # element (layouts/wide.py), for databases without one.
    layout = "vector"
    # How the vector layout keeps a layer's values transposed (a row per channel, a vector
    # over positions): "table", grown each step by `append_values`; or "view", recomputed
    # from the KV cache by a view, for databases that cannot update rows in place.
    transposed_values = "table"
    # A variant of the layout with other column types (installs of one are not the other's).
    layout_variant = 0
    # The vector layout's matrix products back into the residual stream: False, each unit's
    # product gathered, then the residual vector added (`collect_plus`); True, the residual's
    # element added to each unit's product before gathering, for databases that copy a whole
    # vector into every output row of a join.
    residual_per_unit = False
    # Transactions, as the driver runs them.
    begin_sql = "BEGIN TRANSACTION"
    commit_sql = "COMMIT"
    rollback_sql = "ROLLBACK"

    def qualify(self, schema: str, table: str) -> str:
        """The name of `table` in `schema`."""
        return f"{schema}.{table}"

    def param(self, n: int) -> str:
        """The marker of the `n`-th (from 1) parameter of a statement the compiler writes,
        which `position_params` fills."""
        raise NotImplementedError

    def position_params(self, position: int) -> Any:
        """Parameters for a statement whose one parameter, $1, is a position."""
        return [position]

    def token_params(self, first: int, ids: list[int]) -> list[Any]:
        """The parameters of `load_tokens_sql`: the first new position and the ids."""
        return [first, ids]

    def fence(self, subquery: str) -> str:
        """`subquery` in parentheses, kept from being merged into the query around it."""
        return f"({subquery})"

    def header_notes(self) -> list[str]:
        """Lines for the header of `sqlgpt sql`'s listing on what this database's SQL uses
        beyond the database itself or where it chose among ways (DuckDB: sqlgpt's vdot kernel or
        list_dot_product; Spark: its vector functions or lambdas, and its layout)."""
        return []

    # -- vector primitives (the vector layout) -------------------------------------------------

    def dot(self, a: str, b: str) -> str:
        """The dot product of two vectors, a float."""
        raise NotImplementedError

    def collect(self, expr: str, order_by: str) -> str:
        """The aggregate gathering `expr` of a group's rows, ordered by `order_by`, into a vector."""
        raise NotImplementedError

    def collect_plus(self, expr: str, index: str, vector: str) -> str:
        """`collect(expr, index)` plus the group's one `vector`, element by element (`index`
        counts from 0)."""
        raise NotImplementedError

    def to_float(self, expr: str) -> str:
        """`expr` as the type activations are computed in."""
        raise NotImplementedError

    def int_div(self, a: str, b: int) -> str:
        """Integer `a` divided by the constant `b`, rounding down, as an integer."""
        raise NotImplementedError

    def mod(self, a: str, b: int) -> str:
        """Integer `a` modulo the constant `b`."""
        raise NotImplementedError

    def as_vector(self, expr: str) -> str:
        """`expr` (an array of floats) as a value of the vector type."""
        raise NotImplementedError

    def element(self, vector: str, index: str) -> str:
        """Element `index` (counted from 0) of a vector."""
        return f"{vector}[{index} + 1]"

    def empty_growing_vector(self) -> str:
        """An empty vector that `append_values` grows (a layer's transposed values at start)."""
        raise NotImplementedError

    def map_vectors(self, vectors: list[str], fn: Callable[..., str]) -> str:
        """Element-wise `fn` (given one element expression per vector) over equal-length
        vectors, as a vector."""
        raise NotImplementedError

    def vector_mean(self, vector: str) -> str:
        """The mean of a vector's elements."""
        raise NotImplementedError

    def vector_var(self, vector: str) -> str:
        """The population variance of a vector's elements."""
        raise NotImplementedError

    # -- the matrix layout's primitives (a matrix as one value, an array of rows: matrix.py) ------

    matrix_type: str | None = None  # an array of float32 vectors, where the database has one

    def map_indexed(self, vector: str, fn: Callable[[str, str], str]) -> str:
        """`fn(element, index)` (index counted from 0) of every element of `vector`, an array
        (of numbers, or of arrays: a matrix's rows), as an array."""
        raise NotImplementedError

    def sub_vector(self, vector: str, start: str, length: int | str) -> str:
        """The `length` elements of `vector` from element `start` (counted from 0) on."""
        raise NotImplementedError

    def vector_max(self, vector: str) -> str:
        """The largest element of a vector."""
        raise NotImplementedError

    def vector_sum(self, vector: str) -> str:
        """The sum of a vector's elements, in double precision."""
        raise NotImplementedError

    def transpose(self, rows: str, n: int) -> str:
        """The array of vectors `rows` (each of `n` elements) transposed: n vectors, the i-th
        holding element i of every row, in order."""
        raise NotImplementedError

    def split_vector(self, vector: str, n: int, size: int) -> str:
        """`vector` cut into `n` consecutive vectors of `size` elements, as an array of them."""
        raise NotImplementedError

    def unnest_indexed(self, array: str, index: str, value: str) -> str:
        """A select-list item making a row of each element of `array`: columns `index` (its
        position, from 0) and `value`."""
        raise NotImplementedError

    def collect_concat(self, expr: str, order_by: str) -> str:
        """The aggregate concatenating the vectors `expr` of a group's rows, ordered by `order_by`."""
        raise NotImplementedError

    def range_rows(self, n: int, column: str, alias: str = "r") -> str:
        """A FROM item of `n` rows, `alias`.`column` = 0 .. n - 1."""
        raise NotImplementedError

    def append_values(self, table: str, cache: str, new: str, head_size: int) -> str:
        """A statement appending to each channel row c of `table` (c, vals) element
        c % head_size of the value vectors (hd, pos, vec) of `cache` meeting condition `new`,
        for head c // head_size, in order of position (`transposed_values` "table")."""
        raise NotImplementedError

    # -- catalogue and weight tables -----------------------------------------------------------

    def table_exists_sql(self, schema: str | None, table: str) -> tuple[str, list[Any]]:
        """A query counting the tables called `table` in `schema` (None: the current one),
        and its parameters."""
        marker = self.placeholder
        return ((f"SELECT count(*) FROM information_schema.tables WHERE table_name = {marker} AND table_schema = "
                 f"coalesce({marker}, current_schema())"), [table, schema])

    def count_rows_sql(self, schema: str, tables: list[str]) -> str:
        """One query of the number of rows of each of `schema`'s `tables`: rows (i, count) for
        the i-th table (one query, as Spark spends a job on each)."""
        return " UNION ALL ".join(f"SELECT {i} AS i, count(*) AS n FROM {self.qualify(schema, table)}"
                                  for i, table in enumerate(tables))

    def create_schema_sql(self, schema: str) -> list[str]:
        """Statements creating `schema` (none where a schema is only a prefix of names)."""
        return [f"CREATE SCHEMA {schema}"]

    def create_schema_if_missing(self, schema: str) -> str:
        """A statement creating `schema` unless it exists."""
        return f"CREATE SCHEMA IF NOT EXISTS {schema}"

    def drop_schema_sql(self, schema: str) -> str:
        """A statement dropping `schema`, if it exists, with everything in it."""
        return f"DROP SCHEMA IF EXISTS {schema} CASCADE"

    def create_table_sql(self, schema: str, table: str, columns: list[tuple[str, str]]) -> str:
        """A statement creating the weight table schema.table with `columns` (name, kind as
        in `sql_type`), the first of which is its key."""
        return f"CREATE TABLE {self.qualify(schema, table)} ({self.column_list(columns)})"

    def catalogue_sql(self, name: str) -> str:
        """A statement creating the catalogue table `name` (one row per install)."""
        return (f"CREATE TABLE IF NOT EXISTS {name} (schema_name VARCHAR PRIMARY KEY, model VARCHAR NOT NULL,"
                " source VARCHAR NOT NULL, source_key VARCHAR NOT NULL, fingerprint VARCHAR NOT NULL, config VARCHAR NOT NULL,"
                " format_version INTEGER NOT NULL, installed_at TIMESTAMP NOT NULL)")

    def drop_table_sql(self, name: str) -> str:
        """A statement dropping the table `name` if it exists."""
        return f"DROP TABLE IF EXISTS {name}"

    def create_table_as_sql(self, name: str, select: str) -> str:
        """A statement creating the ordinary table `name` from the rows of `select`."""
        return f"CREATE TABLE {name} AS {select}"

    def copy_table(self, name: str, source: str) -> list[str]:
        """Statements making `name` an ordinary table holding the rows of `source`, replacing
        any old one."""
        return [self.drop_table_sql(name), self.create_table_as_sql(name, f"SELECT * FROM {source}")]

    def replace_contents_sql(self, table: str, select: str) -> list[str]:
        """Statements making the rows of `select` the only rows of the existing `table`."""
        return [f"DELETE FROM {table}", f"INSERT INTO {table} {select}"]

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

    def insert_placeholders_sql(self, table: str, n_values: int) -> str:
        """An INSERT of one row of `n_values` bound values into `table` (run for many rows)."""
        return f"INSERT INTO {table} VALUES ({', '.join([self.placeholder] * n_values)})"

    def insert_select_sql(self, table: str, columns: list[str], source: str) -> str:
        """An INSERT into `table`'s `columns` of the same columns of every row of `source`."""
        names = ", ".join(columns)
        return f"INSERT INTO {table} ({names}) SELECT {names} FROM {source}"

    def delete_row_sql(self, table: str, key_column: str) -> str:
        """A DELETE of the rows of `table` whose `key_column` is the one bound parameter."""
        return f"DELETE FROM {table} WHERE {key_column} = {self.placeholder}"

    def update_row_sql(self, table: str, key_column: str, columns: list[str]) -> str:
        """An UPDATE setting `columns` (bound parameters, in order) in the rows of `table`
        whose `key_column` is the last bound parameter."""
        sets = ", ".join(f"{column} = {self.placeholder}" for column in columns)
        return f"UPDATE {table} SET {sets} WHERE {key_column} = {self.placeholder}"

    def empty_result(self, table: str, key: str, columns: list[tuple[str, str]]) -> str:
        """A query of no rows whose columns are `key`, typed as in `table`, then `columns`,
        (name, kind) with kind as in `result_type`: the shape of a result table."""
        nulls = ", ".join(f"CAST(NULL AS {self.result_type(kind)}) AS {name}" for name, kind in columns)
        return f"SELECT {key}, {nulls} FROM {table} WHERE 1 = 0"

    def column_list(self, columns: list[tuple[str, str]]) -> str:
        """Column definitions: (name, kind as in `sql_type`) each."""
        return ", ".join(f"{name} {self.sql_type(kind)}" for name, kind in columns)

    def sql_type(self, kind: str) -> str:
        """The column type for a layout kind: 'int', 'float', 'vector' or 'matrix' (or 'text')."""
        return {"int": "INTEGER", "float": self.float_type, "vector": self.vector_type, "matrix": self.matrix_type,
                "text": self.text_type}[kind]

    def install_lock_sql(self) -> list[str]:
        """Statements, first in an install's transaction, that make concurrent installs into
        the same database wait for each other (where the transaction alone does not)."""
        return []

    def before_install_sql(self) -> list[str]:
        """Settings for writing weights (run before the install transaction)."""
        return []

    def after_install_sql(self) -> list[str]:
        """Statements run after the install transaction committed (e.g. writing it out compactly)."""
        return []

    # -- session tables (each session is a fresh connection, so plain CREATE suffices) ---------

    def temp_table_def(self, name: str, columns: list[tuple[str, str]], key: list[str] | None = None) -> str:
        """A session table; `key` is a primary key for databases that profit from one."""
        return f"CREATE TEMP TABLE {name} ({self.column_list(columns)})"

    def temp_table_as(self, name: str, select: str) -> str:
        """A session table holding the rows of `select`."""
        return f"CREATE TEMP TABLE {name} AS\n{select}"

    def temp_view(self, name: str, select: str) -> str:
        """A session's view, recomputed by each query that reads it."""
        return f"CREATE TEMP VIEW {name} AS {select}"

    def temp_table_names_sql(self) -> str:
        """A query of the names of the session's tables, in order."""
        raise NotImplementedError

    def load_tokens_sql(self, table: str) -> str:
        """An INSERT of new tokens (pos, token) into `table`, whose parameters are
        `token_params`: the first new position and the ids."""
        raise NotImplementedError

    def load_rows_sql(self, table: str, n_columns: int) -> str:
        """An INSERT of rows of integers into `table`, whose parameters are one integer
        array per column."""
        raise NotImplementedError

    def empty_table(self, name: str) -> str:
        """A statement deleting every row of the session table `name`."""
        return f"DELETE FROM {name}"

    def prepare_sql(self, name: str, sql: str) -> str:
        """A statement preparing `sql` (whose one parameter is a position) as `name`."""
        return f"PREPARE {name} AS {sql}"

    def execute_prepared_sql(self, name: str, position: int) -> str:
        """A statement running the prepared statement `name` with `position`."""
        # The argument is an int we computed, so formatting it in cannot inject anything.
        return f"EXECUTE {name}({int(position)})"

    # -- the standalone script (script.py) -----------------------------------------------------
    # A database whose `run_hint` is None has no standalone script; the hooks below are
    # what the script needs from the others.

    run_hint: str | None = None  # the shell command that runs a script; DATABASE: the user's database
    run_database = "DATABASE holds the model"  # what the header says DATABASE is
    install_options: tuple[str, ...] = ("-d", "DATABASE")  # `sqlgpt next`'s options installing the model there
    text_type = "VARCHAR"
    double_type = "DOUBLE"
    chr_function = "chr"
    script_differences: tuple[str, ...] = ()  # where this database's script can differ from sqlgpt's text
    script_key = " PRIMARY KEY"  # marks a script table's key column (none where tables have no keys)
    # The characters a prompt's literal writes as `char` calls: control characters other than
    # newline and tab (a regex class's inside; see `literal`).
    literal_escapes = r"\x01-\x08\x0b-\x1f\x7f"

    def script_table(self, name: str, columns: str) -> str:
        """A statement creating the script's session table `name` with `columns` (definitions)."""
        return f"CREATE TEMP TABLE {name} ({columns})"

    def script_table_as(self, name: str) -> str:
        """The start of a statement creating the script's session table `name` from the query
        written after it."""
        return f"CREATE TEMP TABLE {name} AS"

    def script_index(self, name: str, table: str, column: str) -> list[str]:
        """Statements indexing the script's table `table` by `column` (none without indexes)."""
        return [f"CREATE INDEX {name} ON {table} ({column})"]

    # Where a database runs a recursive CTE badly, these write the script's three recursions
    # another way; None: the plan's recursive CTE (plan/text.py).

    def script_numbers(self, top: str) -> str | None:
        """A query of the numbers i = 1, 2, ... up to `top`'s one value k."""
        return None

    def script_bpe(self) -> tuple[str, str] | None:
        """(comment, query of pos, token): the byte pair encoding of pieces(piece, hex), each
        pre-token's parts merged, lowest merge rank first (the leftmost of equals), until no
        adjacent pair is a token."""
        return None

    def script_walk(self) -> tuple[str, str] | None:
        """(the decoder's last CTE, its final query): the text of chars(o, width, piece), the
        pieces a walk from o = 1 reaches, each `width` after the last, in order."""
        return None

    def script_set(self, table: str, column: str, value: str) -> str:
        """A statement setting `column` of the one row of the script's table `table` to `value`."""
        return f"UPDATE {table} SET {column} = {value}"

    def find(self, haystack: str, needle: str) -> str:
        """1-based position of `needle` in `haystack`, 0 if absent."""
        return f"instr({haystack}, {needle})"

    def half(self, n: str) -> str:
        """The integer `n` halved, rounding down (a hex string's length in bytes)."""
        return f"({n}) / 2"

    def ones(self, n: str) -> str:
        """A string of `n` '1' characters."""
        return f"repeat('1', {n})"

    def utf8_hex(self, text: str) -> str:
        """The UTF-8 bytes of `text` as lowercase hex."""
        return f"lower(hex({text}))"

    def as_float32(self, expr: str) -> str:
        """`expr` rounded to float32, as sqlgpt holds logits."""
        return f"CAST({expr} AS FLOAT)"

    def char(self, code: str) -> str:
        """The character with code point `code`."""
        return f"{self.chr_function}(CAST({code} AS INTEGER))"

    def script_preamble(self) -> list[str]:
        """Lines at the top of the script: the shell's and session's settings."""
        return []

    def script_before_output(self) -> list[str]:
        """Lines before the script's final SELECT, so that the shell prints just the text."""
        return []

    def script_after_output(self) -> list[str]:
        """Lines after the script's final SELECT: cleaning up what a session does not."""
        return []

    def script_workspace(self) -> list[tuple[str, str]]:
        """(comment, statement) pairs run after the model check, giving the script's tables a
        place of their own (none where a session's temporary tables are its own)."""
        return []

    def model_check(self, condition: str, message: str) -> list[str]:
        """Statements that stop the script with `message` unless `condition` (a query
        counting rows, 1 when the model is installed) holds."""
        raise NotImplementedError

    def class_tables(self) -> list[tuple[str, str]]:
        """(comment, statement) pairs making the tables the pre-tokenizer needs beside the
        prompt (none where the regex has its classes inline)."""
        return []

    def pieces(self) -> tuple[str, str]:
        """(comment, statement): INSERT INTO pieces (piece, hex) the prompt's pre-tokens in
        order, as hex bytes; the comment says how this database matches GPT-2's pattern."""
        raise NotImplementedError

    def reusable(self, name: str, sql: str, target: str | None, query: str | None) -> tuple[str | None, str]:
        """(SQL to run once or None, SQL to run at each token) for a statement `sql` of every
        token, which inserts the rows of `query` into `target` if those are not None.

        An INSERT's query becomes a view that each token inserts from, planned afresh each
        time; other statements are written out at each token. (SQLite's SQL has no PREPARE,
        and DuckDB 1.5 plans a prepared statement whose position is a subquery with the
        statistics of its tables then, empty: the positions it writes are garbage.)"""
        if target is None:
            return None, sql
        return f"CREATE TEMP VIEW {name} AS\n{query}", f"INSERT INTO {target} SELECT * FROM {name}"

    def values_sql(self, table: str, rows: list[str], per_insert: int = 500) -> list[str]:
        """INSERTs of `rows` (each a parenthesised tuple) into `table`, `per_insert` at a time."""
        return [f"INSERT INTO {table} VALUES\n" + ",\n".join(rows[i : i + per_insert])
                for i in range(0, len(rows), per_insert)]

    def literal(self, text: str) -> str:
        """`text` as a SQL string expression: single quotes doubled, the characters of
        `literal_escapes` as `char` calls (see script.py's docstring); NUL is refused."""
        if "\0" in text:
            raise SqlgptError("the prompt contains a NUL character, which no database's text can hold")
        parts = []
        # Split at the characters to escape: the odd parts are they, the even parts the text between.
        for i, part in enumerate(re.split(f"([{self.literal_escapes}])", text)):
            if i % 2:
                parts.append(self.char(str(ord(part))))
            elif part:
                parts.append("'" + part.replace("'", "''") + "'")
        joined = " || ".join(parts) or "''"
        return f"CAST({joined} AS {self.text_type})"
