"""Choosing the next token from logits: greedy, temperature, top-k, top-p, seeded.

Runs in Python with NumPy's seeded `Generator`, never in an engine, so the same seed gives
the same text on every engine. Work is in float64 and every sampled token consumes exactly
one uniform draw, so tiny (1e-6) differences between engines' logits cannot shift the
random stream; they could only matter if a draw fell within 1e-6 of a bucket edge.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .errors import SqlgptError


@dataclasses.dataclass(frozen=True)
class SamplingParams:
    """How to pick tokens. temperature 0 means greedy (argmax)."""

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.temperature, (int, float)) and math.isfinite(self.temperature) and self.temperature >= 0):
            raise SqlgptError(f"temperature must be a finite number >= 0, got {self.temperature!r}")
        if self.top_k is not None and not (isinstance(self.top_k, int) and self.top_k >= 1):
            raise SqlgptError(f"top_k must be an integer >= 1, got {self.top_k!r}")
        if self.top_p is not None and not (isinstance(self.top_p, (int, float)) and 0 < self.top_p <= 1):
            raise SqlgptError(f"top_p must be in (0, 1], got {self.top_p!r}")


def random_generator(seed: int | None) -> np.random.Generator:
    """NumPy's generator for `seed` (None: fresh entropy); a seed is an integer >= 0."""
    if seed is not None and not (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0):
        raise SqlgptError(f"seed must be an integer >= 0, got {seed!r}")
    return np.random.default_rng(seed)


def probabilities(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / temperature) in float64; temperature 0 puts all mass on the argmax."""
    z = np.asarray(logits, dtype=np.float64)  # [V]
    if temperature == 0:
        probs = np.zeros_like(z)
        probs[int(np.argmax(z))] = 1.0
        return probs
    z = z / temperature
    e = np.exp(z - z.max())
    return e / e.sum()  # [V]


def filtered_probabilities(logits: np.ndarray, params: SamplingParams) -> np.ndarray:
    """The distribution actually sampled from, after top-k and top-p, renormalised."""
    probs = probabilities(logits, params.temperature)  # [V]
    order = np.argsort(-probs, kind="stable")  # most likely first; ties by token id
    keep = len(order)
    if params.top_k is not None:
        keep = min(keep, params.top_k)
    if params.top_p is not None:
        # The smallest prefix whose mass reaches top_p (at least one token).
        cumulative = np.cumsum(probs[order])
        keep = min(keep, int(np.searchsorted(cumulative, params.top_p, side="left")) + 1)
    filtered = np.zeros_like(probs)
    filtered[order[:keep]] = probs[order[:keep]]
    return filtered / filtered.sum()


def sample(logits: np.ndarray, params: SamplingParams, rng: np.random.Generator) -> int:
    """One token id. Greedy ignores `rng`; otherwise exactly one uniform draw is used."""
    if params.temperature == 0:
        return int(np.argmax(logits))
    probs = filtered_probabilities(logits, params)  # [V]
    cumulative = np.cumsum(probs)
    index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return min(index, len(probs) - 1)
