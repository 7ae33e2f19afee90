"""A Hugging Face tokenizer.json of byte-level BPE (Llama 3's, Qwen2.5's and SmolLM2's ways)
must give exactly Hugging Face tokenizers' ids, round-trip text and report BOS, EOS and the
chat template as its files state them.

tokenizers is the oracle, and builds the files (tests/conftest.py's write_hf_tokenizer trains
them on tests/multilingual_corpus.txt, always here, and on tinyshakespeare from ../shared,
skipped without it); sqlgpt's Tokenizer does not use it. Ids are compared with
`encode(text, add_special_tokens=False)` on tokenizers' side and `allowed_special="all"` on
ours, since tokenizers always recognises special tokens in text.
"""

from __future__ import annotations

import json
import shutil
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqlgpt.errors import SqlgptError
from sqlgpt.tokenizer import Tokenizer, bytes_to_unicode

from .conftest import CHAT_TEMPLATE, HF_STYLES, NO_SHARED, SHARED_DATA, write_byte_bpe

tokenizers = pytest.importorskip("tokenizers")

CORPUS = Path(__file__).with_name("multilingual_corpus.txt")
SHAKESPEARE = SHARED_DATA / "tinyshakespeare" / "input.txt"

TRICKY = [
    "",
    " ",
    "\n",
    "\r\n",
    "a\r\nb\r\n\r\n",
    "x\r",
    "     many      spaces     ",
    "\t\t tabs\t \n",
    "word  \n  word",
    "1234567890 12 3 4567 ١٢٣٤٥٦ ½ ² 2024-01-01 3.14159 1,000,000",
    "I'LL DON'T We'Ve It'S 'S'T'RE'M'D rock'n'roll ''quoted''",
    "日本語とEnglishと한국어 mixed Ελληνικά русский עברית العربية",
    "emoji 👍🏽 🇫🇷 👨‍👩‍👧 🤖!",
    "e\u0301 café cafe\u0301 A\u030a Å \u1e9b\u0323 \u0041\u0308\u0301 한 \u1112\u1161\u11ab",
    "\x1c\x1d\x1e\x1f\x85\x0b\x0c\u2028\u00a0 \u3000x",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>",
    "<|endoftext|><|endoftext|>x<|end_of_text|> <|im_start",
    '<tool_call>{"name": "f"}</tool_call> e\u0301! é! é!<tool_call>',
    "a<|eot_id|>b <|eot_id|> <|eot_id|>\n",
]


def read_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as f:
        return f.read().splitlines(keepends=True)


def pair(directory: Path):
    """sqlgpt's tokenizer and tokenizers' for one directory."""
    return Tokenizer.from_directory(directory), tokenizers.Tokenizer.from_file(str(directory / "tokenizer.json"))


def assert_same_ids(ours: Tokenizer, ref, texts: list[str]) -> None:
    expected = [e.ids for e in ref.encode_batch(texts, add_special_tokens=False)]
    for text, ids in zip(texts, expected):
        assert ours.encode(text, allowed_special="all") == ids, text


def expected_text(style: str, text: str) -> str:
    return unicodedata.normalize("NFC", text) if style == "qwen2" else text


# ---------------------------------------------------------------- ids, against tokenizers


@pytest.mark.parametrize("trained_on", ["multilingual", "shakespeare"])
@pytest.mark.parametrize("style", HF_STYLES)
def test_corpus_lines(hf_tokenizer_dir, style: str, trained_on: str) -> None:
    ours, ref = pair(hf_tokenizer_dir(style, trained_on))
    lines = read_lines(CORPUS)
    assert_same_ids(ours, ref, lines + ["".join(lines)])


@pytest.mark.parametrize("trained_on", ["multilingual", "shakespeare"])
@pytest.mark.parametrize("style", HF_STYLES)
def test_tinyshakespeare_lines(hf_tokenizer_dir, style: str, trained_on: str) -> None:
    if not SHAKESPEARE.is_file():
        pytest.skip(NO_SHARED)
    ours, ref = pair(hf_tokenizer_dir(style, trained_on))
    assert_same_ids(ours, ref, read_lines(SHAKESPEARE))


@pytest.mark.parametrize("style", HF_STYLES)
def test_tricky_strings(hf_tokenizer_dir, style: str) -> None:
    ours, ref = pair(hf_tokenizer_dir(style))
    assert_same_ids(ours, ref, TRICKY)


