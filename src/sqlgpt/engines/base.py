"""The contract every engine keeps: a model installed once, then sessions that run it.

An engine holds one model's weights (in NumPy arrays, or in database tables). A session is
one sequence being read or written: it owns that sequence's KV cache, so `forward` is given
only the *new* token ids and computes only their positions. Engines never see text and never
sample; the facade in `gpt.py` does that, which is why every engine samples the same text for
the same seed.
"""

from __future__ import annotations

import abc
import dataclasses
from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from ..config import GPTConfig
from ..errors import SqlgptError


class Session(abc.ABC):
    """One sequence's KV cache on one engine. Use as a context manager, or call `close`."""

    def __init__(self, config: GPTConfig) -> None:
        self.config = config
        self.n_past = 0  # positions already in the cache
        self.closed = False

    def forward(self, ids: Sequence[int], *, all_logits: bool = False) -> np.ndarray:
        """Append `ids` to the sequence and return float32 logits.

        Shape (len(ids), vocab_size) when `all_logits`, else (1, vocab_size) for the last
        position only (what generation needs; SQL engines skip the other unembeddings).
        """
        ids = self._validate(ids)
        logits = self._forward(ids, all_logits)
        self.n_past += len(ids)
        return logits

    def forward_nll(self, ids: Sequence[int], first_target: int) -> float:
        """Append `ids` like `forward` and return the negative log-likelihood, in nats, of
        ids[first_target:], each token predicted from the position before it (so
        1 <= first_target < len(ids)). SQL engines compute it in the database."""
        ids = self._validate(ids)
        if not 1 <= first_target < len(ids):
            raise SqlgptError(f"first_target must be in 1..{len(ids) - 1}, got {first_target}")
        nll = self._nll(ids, first_target)
        self.n_past += len(ids)
        return nll

    def forward_top(self, ids: Sequence[int], k: int, vocab_size: int) -> list[tuple[int, float]]:
        """Append `ids` like `forward` and return the k most likely next tokens below
        `vocab_size` with their probabilities (softmax at temperature 1), most likely first,
        ties by the smaller id. SQL engines rank them in the database."""
        ids = self._validate(ids)
        top = self._top(ids, k, vocab_size)
        self.n_past += len(ids)
        return top

    def _top(self, ids: list[int], k: int, vocab_size: int) -> list[tuple[int, float]]:
        z = self._forward(ids, False)[-1, :vocab_size].astype(np.float64)  # [V]
        probs = np.exp(z - z.max())
        probs /= probs.sum()
        order = np.argsort(-probs, kind="stable")[:k]
        return [(int(i), float(probs[i])) for i in order]

    def _nll(self, ids: list[int], first_target: int) -> float:
        logits = self._forward(ids, True)[first_target - 1 : -1].astype(np.float64)  # [n, V]
        logits -= logits.max(-1, keepdims=True)
        logprobs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))  # [n, V]
        targets = np.asarray(ids[first_target:])  # [n]
        return float(-logprobs[np.arange(len(targets)), targets].sum())

    def rewind(self, n_past: int) -> None:
        """Forget the positions from `n_past` on and keep the cache of those before, so that
        a sequence sharing its beginning with the last one goes on from there (a question's
        prompt, read once, then each of its answers). Engines whose caches cannot be cut
        back say so in one line."""
        if self.closed:
            raise SqlgptError("this session is closed")
        if not 0 <= n_past <= self.n_past:
            raise SqlgptError(f"can rewind to a position in 0..{self.n_past}, not {n_past}")
        if n_past < self.n_past:
            self._rewind(n_past)
            self.n_past = n_past

    def _rewind(self, n_past: int) -> None:
        """Drop the cached positions from `n_past` on."""
        raise SqlgptError("this engine's sessions cannot rewind their KV cache")

    def reset(self) -> None:
        """Forget the sequence (empty the KV cache) and start a new one on this session."""
        if self.closed:
            raise SqlgptError("this session is closed")
        self._reset()
        self.n_past = 0

    @abc.abstractmethod
    def _reset(self) -> None:
        """Empty the KV cache."""

    def _validate(self, ids: Sequence[int]) -> list[int]:
        if self.closed:
            raise SqlgptError("this session is closed")
        ids = [int(i) for i in ids]
        if not ids:
            raise SqlgptError("forward needs at least one token id")
        if self.n_past + len(ids) > self.config.block_size:
            raise SqlgptError(
                f"sequence of {self.n_past + len(ids)} tokens exceeds the model's context window "
                f"of {self.config.block_size}"
            )
        bad = [i for i in ids if not 0 <= i < self.config.vocab_size]
        if bad:
            raise SqlgptError(f"token id {bad[0]} is outside the vocabulary (0..{self.config.vocab_size - 1})")
        return ids

    @abc.abstractmethod
    def _forward(self, ids: list[int], all_logits: bool) -> np.ndarray:
        """Compute positions n_past .. n_past+len(ids)-1; ids are already validated."""

    def close(self) -> None:
        """Drop the KV cache. Safe to call twice."""
        self.closed = True

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclasses.dataclass(frozen=True)
class Inspection:
    """What an engine measured inside one forward pass over a prompt, as token ids and numbers.

    Shapes: L = layers, H = heads, T = prompt tokens, k = candidates, n = temperatures.
    Residual stream l is x_l: l = 0 is the embeddings, l >= 1 the output of block l. The
    logit lens reads streams 1..L through the final layer norm and the unembedding, so its
    last layer is the model's own prediction. Candidates are ranked most likely (or most
    similar) first, ties by the smaller token id.
    """

    attention: np.ndarray  # [L, H, T, T] softmax weights of query row i over key column j; 0 where j > i
    norms: np.ndarray  # [L+1, T] Euclidean length of residual stream l at each position
    lens_tokens: np.ndarray  # [L, T, k] int: the top tokens the lens reads from stream l+1
    lens_probs: np.ndarray  # [L, T, k] their probabilities
    temperatures: tuple[float, ...]  # [n]
    next_tokens: np.ndarray  # [n, k] int: the top next tokens after the prompt at each temperature
    next_probs: np.ndarray  # [n, k] their probabilities, softmax(logits / temperature)
    neighbour_tokens: np.ndarray  # [T, k] int: each prompt token's nearest other tokens in wte
    neighbour_similarity: np.ndarray  # [T, k] their cosine similarity
    tables: tuple[str, ...] = ()  # the database tables holding all this, when kept


