r"""Reads a Hugging Face `tokenizer.json` that describes byte-level BPE (SmolLM2, Qwen2.5,
Llama 3...) into plain data that `sqlgpt.tokenizer.Tokenizer` is built from, and the model's
conventions (BOS, EOS, chat template) from `tokenizer_config.json` and `generation_config.json`.

What it reads:
- `model`: BPE with `vocab`, `merges` ("a b" strings or [a, b] lists; their order is each
  pair's rank) and `ignore_merges`.
- `normalizer`: null or NFC.
- `pre_tokenizer`: ByteLevel (`use_regex` true or false, `add_prefix_space` false), Split
  (a Regex or String pattern, behaviour Isolated, not inverted), Digits, and a Sequence of
  those, with ByteLevel last. Each splitting step becomes a pattern whose `findall` gives the
  pieces that step makes (the matches and the text between them), so the tokenizer needs one
  kind of step only. Oniguruma's `^` and `$` (line anchors) are rewritten for the `regex`
  package; other Oniguruma-only syntax (say `\h`) is read as `regex` reads it.
- `added_tokens`: special ones, and non-special ones with whether they are matched before or
  after normalisation (`normalized`).
- `decoder`: ByteLevel or null; `post_processor`: only to learn which token it puts first.

What it does not do:
- Build a tokenizer or encode anything (`tokenizer.py` does).
- Read WordPiece, Unigram, BPE without ByteLevel, `byte_fallback`, subword prefixes or
  suffixes, dropout, other normalizers, pre-tokenizers or decoders, `add_prefix_space`, Split
  patterns that match the empty string, or added tokens with `lstrip`, `rstrip` or
  `single_word`: each is refused with one SqlgptError line.
- Apply the post-processor: a BOS it would add is reported (`template_bos_id`), not added.
- Read truncation or padding (a model's concern, not the tokenizer's).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regex

from .bytelevel import GPT2_PATTERN, bytes_to_unicode, replace_outside_classes
from .errors import SqlgptError

_UNICODE_TO_BYTE = {c: b for b, c in bytes_to_unicode().items()}

# Oniguruma (Ruby syntax, as tokenizers compiles patterns) anchors at line ends and starts.
_ONIGURUMA_ANCHORS = {"$": r"(?=\n|\Z)", "^": r"(?:(?<=\n)|\A)"}


@dataclass(frozen=True)
class HfBpe:
    """What a tokenizer.json says, in the terms of sqlgpt's Tokenizer."""

    token_ids: dict[bytes, int]  # ordinary tokens (the BPE vocabulary, less any added tokens)
    merges: list[tuple[bytes, bytes]]  # in rank order, first merges first
    patterns: tuple[str, ...]  # applied in turn, each to every piece the previous one made
    normalizer: str | None  # None or "NFC"
    ignore_merges: bool
    special_tokens: dict[str, int]
    added_tokens: dict[str, int]  # non-special, matched in the raw text
    normalized_added_tokens: dict[str, int]  # non-special, matched after normalisation
    template_bos_id: int | None  # the token the post-processor puts before the text


@dataclass(frozen=True)
class Conventions:
    """How a model uses its tokenizer: facts for callers, never applied by `encode`."""

    bos_id: int | None = None
    eos_ids: tuple[int, ...] = ()
    adds_bos: bool = False  # whether the model expects bos_id before the text
    chat_template: str | None = None  # the raw Jinja source


def read_tokenizer_json(path: Path) -> HfBpe:
    """Read `path`; raise SqlgptError for a file that is unreadable or not byte-level BPE."""
    try:
        spec = json.loads(path.read_bytes())
    except OSError as e:
        raise SqlgptError(f"cannot read tokenizer file {path}: {e.strerror or e}") from None
    except ValueError as e:
        raise SqlgptError(f"{path} is not valid JSON: {e}") from None
    try:
        return _read(spec)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise SqlgptError(f"{path} is not a valid tokenizer.json: {type(e).__name__} {e}") from None
    except SqlgptError as e:
        raise SqlgptError(f"{path}: {e}") from None


