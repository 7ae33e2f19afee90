"""Working through every row of a table in the database that holds it, into a result table there.

`score_table` reads each row's key and text, scores the text exactly as `GPT.score` does
(same windows for long texts, loss in nats per token), and writes one result row per input
row — key, tokens, loss, perplexity. `next_table` writes each row's k most likely next
tokens — key, rank, token, piece, probability — for the last context window of its text.
Either result table is written in one transaction: it appears whole or not at all.

Where the work happens: the forward passes, the KV cache, the logits, the loss and the
softmax + ranking all stay in the database (SQL engines return one number per window, or k
rows per text).
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
    job = _TableJob(gpt, table, column, key, into, replace)
    total, tokens = 0.0, 0

    def score(session: Any, text: str | None) -> list[tuple]:
        nonlocal total, tokens
        if not text:  # nothing to predict
            return [(None if text is None else 0, None, None)]
        result = gpt.score_on(session, text)
        total += result.loss * result.n_tokens
        tokens += result.n_tokens
        return [(result.n_tokens, result.loss, result.perplexity)]

    columns = "CAST(NULL AS INTEGER) AS tokens, CAST(NULL AS DOUBLE PRECISION) AS loss, " \
              "CAST(NULL AS DOUBLE PRECISION) AS perplexity"
    rows = job.run(score, columns, progress, "scoring")
    return TableScore(table=job.into, rows=rows, n_tokens=tokens, loss=total / tokens if tokens else math.nan)


def next_table(gpt: "GPT", table: str, column: str, *, k: int = 5, key: str | None = None,
               into: str = "sqlgpt_next", replace: bool = False, progress: bool = False) -> str:
    """The k most likely next tokens after the text of every row, into the new table `into`
    as (key, rank, token, piece, probability). See `GPT.next_table`."""
    if not (isinstance(k, int) and k >= 1):
        raise SqlgptError(f"k must be an integer >= 1, got {k!r}")
    job = _TableJob(gpt, table, column, key, into, replace)
    vocab, window = gpt.tokenizer.vocab_size, gpt.config.block_size

    def top(session: Any, text: str | None) -> list[tuple]:
        if text is None:
            return []
        ids = gpt.tokenizer.encode(text)[-window:] or [gpt._eot_id()]  # the latest context that fits
        session.reset()
        ranked = session.forward_top(ids, min(k, vocab), vocab)
        return [(rank, token, gpt.tokenizer.decode([token]), p) for rank, (token, p) in enumerate(ranked, 1)]

    columns = "CAST(NULL AS INTEGER) AS rank, CAST(NULL AS INTEGER) AS token, CAST(NULL AS VARCHAR) AS piece, " \
              "CAST(NULL AS DOUBLE PRECISION) AS probability"
    job.run(top, columns, progress, "next tokens of")
    return job.into


class _TableJob:
    """Reading a table's rows, one session working through them, and the result table
    written whole in one transaction."""

    def __init__(self, gpt: "GPT", table: str, column: str, key: str | None, into: str, replace: bool) -> None:
        engine = gpt.engine
        self.dialect = getattr(engine, "dialect", None)
        if self.dialect is None:
            raise SqlgptError(f"working on a table needs a SQL engine; the {engine.name} engine has no tables")
        self.engine = engine
        self.table, self.column = identifier(table, "table", True), identifier(column, "column")
        self.into = identifier(into, "result table", True)
        self.key = column if key is None else identifier(key, "key column")
        self.replace = replace
        if self.into.lower() == self.table.lower():
            raise SqlgptError("the result table must not be the table being read")
        self.conn = engine.writable_connection()  # the result is written where the data is
        if not _exists(self.conn, self.dialect, self.table):
            raise SqlgptError(f"no table {self.table} in {engine.database}")
        if _exists(self.conn, self.dialect, self.into) and not replace:
            raise SqlgptError(f"table {self.into} already exists in {engine.database}; choose another name or replace it")

    def run(self, work: Any, result_columns: str, progress: bool, verb: str) -> int:
        """`work(session, text)` gives each row's result rows (without the key); returns the
        number of rows read."""
        rows = _read(self.conn, self.dialect, f"SELECT {self.key}, {self.column} FROM {self.table}",
                     f"read {self.column} from {self.table}")
        results: list[tuple] = []
        bar = progress_bar(len(rows), f"{verb} {self.table}", progress, unit="row")
        with self.engine.session() as session:  # one for all rows: reset per text, prepared once
            for row_key, text in rows:
                if text is not None and not isinstance(text, str):
                    raise SqlgptError(f"column {self.column} of {self.table} holds {type(text).__name__} values, not text")
                results += [(row_key, *values) for values in work(session, text)]
                bar.update(1)
        bar.close()
        _write(self.conn, self.dialect, self.into, f"SELECT {self.key}, {result_columns} FROM {self.table} WHERE 1 = 0",
               results, self.replace)
        return len(rows)


def _exists(conn: Any, dialect: Any, name: str) -> bool:
    schema, _, table = name.rpartition(".")
    return dialect.table_exists(conn, schema or None, table)


def _read(conn: Any, dialect: Any, sql: str, what: str) -> list[tuple]:
    try:
        return conn.execute(sql).fetchall()
    except dialect.errors() as e:
        raise SqlgptError(f"cannot {what}: {first_line(e)}") from None


def _write(conn: Any, dialect: Any, into: str, empty_select: str, results: list[tuple], replace: bool) -> None:
    """The result table, whole, in one transaction; `empty_select` gives its columns (the
    key keeps its type from the source table)."""
    placeholders = ", ".join([dialect.placeholder] * len(results[0])) if results else ""
    dialect.begin(conn)
    try:
        if replace:
            conn.execute(f"DROP TABLE IF EXISTS {into}")
        conn.execute(f"CREATE TABLE {into} AS {empty_select}")
        if results:  # psycopg runs executemany on a cursor of the connection (same transaction)
            (conn.executemany if hasattr(conn, "executemany") else conn.cursor().executemany)(
                f"INSERT INTO {into} VALUES ({placeholders})", results)
        dialect.commit(conn)
    except dialect.errors() as e:
        dialect.rollback(conn)
        raise SqlgptError(f"cannot write {into}: {first_line(e)}") from None
    except BaseException:
        dialect.rollback(conn)
        raise