class Index(Protocol):
    """A BM25 index's tables in the engine's database (see `sqlgpt.retrieval`)."""

    names: Any  # the index's table names: rows, postings, terms

    def exists(self) -> bool:
        """Whether the index's tables exist."""

    def hashes(self) -> dict[Any, str]:
        """Every indexed row's key and text hash; empty when there is no index."""

    def write(self, stale_keys: list[Any], rows: list[tuple[Any, str, int]], postings: list[tuple[Any, str, int]]) -> None:
        """In one transaction: the stale keys' rows gone, the new (key, hash, words) rows and
        (key, term, tf) postings in, the document frequencies counted again."""

    def search(self, words: Counter[str], k: int, k1: float, b: float, epsilon: float) -> list[tuple[Any, float]]:
        """The k best (key, BM25 score) for the question's words, best first."""

    def texts(self, keys: list[Any]) -> dict[Any, str]:
        """The text of the rows with these keys."""


class Tables(Protocol):
    """Reading a table of the engine's database and writing a result table there: what work
    on every row of a table (`sqlgpt.batch`) needs. Names are identifiers the caller checked."""

    database: str  # where the tables are, as the user named it

    def exists(self, name: str) -> bool:
        """Whether the table `name` (or `schema.name`) exists."""

    def read(self, table: str, columns: list[str]) -> list[tuple]:
        """Every row's `columns` of `table`."""

    def read_all(self, table: str) -> tuple[list[str], list[tuple]]:
        """The names of every column of `table`, and every row."""

    def index(self, table: str, column: str, key: str) -> Index:
        """The BM25 index of `column` of `table`, its rows identified by `key`."""

    def write(self, name: str, like: str, key: str, columns: list[tuple[str, str]], rows: list[tuple],
              replace: bool) -> None:
        """The table `name` holding `rows`, whole or not at all: `key` typed as in the table
        `like`, then `columns` as (name, 'int' | 'double' | 'text'). With `replace`, an old
        `name` goes in the same step."""