@pytest.mark.parametrize("style", HF_STYLES)
def test_round_trip(hf_tokenizer_dir, style: str) -> None:
    ours, ref = pair(hf_tokenizer_dir(style))
    for text in TRICKY + read_lines(CORPUS):
        ids = ours.encode(text, allowed_special="all")
        assert ours.decode(ids) == expected_text(style, text)
        # tokenizers' ByteLevel decoder reads a non-ASCII added token ("é!") as byte-level
        # characters and mangles it; elsewhere it must agree.
        if "\u00e9!" not in expected_text(style, text):
            assert ours.decode(ids) == ref.decode(ids, skip_special_tokens=False)


@pytest.mark.parametrize("style", HF_STYLES)
@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=40))
def test_any_text(hf_tokenizer_dir, style: str, text: str) -> None:
    ours, ref = pair(hf_tokenizer_dir(style))
    assert ours.encode(text, allowed_special="all") == ref.encode(text, add_special_tokens=False).ids
    assert ours.decode(ours.encode(text)) == expected_text(style, text)


# ---------------------------------------------------------------- special and added tokens


@pytest.mark.parametrize("style", HF_STYLES)
def test_special_tokens_only_where_allowed(hf_tokenizer_dir, style: str) -> None:
    """Without allowed_special, a special token's text is ordinary text (sqlgpt's safe rule)."""
    ours, ref = pair(hf_tokenizer_dir(style))
    specials = {t.content: i for i, t in ref.get_added_tokens_decoder().items() if t.special}
    assert ours.special_tokens == specials
    text = "".join(specials) + " and " + " ".join(specials)
    ids = ours.encode(text)
    assert not set(ids) & set(specials.values())
    assert ours.decode(ids) == text
    one = next(iter(specials))
    assert ours.encode(text, allowed_special={one}).count(specials[one]) == 2


def test_non_special_added_tokens_always_match(hf_tokenizer_dir) -> None:
    """Qwen2.5's way: <tool_call> is matched in the raw text, "é!" in the NFC-normalised text."""
    ours, ref = pair(hf_tokenizer_dir("qwen2"))
    tool_call, e_bang = ref.token_to_id("<tool_call>"), ref.token_to_id("\u00e9!")
    assert ours.added_tokens == {"<tool_call>": tool_call, "\u00e9!": e_bang}
    for text in ["<tool_call>x", "e\u0301!", "<tool_call>\u0338", "e\u0301!\u0338"]:
        ids = ours.encode(text)  # no special tokens needed
        assert ids == ref.encode(text, add_special_tokens=False).ids
        assert ours.decode(ids) == "".join(unicodedata.normalize("NFC", part) for part in text.partition("<tool_call>"))
    # ">" + U+0338 is "≯" under NFC: the raw match takes "<tool_call>" first, as tokenizers does.
    assert ours.encode("<tool_call>\u0338")[0] == tool_call
    assert ours.encode("e\u0301!")[0] == e_bang


# ---------------------------------------------------------------- conventions


def test_llama3_conventions(hf_tokenizer_dir) -> None:
    directory = hf_tokenizer_dir("llama3")
    ours, ref = pair(directory)
    generation = json.loads((directory / "generation_config.json").read_text(encoding="utf-8"))
    assert ours.bos_id == ref.token_to_id("<|begin_of_text|>") == generation["bos_token_id"]
    assert ours.adds_bos and ref.encode("hi").ids[0] == ours.bos_id  # the post-processor adds it
    assert ours.eos_ids == tuple(generation["eos_token_id"])
    assert ours.eos_ids == (ref.token_to_id("<|end_of_text|>"), ref.token_to_id("<|eot_id|>"))
    assert ours.chat_template == CHAT_TEMPLATE
    assert ours.eot_id is None  # no <|endoftext|>
    assert ours.token_to_id("<|eot_id|>") == ref.token_to_id("<|eot_id|>")


def test_qwen2_conventions(hf_tokenizer_dir) -> None:
    directory = hf_tokenizer_dir("qwen2")
    ours, ref = pair(directory)
    config = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert ours.bos_id is None and not ours.adds_bos
    assert ref.encode("hi").ids == ref.encode("hi", add_special_tokens=False).ids
    assert ours.eos_ids == (ref.token_to_id("<|im_end|>"),)  # no generation_config.json
    assert ours.chat_template == config["chat_template"]
    assert ours.eot_id == ref.token_to_id("<|endoftext|>")


def test_smollm2_conventions(hf_tokenizer_dir) -> None:
    ours, ref = pair(hf_tokenizer_dir("smollm2"))  # no config files
    assert ours.bos_id is None and not ours.adds_bos and ours.chat_template is None
    assert ours.eot_id == ref.token_to_id("<|endoftext|>") == 0
    assert ours.eos_ids == (0,)


