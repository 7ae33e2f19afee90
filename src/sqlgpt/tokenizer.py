r"""Byte-level BPE tokenizer, exactly as GPT-2 (and tiktoken) does it, in pure Python.

What it does:
- Splits text into pre-tokens with a regex (GPT-2's pattern by default, or any tiktoken-style
  pattern such as cl100k_base's), then merges each pre-token's UTF-8 bytes with byte pair
  encoding: repeatedly join the adjacent pair whose concatenation has the lowest merge rank,
  leftmost first, until no adjacent pair is a token. This is tiktoken's algorithm; on GPT-2's
  files it gives the same ids as OpenAI's original encoder.py and as tiktoken's "gpt2".
- Reads Hugging Face `vocab.json` + `merges.txt` (the same formats as OpenAI's `encoder.json` +
  `vocab.bpe`) and tiktoken `.tiktoken` rank files. With merges files the merge order is the
  line order of the merges file and the ids come from vocab.json, so the two may differ.
- Special tokens such as `<|endoftext|>` are recognised only where the caller allows them;
  otherwise they are encoded as ordinary text.
- Caches the ids of each distinct pre-token, so long natural text encodes at several MB/s.
- Trains a new vocabulary from text (`Tokenizer.train`, the algorithm is in `sqlgpt.train.bpe`)
  and writes any vocabulary as `vocab.json` + `merges.txt` (`save`).

What it does not do:
- Normalise Unicode, add prefix spaces, or handle any tokenizer other than byte-level BPE.
  No dependency on tiktoken or Hugging Face tokenizers.
- Pin a Unicode version: `\p{L}` and `\p{N}` follow the installed `regex` package, so a
  character assigned only in a newer Unicode than another tokenizer's tables (say one from
  Unicode 17 against tiktoken 0.14's Unicode 16) may be split differently there.
"""

from __future__ import annotations

import base64
import heapq
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

import regex

from .bytelevel import CL100K_PATTERN, ENDOFTEXT, GPT2_PATTERN, bytes_to_unicode
from .errors import SqlgptError

# The alphabet and patterns live in bytelevel.py, shared with the trainer; they are this
# module's public names too.
__all__ = ["CL100K_PATTERN", "ENDOFTEXT", "GPT2_PATTERN", "Tokenizer", "bytes_to_unicode"]

# Distinct pre-tokens whose ids are remembered. Natural text has far fewer distinct pre-tokens
# than this; the bound only stops adversarial input (e.g. random strings) from growing memory.
_CACHE_LIMIT = 200_000

_BYTE_TO_UNICODE = bytes_to_unicode()
_UNICODE_TO_BYTE = {c: b for b, c in _BYTE_TO_UNICODE.items()}


def _unicode_to_bytes(piece: str) -> bytes:
    try:
        return bytes(map(_UNICODE_TO_BYTE.__getitem__, piece))
    except KeyError:
        raise ValueError(f"{piece!r} has a character outside GPT-2's byte alphabet") from None


def _to_piece(data: bytes) -> str:
    """Bytes in GPT-2's printable byte-level form, as vocab.json and merges.txt write them."""
    return "".join(map(_BYTE_TO_UNICODE.__getitem__, data))


def _compile_pattern(pattern: str) -> regex.Pattern[str]:
    r"""Compile a tiktoken-style pattern with the `regex` package, keeping tiktoken's meaning.

    tiktoken runs patterns with Rust's fancy-regex, where `$` matches only at the very end of
    the text; Python's `$` also matches before a final "\n". So an unescaped `$` outside a
    character class becomes `\Z`. (OpenAI's patterns do not use the m flag, which this ignores.)
    """
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            c = pattern[i : i + 2]
        elif in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            # A "]" straight after "[" or "[^" is a literal, not the end of the class.
            c = regex.match(r"\[\^?\]?", pattern[i:]).group()
        elif c == "$":
            out.append(r"\Z")
            i += 1
            continue
        out.append(c)
        i += len(c)
    try:
        compiled = regex.compile("".join(out))
    except regex.error as e:
        raise SqlgptError(f"invalid pre-tokenizer pattern {pattern!r}: {e}") from None
    # findall returns whole matches only when there are no capturing groups.
    if compiled.groups:
        raise SqlgptError("the pre-tokenizer pattern must not have capturing groups; use (?:...)")
    return compiled


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise SqlgptError(f"cannot read tokenizer file {path}: {e.strerror or e}") from None


