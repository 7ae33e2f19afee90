"""The GPT facade: probabilities, streaming, stop strings, scoring and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sqlgpt
from sqlgpt.errors import SqlgptError


@pytest.fixture(scope="module")
def gpt(tiny_dir):
    return sqlgpt.load(tiny_dir, engine="numpy")


def hf_loss(model, ids: list[int]) -> float:
    with torch.no_grad():
        return float(model(torch.tensor([ids]), labels=torch.tensor([ids])).loss)


def test_next_token_probs_are_the_models_softmax(gpt, tiny_dir, hf_model):
    rows = gpt.next_token_probs("the cat", k=7)
    assert len(rows) == 7
    ids = gpt.tokenizer.encode("the cat")
    with torch.no_grad():
        probs = torch.softmax(hf_model(tiny_dir)(torch.tensor([ids])).logits[0, -1].double(), -1).numpy()
    top = np.argsort(-probs)[:7]
    assert [token for token, _ in rows] == [gpt.tokenizer.decode([int(i)]) for i in top]
    np.testing.assert_allclose([p for _, p in rows], probs[top], atol=1e-5)
    assert all(a >= b for (_, a), (_, b) in zip(rows, rows[1:]))


def test_empty_prompt_conditions_on_endoftext(gpt):
    eot = gpt.tokenizer.eot_id
    expected = np.sort(np.exp(gpt.logits([eot])[-1].astype(np.float64)))[::-1]
    expected /= np.exp(gpt.logits([eot])[-1].astype(np.float64)).sum()
    got = [p for _, p in gpt.next_token_probs("", k=3)]
    np.testing.assert_allclose(got, expected[:3], rtol=1e-5)


def test_temperature_sharpens(gpt):
    cold = gpt.next_token_probs("the", k=1, temperature=0.5)[0][1]
    warm = gpt.next_token_probs("the", k=1, temperature=2.0)[0][1]
    assert cold > warm


def test_seeded_generation_repeats_and_greedy_is_deterministic(gpt):
    a = gpt.generate("in the", max_new_tokens=20, temperature=0.9, top_k=20, seed=11)
    b = gpt.generate("in the", max_new_tokens=20, temperature=0.9, top_k=20, seed=11)
    c = gpt.generate("in the", max_new_tokens=20, temperature=0.9, top_k=20, seed=12)
    assert a == b and a != c
    assert gpt.generate("x", max_new_tokens=10, temperature=0) == gpt.generate("x", max_new_tokens=10, temperature=0)


def fixed_tokens(monkeypatch, gpt, text: str) -> None:
    """Make the sampler emit exactly the bytes of `text`, one byte token each."""
    by_byte = {gpt.tokenizer.token_bytes(i): i for i in range(256)}
    byte_ids = [by_byte[bytes([b])] for b in text.encode()]

    def sample_ids(self, ids, max_new_tokens, params, seed):
        yield from byte_ids[:max_new_tokens]

    monkeypatch.setattr(type(gpt), "_sample_ids", sample_ids)


def test_stream_yields_whole_characters_only(gpt, monkeypatch):
    text = "héllo 世界 🎉 done"
    fixed_tokens(monkeypatch, gpt, text)
    pieces = list(gpt.stream("hi", max_new_tokens=len(text.encode())))
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)
    assert "世" in pieces and "🎉" in pieces  # a 3- and a 4-byte character each came out whole, once complete


def test_stop_strings_cut_before_the_stop(gpt, monkeypatch):
    fixed_tokens(monkeypatch, gpt, "alpha beta\nEND gamma")
    assert gpt.generate("hi", stop=["\nEND"], max_new_tokens=30) == "alpha beta"
    assert gpt.generate("hi", stop="zzz", max_new_tokens=30) == "alpha beta\nEND gamma"
    assert "".join(gpt.stream("hi", stop=["ta\nE", "gam"], max_new_tokens=30)) == "alpha be"


def test_score_matches_transformers_loss(gpt, tiny_dir, hf_model):
    text = "the cat sat on the mat, and then the other one."
    result = gpt.score(text)
    ids = [gpt.tokenizer.eot_id] + gpt.tokenizer.encode(text)
    assert result.n_tokens == len(ids) - 1
    assert abs(result.loss - hf_loss(hf_model(tiny_dir), ids)) < 1e-4
    assert abs(result.perplexity - np.exp(result.loss)) < 1e-9


def test_score_of_long_text_uses_strided_windows(gpt, tiny_dir, hf_model):
    """Against transformers' perplexity recipe: windows of max_length, stride max_length // 2."""
    text = "the quick brown fox jumps over the lazy dog. " * 6
    ids = [gpt.tokenizer.eot_id] + gpt.tokenizer.encode(text)
    window = gpt.config.block_size
    assert len(ids) > 2 * window
    model, nll, prev_end = hf_model(tiny_dir), 0.0, 0
    for begin in range(0, len(ids), window // 2):
        end = min(begin + window, len(ids))
        input_ids = torch.tensor([ids[begin:end]])
        labels = input_ids.clone()
        labels[:, : -(end - prev_end)] = -100
        with torch.no_grad():
            logprobs = torch.log_softmax(model(input_ids).logits[0, :-1].double(), -1)
        targets = labels[0, 1:]
        mask = targets != -100
        nll -= logprobs[mask.nonzero()[:, 0], targets[mask]].sum().item()
        prev_end = end
        if end == len(ids):
            break
    result = gpt.score(text)
    assert result.n_tokens == len(ids) - 1
    assert abs(result.loss - nll / (len(ids) - 1)) < 1e-4


@pytest.mark.parametrize("call,match", [
    (lambda g: g.generate("a" * 200), "prompt is \\d+ tokens but the model's context window is 64"),
    (lambda g: g.generate("hi", max_new_tokens=100), "exceeds the model's context window of 64"),
    (lambda g: g.generate("bad \ud800 text"), "surrogate"),
    (lambda g: g.next_token_probs("hi", k=0), "k must be"),
    (lambda g: g.generate("hi", top_p=1.5), "top_p"),
    (lambda g: g.generate("hi", top_k=0), "top_k"),
    (lambda g: g.generate("hi", temperature=-0.1), "temperature"),
    (lambda g: g.generate("hi", max_new_tokens=-1), "max_new_tokens"),
    (lambda g: g.score(""), "empty"),
    (lambda g: g.logits([]), "at least one"),
    (lambda g: g.logits([10**6]), "outside the vocabulary"),
])
def test_bad_input_is_one_clear_error(gpt, call, match):
    with pytest.raises(SqlgptError, match=match) as info:
        call(gpt)
    assert "\n" not in str(info.value)


def test_choose_picks_the_option_transformers_finds_most_probable(gpt, tiny_dir, hf_model):
    question, options = "the cat sat on the", [" mat", " dog", " theory of everything", "!"]
    choice = gpt.choose(question, options)
    model = hf_model(tiny_dir)
    context = gpt.tokenizer.encode(question)
    expected = []
    for option in options:
        continuation = gpt.tokenizer.encode(option)
        with torch.no_grad():
            logits = model(torch.tensor([context + continuation])).logits[0].double()
        logprobs = torch.log_softmax(logits[len(context) - 1 : -1], -1)
        expected.append(logprobs[torch.arange(len(continuation)), torch.tensor(continuation)].sum().item())
    np.testing.assert_allclose(choice.logprobs, expected, atol=1e-4)
    assert choice.index == int(np.argmax(expected)) and choice.option == options[choice.index]
    with pytest.raises(SqlgptError, match="option"):
        gpt.choose("q", [])
