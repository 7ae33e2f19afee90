"""The bundled default model: inside the package, used with no --model and no network, an
ordinary GPT-2 directory that transformers agrees with, and its training record beside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import sqlgpt
from sqlgpt.models import BUNDLED_DIR, DEFAULT_MODEL

SHAKESPEARE = BUNDLED_DIR / "shakespeare"


def test_the_default_is_the_bundled_model():
    assert DEFAULT_MODEL == "shakespeare"
    gpt = sqlgpt.load(engine="numpy")
    assert gpt.name == "shakespeare" and gpt.config.n_params < 20_000_000
    size = sum(f.stat().st_size for f in SHAKESPEARE.iterdir())
    assert size <= 20 * 2**20  # the wheel stays small


@pytest.fixture(scope="module")
def transformers_logits() -> tuple[list[int], np.ndarray]:
    """A prompt's ids and transformers' logits for them, [T, V] in float64."""
    from transformers import GPT2LMHeadModel

    # Stored as float16; the engines compute in float32. The judge runs in float64: a trained
    # model's logits are large enough that two float32 runs (PyTorch's kernels differ by CPU and
    # thread count) can drift 1e-4 apart, while each stays within ~2e-5 of the exact value.
    model = GPT2LMHeadModel.from_pretrained(SHAKESPEARE, dtype=torch.float32).eval().double()
    ids = sqlgpt.load(engine="numpy").tokenizer.encode("ROMEO:\nBut soft, what light through yonder window breaks?")
    with torch.no_grad():
        return ids, model(torch.tensor([ids])).logits[0].numpy()  # [T, V] float64


def engine_options(engine: str, request, tmp_path) -> dict:
    """Where each engine keeps the installed model: a fresh file, the session's PostgreSQL
    server or SparkSession (conftest skips those where they cannot run)."""
    if engine in ("duckdb", "sqlite"):
        return {"database": str(tmp_path / f"m.{engine}"), "progress": False}
    if engine == "postgres":
        return {"dsn": request.getfixturevalue("pg_dsn"), "progress": False}
    if engine == "spark":
        return {"session": request.getfixturevalue("spark_session"), "progress": False}
    return {}


# Spark spends most of a minute on a forward pass of this model, longer the more positions:
# it reads just the first 4 tokens ("ROMEO:\nBut"; the tiny model's tests take more positions).
SPARK_TOKENS = 4


@pytest.mark.parametrize("engine", ["numpy", "duckdb", "postgres", "sqlite", "spark"])
def test_transformers_agrees_with_every_engine(engine, transformers_logits, request, tmp_path):
    """The bundled (trained, not random) model's logits at every position of a prompt, on
    each engine, within 1e-4 of transformers'."""
    ids, theirs = transformers_logits
    n = SPARK_TOKENS if engine == "spark" else len(ids)
    ids, theirs = ids[:n], theirs[:n]  # a prefix's logits are the whole prompt's first rows
    with sqlgpt.load(engine=engine, **engine_options(engine, request, tmp_path)) as gpt:
        ours = gpt.logits(ids)
    assert ours.shape == theirs.shape == (len(ids), gpt.config.vocab_size)
    assert np.abs(ours - theirs).max() <= 1e-4, engine


def test_generates_offline_from_the_command_line(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", XDG_CACHE_HOME=str(tmp_path / "cache"), HF_HOME=str(tmp_path / "hf"))
    done = subprocess.run([sys.executable, "-m", "sqlgpt", "generate", "ROMEO:", "-n", "20", "--seed", "1"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    expected = sqlgpt.load(engine="numpy").generate("ROMEO:", max_new_tokens=20, seed=1)
    assert done.stdout == expected + "\n" and len(expected) > 20


def test_its_training_is_recorded():
    record = json.loads((SHAKESPEARE / "training.json").read_text())
    assert record["commands"] and record["commands"][0].startswith("sqlgpt train")
    assert record["model"]["n_params"] == sqlgpt.load(engine="numpy").config.n_params
    assert "nats_per_char" in record["val_loss"]
