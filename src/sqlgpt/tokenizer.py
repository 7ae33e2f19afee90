r"""Byte-level BPE tokenizer, exactly as GPT-2 (and tiktoken) does it, in pure Python.

What it does:
- Splits text into pre-tokens with a regex (GPT-2's pattern by default, or any tiktoken-style
  pattern such as cl100k_base's, or several applied in turn), then merges each pre-token's
  UTF-8 bytes with byte pair encoding: repeatedly join the adjacent pair whose concatenation
  has the lowest merge rank, leftmost first, until no adjacent pair is a token. This is
  tiktoken's algorithm; on GPT-2's files it gives the same ids as OpenAI's original encoder.py
  and as tiktoken's "gpt2".
- Reads Hugging Face `vocab.json` + `merges.txt` (the same formats as OpenAI's `encoder.json` +
  `vocab.bpe`) and tiktoken `.tiktoken` rank files. With merges files the merge order is the
  line order of the merges file and the ids come from vocab.json, so the two may differ.
- Reads a Hugging Face `tokenizer.json` of byte-level BPE (SmolLM2, Qwen2.5, Llama 3; the
  format is read by `sqlgpt.hf_tokenizer`) and gives the ids Hugging Face tokenizers gives
  without its post-processor. Its merges rank *pairs* of tokens, as tokenizers does: when two
  merges make the same token, ranking the merged bytes instead can merge differently. It may
  also NFC-normalise the text and emit a pre-token that is itself a token whole
  (`ignore_merges`). A directory's tokenizer.json wins over its vocab.json + merges.txt.
- Special tokens such as `<|endoftext|>` are recognised only where the caller allows them;
  otherwise they are encoded as ordinary text. Non-special added tokens (tokenizer.json's, say
  Qwen2.5's `<tool_call>`) are ordinary words of the vocabulary: always recognised, as
  tokenizers does.
- Reports how the model uses its tokens, without applying it: `bos_id`, `adds_bos`, `eos_ids`
  and `chat_template`, from tokenizer.json's post-processor, `tokenizer_config.json` and
  `generation_config.json`.
- Caches the ids of each distinct pre-token, so long natural text encodes at several MB/s.
- Trains a new vocabulary from text (`Tokenizer.train`, the algorithm is in `sqlgpt.train.bpe`)
  and writes any vocabulary as `vocab.json` + `merges.txt` (`save`).

What it does not do:
- Handle any tokenizer other than byte-level BPE, normalise other than NFC, add prefix spaces,
  or add a BOS in `encode` (see `adds_bos`). `sqlgpt.hf_tokenizer` lists what it refuses.
  No dependency on tiktoken or Hugging Face tokenizers.
- Pin a Unicode version: `\p{L}` and `\p{N}` follow the installed `regex` package, so a
  character assigned only in a newer Unicode than another tokenizer's tables (say one from
  Unicode 17 against tiktoken 0.14's Unicode 16) may be split differently there.
"""

from __future__ import annotations

import base64
import heapq
import json
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

import regex

