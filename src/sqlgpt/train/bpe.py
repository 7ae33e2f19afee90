"""Training a byte-level BPE vocabulary from text, the way GPT-2's was made.

What it does:
- Splits the text into pre-tokens with GPT-2's regex (after cutting out the special tokens,
  which never take part in merges), counts each distinct pre-token once with its frequency,
  and starts every pre-token as its UTF-8 bytes.
- Repeatedly merges the most frequent adjacent pair of tokens, counted over the distinct
  pre-tokens weighted by their frequency, never across pre-token boundaries. Each merge is
  applied left to right, without overlaps ("aaa" becomes "aa" "a").
- Ties between equally frequent pairs go to the pair whose (left id, right id) is smallest,
  which is Hugging Face `tokenizers`' BpeTrainer rule; with the same id order (below) the two
  train the same merges from the same text.
- Ids: 0..255 are the single bytes in GPT-2's order (that of their `bytes_to_unicode`
  characters: "!" is 0, the byte 0x00 is 188), then one id per merge in merge order, then the
  special tokens. A merge whose result is already a token (possible with runs such as "aaaa")
  is recorded but reuses that token's id, as Hugging Face does, so `vocab_size` always counts
  distinct tokens.
- Keeps the counts incrementally: a pair -> count table, a pair -> words index and a heap of
  candidate pairs whose stale entries are skipped when popped. A merge touches only the words
  that hold its pair, so 4,096 tokens from 1 MB of text take seconds, not hours.

What it does not do: normalise Unicode, use any pre-tokenizer but GPT-2's, or stop early on a
minimum frequency. Building a `Tokenizer` from the result is `Tokenizer.train`'s job.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import regex

from ..bytelevel import ENDOFTEXT, GPT2_PATTERN, bytes_to_unicode
from ..errors import SqlgptError
from ..progress import progress_bar

# Byte values in GPT-2's id order: sorted by the printable character each stands for.
_BYTES_IN_ID_ORDER = sorted(range(256), key=bytes_to_unicode().__getitem__)


@dataclass(frozen=True)
class TrainedBpe:
    """What training produced: enough to build a `Tokenizer` or write merges.txt."""

    merges: list[tuple[bytes, bytes]]
    """The merged pairs, in merge (= rank) order."""
    token_ids: dict[bytes, int]
    """Every ordinary token (the 256 bytes and each merge's result) -> its id."""
    special_tokens: dict[str, int]
    """Each special token -> its id (the last ids)."""


def train_bpe(
    text: str,
    vocab_size: int,
    special_tokens: Sequence[str] = (ENDOFTEXT,),
    *,
    progress: bool = False,
) -> TrainedBpe:
    """Learn merges from `text` until the vocabulary (bytes + merges + specials) has
    `vocab_size` tokens.

    Raises SqlgptError, before training, for empty text, bad special tokens or a `vocab_size`
    too small for the bytes and specials; and, once the pairs run out, for a `vocab_size`
    larger than the text allows (saying how many it does).
    """
    specials = _check_special_tokens(special_tokens)
    n_ordinary = vocab_size - len(specials)
    if n_ordinary < 256:
        raise SqlgptError(
            f"vocab_size must be at least {256 + len(specials)} (256 bytes + {len(specials)} "
            f"special tokens), got {vocab_size}"
        )
    words, freqs = _count_pretokens(text, specials)

    tokens = [bytes([b]) for b in _BYTES_IN_ID_ORDER]  # id -> bytes
    ids = {t: i for i, t in enumerate(tokens)}
    counts: Counter[tuple[int, int]] = Counter()
    where: dict[tuple[int, int], set[int]] = {}  # pair -> the words holding it
    for w, (word, freq) in enumerate(zip(words, freqs)):
        for pair in pairwise(word):
            counts[pair] += freq
            where.setdefault(pair, set()).add(w)
    # Max-heap by count via negation; equal counts pop the smallest (left id, right id).
    heap = [(-count, a, b) for (a, b), count in counts.items()]
    heapq.heapify(heap)

    merges: list[tuple[int, int]] = []
    bar = progress_bar(n_ordinary - 256, "training BPE", progress, unit="merge")
    try:
        while len(tokens) < n_ordinary:
            if not heap:
                raise SqlgptError(
                    f"vocab_size {vocab_size} is more than this text allows: once every pair is "
                    f"merged it has {len(tokens) + len(specials)} tokens (256 bytes, "
                    f"{len(tokens) - 256} merges, {len(specials)} special); give more text or "
                    "a smaller vocab_size"
                )
            negative, a, b = heapq.heappop(heap)
            count = counts.get((a, b), 0)
            if count != -negative:  # stale: the count changed since this entry was pushed
                if count > 0:
                    heapq.heappush(heap, (-count, a, b))
                continue
            new = ids.setdefault(tokens[a] + tokens[b], len(tokens))
            if new == len(tokens):
                tokens.append(tokens[a] + tokens[b])
                bar.update(1)
            merges.append((a, b))
            for pair in _merge_everywhere(words, freqs, (a, b), new, counts, where):
                heapq.heappush(heap, (-counts[pair], *pair))
    finally:
        bar.close()

    return TrainedBpe(
        merges=[(tokens[a], tokens[b]) for a, b in merges],
        token_ids=ids,
        special_tokens={s: len(tokens) + i for i, s in enumerate(specials)},
    )


def _check_special_tokens(special_tokens: Sequence[str]) -> list[str]:
    if isinstance(special_tokens, str):
        raise SqlgptError("special_tokens must be a sequence of strings, not one string")
    specials = list(special_tokens)
    for s in specials:
        if not isinstance(s, str) or not s:
            raise SqlgptError(f"special tokens must be non-empty strings, got {s!r}")
        try:
            size = len(s.encode("utf-8"))
        except UnicodeEncodeError:
            raise SqlgptError(
                f"special token {s!r} has a lone surrogate: it is not valid Unicode"
            ) from None
        # A one-byte special would share its vocab.json entry with that byte's token.
        if size == 1:
            raise SqlgptError(f"special token {s!r} is a single byte, which is already a token")
    duplicated = sorted({s for s in specials if specials.count(s) > 1})
    if duplicated:
        raise SqlgptError(f"special token(s) given more than once: {duplicated}")
    return specials


def _count_pretokens(text: str, specials: list[str]) -> tuple[list[list[int]], list[int]]:
    """The distinct pre-tokens of `text` as lists of byte ids, and how often each occurs."""
    if not text:
        raise SqlgptError("cannot train a tokenizer on empty text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise SqlgptError(
            f"cannot train on text with a lone surrogate (U+{ord(text[e.start]):04X}): "
            "it is not valid Unicode"
        ) from None
    # Longest first, so that a special token that is a prefix of another does not win.
    segments = (
        regex.split("|".join(map(regex.escape, sorted(specials, key=len, reverse=True))), text)
        if specials
        else [text]
    )
    pattern = regex.compile(GPT2_PATTERN)
    pretokens = Counter(piece for segment in segments for piece in pattern.findall(segment))
    byte_id = {b: i for i, b in enumerate(_BYTES_IN_ID_ORDER)}
    words = [[byte_id[b] for b in piece.encode("utf-8")] for piece in pretokens]
    return words, list(pretokens.values())


def _merge_everywhere(
    words: list[list[int]],
    freqs: list[int],
    pair: tuple[int, int],
    new: int,
    counts: Counter[tuple[int, int]],
    where: dict[tuple[int, int], set[int]],
) -> set[tuple[int, int]]:
    """Replace `pair` by `new` in every word holding it, updating `counts` and `where`.

    Returns the pairs whose count rose (those with `new` in them), for the caller's heap.
    """
    a, b = pair
    grown: set[tuple[int, int]] = set()
    for w in where.pop(pair):
        word, freq = words[w], freqs[w]
        merged: list[int] = []
        i, n = 0, len(word)
        while i < n:
            if word[i] == a and i + 1 < n and word[i + 1] == b:
                merged.append(new)
                i += 2
            else:
                merged.append(word[i])
                i += 1
        words[w] = merged
        old_pairs, new_pairs = list(pairwise(word)), list(pairwise(merged))
        # Recounting the whole (short) word is simpler than tracking each merge's neighbours.
        for p in old_pairs:
            counts[p] -= freq
        for p in new_pairs:
            counts[p] += freq
        old_set, new_set = set(old_pairs), set(new_pairs)
        for p in old_set - new_set:
            if p != pair:
                where[p].discard(w)
        for p in new_set - old_set:
            where.setdefault(p, set()).add(w)
        grown.update(p for p in new_set if new in p)
    del counts[pair]
    return grown
