"""BPE vocabulary training (`Tokenizer.train`, `sqlgpt.train.bpe`) and `Tokenizer.save`.

The reference is Hugging Face `tokenizers`: its BpeTrainer must learn the same merges from the
same text, and its BPE model, loaded from the files we save, must give the same ids as ours.
A synthetic text built here keeps every check running without ../shared.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest
import regex
import tokenizers
from hypothesis import given, settings
from hypothesis import strategies as st

from sqlgpt.cli import main
from sqlgpt.errors import SqlgptError
from sqlgpt.tokenizer import ENDOFTEXT, GPT2_PATTERN, Tokenizer

CORPUS = Path(__file__).with_name("multilingual_corpus.txt").read_text(encoding="utf-8")

# Held-out text with what byte-level BPE must survive: emoji sequences, combining marks, CJK,
# runs and mixes of whitespace, contractions, digits, and a text that is only spaces.
EDGE_CASES = [
    "Hello, world! It's 3:45pm -- isn't it?",
    "👨‍👩‍👧‍👦 🏳️‍🌈 👍🏽 🇰🇷🇯🇵 ❤️‍🔥",
    "Café naïve Z̶a̶l̶g̶o̶ ﬁ straße",
    "日本語のテキスト、한국어, مرحبا, नमस्ते",
    "  leading\tand trailing   \n\n\n\t \r\n  ",
    " ",
    "      ",
    "\n",
    "x" * 300,
    "1234567890 3.14159 -42 0xFF",
    "I'LL, you'll, DON'T, we've, they're, o'clock",
    "\x00\x01\x7f\u00ad\ufeff",
]


def synthetic_text(n_words: int = 6000, seed: int = 0) -> str:
    """Words of random syllables with Zipf-like frequencies, in lines, plus the multilingual
    corpus: enough structure for real merges, enough variety for edge cases."""
    rng = random.Random(seed)
    syllables = ["th", "e", "an", "ing", "qu", "ö", "é", "日本", "🙂", "zz", "a", "st", "'s", "42"]
    lexicon = ["".join(rng.choices(syllables, k=rng.randint(1, 4))) for _ in range(400)]
    weights = [1 / (rank + 1) for rank in range(len(lexicon))]
    words = rng.choices(lexicon, weights, k=n_words)
    lines = [" ".join(words[i : i + 12]) + rng.choice([".", ",", "!", "", "  "]) for i in range(0, n_words, 12)]
    return "\n".join(lines) + "\n" + CORPUS


def hf_trained(text: str, vocab_size: int) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """Hugging Face's BpeTrainer on `text`: GPT-2's byte-level pre-tokenizer (no prefix space),
    all 256 bytes as the alphabet, <|endoftext|>. Returns its merges and its vocabulary.

    We cut special tokens out of the training text and HF's trainer does not, so it gets the
    pieces between them as separate texts, which is what cutting them out means.
    """
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import models, pre_tokenizers, trainers

    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[ENDOFTEXT], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    hf.train_from_iterator(text.split(ENDOFTEXT), trainer)
    model = json.loads(hf.to_str())["model"]
    return [tuple(merge) for merge in model["merges"]], model["vocab"]


def hf_loaded(directory: Path):
    """Hugging Face's byte-level BPE reading the vocab.json + merges.txt we wrote."""
    return tokenizers.ByteLevelBPETokenizer(
        str(directory / "vocab.json"), str(directory / "merges.txt"), add_prefix_space=False
    )


