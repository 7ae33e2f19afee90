"""Reading checkpoints: both file formats, both key styles, every GPT-2 size, and bad files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import sqlgpt
from sqlgpt.checkpoint import Checkpoint, expected_shapes
from sqlgpt.config import GPTConfig
from sqlgpt.errors import SqlgptError
from sqlgpt.models import open_checkpoint

# The published configs of the four GPT-2 sizes (the fields that set the shapes).
GPT2_SIZES = {
    "gpt2": dict(n_embd=768, n_head=12, n_layer=12, params=124_439_808),
    "gpt2-medium": dict(n_embd=1024, n_head=16, n_layer=24, params=354_823_168),
    "gpt2-large": dict(n_embd=1280, n_head=20, n_layer=36, params=774_030_080),
    "gpt2-xl": dict(n_embd=1600, n_head=25, n_layer=48, params=1_557_611_200),
}


def hf_state_dict(directory: Path) -> dict[str, torch.Tensor]:
    from transformers import GPT2LMHeadModel

    return GPT2LMHeadModel.from_pretrained(directory).state_dict()


def copy_without_weights(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for name in ("config.json", "vocab.json", "merges.txt"):
        shutil.copy(src / name, dst / name)
    return dst


@pytest.mark.parametrize("name", GPT2_SIZES)
def test_every_gpt2_size_loads_its_config(name, tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    size = GPT2_SIZES[name]
    hf = GPT2Config(n_embd=size["n_embd"], n_head=size["n_head"], n_layer=size["n_layer"]).to_dict()
    config = GPTConfig.from_hf(hf)
    assert (config.n_embd, config.n_head, config.n_layer, config.block_size) == (size["n_embd"], size["n_head"], size["n_layer"], 1024)
    assert config.n_params == size["params"]  # what transformers reports for these models
    if name == "gpt2":  # build the real module once to check every tensor shape we expect
        with torch.device("meta"):
            model = GPT2LMHeadModel(GPT2Config(**hf))
        theirs = {k.removeprefix("transformer."): tuple(v.shape) for k, v in model.state_dict().items()
                  if not k.endswith((".attn.bias", ".attn.masked_bias")) and k != "lm_head.weight"}
        assert theirs == expected_shapes(config)


def test_safetensors_params_equal_transformers(tiny_dir):
    ckpt = Checkpoint(tiny_dir)
    params = ckpt.params()
    theirs = hf_state_dict(tiny_dir)
    assert set(params) == set(expected_shapes(ckpt.config))
    for name, value in params.items():
        assert value.dtype == np.float32 and value.flags.c_contiguous
        np.testing.assert_array_equal(value, theirs["transformer." + name].numpy())


@pytest.mark.parametrize("prefixed", [True, False])
@pytest.mark.parametrize("legacy", [False, True])
def test_pytorch_bin_with_and_without_prefix(tiny_dir, tmp_path, prefixed, legacy):
    state = hf_state_dict(tiny_dir)
    state = {k if prefixed else k.removeprefix("transformer."): v for k, v in state.items()}
    # The hub's files carry causal-mask buffers that are not weights.
    state["transformer.h.0.attn.bias" if prefixed else "h.0.attn.bias"] = torch.ones(1, 1, 4, 4)
    state["h.0.attn.masked_bias"] = torch.tensor(-1e4)
    directory = copy_without_weights(tiny_dir, tmp_path / "bin")
    torch.save(state, directory / "pytorch_model.bin", _use_new_zipfile_serialization=not legacy)
    params = Checkpoint(directory).params()
    expected = Checkpoint(tiny_dir).params()
    assert set(params) == set(expected)
    for name in expected:
        np.testing.assert_array_equal(params[name], expected[name])


def test_half_precision_weights_are_widened(tiny_dir, tmp_path):
    state = {k: v.to(torch.bfloat16) for k, v in hf_state_dict(tiny_dir).items()}
    directory = copy_without_weights(tiny_dir, tmp_path / "bf16")
    torch.save(state, directory / "pytorch_model.bin")
    params = Checkpoint(directory).params()
    np.testing.assert_array_equal(params["wte.weight"], state["transformer.wte.weight"].float().numpy())


def test_untied_lm_head_is_refused(tiny_dir, tmp_path):
    state = hf_state_dict(tiny_dir)
    state["lm_head.weight"] = state["lm_head.weight"].clone() + 1
    directory = copy_without_weights(tiny_dir, tmp_path / "untied")
    torch.save(state, directory / "pytorch_model.bin")
    with pytest.raises(SqlgptError, match="lm_head"):
        Checkpoint(directory).params()


def test_pickle_with_code_is_refused(tiny_dir, tmp_path):
    directory = copy_without_weights(tiny_dir, tmp_path / "evil")
    torch.save({"x": torch.ones(2), "y": Path("/etc/passwd")}, directory / "pytorch_model.bin")
    with pytest.raises(SqlgptError, match="refusing to load pathlib"):
        Checkpoint(directory).params()


def one_line_error(fn) -> str:
    with pytest.raises(SqlgptError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message and message
    return message


def test_missing_files_each_say_which(tiny_dir, tmp_path):
    assert "does not exist" in one_line_error(lambda: Checkpoint(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    assert "config.json" in one_line_error(lambda: Checkpoint(tmp_path / "empty"))
    no_weights = copy_without_weights(tiny_dir, tmp_path / "noweights")
    assert "model.safetensors" in one_line_error(lambda: Checkpoint(no_weights))
    no_vocab = tmp_path / "novocab"
    shutil.copytree(tiny_dir, no_vocab)
    (no_vocab / "vocab.json").unlink()
    assert "vocab.json" in one_line_error(lambda: Checkpoint(no_vocab).tokenizer)


def test_corrupt_files_are_one_clear_error(tiny_dir, tmp_path):
    bad = tmp_path / "corrupt"
    shutil.copytree(tiny_dir, bad)
    data = (bad / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(data[: len(data) // 2])  # truncated download
    assert "safetensors" in one_line_error(lambda: Checkpoint(bad).params())
    (bad / "model.safetensors").unlink()
    (bad / "pytorch_model.bin").write_bytes(b"PK\x03\x04 this is not a zip")
    assert "PyTorch checkpoint" in one_line_error(lambda: Checkpoint(bad).params())
    (bad / "config.json").write_text("{ not json")
    assert "not valid JSON" in one_line_error(lambda: Checkpoint(bad))


def test_wrong_shapes_and_wrong_models(tiny_dir, tmp_path):
    wrong = tmp_path / "wrongshape"
    shutil.copytree(tiny_dir, wrong)
    config = json.loads((wrong / "config.json").read_text())
    (wrong / "config.json").write_text(json.dumps(config | {"n_embd": 64}))
    message = one_line_error(lambda: Checkpoint(wrong).params())
    assert "wte.weight" in message and "(" in message
    (wrong / "config.json").write_text(json.dumps(config | {"model_type": "gpt_neox"}))
    assert "GPT-2, Llama and Qwen2 models only" in one_line_error(lambda: Checkpoint(wrong))
    # A Llama config is read as one: GPT-2's keys do not make it one (tests/test_llama.py reads real ones).
    (wrong / "config.json").write_text(json.dumps(config | {"model_type": "llama"}))
    assert "lacks 'hidden_size'" in one_line_error(lambda: Checkpoint(wrong))
    (wrong / "config.json").write_text(json.dumps(config | {"n_head": 5}))
    assert "divisible" in one_line_error(lambda: Checkpoint(wrong))


def test_hub_names_resolve_through_the_cache_or_fail_clearly(tiny_dir, tmp_path, monkeypatch):
    from huggingface_hub import constants

    # A hub cache laid out as huggingface_hub lays it out, holding "someone/tiny".
    hub = tmp_path / "hub"
    snapshot = hub / "models--someone--tiny" / "snapshots" / ("0" * 40)
    shutil.copytree(tiny_dir, snapshot)
    (hub / "models--someone--tiny" / "refs").mkdir()
    (hub / "models--someone--tiny" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    ckpt = open_checkpoint("someone/tiny")
    assert ckpt.config == Checkpoint(tiny_dir).config and ckpt.name == "someone/tiny"
    message = one_line_error(lambda: sqlgpt.load("gpt2"))
    assert "'gpt2'" in message and "cache" in message and "local model directory" in message
    assert "not a directory" in one_line_error(lambda: open_checkpoint(str(tmp_path / "a" / "b" / "c")))
