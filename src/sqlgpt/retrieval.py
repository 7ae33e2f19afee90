"""Answering from a table of the database the model runs in: a BM25 index of a text column,
kept as tables in that database, the rows that bear on a question found by SQL there, and
a prompt made of them for the model to answer.

Words are lower-cased `\\w+` runs (Unicode word characters, so Korean, CJK and accented
text index word by word), split here in Python and written to the index as rows; a question's
words reach SQL the same way, as rows of a session table, never as SQL text. The scores are
Okapi BM25 as `rank_bm25.BM25Okapi` computes them, in SQL (`engines/sql/plan/retrieval.py`).

`index_table` (re)builds an index: only rows added, changed (by a hash of their text) or
deleted since the last run are touched, in one transaction. `retrieve` ranks rows for a
question. `ask` retrieves, fits the passages and the question into the context window
(cutting passages from the lowest-ranked up, never the question) and streams the answer.
This module holds no SQL: the engine's `Tables.index` runs it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any, Protocol

from .batch import identifier
from .chat import Conversation, template_ids
from .config import GPTConfig
from .engines.base import Engine, Index
from .errors import SqlgptError
from .progress import progress_bar
from .tokenizer import Tokenizer

WORD = re.compile(r"\w+")
INSTRUCTION = "Answer the question using the passages below."


def words(text: str) -> list[str]:
    """The words of `text`, lower-cased, in order: what the index and questions are made of."""
    return [w.lower() for w in WORD.findall(text)]


def text_hash(text: str) -> str:
    """A short hash of a row's text: how a re-index sees that a row changed."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclasses.dataclass(frozen=True)
class IndexReport:
    """What `index_table` did: the index's tables, how many rows it holds, and the rows it
    added, changed and deleted this run."""

    tables: tuple[str, ...]
    rows: int
    added: int
    changed: int
    deleted: int

    @property
    def touched(self) -> int:
        return self.added + self.changed + self.deleted


@dataclasses.dataclass(frozen=True)
class Passage:
    """A row found for a question: its key, its BM25 score and its text."""

    key: Any
    score: float
    text: str


def _index(engine: Engine, table: str, column: str, key: str | None) -> tuple[Index, str, str, str]:
    table, column = identifier(table, "table", True), identifier(column, "column")
    key = column if key is None else identifier(key, "key column")
    tables = engine.tables()
    if not tables.exists(table):
        raise SqlgptError(f"no table {table} in {tables.database}")
    return tables.index(table, column, key), table, column, key


def index_table(engine: Engine, table: str, column: str, key: str | None = None, progress: bool = False) -> IndexReport:
    """Build or bring up to date the BM25 index of `column` of `table` (rows identified by
    `key`, default the column itself), as tables beside it. Rows whose text is NULL are not
    indexed. Keys must be unique and not NULL (with the text as its own key, equal texts are
    indexed once)."""
    index, table, column, key = _index(engine, table, column, key)
    rows = engine.tables().read(table, [key, column])
    if key == column:  # the text is its own key: NULL texts are not indexed, equal texts once
        rows = list(dict.fromkeys((text, text) for _, text in rows if text is not None))
    current: dict[Any, str] = {}
    for row_key, text in rows:
        if row_key is None:
            raise SqlgptError(f"key column {key} of {table} has a NULL: every row needs a key")
        if row_key in current:
            raise SqlgptError(f"key column {key} of {table} has {row_key!r} twice: keys must be unique")
        if text is not None and not isinstance(text, str):
            raise SqlgptError(f"column {column} of {table} holds {type(text).__name__} values, not text")
        current[row_key] = text
    old = index.hashes()
    texts = {k: text for k, text in current.items() if text is not None}
    new = [k for k in texts if k not in old or old[k] != text_hash(texts[k])]
    deleted = [k for k in old if k not in texts]
    changed = [k for k in new if k in old]
    index_rows, postings = [], []
    bar = progress_bar(len(new), f"indexing {table}.{column}", progress, unit="row")
    for row_key in new:
        counts = Counter(words(texts[row_key]))
        index_rows.append((row_key, text_hash(texts[row_key]), sum(counts.values())))
        postings += [(row_key, term, n) for term, n in counts.items()]
        bar.update(1)
    bar.close()
    if new or deleted or not index.exists():
        index.write(deleted + changed, index_rows, postings)
    return IndexReport(tables=tuple(index.names.all()), rows=len(texts), added=len(new) - len(changed),
                       changed=len(changed), deleted=len(deleted))


def retrieve(engine: Engine, question: str, table: str, column: str, k: int = 3, key: str | None = None, *,
             k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25) -> list[Passage]:
    """The `k` rows of `table` whose `column` best matches `question` by Okapi BM25 (as
    rank_bm25's BM25Okapi: `k1`, `b`, and `epsilon` for words in more than half the rows),
    best first, ties by key; only rows sharing a word with the question. Needs the index."""
    if not isinstance(question, str):
        raise SqlgptError("the question must be text")
    if not (isinstance(k, int) and k >= 1):
        raise SqlgptError(f"k must be an integer >= 1, got {k!r}")
    for name, value, low, high in (("k1", k1, 0.0, math.inf), ("b", b, 0.0, 1.0), ("epsilon", epsilon, 0.0, math.inf)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high):
            raise SqlgptError(f"{name} must be a finite number in [{low}, {high}], got {value!r}")
    index, *_ = _index(engine, table, column, key)
    asked = Counter(words(question))
    if not asked:
        return []
    found = index.search(asked, k, float(k1), float(b), float(epsilon))
    texts = index.texts([row_key for row_key, _ in found])
    return [Passage(row_key, score, texts[row_key]) for row_key, score in found if row_key in texts]