def _read(spec: dict[str, Any]) -> HfBpe:
    model = spec["model"]
    if model.get("type") != "BPE":
        raise SqlgptError(f"{model.get('type')} tokenizers are not supported, only byte-level BPE")
    for key in ("continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(key):
            raise SqlgptError(f"BPE with a {key} is not supported, only byte-level BPE")
    if model.get("byte_fallback"):
        raise SqlgptError("BPE with byte_fallback is not supported, only byte-level BPE")
    if model.get("dropout"):
        raise SqlgptError("BPE dropout is not supported: encoding must be deterministic")

    patterns = _pre_tokenizer(spec.get("pre_tokenizer"))
    normalizer = _normalizer(spec.get("normalizer"))
    decoder = spec.get("decoder")
    if decoder is not None and decoder.get("type") != "ByteLevel":
        raise SqlgptError(f"the {decoder.get('type')} decoder is not supported, only ByteLevel")

    special, added, normalized_added = {}, {}, {}
    for token in spec.get("added_tokens") or []:
        content, token_id = token["content"], token["id"]
        for option in ("lstrip", "rstrip", "single_word"):
            if token.get(option):
                raise SqlgptError(f"added token {content!r} has {option} set, which is not supported")
        if token.get("special"):
            special[content] = token_id
        elif token.get("normalized") and normalizer is not None:
            normalized_added[content] = token_id
        else:
            added[content] = token_id
    by_content = {**special, **added, **normalized_added}

    # The vocabulary may hold the added tokens too (a trainer puts its special tokens there),
    # with the same ids; they are then added tokens only, never produced by BPE.
    vocab = model["vocab"]
    token_ids: dict[bytes, int] = {}
    for piece, token_id in vocab.items():
        if piece in by_content:
            if by_content[piece] != token_id:
                raise SqlgptError(
                    f"{piece!r} has id {token_id} in the vocabulary but {by_content[piece]} "
                    "as an added token"
                )
            continue
        token_ids[_piece_bytes(piece, "the vocabulary")] = token_id

    merges = []
    for merge in model["merges"]:
        left, right = merge.split(" ") if isinstance(merge, str) else merge
        for piece in (left, right, left + right):
            if piece not in vocab:
                raise SqlgptError(f"merge {left!r} + {right!r}: {piece!r} is not in the vocabulary")
        # A merge that makes an added token's text only ever meets that text where the caller
        # did not allow the token (tokenizers matches it first): dropped, so BPE cannot emit it.
        if left + right not in by_content:
            merges.append((_piece_bytes(left, "merges"), _piece_bytes(right, "merges")))

    return HfBpe(
        token_ids=token_ids,
        merges=merges,
        patterns=patterns,
        normalizer=normalizer,
        ignore_merges=bool(model.get("ignore_merges")),
        special_tokens=special,
        added_tokens=added,
        normalized_added_tokens=normalized_added,
        template_bos_id=_template_bos(spec.get("post_processor")),
    )


def _piece_bytes(piece: str, where: str) -> bytes:
    try:
        return bytes(map(_UNICODE_TO_BYTE.__getitem__, piece))
    except KeyError:
        raise SqlgptError(
            f"{where} has {piece!r}, which is not in byte-level form: only byte-level BPE is "
            "supported"
        ) from None


def _normalizer(spec: dict[str, Any] | None) -> str | None:
    if spec is None:
        return None
    if spec.get("type") == "NFC":
        return "NFC"
    raise SqlgptError(f"the {spec.get('type')} normalizer is not supported, only NFC or none")


def _pre_tokenizer(spec: dict[str, Any] | None) -> tuple[str, ...]:
    """The splitting steps, as `findall` patterns; checks that ByteLevel comes last."""
    steps = _flatten(spec)
    kinds = [step.get("type") for step in steps]
    if "ByteLevel" not in kinds:
        raise SqlgptError("BPE without a ByteLevel pre-tokenizer is not supported, only byte-level BPE")
    # Steps after ByteLevel would split its byte-level characters, not the text.
    if kinds.index("ByteLevel") != len(kinds) - 1:
        raise SqlgptError("ByteLevel must be the last pre-tokenizer (once)")
    patterns = []
    for step, kind in zip(steps, kinds):
        if kind == "ByteLevel":
            if step.get("add_prefix_space"):
                raise SqlgptError("ByteLevel with add_prefix_space is not supported")
            if step.get("use_regex", True):
                patterns.append(_isolated(GPT2_PATTERN))
        elif kind == "Split":
            if step.get("behavior") != "Isolated" or step.get("invert"):
                raise SqlgptError(
                    f"Split with behavior {step.get('behavior')} (invert "
                    f"{step.get('invert')}) is not supported, only Isolated"
                )
            pattern = step["pattern"]
            if "Regex" in pattern:
                patterns.append(_isolated(replace_outside_classes(pattern["Regex"], _ONIGURUMA_ANCHORS)))
            else:
                patterns.append(_isolated(regex.escape(pattern["String"])))
        elif kind == "Digits":
            # Rust's char::is_numeric is \p{N}. Isolated: each digit alone; else runs of them.
            patterns.append(r"\p{N}|\P{N}+" if step.get("individual_digits") else r"\p{N}+|\P{N}+")
        else:
            raise SqlgptError(
                f"the {kind} pre-tokenizer is not supported (only ByteLevel, Split, Digits)"
            )
    return tuple(patterns)


def _flatten(spec: dict[str, Any] | None) -> list[dict[str, Any]]:
    if spec is None:
        return []
    if spec.get("type") == "Sequence":
        return [step for inner in spec["pretokenizers"] for step in _flatten(inner)]
    return [spec]


def _isolated(pattern: str) -> str:
    """A pattern whose findall gives what tokenizers' Split(pattern, "Isolated") gives: each
    match, and each stretch of text where no match starts, as pieces of their own."""
    try:
        compiled = regex.compile(pattern)
    except regex.error as e:
        raise SqlgptError(f"invalid pre-tokenizer pattern {pattern!r}: {e}") from None
    # An empty match would make an empty piece, which tokenizers drops but findall cannot
    # stand beside a gap; no real pattern matches nothing.
    if compiled.match(""):
        raise SqlgptError(f"the pre-tokenizer pattern {pattern!r} matches the empty string")
    return rf"(?:{pattern})|(?s:(?!(?:{pattern})).)+"


def _template_bos(spec: dict[str, Any] | None) -> int | None:
    """The id of the token the post-processor puts before a single text, if any."""
    if spec is None:
        return None
    kind = spec.get("type")
    if kind == "Sequence":
        ids = [_template_bos(inner) for inner in spec["processors"]]
        return next((i for i in ids if i is not None), None)
    if kind == "ByteLevel":
        return None
    if kind == "TemplateProcessing":
        first = spec["single"][0]
        if "SpecialToken" not in first:
            return None
        ids = spec["special_tokens"][first["SpecialToken"]["id"]]["ids"]
        if len(ids) != 1:
            raise SqlgptError(f"the post-processor puts {len(ids)} tokens first, not one BOS")
        return ids[0]
    if kind in ("RobertaProcessing", "BertProcessing"):
        return spec["cls"][1]
    raise SqlgptError(f"the {kind} post-processor is not supported")


def read_conventions(
    directory: Path, token_id: Callable[[str], int | None], default: Conventions
) -> Conventions:
    """The conventions `directory`'s tokenizer_config.json, generation_config.json and
    chat_template.jinja state, each missing one taken from `default`.

    - bos_id: tokenizer_config's `bos_token` (null: none), else generation_config's
      `bos_token_id`, else the default.
    - eos_ids: generation_config's `eos_token_id` (an id or a list), else tokenizer_config's
      `eos_token`, else the default.
    - adds_bos: tokenizer_config's `add_bos_token` (with a BOS), else the default.
    - chat_template: tokenizer_config's `chat_template` (the one named "default" if it is a
      list), else chat_template.jinja, else the default.
    `token_id` maps a token's text to its id (None if there is no such token).
    """
    config = _read_json(directory / "tokenizer_config.json")
    generation = _read_json(directory / "generation_config.json")

    def resolve(key: str) -> int | None:
        value = config[key]
        if isinstance(value, Mapping):  # transformers' serialised AddedToken
            value = value.get("content")
        if value is None:
            return None
        if not isinstance(value, str) or (found := token_id(value)) is None:
            raise SqlgptError(
                f"{directory / 'tokenizer_config.json'}: {key} {value!r} is not a token of "
                "this tokenizer"
            )
        return found

    bos_id = default.bos_id
    if "bos_token" in config:
        bos_id = resolve("bos_token")
    elif isinstance(generation.get("bos_token_id"), int):
        bos_id = generation["bos_token_id"]

    eos_ids = default.eos_ids
    eos = generation.get("eos_token_id")
    if isinstance(eos, int) or (isinstance(eos, list) and all(isinstance(i, int) for i in eos)):
        eos_ids = (eos,) if isinstance(eos, int) else tuple(eos)
    elif "eos_token" in config:
        eos_ids = () if (found := resolve("eos_token")) is None else (found,)

    adds_bos = default.adds_bos
    if isinstance(config.get("add_bos_token"), bool):
        adds_bos = config["add_bos_token"] and bos_id is not None

    chat_template = config.get("chat_template")
    if isinstance(chat_template, list):
        chat_template = next(
            (t.get("template") for t in chat_template if t.get("name") == "default"), None
        )
    if chat_template is None and (directory / "chat_template.jinja").is_file():
        chat_template = (directory / "chat_template.jinja").read_text(encoding="utf-8")
    if not isinstance(chat_template, str):
        chat_template = default.chat_template
    return Conventions(bos_id, eos_ids, adds_bos, chat_template)


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`, or {} if there is no such file."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as e:
        raise SqlgptError(f"cannot read {path}: {e}") from None
    if not isinstance(data, dict):
        raise SqlgptError(f"{path} is not a JSON object")
    return data
