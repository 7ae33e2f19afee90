"""DuckDB's SQL: float32 vectors as `FLOAT[]` lists, `list_dot_product`, lambdas; its shell's script.

Measured on this project's 2-core machine (see SQL-ENGINES.md and the README): one row per
output unit with a `FLOAT[]` list and `list_dot_product` is the fastest matrix-vector
product DuckDB offers; fixed-size `FLOAT[N]` arrays and relational (i, j, v) joins are slower.
Lambdas capture only scalars (capturing lists makes them quadratic), and aggregates over a
list are computed before the lambda that uses them, in their own subquery.

SQL text only: connecting, Arrow bulk loads and the file's storage version are
`drivers/duckdb.py`'s.
"""

from __future__ import annotations

from collections.abc import Callable

from .base import Dialect
from .pretokenize import class_body, gpt2_pattern, unicode_classes


class DuckDBDialect(Dialect):
    name = "duckdb"
    # A join's output carries a copy of a list per row: joining the residual to a 256-token
    # prompt's 196,608 units took 90 ms a projection at GPT-2 small's shape, 2 s a prompt.
    residual_per_unit = True

    def __init__(self, vector_kernel: bool | None = None) -> None:
        """vector_kernel: True requires sqlgpt's vdot kernel (`../kernel.py`), False never uses
        it, None (default) uses it where it builds and loads. The driver settles which when it
        first connects, in `self.kernel`; until then, and in the standalone script, whose shell
        has no kernel, dot products are list_dot_product."""
        self.wanted = vector_kernel
        self.kernel = False

    # -- vector primitives ---------------------------------------------------------------------

    def dot(self, a: str, b: str) -> str:
        # vdot: the same products in 32 running sums (csrc/vdot.c), equal within float32 rounding.
        return f"vdot({a}, {b})" if self.kernel else f"list_dot_product({a}, {b})"

    def header_notes(self) -> list[str]:
        if self.kernel:
            return ["dot products: vdot, sqlgpt's vector kernel (C, loaded on sqlgpt's own connections only; "
                    "list_dot_product computes the same, more slowly)"]
        return ["dot products: DuckDB's list_dot_product (sqlgpt's vdot kernel is off)"]

    def collect(self, expr: str, order_by: str) -> str:
        return f"list({expr} ORDER BY {order_by})"

    def to_float(self, expr: str) -> str:
        return f"CAST({expr} AS FLOAT)"

    def collect_plus(self, expr: str, index: str, vector: str) -> str:
        # Adding element by element while gathering is cheap; a lambda over lists is not.
        return self.collect(f"{expr} + {vector}[{index} + 1]", index)

    def int_div(self, a: str, b: int) -> str:
        return f"{a} // {b}"

    def mod(self, a: str, b: int) -> str:
        return f"{a} % {b}"

    def as_vector(self, expr: str) -> str:
        return expr

    def empty_growing_vector(self) -> str:
        return "CAST([] AS FLOAT[])"

    def sub_vector(self, vector: str, start: str, length: int | str) -> str:
        return f"{vector}[{start} + 1:{start} + {length}]"  # a slice counts from 1, both ends included

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

    def range_rows(self, n: int, column: str, alias: str = "r") -> str:
        return f"range({n}) {alias}({column})"

    # -- session tables ------------------------------------------------------------------------

    def param(self, n: int) -> str:
        return f"${n}"

    def load_tokens_sql(self, table: str) -> str:
        # Parameters: the first new position, then the token ids as one INTEGER[] list.
        return (f"INSERT INTO {table} SELECT CAST($1 AS INTEGER) + CAST(i AS INTEGER) - 1, t "
                f"FROM (SELECT unnest(CAST($2 AS INTEGER[])) AS t, generate_subscripts(CAST($2 AS INTEGER[]), 1) AS i)")

    def load_rows_sql(self, table: str, n_columns: int) -> str:
        # unnest of several lists in one SELECT zips them, row by row.
        return f"INSERT INTO {table} SELECT " + ", ".join(f"unnest(CAST(${i + 1} AS INTEGER[]))" for i in range(n_columns))

    def append_values(self, table: str, cache: str, new: str, head_size: int) -> str:
        """Append to each channel row c of `table` element c % head_size of the value vectors
        (hd, pos, vec) of `cache` meeting condition `new`, for head c // head_size, by position."""
        rows = f"SELECT hd, list(vec ORDER BY pos) AS rows FROM {cache} WHERE {new} GROUP BY hd"
        return (f"UPDATE {table} SET vals = list_concat(vals, "
                f"list_transform(n.rows, lambda r: r[{table}.c % {head_size} + 1])) "
                f"FROM ({rows}) n WHERE n.hd = {table}.c // {head_size}")

    def temp_table_names_sql(self) -> str:
        return "SELECT table_name FROM duckdb_tables() WHERE temporary ORDER BY table_name"

    # -- sqlgpt's vector kernel (run by the driver) ---------------------------------------------

    # The DuckDB version and platform the kernel is built for (`../kernel.py`).
    kernel_target_sql = "SELECT v.library_version, p.platform FROM pragma_version() v, pragma_platform() p"
    kernel_check_sql = "SELECT vdot([1, 2, 3]::FLOAT[], [4, 5, 6]::FLOAT[])"  # 32 where it loaded

    def load_extension_sql(self, path: str) -> str:
        """Load the extension file at `path` (a connection opened with allow_unsigned_extensions)."""
        quoted = path.replace("'", "''")
        return f"LOAD '{quoted}'"

    # -- installs ------------------------------------------------------------------------------

    def before_install_sql(self) -> list[str]:
        # Compressed float columns (ALP) scan about 2x slower, and every token scans them all.
        return ["SET force_compression = 'uncompressed'", "SET memory_limit = '300MB'"]

    def after_install_sql(self) -> list[str]:
        return ["CHECKPOINT", "RESET memory_limit"]  # write the weights into the file now, uncompressed

    # -- the standalone script -----------------------------------------------------------------

    run_hint = "duckdb -bail -list -noheader DATABASE < script.sql"
    script_differences = ("Dot products are DuckDB's list_dot_product, one running sum, where sqlgpt loads its vdot "
                          "kernel, 32 sums: logits can differ in float32's last bits, and so a greedy pick at a "
                          "near-tie.",)

    def half(self, n: str) -> str:
        return f"({n}) // 2"  # `/` divides as floats in DuckDB

    def model_check(self, condition: str, message: str) -> list[str]:
        # CREATE ... AS prints nothing in the shell, where a bare SELECT would print a row.
        return [(f"CREATE TEMP TABLE model_check AS SELECT CASE WHEN ({condition}) = 1 THEN 1 "
                 f"ELSE error('{message}') END AS ok")]

    def pieces(self) -> tuple[str, str]:
        def escape(c: int) -> str:
            return f"\\x{{{c:x}}}"

        space = class_body(unicode_classes()["S"], escape)
        pattern = gpt2_pattern(escape, lookahead=False).replace("'", "''")
        return ("""DuckDB's RE2 has no lookahead, which GPT-2's `\\s+(?!\\S)` needs: a run of white
space before a non-space leaves its last character to the next pre-token. Emulated exactly:
cut the text into chunks (white space, then non-space), cut each chunk's leading white space
before its last character, and split the rest with the pattern, whose `\\s+(?!\\S)|\\s+` is `\\s+`.""", f"""INSERT INTO pieces
WITH
  chunks AS (SELECT u.ci, u.c, length(regexp_extract(u.c, '^[{space}]*')) AS k
             FROM prompt p, unnest(regexp_extract_all(p.txt, '[{space}]*[^{space}]+|[{space}]+')) WITH ORDINALITY AS u(c, ci)),
  cut AS (SELECT ci, c, CASE WHEN k = length(c) THEN 0 ELSE greatest(k - 1, 0) END AS k FROM chunks),
  split AS (SELECT ci, 0 AS pi, left(c, k) AS piece FROM cut WHERE k > 0
            UNION ALL
            SELECT ci, u.pi, u.piece FROM cut, unnest(regexp_extract_all(substr(c, k + 1), '{pattern}')) WITH ORDINALITY AS u(piece, pi))
SELECT row_number() OVER (ORDER BY ci, pi), {self.utf8_hex('piece')} FROM split""")