def test_config_files_override(hf_tokenizer_dir, tmp_path: Path) -> None:
    directory = shutil.copytree(hf_tokenizer_dir("smollm2"), tmp_path / "smol")
    config = {"bos_token": {"content": "<|im_start|>"}, "add_bos_token": True, "eos_token": "<|im_end|>"}
    (directory / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    (directory / "chat_template.jinja").write_text("{{ bos_token }}", encoding="utf-8")
    ours, ref = pair(directory)
    assert ours.bos_id == ref.token_to_id("<|im_start|>") and ours.adds_bos
    assert ours.eos_ids == (ref.token_to_id("<|im_end|>"),)
    assert ours.chat_template == "{{ bos_token }}"
    (directory / "tokenizer_config.json").write_text('{"eos_token": "<|no_such|>"}', encoding="utf-8")
    with pytest.raises(SqlgptError, match="not a token"):
        Tokenizer.from_directory(directory)


def test_gpt2_directory_conventions(tmp_path: Path) -> None:
    eot = write_byte_bpe(tmp_path)
    tokenizer = Tokenizer.from_directory(tmp_path)
    assert (tokenizer.bos_id, tokenizer.adds_bos, tokenizer.eos_ids, tokenizer.chat_template) == (None, False, (eot,), None)


# ---------------------------------------------------------------- ranks and merges


def tiny_tokenizer_json(directory: Path, merges: list[tuple[str, str]], extra: list[str] = (), ignore_merges: bool = False,
                        pre_tokenizers: list | None = None, specials: list[str] = ()) -> Path:
    """tokenizers' own file for a BPE over the 256 bytes plus `extra` tokens and `merges`,
    splitting with `pre_tokenizers` and then ByteLevel (GPT-2's regex if there are none), with
    `specials` added as special tokens."""
    from tokenizers import decoders, models
    from tokenizers import pre_tokenizers as pre

    vocab = {c: i for i, c in enumerate(bytes_to_unicode().values())}
    for token in [a + b for a, b in merges] + list(extra):
        vocab.setdefault(token, len(vocab))
    tokenizer = tokenizers.Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=ignore_merges))
    tokenizer.pre_tokenizer = pre.Sequence(
        [*(pre_tokenizers or []), pre.ByteLevel(add_prefix_space=False, use_regex=not pre_tokenizers)]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(list(specials))
    directory.mkdir()
    tokenizer.save(str(directory / "tokenizer.json"))
    (directory / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (directory / "merges.txt").write_text("".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
    return directory


def test_pairs_are_ranked_not_merged_bytes(tmp_path: Path) -> None:
    """"abc" is made by two merges. Ranked as a pair, (ab, c) comes after (c, d), so "abcd" is
    ab + cd; ranked by its bytes, "abc" takes the rank of (a, bc) and wins: abc + d."""
    merges = [("a", "b"), ("b", "c"), ("a", "bc"), ("c", "d"), ("ab", "c")]
    directory = tiny_tokenizer_json(tmp_path / "tiny", merges)
    ours, ref = pair(directory)
    texts = ["abcd", "abc", "xabcd abcd bcd", "ababcdcd"]
    assert_same_ids(ours, ref, texts)
    assert ours.encode("abcd") == [ref.token_to_id("ab"), ref.token_to_id("cd")]
    by_bytes = Tokenizer.from_files(directory / "vocab.json", directory / "merges.txt")
    assert by_bytes.encode("abcd") == [ref.token_to_id("abc"), ref.token_to_id("d")]
    assert ours.pair_ranks[b"ab", b"c"] == 4 and ours.merge_ranks[b"abc"] == 2
    assert by_bytes.pair_ranks is None


@pytest.mark.parametrize("ignore_merges", [False, True])
def test_ignore_merges(tmp_path: Path, ignore_merges: bool) -> None:
    """A pre-token that is itself a token but no merge makes is emitted whole only with
    ignore_merges (Llama 3's setting)."""
    directory = tiny_tokenizer_json(tmp_path / "tiny", [("a", "b")], ["xyz", "Ġxyz"], ignore_merges=ignore_merges)
    ours, ref = pair(directory)
    assert_same_ids(ours, ref, ["xyz", " xyz", "xyzab abxyz", "xyz xyz"])
    assert (ours.encode("xyz") == [ref.token_to_id("xyz")]) == ignore_merges


@pytest.mark.parametrize("individual", [False, True])
def test_digits(tmp_path: Path, individual: bool) -> None:
    """Digits splits numbers (\\p{N}) from the rest: one by one, or in runs."""
    from tokenizers.pre_tokenizers import Digits

    merges = [("1", "2"), ("3", "4"), ("2", "2"), ("x", "1"), ("Ġ", "1")]
    directory = tiny_tokenizer_json(tmp_path / "tiny", merges, pre_tokenizers=[Digits(individual_digits=individual)])
    ours, ref = pair(directory)
    assert_same_ids(ours, ref, ["12 345 x1y22 1234", "٣4½12", *TRICKY])
    assert (ours.encode("12") == [ref.token_to_id("12")]) != individual


def test_split_keeps_text_between_matches(tmp_path: Path) -> None:
    """Split(..., "Isolated") makes pieces of the matches and of the text between them."""
    from tokenizers import Regex
    from tokenizers.pre_tokenizers import Split

    merges = [("a", "b"), ("Ġ", "a"), ("Ġa", "b"), ("-", "-"), ("!", "Ġ")]
    split = Split(Regex(r"\p{L}+|\p{N}"), behavior="isolated")
    directory = tiny_tokenizer_json(tmp_path / "tiny", merges, pre_tokenizers=[split])
    ours, ref = pair(directory)
    assert_same_ids(ours, ref, ["ab ab--ab! ab 12", "-- !! ab", "  ", *TRICKY])
    assert ours.encode("! ab") == [ref.token_to_id("!Ġ"), ref.token_to_id("ab")]


def test_special_token_that_merges_make(tmp_path: Path) -> None:
    """A special token that BPE could also make (its text is a vocabulary token made by merges)
    is emitted only where allowed; elsewhere its text is ordinary text."""
    from tokenizers.pre_tokenizers import Split

    spaces = Split(" ", behavior="isolated")  # a String pattern: "<s>" stays one pre-token
    directory = tiny_tokenizer_json(tmp_path / "tiny", [("<", "s"), ("<s", ">")], ignore_merges=True,
                                    pre_tokenizers=[spaces], specials=["<s>"])
    ours, ref = pair(directory)
    special = ref.token_to_id("<s>")
    assert_same_ids(ours, ref, ["a<s>b", "<s>", "<s<s>>"])
    ids = ours.encode("a<s>b <s>")
    assert special not in ids and ours.decode(ids) == "a<s>b <s>"


def test_string_and_list_merges_agree(hf_tokenizer_dir, tmp_path: Path) -> None:
    """Old files write merges as "a b" strings, new ones as [a, b] lists."""
    spec = json.loads((hf_tokenizer_dir("llama3") / "tokenizer.json").read_text(encoding="utf-8"))
    assert isinstance(spec["model"]["merges"][0], list)
    spec["model"]["merges"] = [" ".join(m) for m in spec["model"]["merges"]]
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec), encoding="utf-8")
    ours, ref = pair(tmp_path)
    assert_same_ids(ours, ref, read_lines(CORPUS))


def test_oniguruma_anchors(hf_tokenizer_dir, tmp_path: Path) -> None:
    """tokenizers' `$` and `^` are line anchors (Oniguruma), not Python's end of text."""
    spec = json.loads((hf_tokenizer_dir("qwen2") / "tokenizer.json").read_text(encoding="utf-8"))
    split = spec["pre_tokenizer"]["pretokenizers"][0]
    # Words at the start or end of a line are whole, others cut into one or two letters.
    split["pattern"]["Regex"] = r"^\p{L}+|\p{L}+$|[$^]|\p{L}{1,2}|\p{N}|[^\s\p{L}\p{N}]+|\s+"
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec), encoding="utf-8")
    ours, ref = pair(tmp_path)
    corpus = "".join(read_lines(CORPUS))
    assert_same_ids(ours, ref, [corpus, "quick brown\nlazy dogs\n", "$^ a$b ^c\n", *TRICKY])
    assert len(ours.encode("quick brown\nlazy dogs")) < len(ours.encode("quick brown lazy dogs"))