def saved_merges(directory: Path) -> list[tuple[str, str]]:
    lines = (directory / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#version: 0.2"
    return [tuple(line.split(" ")) for line in lines[1:]]


def train_and_save(text: str, vocab_size: int, directory: Path) -> Tokenizer:
    tokenizer = Tokenizer.train(text, vocab_size)
    tokenizer.save(directory)
    return tokenizer


@pytest.fixture(scope="module")
def synthetic() -> str:
    return synthetic_text()


@pytest.fixture(scope="module")
def synthetic_dir(synthetic, tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("synthetic-bpe")
    train_and_save(synthetic, 1000, directory)
    return directory


@pytest.fixture(scope="module")
def synthetic_tokenizers(synthetic_dir):
    """(ours, Hugging Face's), both loaded from the synthetic training's files."""
    return Tokenizer.from_directory(synthetic_dir), hf_loaded(synthetic_dir)


@pytest.fixture
def shakespeare(shared_data) -> tuple[str, str]:
    """tinyshakespeare split into a training part and a held-out part."""
    text = (shared_data / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    return text[:300_000], text[-50_000:]


# --- agreement with Hugging Face -------------------------------------------------------------


def test_merges_and_ids_equal_hugging_face_trainer_on_synthetic_text(synthetic, synthetic_dir):
    hf_merges, hf_vocab = hf_trained(synthetic, 1000)
    assert saved_merges(synthetic_dir) == hf_merges
    ours = json.loads((synthetic_dir / "vocab.json").read_text(encoding="utf-8"))
    # Hugging Face gives the special token id 0 and shifts the rest by one; we give it the last.
    shifted = {token: i - 1 for token, i in hf_vocab.items() if token != ENDOFTEXT}
    assert ours == {**shifted, ENDOFTEXT: 999}


def test_merges_equal_hugging_face_trainer_on_tinyshakespeare(shakespeare, tmp_path):
    train, _ = shakespeare
    train_and_save(train, 2048, tmp_path)
    assert saved_merges(tmp_path) == hf_trained(train, 2048)[0]


@pytest.mark.parametrize("text", EDGE_CASES + [CORPUS])
def test_encoding_agrees_with_hugging_face_on_edge_cases(synthetic_tokenizers, text):
    ours, hf = synthetic_tokenizers
    assert ours.encode(text) == hf.encode(text).ids


def test_encoding_agrees_with_hugging_face_on_held_out_shakespeare(shakespeare, tmp_path):
    train, held_out = shakespeare
    trained = train_and_save(train, 2048, tmp_path)
    loaded = Tokenizer.from_directory(tmp_path)
    ids = hf_loaded(tmp_path).encode(held_out + "".join(EDGE_CASES)).ids
    assert loaded.encode(held_out + "".join(EDGE_CASES)) == ids
    assert trained.encode(held_out) == loaded.encode(held_out)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=60))
def test_decode_inverts_encode_on_any_text(synthetic_tokenizers, text):
    ours, _ = synthetic_tokenizers
    assert ours.decode(ours.encode(text)) == text


# Characters whose letter/number classes are settled in every Unicode version either regex
# engine may carry (a newer CJK extension, say, is a letter to one and not the other).
SETTLED_CHARACTERS = st.characters(max_codepoint=0x24F) | st.sampled_from(
    sorted(set(synthetic_text()) | set("".join(EDGE_CASES)))
)


@settings(max_examples=300, deadline=None)
@given(text=st.text(SETTLED_CHARACTERS, max_size=60))
def test_hugging_face_gives_the_same_ids_on_any_text(synthetic_tokenizers, text):
    ours, hf = synthetic_tokenizers
    assert ours.encode(text) == hf.encode(text).ids


def test_saving_gpt2_reproduces_openais_files(shared_data, tmp_path):
    gpt2 = shared_data / "gpt2"
    Tokenizer.from_files(gpt2 / "encoder.json", gpt2 / "vocab.bpe").save(tmp_path)
    assert (tmp_path / "merges.txt").read_text(encoding="utf-8").splitlines() == (
        (gpt2 / "vocab.bpe").read_text(encoding="utf-8").splitlines()
    )
    assert json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8")) == json.loads(
        (gpt2 / "encoder.json").read_text(encoding="utf-8")
    )


# --- what training promises ------------------------------------------------------------------


def test_every_merge_is_of_a_most_frequent_pair(tmp_path):
    """Replays the saved merges over a hand-built corpus, recounting all pairs before each."""
    text = "aaab " * 30 + "abab " * 12 + "bba " * 7 + "cab " * 3
    train_and_save(text, 264, tmp_path)
    merges = saved_merges(tmp_path)
    words = Counter(piece.replace(" ", "Ġ") for piece in regex.findall(GPT2_PATTERN, text))
    state = {word: list(word) for word in words}
    assert merges[0] == ("a", "a")  # "aa" is twice in each of the 30 "aaab": nothing comes close
    for left, right in merges:
        counts: Counter[tuple[str, str]] = Counter()
        for word, parts in state.items():
            for pair in pairwise(parts):
                counts[pair] += words[word]
        assert counts[left, right] == max(counts.values()), (left, right, counts.most_common(3))
        for parts in state.values():
            i = 0
            while i < len(parts) - 1:
                if (parts[i], parts[i + 1]) == (left, right):
                    parts[i : i + 2] = [left + right]
                i += 1


@pytest.mark.parametrize("vocab_size", [257, 258, 300, 1000])
def test_vocab_size_is_exactly_what_was_asked(synthetic, tmp_path, vocab_size):
    tokenizer = train_and_save(synthetic, vocab_size, tmp_path)
    vocab = json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))
    assert tokenizer.vocab_size == len(vocab) == vocab_size
    assert sorted(vocab.values()) == list(range(vocab_size))
    assert tokenizer.eot_id == vocab[ENDOFTEXT] == vocab_size - 1
    assert len(saved_merges(tmp_path)) == vocab_size - 257


