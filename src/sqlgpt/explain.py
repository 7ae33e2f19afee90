"""A look inside the model on one prompt: `GPT.explain` returns an `Explanation`.

The engine in use measures everything (the NumPy engine with NumPy, SQL engines with SQL
queries in their database; see `Engine.explain`); this module only turns its token ids into
readable pieces and holds the result: the prompt's tokens, every head's attention weights,
the size of the residual stream, the logit lens, the next-token distribution at a few
temperatures and each token's neighbours in the embedding matrix. `report.py` draws it.
It does not sample or generate.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import numpy as np

from .engines.base import Inspection
from .tokenizer import Tokenizer

TEMPERATURES = (0.5, 1.0, 2.0)  # the next-token distribution is shown sharpened, as is, and flattened


class Candidate(NamedTuple):
    """A token the model (or the embedding matrix) puts forward, with its score."""

    id: int
    piece: str  # the token's text; bytes that are not whole UTF-8 characters as \\x escapes
    value: float  # a probability, or for embedding neighbours a cosine similarity


@dataclasses.dataclass(frozen=True)
class Explanation:
    """What happened inside the model on one prompt. Shapes: L layers, H heads, T tokens.

    Residual stream l is x_l: the embeddings (l = 0), then the output of each block. The logit
    lens reads streams 1..L as if each were the last (final layer norm, then unembedding), so
    `lens[-1][-1]` is the model's prediction after the prompt, the same as `next_tokens[1.0]`.
    """

    model: str
    engine: str
    prompt: str
    tokens: list[tuple[int, str]]  # the prompt's tokens: (id, piece)
    attention: np.ndarray  # [L, H, T, T] row i: how much position i attends to each j <= i; rows sum to 1
    norms: np.ndarray  # [L+1, T] length of residual stream l at each position
    lens: list[list[list[Candidate]]]  # [L][T][k] top tokens and probabilities read from stream l+1
    next_tokens: dict[float, list[Candidate]]  # temperature -> the top k next tokens and probabilities
    neighbours: list[list[Candidate]]  # [T][k] each prompt token's nearest tokens in wte, by cosine
    tables: tuple[str, ...] = ()  # with keep on a SQL engine: the database tables holding all this

    @classmethod
    def build(cls, tokenizer: Tokenizer, ids: list[int], inspection: Inspection, *, model: str, engine: str,
              prompt: str) -> Explanation:
        """Name the tokens of an engine's `inspection` of `ids`."""

        def candidates(tokens: np.ndarray, values: np.ndarray) -> list[Candidate]:
            return [Candidate(int(t), piece(tokenizer, int(t)), float(v)) for t, v in zip(tokens, values)]

        return cls(
            model=model,
            engine=engine,
            prompt=prompt,
            tokens=[(i, piece(tokenizer, i)) for i in ids],
            attention=inspection.attention,
            norms=inspection.norms,
            lens=[[candidates(t, p) for t, p in zip(tokens, probs)]
                  for tokens, probs in zip(inspection.lens_tokens, inspection.lens_probs)],
            next_tokens={t: candidates(tokens, probs) for t, tokens, probs in
                         zip(inspection.temperatures, inspection.next_tokens, inspection.next_probs)},
            neighbours=[candidates(t, s) for t, s in zip(inspection.neighbour_tokens, inspection.neighbour_similarity)],
            tables=inspection.tables,
        )

    def to_json(self) -> dict[str, Any]:
        """Plain lists and numbers (rounded for size), what the HTML report embeds."""

        def listed(candidates: list[Candidate]) -> list[list[Any]]:
            return [[c.id, c.piece, round(c.value, 6)] for c in candidates]

        return {
            "model": self.model,
            "engine": self.engine,
            "prompt": self.prompt,
            "tokens": [list(t) for t in self.tokens],
            "attention": np.round(self.attention.astype(np.float64), 5).tolist(),
            "norms": np.round(self.norms.astype(np.float64), 4).tolist(),
            "lens": [[listed(cell) for cell in row] for row in self.lens],
            "next": [[t, listed(c)] for t, c in self.next_tokens.items()],
            "neighbours": [listed(n) for n in self.neighbours],
            "tables": list(self.tables),
        }


def piece(tokenizer: Tokenizer, token: int) -> str:
    """A token's text; GPT-2 splits some characters across tokens, so a token can hold part
    of a character's bytes, shown as \\x escapes rather than a replacement character."""
    return tokenizer.token_bytes(token).decode("utf-8", errors="backslashreplace")