def test_gpt2_tokenizer_json(tmp_path: Path) -> None:
    """GPT-2's own files as tokenizers writes them: the same ids as from vocab.json + merges.txt."""
    gpt2 = SHARED_DATA / "gpt2"
    if not (gpt2 / "encoder.json").is_file():
        pytest.skip(NO_SHARED)
    ref = tokenizers.ByteLevelBPETokenizer(str(gpt2 / "encoder.json"), str(gpt2 / "vocab.bpe"))
    ref.add_special_tokens(["<|endoftext|>"])
    ref.save(str(tmp_path / "tokenizer.json"))
    ours = Tokenizer.from_directory(tmp_path)
    by_files = Tokenizer.from_files(gpt2 / "encoder.json", gpt2 / "vocab.bpe")
    assert ours.eot_id == by_files.eot_id == 50256
    lines = read_lines(CORPUS) + TRICKY
    if SHAKESPEARE.is_file():
        lines += read_lines(SHAKESPEARE)
    assert [ours.encode(t, allowed_special="all") for t in lines] == [
        by_files.encode(t, allowed_special="all") for t in lines
    ]


# ---------------------------------------------------------------- which file, and refusals


def test_tokenizer_json_wins_over_vocab_json(hf_tokenizer_dir, tmp_path: Path) -> None:
    directory = shutil.copytree(hf_tokenizer_dir("qwen2"), tmp_path / "both")
    write_byte_bpe(directory)
    ours, ref = pair(directory)
    assert_same_ids(ours, ref, TRICKY)
    with pytest.raises(SqlgptError, match="states its own pre-tokenizer"):
        Tokenizer.from_directory(directory, pattern=r"\S+")