class Model(Protocol):
    """What `ask` uses of a model: `GPT` is one (named here, not imported: gpt.py imports this)."""

    engine: Engine
    config: GPTConfig
    tokenizer: Tokenizer
    name: str

    def prompt_ids(self, prompt: str) -> list[int]: ...

    def stream(self, prompt: str, max_new_tokens: int = 50, temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None, seed: int | None = None) -> Iterator[str]: ...


class Answer:
    """The model's answer to a question from a table: the passages it was given (in rank
    order, as cut to fit), the prompt it read, notes on what was cut, and the answer's text,
    streamed by iterating (once) or whole from `text`."""

    def __init__(self, gpt: Model, question: str, passages: list[Passage], max_new_tokens: int,
                 sampling: dict[str, Any]) -> None:
        self.gpt, self.question = gpt, question
        self.chat = gpt.tokenizer.chat_template is not None
        budget = gpt.config.block_size - max_new_tokens
        self.passages, self.notes = self._fit(passages, budget)
        self.prompt_ids = self._ids(self.passages)
        self._sampling = dict(sampling, max_new_tokens=max_new_tokens)
        self._pieces: list[str] = []
        self._done = False

    @property
    def keys(self) -> list[Any]:
        """The keys of the rows the prompt holds, in rank order."""
        return [p.key for p in self.passages]

    @property
    def prompt(self) -> str:
        """The text the model reads (special tokens written out)."""
        return self.gpt.tokenizer.decode(self.prompt_ids)

    def content(self, passages: list[Passage]) -> str:
        """The passages, numbered in rank order, then the question."""
        block = "\n\n".join(f"[{i}] {p.text}" for i, p in enumerate(passages, 1))
        if self.chat:
            return f"{INSTRUCTION}\n\n{block}\n\nQuestion: {self.question}" if passages else self.question
        return f"{block}\n\nQuestion: {self.question}\nAnswer:" if passages else f"Question: {self.question}\nAnswer:"

    def _ids(self, passages: list[Passage]) -> list[int]:
        text = self.content(passages)
        if self.chat:
            return template_ids(self.gpt.tokenizer, [{"role": "user", "content": text}])
        return self.gpt.prompt_ids(text)

    def _fit(self, passages: list[Passage], budget: int) -> tuple[list[Passage], list[str]]:
        """The passages cut, from the lowest-ranked up, until the prompt fits `budget` tokens."""
        n_question = len(self._ids([]))
        if n_question > budget:
            raise SqlgptError(f"the question takes {n_question} tokens of the prompt; with the answer's "
                              f"{self.gpt.config.block_size - budget} tokens it does not fit the context window of "
                              f"{self.gpt.config.block_size}")
        kept, notes = list(passages), []
        while kept and len(self._ids(kept)) > budget:
            last = kept.pop()
            pieces = self.gpt.tokenizer.encode(last.text)
            low, high = 0, len(pieces) - 1  # the longest prefix that fits, by bisection
            while low < high:
                middle = (low + high + 1) // 2
                if len(self._ids([*kept, self._cut(last, pieces, middle)])) <= budget:
                    low = middle
                else:
                    high = middle - 1
            if low > 0:
                kept.append(self._cut(last, pieces, low))
                notes.append(f"passage {last.key!r} cut to {low} of its {len(pieces)} tokens to fit the context window")
                break
            notes.append(f"passage {last.key!r} left out: it did not fit the context window")
        return kept, notes

    def _cut(self, passage: Passage, pieces: list[int], n: int) -> Passage:
        text = self.gpt.tokenizer.decode(pieces[:n]).rstrip("\ufffd")  # no half character at the end
        return dataclasses.replace(passage, text=text)

    def __iter__(self) -> Iterator[str]:
        if self._done or self._pieces:
            raise SqlgptError("an answer streams once; read .text for the whole of it")
        if self.chat:
            with Conversation(self.gpt) as conversation:
                pieces = conversation.send(self.content(self.passages), **self._sampling)
                for piece in pieces:
                    self._pieces.append(piece)
                    yield piece
        else:
            for piece in self.gpt.stream(self.content(self.passages), **self._sampling):
                self._pieces.append(piece)
                yield piece
        self._done = True

    @property
    def text(self) -> str:
        """The whole answer (generated now if it has not been streamed)."""
        if not self._done:
            for _ in self:
                pass
        return "".join(self._pieces)


def ask(gpt: Model, question: str, table: str, column: str, k: int = 3, key: str | None = None, *,
        max_new_tokens: int = 64, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
        seed: int | None = None, **bm25: float) -> Answer:
    """The answer to `question` from the `k` rows of `table` that `retrieve` finds: see `Answer`."""
    if not isinstance(question, str) or not question.strip():
        raise SqlgptError("the question is empty")
    if not (isinstance(max_new_tokens, int) and max_new_tokens >= 1):
        raise SqlgptError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")
    if max_new_tokens >= gpt.config.block_size:
        raise SqlgptError(f"an answer of {max_new_tokens} tokens leaves no room for the question in the context "
                          f"window of {gpt.config.block_size} tokens")
    passages = retrieve(gpt.engine, question, table, column, k, key, **bm25)
    return Answer(gpt, question, passages, max_new_tokens,
                  dict(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed))