from .bytelevel import (
    CL100K_PATTERN,
    ENDOFTEXT,
    GPT2_PATTERN,
    bytes_to_unicode,
    replace_outside_classes,
)
from .errors import SqlgptError
from .hf_tokenizer import Conventions, read_conventions, read_tokenizer_json

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
    try:
        compiled = regex.compile(replace_outside_classes(pattern, {"$": r"\Z"}))
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
        pattern: str | Sequence[str] = GPT2_PATTERN,
        special_tokens: Mapping[str, int] | None = None,
        token_ids: Mapping[bytes, int] | None = None,
        pair_ranks: Mapping[tuple[bytes, bytes], int] | None = None,
        added_tokens: Mapping[str, int] | None = None,
        normalized_added_tokens: Mapping[str, int] | None = None,
        normalizer: str | None = None,
        ignore_merges: bool = False,
        conventions: Conventions | None = None,
    ) -> None:
        """Build from merge ranks (token bytes -> priority, lower merges first).

        `token_ids` maps every ordinary token's bytes to its id; leave it out when ids equal
        ranks (tiktoken files). All 256 single bytes must be tokens, so any text can be encoded.
        `pattern` may be several patterns, each splitting every piece the one before made
        (none: the text is one pre-token).

        Hugging Face's tokenizer.json adds the rest (`from_tokenizer_json` passes them):
        `pair_ranks` ranks (left, right) pairs instead of merged bytes; `added_tokens` are
        non-special tokens always recognised in the text, `normalized_added_tokens` the same
        but looked for after `normalizer` ("NFC" or None); `ignore_merges` emits a pre-token
        that is a token whole; `conventions` holds what `bos_id`, `adds_bos`, `eos_ids` and
        `chat_template` report.
        """
        self._ranks = dict(mergeable_ranks)
        self._pair_ranks = None if pair_ranks is None else dict(pair_ranks)
        self._encoder = dict(mergeable_ranks if token_ids is None else token_ids)
        self._special = dict(special_tokens or {})
        self._added = dict(added_tokens or {})
        self._normalized_added = dict(normalized_added_tokens or {})
        if normalizer not in (None, "NFC"):
            raise SqlgptError(f"unknown normalizer {normalizer!r}: NFC or None")
        self._normalizer = normalizer
        self._ignore_merges = ignore_merges
        self._patterns = (pattern,) if isinstance(pattern, str) else tuple(pattern)
        self._splitters = tuple(map(_compile_pattern, self._patterns))
        self._cache: dict[str, tuple[int, ...]] = {}
        # Every token that is matched as text rather than made by BPE.
        self._text_tokens = {**self._special, **self._added, **self._normalized_added}

        missing = [b for b in range(256) if bytes([b]) not in self._encoder]
        if missing:
            raise SqlgptError(
                f"the vocabulary lacks {len(missing)} single-byte tokens (e.g. byte "
                f"{missing[0]:#04x}); byte-level BPE needs all 256"
            )
        self._decoder = {i: t for t, i in self._encoder.items()}
        self._decoder.update((i, s.encode("utf-8")) for s, i in self._text_tokens.items())
        if len(self._decoder) != len(self._encoder) + len(self._text_tokens):
            raise SqlgptError("the vocabulary gives the same token id to two different tokens")
        self._vocab_size = max(self._decoder) + 1
        eot = self._special.get(ENDOFTEXT)
        self._conventions = conventions or Conventions(eos_ids=() if eot is None else (eot,))

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
        pattern: str | None = None,
        special_tokens: Mapping[str, int] | None = None,
    ) -> Tokenizer:
        """Load a directory's `tokenizer.json` (as `from_tokenizer_json` does) or else its
        `vocab.json` + `merges.txt` (or `encoder.json` + `vocab.bpe`, as `from_files` does, with
        `pattern` or GPT-2's); then the conventions its `tokenizer_config.json`,
        `generation_config.json` and `chat_template.jinja` state (see `bos_id` etc.).

        tokenizer.json wins when both are there: it is the complete description (Qwen2.5 ships
        both, and its vocab.json lacks the added tokens and the pre-tokenizer). It states its
        own pattern and special tokens, so passing them for one is an error.
        """
        directory = Path(directory)
        if (directory / "tokenizer.json").exists():
            if pattern is not None or special_tokens is not None:
                raise SqlgptError(
                    f"{directory / 'tokenizer.json'} states its own pre-tokenizer and special "
                    "tokens: do not pass pattern or special_tokens"
                )
            tokenizer = cls.from_tokenizer_json(directory / "tokenizer.json")
        else:
            for vocab, merges in (("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe")):
                if (directory / vocab).exists() or (directory / merges).exists():
                    tokenizer = cls.from_files(
                        directory / vocab, directory / merges,
                        pattern=GPT2_PATTERN if pattern is None else pattern,
                        special_tokens=special_tokens,
                    )
                    break
            else:
                raise SqlgptError(
                    f"no tokenizer in {directory}: expected tokenizer.json, or vocab.json and "
                    "merges.txt"
                )
        tokenizer._conventions = read_conventions(
            directory, tokenizer.token_to_id, tokenizer._conventions
        )
        return tokenizer

    @classmethod
    def from_tokenizer_json(cls, path: str | Path) -> Tokenizer:
        """Load a Hugging Face `tokenizer.json` of byte-level BPE; anything else (WordPiece,
        Unigram, BPE without ByteLevel...) is refused with one SqlgptError line.

        `encode` then gives the ids of tokenizers' `encode(text, add_special_tokens=False)`
        (with `allowed_special="all"` where the text holds special tokens). BOS is what the
        post-processor would put first; EOS is `<|endoftext|>` if there is one (the config
        files that `from_directory` reads say more).
        """
        path = Path(path)
        hf = read_tokenizer_json(path)
        ranks: dict[bytes, int] = {}
        for rank, (left, right) in enumerate(hf.merges):
            ranks.setdefault(left + right, rank)
        eot = hf.special_tokens.get(ENDOFTEXT)
        conventions = Conventions(
            bos_id=hf.template_bos_id,
            eos_ids=() if eot is None else (eot,),
            adds_bos=hf.template_bos_id is not None,
        )
        try:
            return cls(
                ranks,
                pattern=hf.patterns,
                special_tokens=hf.special_tokens,
                token_ids=hf.token_ids,
                # A pair listed twice keeps its last rank, as tokenizers' map of merges does.
                pair_ranks={pair: rank for rank, pair in enumerate(hf.merges)},
                added_tokens=hf.added_tokens,
                normalized_added_tokens=hf.normalized_added_tokens,
                normalizer=hf.normalizer,
                ignore_merges=hf.ignore_merges,
                conventions=conventions,
            )
        except SqlgptError as e:
            raise SqlgptError(f"{path}: {e}") from None

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
        pre-tokenizer pattern is not saved: `from_directory` assumes GPT-2's unless told. A
        tokenizer with pair ranks, added tokens or a normalizer (a tokenizer.json's) cannot be
        written this way: keep its tokenizer.json.
        """
        if self._pair_ranks is not None or self._added or self._normalized_added or self._normalizer:
            raise SqlgptError(
                "vocab.json + merges.txt cannot hold this tokenizer's pair ranks, added tokens or "
                "normalizer: keep the tokenizer.json it came from"
            )
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
        """The id of the special token `<|endoftext|>`, or None if there is none.

        GPT-2's document separator; Qwen2.5 and SmolLM2 have it too (Qwen2.5's pads and ends
        pretraining documents, SmolLM2's is also its BOS and EOS). Llama 3 has none (its
        `<|end_of_text|>` is among `eos_ids`): for such models use `bos_id` and `eos_ids`.
        """
        return self._special.get(ENDOFTEXT)

    @property
    def bos_id(self) -> int | None:
        """The token a model's input starts with, if it has one (`adds_bos` says whether the
        model expects it; `encode` never adds it)."""
        return self._conventions.bos_id

    @property
    def adds_bos(self) -> bool:
        """Whether Hugging Face would put `bos_id` before the text (its post-processor, or
        `add_bos_token` in tokenizer_config.json). False for GPT-2."""
        return self._conventions.adds_bos

    @property
    def eos_ids(self) -> tuple[int, ...]:
        """The tokens that end generation: generation_config.json's `eos_token_id`, else
        tokenizer_config.json's `eos_token`, else `<|endoftext|>` if there is one."""
        return self._conventions.eos_ids

    @property
    def chat_template(self) -> str | None:
        """The chat template's raw Jinja source (tokenizer_config.json or chat_template.jinja),
        or None. Nothing here renders it."""
        return self._conventions.chat_template

    @property
    def merge_ranks(self) -> Mapping[bytes, int]:
        """Each token's bytes -> its merge rank (lower merges first), read-only. With
        `pair_ranks` a token's rank is that of the first merge making it."""
        return MappingProxyType(self._ranks)

    @property
    def pair_ranks(self) -> Mapping[tuple[bytes, bytes], int] | None:
        """(left, right) -> rank when BPE ranks pairs (a tokenizer.json's), read-only; None when
        it ranks the merged bytes (`merge_ranks`, tiktoken's rule)."""
        return None if self._pair_ranks is None else MappingProxyType(self._pair_ranks)

    @property
    def patterns(self) -> tuple[str, ...]:
        """The pre-tokenizer: patterns applied in turn, each `findall` splitting every piece
        the one before made (none: the text is one pre-token)."""
        return self._patterns

    @property
    def special_tokens(self) -> dict[str, int]:
        """The special tokens (text -> id)."""
        return dict(self._special)

    @property
    def added_tokens(self) -> dict[str, int]:
        """The non-special added tokens (text -> id), always recognised in text."""
        return {**self._added, **self._normalized_added}

    def token_to_id(self, text: str) -> int | None:
        """The id of the token whose text is `text` (special, added or ordinary), else None."""
        found = self._text_tokens.get(text)
        return self._encoder.get(text.encode("utf-8", "surrogatepass")) if found is None else found

    def encode(self, text: str, *, allowed_special: Iterable[str] | str = ()) -> list[int]:
        """Encode text to token ids.

        Special tokens are recognised only if listed in `allowed_special` (or it is "all");
        otherwise their text is encoded like any other text, e.g. `<|endoftext|>` becomes
        `<`, `|`, `end`, ... Non-special added tokens are always recognised. No BOS is added
        (see `adds_bos`). Raises SqlgptError if `text` has lone surrogates.
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
        tokens = {**{s: self._special[s] for s in allowed}, **self._added}
        if not tokens:
            return self._encode_ordinary(text)
        return self._encode_around(text, tokens, self._encode_ordinary)

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
        if token_id in self._text_tokens.values():
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

    @staticmethod
    def _encode_around(
        text: str, tokens: Mapping[str, int], encode_rest: Callable[[str], list[int]]
    ) -> list[int]:
        """`tokens` where their text occurs, `encode_rest` for the text between them."""
        # Longest first: at one position the longest token wins, as in tokenizers.
        by_length = sorted(tokens, key=len, reverse=True)
        matcher = regex.compile("|".join(map(regex.escape, by_length)))
        ids: list[int] = []
        start = 0
        for m in matcher.finditer(text):
            ids += encode_rest(text[start : m.start()])
            ids.append(tokens[m.group()])
            start = m.end()
        ids += encode_rest(text[start:])
        return ids

    def _encode_ordinary(self, text: str) -> list[int]:
        """Ids of text without special tokens or raw-matched added tokens."""
        if self._normalizer is not None:
            text = unicodedata.normalize(self._normalizer, text)
        if self._normalized_added:
            return self._encode_around(text, self._normalized_added, self._encode_pre_tokens)
        return self._encode_pre_tokens(text)

    def _encode_pre_tokens(self, text: str) -> list[int]:
        ids: list[int] = []
        cache = self._cache
        for piece in self._pre_tokens(text):
            piece_ids = cache.get(piece)
            if piece_ids is None:
                piece_ids = self._encode_piece(piece)
            ids += piece_ids
        return ids

    def _pre_tokens(self, text: str) -> list[str]:
        if not self._splitters:
            return [text] if text else []
        first, *rest = self._splitters
        pieces = first.findall(text)
        for splitter in rest:
            pieces = [p for piece in pieces for p in splitter.findall(piece)]
        return pieces

    def _encode_piece(self, piece: str) -> tuple[int, ...]:
        try:
            data = piece.encode("utf-8")
        except UnicodeEncodeError as e:
            raise SqlgptError(
                f"cannot encode text with a lone surrogate (U+{ord(piece[e.start]):04X}): "
                "it is not valid Unicode"
            ) from None
        whole = self._encoder.get(data) if self._ignore_merges else None
        if whole is not None:
            ids: tuple[int, ...] = (whole,)
        else:
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
        end 0; stale heap entries are skipped when popped. The rank of parts data[i:mid] and
        data[mid:j] is that of the pair with `pair_ranks`, else that of the merged bytes.
        """
        n = len(data)
        if n < 2:
            return [data]
        if self._pair_ranks is None:
            rank_of_bytes = self._ranks.get

            def rank(i: int, mid: int, j: int) -> int | None:
                return rank_of_bytes(data[i:j])
        else:
            rank_of_pair = self._pair_ranks.get

            def rank(i: int, mid: int, j: int) -> int | None:
                return rank_of_pair((data[i:mid], data[mid:j]))

        end = list(range(1, n + 1))
        prev = list(range(-1, n - 1))
        heap = [(r, i, i + 2) for i in range(n - 1) if (r := rank(i, i + 1, i + 2)) is not None]
        heapq.heapify(heap)
        while heap:
            _, i, j = heapq.heappop(heap)
            mid = end[i]
            # Stale unless part i is still alive and its right neighbour still ends at j. Parts
            # only grow, so the pair is then the very one that was pushed.
            if mid == 0 or mid >= n or end[mid] != j:
                continue
            end[i], end[mid] = j, 0
            if j < n:
                prev[j] = i
                if (r := rank(i, j, end[j])) is not None:
                    heapq.heappush(heap, (r, i, end[j]))
            if (p := prev[i]) >= 0 and (r := rank(p, i, j)) is not None:
                heapq.heappush(heap, (r, p, j))
        parts = []
        i = 0
        while i < n:
            parts.append(data[i : end[i]])
            i = end[i]
        return parts
