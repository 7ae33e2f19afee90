"""PostgreSQL's SQL: vectors as pgvector's `vector` and `inner_product`, or plain `real[]`; psql's script.

pgvector's `inner_product` is the matrix-vector workhorse. Where the server has no
pgvector, the same tables hold plain `real[]` arrays and a dot product is an `unnest` +
`sum` (~100× slower, but it runs on any PostgreSQL, 15 included); element-wise work on
single vectors goes through `unnest ... WITH ORDINALITY`, and the values' transposed rows
grow as `real[]` (a pgvector vector cannot be empty). Which of the two is `self.pgvector`,
settled by the driver when it connects. `%` never appears in generated SQL (psycopg reads
it as a parameter).

SQL text only: connecting, settling pgvector, binary COPY and the private server are
`drivers/postgres.py`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Dialect
from .pretokenize import gpt2_pattern

INSTALL_LOCK = 0x5347_5054  # "SGPT": the advisory lock key that installs queue on


class PostgresDialect(Dialect):
    name = "postgres"
    float_type = "real"
    placeholder = "%s"
    # Without these, the planner inlines a layer norm's statistics into the cross join with
    # the weights and recomputes them for every weight row (0.5 s instead of 15 ms).
    materialized = "MATERIALIZED "
    pgvector_sql = "CREATE EXTENSION IF NOT EXISTS vector"  # fails where the server lacks pgvector
    # A session's planner settings. Without a Materialize node PostgreSQL reads a weight table's
    # rows where it would copy them all into a tuplestore first: it takes a step's one new
    # position for the 200 rows it guesses for a CTE, and the copy of an MLP projection spills
    # to disk (SmolLM2-135M's shape, decode 0.95 -> 0.63 s a token; GPT-2 small's prefill of
    # 64 tokens 15.4 -> 10.6 s, its decode unchanged; docs/measurements.md).
    session_sql = ("SET enable_material = off",)

    def install_lock_sql(self) -> list[str]:
        # Two installs creating the same schema's tables at once collide in the system
        # catalogues; an advisory lock held to the transaction's end puts them in a queue.
        return [f"SELECT pg_advisory_xact_lock({INSTALL_LOCK})"]

    def __init__(self, pgvector: bool | None = None) -> None:
        """pgvector: True requires it, False never uses it, None (default) uses it where the
        server has it. The driver settles which when it connects, in `self.pgvector`."""
        self.wanted = pgvector
        self.pgvector = pgvector is not False

    @property
    def vector_type(self) -> str:  # type: ignore[override]
        return "vector" if self.pgvector else "real[]"

    @property
    def layout_variant(self) -> int:  # type: ignore[override]
        # Other column types: an install of one is not the other's. (2 and 3 since weight
        # vectors are kept in the row where they fit: installs made before are redone.)
        return 2 if self.pgvector else 3

    def fence(self, subquery: str) -> str:
        return f"({subquery} OFFSET 0)"

    # -- vector primitives ---------------------------------------------------------------------

    def dot(self, a: str, b: str) -> str:
        if self.pgvector:
            return f"inner_product({a}, {b})"
        return f"(SELECT sum(CAST(u.a AS double precision) * u.b) FROM unnest({a}, {b}) AS u(a, b))"

    def collect(self, expr: str, order_by: str) -> str:
        return f"CAST(array_agg(CAST({expr} AS real) ORDER BY {order_by}) AS {self.vector_type})"

    def collect_plus(self, expr: str, index: str, vector: str) -> str:
        if self.pgvector:  # pgvector adds element-wise; the residual is one vector per group (any_value: PG 16+)
            return f"({self.collect(expr, index)} + any_value({vector}))"
        return self.collect(f"{expr} + ({vector})[{index} + 1]", index)

    def to_float(self, expr: str) -> str:
        return f"CAST({expr} AS real)"

    def int_div(self, a: str, b: int) -> str:
        return f"({a}) / {b}"  # integer operands: integer division

    def mod(self, a: str, b: int) -> str:
        return f"mod({a}, {b})"

    def as_vector(self, expr: str) -> str:
        return f"CAST({expr} AS {self.vector_type})"

    def empty_growing_vector(self) -> str:
        return "CAST(ARRAY[] AS real[])"

    def sub_vector(self, vector: str, start: str, length: int | str) -> str:
        return f"(CAST({vector} AS real[]))[{start} + 1:{start} + {length}]"  # an array slice, both ends included

    def map_vectors(self, vectors: list[str], fn: Callable[..., str]) -> str:
        names = [f"a{i}" for i in range(len(vectors))]
        arrays = ", ".join(f"CAST({v} AS real[])" for v in vectors)
        body = fn(*(f"u.{n}" for n in names))
        return (f"(SELECT CAST(array_agg(CAST({body} AS real) ORDER BY u.i) AS {self.vector_type}) "
                f"FROM unnest({arrays}) WITH ORDINALITY AS u({', '.join(names)}, i))")

    def vector_mean(self, vector: str) -> str:
        return f"(SELECT avg(v) FROM unnest(CAST({vector} AS real[])) AS v)"

    def vector_var(self, vector: str) -> str:
        return f"(SELECT var_pop(v) FROM unnest(CAST({vector} AS real[])) AS v)"

    def range_rows(self, n: int, column: str, alias: str = "r") -> str:
        return f"generate_series(0, {n - 1}) AS {alias}({column})"

    def param(self, n: int) -> str:
        return f"%(p{n})s"

    def position_params(self, position: int) -> Any:
        return {"p1": position}

    # -- session tables ------------------------------------------------------------------------

    def load_tokens_sql(self, table: str) -> str:
        return (f"INSERT INTO {table} SELECT CAST(%s AS integer) + CAST(u.i AS integer) - 1, u.t "
                f"FROM unnest(CAST(%s AS integer[])) WITH ORDINALITY AS u(t, i)")

    def element(self, vector: str, index: str) -> str:
        return f"(CAST({vector} AS real[]))[{index} + 1]"

    def load_rows_sql(self, table: str, n_columns: int) -> str:
        return f"INSERT INTO {table} SELECT * FROM unnest(" + ", ".join(["CAST(%s AS integer[])"] * n_columns) + ")"

    def temp_table_def(self, name: str, columns: list[tuple[str, str]], key: list[str] | None = None) -> str:
        # Vectors stay in the row, not out of line (TOAST): a step reads them for every weight row.
        plain = "".join(f"; {self.storage_sql(name, c, 'PLAIN')}" for c, kind in columns if kind == "vector")
        return super().temp_table_def(name, columns, key) + plain

    def append_values(self, table: str, cache: str, new: str, head_size: int) -> str:
        new = (f"SELECT r.c, array_agg({self.element('k.vec', self.mod('r.c', head_size))} ORDER BY k.pos) AS vals "
               f"FROM {table} r JOIN (SELECT * FROM {cache} WHERE {new}) k ON k.hd = r.c / {head_size} GROUP BY r.c")
        return f"UPDATE {table} SET vals = {table}.vals || n.vals FROM ({new}) n WHERE n.c = {table}.c"

    def temp_table_names_sql(self) -> str:
        return "SELECT tablename FROM pg_tables WHERE schemaname = pg_my_temp_schema()::regnamespace::text ORDER BY 1"

    # -- weight tables (what the driver's binary COPY runs) ------------------------------------

    def storage_sql(self, table: str, column: str, storage: str) -> str:
        """A statement setting how `column` of `table` is stored: 'PLAIN' (in the row) or
        'EXTERNAL' (out of line, uncompressed)."""
        return f"ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE {storage}"

    def copy_binary_sql(self, table: str, columns: list[str]) -> str:
        """A COPY of rows in PostgreSQL's binary format from the client into `table`'s `columns`."""
        return f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"

    def index_sql(self, table: str, column: str) -> str:
        """A statement indexing `table` by `column`."""
        return f"CREATE INDEX ON {table} ({column})"

    def analyze_sql(self, table: str) -> str:
        """A statement gathering the planner's statistics of `table`."""
        return f"ANALYZE {table}"

    # -- the standalone script -----------------------------------------------------------------

    run_hint = "psql -X -f script.sql DATABASE"
    text_type = "text"
    double_type = "double precision"

    def find(self, haystack: str, needle: str) -> str:
        return f"strpos({haystack}, {needle})"

    def utf8_hex(self, text: str) -> str:
        return f"encode(convert_to({text}, 'UTF8'), 'hex')"

    def as_float32(self, expr: str) -> str:
        return f"CAST({expr} AS real)"

    def script_preamble(self) -> list[str]:
        return ["\\set ON_ERROR_STOP on", "\\set QUIET on",
                "SET client_encoding = 'UTF8';  -- this file is UTF-8",
                "SET standard_conforming_strings = on;  -- a backslash in a string is just a backslash"]

    def script_before_output(self) -> list[str]:
        return ["\\pset format unaligned", "\\pset tuples_only on"]

    def model_check(self, condition: str, message: str) -> list[str]:
        return [f"DO $check$ BEGIN IF ({condition}) <> 1 THEN RAISE EXCEPTION '{message}'; END IF; END $check$"]

    def pieces(self) -> tuple[str, str]:
        def escape(c: int) -> str:
            return f"\\u{c:04x}" if c <= 0xFFFF else f"\\U{c:08x}"

        pattern = gpt2_pattern(escape, lookahead=True).replace("'", "''")
        return (
            """PostgreSQL's regex has GPT-2's lookahead, but takes the longest of the alternatives that match
where GPT-2's takes the first: a final `\\s+` would swallow the run that `\\s+(?!\\S)` ends early,
so it is `\\s` here, the same wherever GPT-2's pattern gets to it.""",
            (f"INSERT INTO pieces\nSELECT u.i, {self.utf8_hex('u.m[1]')} "
             f"FROM prompt p, regexp_matches(p.txt, '{pattern}', 'g') WITH ORDINALITY AS u(m, i)"))

    def reusable(self, name: str, sql: str, target: str | None, query: str | None) -> tuple[str | None, str]:
        return f"PREPARE {name} AS\n{sql}", f"EXECUTE {name}"  # planned once, as the engine does
