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
with DuckDB or SQLite that is the same process as the database. Many rows go through one
batched pass (`Engine.nll_many`, `Engine.top_many`: on DuckDB, PostgreSQL and Spark one
step's statements for up to `batch_tokens` tokens; SQLite goes window by window).

Table and column names cannot be bound parameters, so they must be plain identifiers
(letters, digits, underscores; `schema.table` for a table) — anything else is refused before
it could reach SQL text. The texts themselves are only ever values read from the database.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from .config import GPTConfig
from .engines.base import Engine
from .errors import SqlgptError
from .progress import progress_bar
from .tokenizer import Tokenizer
from .windows import score_windows

T = TypeVar("T")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Model(Protocol):
    """What the table functions use of a model: `GPT` is one (named here, not imported, since
    gpt.py imports this module)."""

    engine: Engine
    config: GPTConfig
    tokenizer: Tokenizer

    def score_ids(self, text: str) -> list[int]: ...

    def score_of(self, text: str, n_tokens: int, nll: float) -> Any: ...  # a `Score`

    def start_id(self) -> int: ...

    def prompt_ids(self, prompt: str) -> list[int]: ...


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


def score_table(gpt: Model, table: str, column: str, *, key: str | None = None, into: str = "sqlgpt_scores",
                replace: bool = False, progress: bool = False) -> TableScore:
    """Score `column` of every row of `table` into the new table `into`. See `GPT.score_table`."""
    job = _TableJob(gpt, table, column, key, into, replace)
    rows = job.read()
    # Every row's windows, cut as `GPT.score` cuts them; a row's loss sums its windows'.
    row_ids = [gpt.score_ids(text) if text else [] for _, text in rows]
    windows = [(i, window) for i, ids in enumerate(row_ids) if ids for window in score_windows(ids, gpt.config.block_size)]
    nll = [0.0] * len(rows)
    bar = progress_bar(sum(len(ids) - 1 for ids in row_ids if ids), f"scoring {job.table}", progress)
    for chunk in _chunks(windows, gpt.engine.batch_tokens, lambda item: len(item[1][0])):
        for (i, (ids, first_target)), value in zip(chunk, gpt.engine.nll_many([w for _, w in chunk])):
            nll[i] += value
            bar.update(len(ids) - first_target)
    bar.close()
    results, total, tokens = [], 0.0, 0
    for (row_key, text), ids, row_nll in zip(rows, row_ids, nll):
        if not text:  # nothing to predict
            results.append((row_key, None if text is None else 0, None, None))
            continue
        score = gpt.score_of(text, len(ids) - 1, row_nll)
        results.append((row_key, score.n_tokens, score.loss, score.perplexity))
        total, tokens = total + row_nll, tokens + score.n_tokens
    job.write(results, [("tokens", "int"), ("loss", "double"), ("perplexity", "double")])
    return TableScore(table=job.into, rows=len(rows), n_tokens=tokens, loss=total / tokens if tokens else math.nan)


def _last_window(ids: list[int], window: int, keep_first: bool) -> list[int]:
    """The last `window` of `ids`; with `keep_first`, the first id (a beginning-of-text
    token) stays in front of the last window - 1."""
    if len(ids) <= window:
        return ids
    return ids[:1] + ids[len(ids) - window + 1 :] if keep_first else ids[-window:]


def _chunks(items: list[T], budget: int, tokens: Callable[[T], int]) -> list[list[T]]:
    """`items` cut into runs of at most `budget` tokens in all (one item at least), where an
    item holds `tokens(item)` tokens."""
    chunks: list[list[T]] = []
    size = budget  # start a new chunk at once
    for item in items:
        n = tokens(item)
        if size + n > budget:
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += n
    return chunks


def next_table(gpt: Model, table: str, column: str, *, k: int = 5, key: str | None = None,
               into: str = "sqlgpt_next", replace: bool = False, progress: bool = False) -> str:
    """The k most likely next tokens after the text of every row, into the new table `into`
    as (key, rank, token, piece, probability). See `GPT.next_table`."""
    if not (isinstance(k, int) and k >= 1):
        raise SqlgptError(f"k must be an integer >= 1, got {k!r}")
    job = _TableJob(gpt, table, column, key, into, replace)
    vocab, window = gpt.tokenizer.vocab_size, gpt.config.block_size
    rows = [(row_key, text) for row_key, text in job.read() if text is not None]
    # The latest context that fits, as a prompt is read (after the beginning-of-text token
    # where the tokenizer adds one; an empty text is the start token).
    contexts = [(i, _last_window(gpt.prompt_ids(text), window, keep_first=gpt.tokenizer.adds_bos))
                for i, (_, text) in enumerate(rows)]
    results: list[tuple] = []
    bar = progress_bar(len(rows), f"next tokens of {job.table}", progress, unit="row")
    for chunk in _chunks(contexts, gpt.engine.batch_tokens, lambda item: len(item[1])):
        for (i, _), ranked in zip(chunk, gpt.engine.top_many([ids for _, ids in chunk], min(k, vocab), vocab)):
            results += [(rows[i][0], rank, token, gpt.tokenizer.decode([token]), p) for rank, (token, p) in enumerate(ranked, 1)]
            bar.update(1)
    bar.close()
    job.write(results, [("rank", "int"), ("token", "int"), ("piece", "text"), ("probability", "double")])
    return job.into


class _TableJob:
    """Reading a table's rows, and the result table written whole in one transaction."""

    def __init__(self, gpt: Model, table: str, column: str, key: str | None, into: str, replace: bool) -> None:
        self.table, self.column = identifier(table, "table", True), identifier(column, "column")
        self.into = identifier(into, "result table", True)
        self.key = column if key is None else identifier(key, "key column")
        self.replace = replace
        if self.into.lower() == self.table.lower():
            raise SqlgptError("the result table must not be the table being read")
        self.tables = gpt.engine.tables()
        if not self.tables.exists(self.table):
            raise SqlgptError(f"no table {self.table} in {self.tables.database}")
        if self.tables.exists(self.into) and not replace:
            raise SqlgptError(f"table {self.into} already exists in {self.tables.database}; choose another name or "
                              "replace it")

    def read(self) -> list[tuple[Any, str | None]]:
        """Every row's (key, text)."""
        rows = self.tables.read(self.table, [self.key, self.column])
        for _, text in rows:
            if text is not None and not isinstance(text, str):
                raise SqlgptError(f"column {self.column} of {self.table} holds {type(text).__name__} values, not text")
        return rows

    def write(self, results: list[tuple], result_columns: list[tuple[str, str]]) -> None:
        """The result table: rows (key, *result columns), whole or not at all. The result
        columns are (name, kind) with kind 'int', 'double' or 'text'; the key keeps its type."""
        self.tables.write(self.into, self.table, self.key, result_columns, results, self.replace)
