"""The sampler: greedy, temperature, and top-k / top-p filtering as transformers defines them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sqlgpt.errors import SqlgptError
from sqlgpt.sampling import SamplingParams, filtered_probabilities, sample


def transformers_distribution(logits: np.ndarray, temperature: float, top_k=None, top_p=None) -> np.ndarray:
    """The distribution transformers' generate() samples from, built from its own warpers."""
    from transformers.generation.logits_process import (
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    scores = torch.tensor(logits, dtype=torch.float64)[None]
    scores = TemperatureLogitsWarper(temperature)(None, scores)
    if top_k is not None:
        scores = TopKLogitsWarper(top_k)(None, scores)
    if top_p is not None:
        scores = TopPLogitsWarper(top_p)(None, scores)
    return torch.softmax(scores, dim=-1)[0].numpy()


@pytest.mark.parametrize("temperature,top_k,top_p", [(1.0, None, None), (0.7, None, None), (1.3, 50, None),
                                                     (1.0, None, 0.9), (0.8, 40, 0.5), (1.0, 1, None), (2.0, None, 0.05)])
def test_filtered_distribution_matches_transformers(temperature, top_k, top_p):
    logits = np.random.default_rng(3).normal(0, 3, size=1000).astype(np.float32)
    ours = filtered_probabilities(logits, SamplingParams(temperature, top_k, top_p))
    theirs = transformers_distribution(logits, temperature, top_k, top_p)
    assert np.abs(ours - theirs).max() < 1e-9
    assert (ours > 0).sum() == (theirs > 0).sum()


def test_greedy_is_argmax_and_uses_no_randomness():
    logits = np.random.default_rng(0).normal(size=500)
    rng = np.random.default_rng(1)
    assert sample(logits, SamplingParams(temperature=0), rng) == int(np.argmax(logits))
    assert rng.random() == np.random.default_rng(1).random()  # the stream was not consumed


def test_samples_follow_the_distribution_and_respect_top_k():
    logits = np.log(np.array([0.5, 0.25, 0.125, 0.125]))
    rng = np.random.default_rng(0)
    draws = np.array([sample(logits, SamplingParams(), rng) for _ in range(20000)])
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / len(draws), [0.5, 0.25, 0.125, 0.125], atol=0.015)
    draws = {sample(logits, SamplingParams(top_k=2), rng) for _ in range(500)}
    assert draws == {0, 1}


def test_same_seed_same_tokens():
    logits = np.random.default_rng(5).normal(size=(30, 200))
    runs = [[sample(row, SamplingParams(0.9, top_p=0.95), np.random.default_rng(7)) for row in logits] for _ in range(2)]
    assert runs[0] == runs[1]


@pytest.mark.parametrize("kwargs", [dict(temperature=-1), dict(temperature=float("nan")), dict(top_k=0),
                                    dict(top_k=2.5), dict(top_p=0), dict(top_p=1.5)])
def test_out_of_range_parameters_are_refused(kwargs):
    with pytest.raises(SqlgptError):
        SamplingParams(**kwargs)
