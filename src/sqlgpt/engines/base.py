"""The contract every engine keeps: a model installed once, then sessions that run it.

An engine holds one model's weights (in NumPy arrays, or in database tables). A session is
one sequence being read or written: it owns that sequence's KV cache, so `forward` is given
only the *new* token ids and computes only their positions. Engines never see text and never
sample; the facade in `gpt.py` does that, which is why every engine samples the same text for
the same seed.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

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
        logits = self._forward(ids, all_logits)
        self.n_past += len(ids)
        return logits

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


class Engine(abc.ABC):
    """A model made ready to run: weights loaded or installed."""

    name: str = "?"
    # Prompts longer than this are read in chunks of it (None: all at once), so that slow
    # engines can show progress; the logits are the same either way.
    prompt_chunk: int | None = None

    def __init__(self, config: GPTConfig) -> None:
        self.config = config

    @abc.abstractmethod
    def session(self) -> Session:
        """A new, empty sequence."""

    def close(self) -> None:
        """Release the engine's resources (connections, files)."""