class Tokenizer:
    """A byte-level BPE tokenizer: text -> token ids -> text, identical to tiktoken's."""

    def __init__(
        self,
        mergeable_ranks: Mapping[bytes, int],
        *,
        pattern: str = GPT2_PATTERN,
        special_tokens: Mapping[str, int] | None = None,
        token_ids: Mapping[bytes, int] | None = None,
    ) -> None:
        """Build from merge ranks (token bytes -> priority, lower merges first).

        `token_ids` maps every ordinary token's bytes to its id; leave it out when ids equal
        ranks (tiktoken files). All 256 single bytes must be tokens, so any text can be encoded.
        """
        self._ranks = dict(mergeable_ranks)
        self._encoder = dict(mergeable_ranks if token_ids is None else token_ids)
        self._special = dict(special_tokens or {})
        self._regex = _compile_pattern(pattern)
        self._cache: dict[str, tuple[int, ...]] = {}

        missing = [b for b in range(256) if bytes([b]) not in self._encoder]
        if missing:
            raise SqlgptError(
                f"the vocabulary lacks {len(missing)} single-byte tokens (e.g. byte "
                f"{missing[0]:#04x}); byte-level BPE needs all 256"
            )
        self._decoder = {i: t for t, i in self._encoder.items()}
        self._decoder.update((i, s.encode("utf-8")) for s, i in self._special.items())
        if len(self._decoder) != len(self._encoder) + len(self._special):
            raise SqlgptError("the vocabulary gives the same token id to two different tokens")
        self._vocab_size = max(self._decoder) + 1

    @classmethod
    def from_files(
        cls,
        vocab_json: str | Path,
        merges_txt: str | Path,
        *,
        pattern: str = GPT2_PATTERN,
        special_tokens: Mapping[str, int] | None = None,
    ) -> Tokenizer:
        """Load Hugging Face `vocab.json` + `merges.txt` (or OpenAI's `encoder.json` + `vocab.bpe`).

        Merge priority is the order of lines in the merges file. Unless `special_tokens` is
        given, vocab.json entries that are neither single bytes nor made by a merge (GPT-2's
        `<|endoftext|>`) become the special tokens.
        """
        vocab_path, merges_path = Path(vocab_json), Path(merges_txt)
        try:
            vocab = json.loads(_read(vocab_path))
            if not isinstance(vocab, dict) or not all(type(i) is int for i in vocab.values()):
                raise ValueError("expected a JSON object of token -> integer id")
            ids = {_unicode_to_bytes(t): i for t, i in vocab.items()}
        except (ValueError, TypeError) as e:
            raise SqlgptError(f"{vocab_path} is not a valid vocab.json: {e}") from None

        ranks: dict[bytes, int] = {}
        lines = _read(merges_path).decode("utf-8", errors="replace").splitlines()
        for n, line in enumerate(lines, start=1):
            if not line or (n == 1 and line.startswith("#version")):
                continue
            try:
                left, right = line.split(" ")
                merged = _unicode_to_bytes(left) + _unicode_to_bytes(right)
            except ValueError as e:
                detail = e if "alphabet" in str(e) else "expected two tokens separated by a space"
                raise SqlgptError(f"{merges_path} line {n} is not a merge: {detail}") from None
            if merged not in ids:
                raise SqlgptError(
                    f"{merges_path} line {n}: the merged token {line!r} is not in {vocab_path}"
                )
            # A token reachable by two merges keeps the earlier (higher-priority) one.
            ranks.setdefault(merged, len(ranks))

        if special_tokens is None:
            # Tokens no merge makes can never come out of BPE: they are special.
            special_tokens = {
                t.decode("utf-8", errors="replace"): i
                for t, i in ids.items()
                if len(t) > 1 and t not in ranks
            }
        for s in special_tokens:
            ids.pop(s.encode("utf-8"), None)
        try:
            return cls(ranks, pattern=pattern, special_tokens=special_tokens, token_ids=ids)
        except SqlgptError as e:
            raise SqlgptError(f"{vocab_path}: {e}") from None

    @classmethod
    def from_directory(
        cls,
        directory: str | Path,
        *,
        pattern: str = GPT2_PATTERN,
        special_tokens: Mapping[str, int] | None = None,
    ) -> Tokenizer:
        """Load `vocab.json` + `merges.txt` (or `encoder.json` + `vocab.bpe`) from a directory,
        as `from_files` does."""
        directory = Path(directory)
        for vocab, merges in (("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe")):
            if (directory / vocab).exists() or (directory / merges).exists():
                return cls.from_files(
                    directory / vocab, directory / merges, pattern=pattern,
                    special_tokens=special_tokens,
                )
        raise SqlgptError(f"no tokenizer in {directory}: expected vocab.json and merges.txt")

    @classmethod
    def from_tiktoken(
        cls,
        path: str | Path,
        *,
        pattern: str,
        special_tokens: Mapping[str, int] | None = None,
    ) -> Tokenizer:
        """Load a tiktoken rank file (lines of `base64(token) rank`; the rank is the id).

        The file carries neither the pattern nor the special tokens, so pass them: e.g.
        `pattern=CL100K_PATTERN, special_tokens={"<|endoftext|>": 100257, ...}` for cl100k_base.
        """
        path = Path(path)
        ranks: dict[bytes, int] = {}
        for n, line in enumerate(_read(path).splitlines(), start=1):
            if not line:
                continue
            try:
                token, rank = line.split()
                ranks[base64.b64decode(token, validate=True)] = int(rank)
            except ValueError:
                raise SqlgptError(f"{path} line {n} is not `base64-token rank`") from None
        try:
            return cls(ranks, pattern=pattern, special_tokens=special_tokens)
        except SqlgptError as e:
            raise SqlgptError(f"{path}: {e}") from None

    @classmethod
    def train(
        cls,
        text: str,
        vocab_size: int,
        special_tokens: Sequence[str] = (ENDOFTEXT,),
        *,
        progress: bool = False,
    ) -> Tokenizer:
        """Train a new byte-level BPE vocabulary of exactly `vocab_size` tokens on `text`.

        The 256 bytes take ids 0..255 (in GPT-2's order), the merges the next ids in the order
        they were learnt, and `special_tokens` the last ids; GPT-2's pre-tokenizer splits the
        text. See `sqlgpt.train.bpe` for the algorithm and its tie-breaking. `progress` shows a
        bar on stderr. Raises SqlgptError for empty text, bad special tokens, or a
        `vocab_size` below 256 + the specials or above what the text allows.
        """
        from .train.bpe import train_bpe

        trained = train_bpe(text, vocab_size, special_tokens, progress=progress)
        ranks: dict[bytes, int] = {}
        for left, right in trained.merges:
            # As in from_files: a token made by two merges keeps the earlier one's rank.
            ranks.setdefault(left + right, len(ranks))
        return cls(ranks, special_tokens=trained.special_tokens, token_ids=trained.token_ids)

    def save(self, directory: str | Path) -> None:
        """Write Hugging Face `vocab.json` + `merges.txt` into `directory` (created if missing;
        existing files are overwritten), which `from_directory` reads back.

        The ranks do not say which pair each token was merged from, so merges.txt gives the two
        parts that BPE reaches on the token's bytes with only the merges ranked before it (how
        tiktoken vocabularies are converted to Hugging Face's format). Special tokens are
        written in byte-level form like the others ("<|endoftext|>" is unchanged). The
        pre-tokenizer pattern is not saved: `from_directory` assumes GPT-2's unless told.
        """
        directory = Path(directory)
        vocab = dict(self._encoder)
        for special, token_id in self._special.items():
            if vocab.setdefault(special.encode("utf-8"), token_id) != token_id:
                raise SqlgptError(
                    f"special token {special!r} is also an ordinary token: vocab.json cannot "
                    "hold both"
                )
        by_rank = sorted((rank, token) for token, rank in self._ranks.items() if len(token) > 1)
        merges = "".join(
            f"{_to_piece(left)} {_to_piece(right)}\n"
            for left, right in (self._pair_of(token, rank) for rank, token in by_rank)
        )
        ordered = sorted(vocab.items(), key=lambda item: item[1])
        vocab_json = json.dumps({_to_piece(t): i for t, i in ordered}, ensure_ascii=False)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "vocab.json").write_text(vocab_json, encoding="utf-8")
            (directory / "merges.txt").write_text("#version: 0.2\n" + merges, encoding="utf-8")
        except OSError as e:
            raise SqlgptError(
                f"cannot write the tokenizer to {directory}: {e.strerror or e}"
            ) from None

    @property
    def vocab_size(self) -> int:
        """One more than the largest token id (the rows an embedding table needs)."""
        return self._vocab_size

    @property
    def eot_id(self) -> int | None:
        """The id of `<|endoftext|>`, or None if this vocabulary has no such special token."""
        return self._special.get(ENDOFTEXT)

    @property
    def merge_ranks(self) -> Mapping[bytes, int]:
        """Each token's bytes -> its merge rank (lower merges first), read-only."""
        return MappingProxyType(self._ranks)

    @property
    def special_tokens(self) -> dict[str, int]:
        """The special tokens (text -> id)."""
        return dict(self._special)

    def encode(self, text: str, *, allowed_special: Iterable[str] | str = ()) -> list[int]:
        """Encode text to token ids.

        Special tokens are recognised only if listed in `allowed_special` (or it is "all");
        otherwise their text is encoded like any other text, e.g. `<|endoftext|>` becomes
        `<`, `|`, `end`, ... Raises SqlgptError if `text` has lone surrogates.
        """
        if allowed_special == "all":
            allowed = set(self._special)
        elif isinstance(allowed_special, str):
            raise SqlgptError('allowed_special must be "all" or a set of special tokens')
        else:
            allowed = set(allowed_special)
        unknown = allowed - self._special.keys()
        if unknown:
            raise SqlgptError(
                f"unknown special token(s) {sorted(unknown)}; known: {sorted(self._special)}"
            )
        if not allowed:
            return self._encode_ordinary(text)

        # Longest first, so that a special token that is a prefix of another does not win.
        by_length = sorted(allowed, key=len, reverse=True)
        specials = regex.compile("|".join(map(regex.escape, by_length)))
        ids: list[int] = []
        start = 0
        for m in specials.finditer(text):
            ids += self._encode_ordinary(text[start : m.start()])
            ids.append(self._special[m.group()])
            start = m.end()
        ids += self._encode_ordinary(text[start:])
        return ids

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes that `ids` stand for (a token may hold part of a UTF-8 character)."""
        try:
            return b"".join(map(self._decoder.__getitem__, ids))
        except KeyError as e:
            raise SqlgptError(
                f"token id {e.args[0]!r} is not in the vocabulary (size {self._vocab_size})"
            ) from None
        except TypeError:
            raise SqlgptError("decoding needs a sequence of integer token ids") from None

    def decode(self, ids: Iterable[int]) -> str:
        """Decode ids to text; bytes that are not valid UTF-8 become U+FFFD (as tiktoken does)."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes of one token."""
        return self.decode_bytes([token_id])

    def id_to_piece(self, token_id: int) -> str:
        """One token as printable text: a special token's text, else GPT-2's byte-level form
        (as in vocab.json, e.g. "Ġthe" for " the"), which shows spaces and partial characters."""
        data = self.token_bytes(token_id)
        if token_id in self._special.values():
            return data.decode("utf-8")
        return "".join(_BYTE_TO_UNICODE[b] for b in data)

    def _pair_of(self, token: bytes, rank: int) -> tuple[bytes, bytes]:
        """The two tokens merged into `token`: BPE on its bytes using only lower ranks."""
        parts = [token[i : i + 1] for i in range(len(token))]
        while len(parts) > 2:
            candidates = [
                (r, i)
                for i in range(len(parts) - 1)
                if (r := self._ranks.get(parts[i] + parts[i + 1], rank)) < rank
            ]
            if not candidates:
                break
            _, i = min(candidates)
            parts[i : i + 2] = [parts[i] + parts[i + 1]]
        if len(parts) != 2:
            raise SqlgptError(
                f"token {_to_piece(token)!r} is not a merge of two lower-ranked tokens, so "
                "merges.txt cannot express it"
            )
        return parts[0], parts[1]

    def _encode_ordinary(self, text: str) -> list[int]:
        ids: list[int] = []
        cache = self._cache
        for piece in self._regex.findall(text):
            piece_ids = cache.get(piece)
            if piece_ids is None:
                piece_ids = self._encode_piece(piece)
            ids += piece_ids
        return ids

    def _encode_piece(self, piece: str) -> tuple[int, ...]:
        try:
            data = piece.encode("utf-8")
        except UnicodeEncodeError as e:
            raise SqlgptError(
                f"cannot encode text with a lone surrogate (U+{ord(piece[e.start]):04X}): "
                "it is not valid Unicode"
            ) from None
        ids = tuple(self._encoder[part] for part in self._merge(data))
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[piece] = ids
        return ids

    def _merge(self, data: bytes) -> list[bytes]:
        """BPE-merge one pre-token's bytes into tokens.

        Equivalent to repeatedly merging the lowest-ranked (then leftmost) adjacent pair, but
        with a heap of candidate merges, so a long pre-token (a run of 100k spaces) costs
        O(n log n), not O(n^2). Parts are spans data[start:end[start]]; a merged-away part has
        end 0; stale heap entries are skipped when popped.
        """
        n = len(data)
        if n < 2:
            return [data]
        ranks = self._ranks
        end = list(range(1, n + 1))
        prev = list(range(-1, n - 1))
        heap = [
            (r, i, i + 2) for i in range(n - 1) if (r := ranks.get(data[i : i + 2])) is not None
        ]
        heapq.heapify(heap)
        while heap:
            _, i, j = heapq.heappop(heap)
            mid = end[i]
            # Stale unless part i is still alive and its right neighbour still ends at j.
            if mid == 0 or mid >= n or end[mid] != j:
                continue
            end[i], end[mid] = j, 0
            if j < n:
                prev[j] = i
                if (r := ranks.get(data[i : end[j]])) is not None:
                    heapq.heappush(heap, (r, i, end[j]))
            if (p := prev[i]) >= 0 and (r := ranks.get(data[p:j])) is not None:
                heapq.heappush(heap, (r, p, j))
        parts = []
        i = 0
        while i < n:
            parts.append(data[i : end[i]])
            i = end[i]
        return parts