class Engine(abc.ABC):
    """A model made ready to run: weights loaded or installed."""

    name: str = "?"
    # Prompts longer than this are read in chunks of it (None: all at once), so that slow
    # engines can show progress; the logits are the same either way.
    prompt_chunk: int | None = None
    # How many tokens to give `nll_many` / `top_many` at once (engines that batch take more).
    batch_tokens: int = 1024

    def nll_many(self, windows: Sequence[tuple[Sequence[int], int]]) -> list[float]:
        """`Session.forward_nll` of each (ids, first_target) window, each window a sequence
        of its own; engines that can run many sequences in one pass override this."""
        with self.session() as session:
            out = []
            for ids, first_target in windows:
                session.reset()
                out.append(session.forward_nll(ids, first_target))
            return out

    def nll_continuations(self, items: Sequence[tuple[Sequence[int], Sequence[Sequence[int]]]]) -> list[list[float]]:
        """For each (context, continuations) item, the negative log-likelihood (nats) of each
        continuation's tokens after the context: what `Session.forward_nll(context +
        continuation, len(context))` gives, but the context is read once per item, not once
        per continuation (a multiple-choice question's prompt, shared by its answers).
        Contexts and continuations must be non-empty and fit the context window together.
        Here: one session, rewound to the context for each continuation; engines that run
        many sequences in one pass override this."""
        out = []
        with self.session() as session:
            for context, continuations in items:
                context = list(context)
                if not context or not all(continuations):
                    raise SqlgptError("nll_continuations needs a non-empty context and continuations")
                session.reset()
                if len(context) > 1:
                    session.forward(context[:-1])
                shared = session.n_past
                nll = []
                for continuation in continuations:
                    session.rewind(shared)
                    # The context's last token is read with each continuation: its logits predict their first token.
                    nll.append(session.forward_nll([context[-1], *continuation], 1))
                out.append(nll)
        return out

    def top_many(self, contexts: Sequence[Sequence[int]], k: int, vocab_size: int) -> list[list[tuple[int, float]]]:
        """`Session.forward_top` after each context, each a sequence of its own; engines
        that can run many sequences in one pass override this."""
        with self.session() as session:
            out = []
            for ids in contexts:
                session.reset()
                out.append(session.forward_top(ids, k, vocab_size))
            return out

    def __init__(self, config: GPTConfig) -> None:
        self.config = config

    @abc.abstractmethod
    def session(self) -> Session:
        """A new, empty sequence."""

    @abc.abstractmethod
    def explain(self, ids: Sequence[int], *, top_k: int, vocab_size: int, temperatures: Sequence[float],
                keep: bool = False) -> Inspection:
        """Run `ids` (already validated, non-empty) through the model and measure its insides.

        Only tokens below `vocab_size` (the tokenizer's, which may be smaller than the
        model's padded embedding table) are candidates; `top_k` must be below it. With `keep`,
        a SQL engine leaves the measurements as tables in its database; other engines refuse.
        """

    def tables(self) -> Tables:
        """The tables of the engine's database; an engine without one says so in one line."""
        raise SqlgptError(f"working on a table needs a SQL engine; the {self.name} engine has no tables")

    def close(self) -> None:
        """Release the engine's resources (connections, files)."""