def test_save_refuses(hf_tokenizer_dir, tmp_path: Path) -> None:
    ours, _ = pair(hf_tokenizer_dir("llama3"))
    with pytest.raises(SqlgptError, match="keep the tokenizer.json"):
        ours.save(tmp_path / "out")


def unsupported_files(directory: Path) -> dict[str, str]:
    """tokenizer.json files that are not byte-level BPE, by what the error must name."""
    from tokenizers import models, normalizers, pre_tokenizers

    files = {}
    wordpiece = tokenizers.Tokenizer(models.WordPiece({"[UNK]": 0, "a": 1, "##b": 2}, unk_token="[UNK]"))
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    unigram = tokenizers.Tokenizer(models.Unigram([("<unk>", 0.0), ("a", -1.0), ("b", -2.0)], 0, False))
    unigram.pre_tokenizer = pre_tokenizers.Metaspace()
    plain_bpe = tokenizers.Tokenizer(models.BPE({"a": 0, "b": 1, "ab": 2}, [("a", "b")]))
    plain_bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    nfkc = tokenizers.Tokenizer(models.BPE({"a": 0}, []))
    nfkc.normalizer = normalizers.NFKC()
    nfkc.pre_tokenizer = pre_tokenizers.ByteLevel()
    for name, tokenizer in [("WordPiece", wordpiece), ("Unigram", unigram), ("ByteLevel", plain_bpe), ("NFKC", nfkc)]:
        (directory / name).mkdir()
        tokenizer.save(str(directory / name / "tokenizer.json"))
        files[name] = directory / name
    return files


@pytest.mark.parametrize("name", ["WordPiece", "Unigram", "ByteLevel", "NFKC"])
def test_unsupported_tokenizers(tmp_path: Path, name: str) -> None:
    directory = unsupported_files(tmp_path)[name]
    with pytest.raises(SqlgptError, match=name) as excinfo:
        Tokenizer.from_directory(directory)
    assert "\n" not in str(excinfo.value)
    assert "not supported" in str(excinfo.value)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s: s["model"].update(byte_fallback=True), "byte_fallback"),
        (lambda s: s["model"].update(dropout=0.1), "dropout"),
        (lambda s: s["pre_tokenizer"]["pretokenizers"][-1].update(add_prefix_space=True), "add_prefix_space"),
        (lambda s: s["pre_tokenizer"]["pretokenizers"][0].update(behavior="Removed"), "Removed"),
        (lambda s: s["pre_tokenizer"]["pretokenizers"].reverse(), "ByteLevel must be the last"),
        (lambda s: s["added_tokens"][0].update(lstrip=True), "lstrip"),
        (lambda s: s.update(decoder={"type": "Metaspace"}), "Metaspace decoder"),
        (lambda s: s["model"]["vocab"].update({"a b": 9999}), "byte-level form"),
    ],
)
def test_unsupported_settings(hf_tokenizer_dir, tmp_path: Path, edit, message: str) -> None:
    spec = json.loads((hf_tokenizer_dir("qwen2") / "tokenizer.json").read_text(encoding="utf-8"))
    edit(spec)
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(SqlgptError, match=message) as excinfo:
        Tokenizer.from_directory(tmp_path)
    assert "\n" not in str(excinfo.value)