def test_special_tokens_take_the_last_ids_and_never_take_part_in_merges():
    specials = (ENDOFTEXT, "<|pad|>")
    documents = synthetic_text(600).splitlines()[:50]  # the syllable lines, without a "|"
    text = ENDOFTEXT.join(documents) + "<|pad|>" * 20
    tokenizer = Tokenizer.train(text, 280, specials)
    assert tokenizer.special_tokens == {ENDOFTEXT: 278, "<|pad|>": 279}
    ordinary = [tokenizer.token_bytes(i) for i in range(278)]
    assert not [t for t in ordinary if b"|" in t and len(t) > 1]  # no "<|", "|>", ...
    assert tokenizer.encode(f"{documents[0]}<|pad|>", allowed_special="all")[-1] == 279


def test_the_vocabulary_the_text_allows_is_reported_exactly():
    text = "abcabd abcabd xyz"
    with pytest.raises(SqlgptError, match=r"more than this text allows") as error:
        Tokenizer.train(text, 1000)
    allowed = int(regex.search(r"it has (\d+) tokens", str(error.value)).group(1))
    assert Tokenizer.train(text, allowed).vocab_size == allowed
    with pytest.raises(SqlgptError):
        Tokenizer.train(text, allowed + 1)


@pytest.mark.parametrize("text,vocab_size,specials,message", [
    ("", 300, (ENDOFTEXT,), "empty text"),
    ("some text", 256, (ENDOFTEXT,), "at least 257"),
    ("some text", 257, ("<|a|>", "<|b|>"), "at least 258"),
    ("some text", 300, ("",), "non-empty"),
    ("some text", 300, ("<|a|>", "<|a|>"), "more than once"),
    ("some text", 300, ("x",), "single byte"),
    ("some text", 300, ENDOFTEXT, "not one string"),
    ("lone \ud800 surrogate", 300, (ENDOFTEXT,), "surrogate"),
])
def test_bad_input_raises_one_line_error(text, vocab_size, specials, message):
    with pytest.raises(SqlgptError, match=message) as error:
        Tokenizer.train(text, vocab_size, specials)
    assert "\n" not in str(error.value)


def test_progress_bar_is_shown_only_when_asked(capsys):
    Tokenizer.train(CORPUS, 300)
    assert capsys.readouterr().err == ""
    Tokenizer.train(CORPUS, 300, progress=True)
    assert "training BPE" in capsys.readouterr().err


# --- the command line ------------------------------------------------------------------------


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def corpus_file(tmp_path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(synthetic_text(1500), encoding="utf-8")
    return path


def test_cli_trains_and_writes_a_loadable_tokenizer(capsys, corpus_file, tmp_path):
    out = tmp_path / "tok"
    code, stdout, err = run(capsys, "train-tokenizer", str(corpus_file), "--vocab-size", "400", "--out", str(out))
    assert code == 0, err
    assert stdout.count("\n") == 1 and "400 tokens" in stdout and "143 merges" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["merges.txt", "vocab.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt", "tok"]  # no staging left
    text = corpus_file.read_text(encoding="utf-8")
    assert Tokenizer.from_directory(out).encode(text) == Tokenizer.train(text, 400).encode(text)


def test_cli_refuses_a_non_empty_directory_unless_forced(capsys, corpus_file, tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "config.json").write_text("{}")
    (out / "vocab.json").write_text("old")
    argv = ["train-tokenizer", str(corpus_file), "--vocab-size", "300", "--out", str(out)]
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and "--force" in err
    assert (out / "vocab.json").read_text() == "old"

    code, _, err = run(capsys, *argv, "--force")
    assert code == 0, err
    assert Tokenizer.from_directory(out).vocab_size == 300
    assert (out / "config.json").read_text() == "{}"  # --force replaces only the tokenizer files


@pytest.mark.parametrize("argv,message", [
    (["/nonexistent/corpus.txt", "--vocab-size", "300"], "no such file"),
    (["CORPUS", "--vocab-size", "100"], "at least 257"),
    (["CORPUS", "--vocab-size", "1000000"], "more than this text allows"),
])
def test_cli_errors_are_one_line_with_exit_code_2(capsys, corpus_file, tmp_path, argv, message):
    argv = [str(corpus_file) if a == "CORPUS" else a for a in argv]
    code, out, err = run(capsys, "train-tokenizer", *argv, "--out", str(tmp_path / "tok"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("sqlgpt: error: ") and message in err
    assert not (tmp_path / "tok").exists()


def test_cli_leaves_nothing_behind_when_interrupted_while_saving(capsys, corpus_file, tmp_path, monkeypatch):
    real_save = Tokenizer.save

    def save_then_interrupt(self, directory):
        real_save(self, directory)
        raise KeyboardInterrupt

    monkeypatch.setattr(Tokenizer, "save", save_then_interrupt)
    code, _, _ = run(capsys, "train-tokenizer", str(corpus_file), "--vocab-size", "300", "--out", str(tmp_path / "tok"))
    assert code == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt"]
