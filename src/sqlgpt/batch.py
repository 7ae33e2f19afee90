"""Scoring every row of a table in the database that holds it, into a result table there.

`score_table` reads each row's key and text, scores the text exactly as `GPT.score` does
(same windows for long texts, loss in nats per token), and writes one result row per input
row — key, tokens, loss, perplexity — into a new table of the same database, in one
transaction: the result table appears whole or not at all.

Where the work happens: the forward passes, the KV cache, the logits and the loss all stay
in the database (SQL engines compute the loss in SQL and return one number per window).
The text itself is read by this process to be tokenized, because the tokenizer is Python;
with DuckDB or SQLite that is the same process as the database. Rows are scored one after
another, not batched into one pass.

Table and column names cannot be bound parameters, so they must be plain identifiers
(letters, digits, underscores; `schema.table` for a table) — anything else is refused before
it could reach SQL text. The texts themselves are only ever values read from the database.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import TYPE_CHECKING, Any

from .errors import SqlgptError, first_line
from .progress import progress_bar

if TYPE_CHECKING:
    from .gpt import GPT

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclasses.dataclass(frozen=True)
class TableScore:
    """What `score_table` wrote: the result table, and the loss over all its tokens."""

    table: str  # the result table: (key, tokens, loss, perplexity)
    rows: int  # rows scored (rows whose text is NULL or empty get NULL loss)
    n_tokens: int  # tokens predicted, over all rows
    loss: float  # total nats ÷ n_tokens (NaN if nothing was scored)

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss) if self.n_tokens else math.nan


def identifier(name: str, what: str, dotted: bool = False) -> str:
    """`name` if it is a plain SQL identifier (or schema.name when `dotted`); else an error."""
    parts = name.split(".") if isinstance(name, str) else [None]
    if not (1 <= len(parts) <= (2 if dotted else 1)) or not all(isinstance(p, str) and _IDENTIFIER.fullmatch(p) for p in parts):
        raise SqlgptError(f"{what} must be a plain identifier (letters, digits and _{', or schema.table' if dotted else ''}), "
                          f"got {name!r}")
    return name


def score_table(gpt: "GPT", table: str, column: str, *, key: str | None = None, into: str = "sqlgpt_scores",
                replace: bool = False, progress: bool = False) -> TableScore:
    """Score `column` of every row of `table` into the new table `into`. See `GPT.score_table`."""
    engine = gpt.engine
    dialect = getattr(engine, "dialect", None)
    if dialect is None:
        raise SqlgptError(f"scoring a table needs a SQL engine; the {engine.name} engine has no tables")
    table, column, into = identifier(table, "table", True), identifier(column, "column"), identifier(into, "result table", True)
    key = column if key is None else identifier(key, "key column")
    if into.lower() == table.lower():
        raise SqlgptError("the result table must not be the table being scored")
    conn = engine.writable_connection()  # the result is written where the data is
    if _exists(conn, dialect, table) is False:
        raise SqlgptError(f"no table {table} in {engine.database}")
    if _exists(conn, dialect, into) and not replace:
        raise SqlgptError(f"table {into} already exists in {engine.database}; choose another name or replace it")
    rows = _read(conn, dialect, f"SELECT {key}, {column} FROM {table}", f"read {column} from {table}")

    results: list[tuple[Any, int | None, float | None, float | None]] = []
    total, tokens = 0.0, 0
    bar = progress_bar(len(rows), f"scoring {table}", progress, unit="row")
    session = engine.session()  # one for all rows: reset per text, prepared once
    for row_key, text in rows:
        if text is not None and not isinstance(text, str):
            raise SqlgptError(f"column {column} of {table} holds {type(text).__name__} values, not text")
        if text:
            score = gpt.score_on(session, text)
            results.append((row_key, score.n_tokens, score.loss, score.perplexity))
            total += score.loss * score.n_tokens
            tokens += score.n_tokens
        else:  # nothing to predict
            results.append((row_key, None if text is None else 0, None, None))
        bar.update(1)
    bar.close()
    session.close()
    _write(conn, dialect, into, key, table, results, replace)
    return TableScore(table=into, rows=len(results), n_tokens=tokens, loss=total / tokens if tokens else math.nan)


def _exists(conn: Any, dialect: Any, name: str) -> bool:
    schema, _, table = name.rpartition(".")
    return dialect.table_exists(conn, schema or None, table)


def _read(conn: Any, dialect: Any, sql: str, what: str) -> list[tuple]:
    try:
        return conn.execute(sql).fetchall()
    except dialect.errors() as e:
        raise SqlgptError(f"cannot {what}: {first_line(e)}") from None


def _write(conn: Any, dialect: Any, into: str, key: str, source: str, results: list[tuple], replace: bool) -> None:
    """The result table, whole, in one transaction: (key, tokens, loss, perplexity)."""
    placeholders = ", ".join([dialect.placeholder] * 4)
    dialect.begin(conn)
    try:
        if replace:
            conn.execute(f"DROP TABLE IF EXISTS {into}")
        # The key keeps its type from the source table; an empty select gives the columns.
        conn.execute(f"CREATE TABLE {into} AS SELECT {key}, CAST(NULL AS INTEGER) AS tokens, "
                     f"CAST(NULL AS DOUBLE PRECISION) AS loss, CAST(NULL AS DOUBLE PRECISION) AS perplexity "
                     f"FROM {source} WHERE 1 = 0")
        if results:  # psycopg runs executemany on a cursor of the connection (same transaction)
            (conn.executemany if hasattr(conn, "executemany") else conn.cursor().executemany)(f"INSERT INTO {into} VALUES ({placeholders})", results)
        dialect.commit(conn)
    except dialect.errors() as e:
        dialect.rollback(conn)
        raise SqlgptError(f"cannot write {into}: {first_line(e)}") from None
    except BaseException:
        dialect.rollback(conn)
        raise
