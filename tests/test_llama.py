"""Llama and Qwen2 on the NumPy reference, against transformers' LlamaForCausalLM and
Qwen2ForCausalLM: random-weight checkpoints tied and untied, with and without biases, with
llama3 rope scaling, saved in float32, bfloat16, float16 and in shards. The config read from
config.json, the tensors read from the file, logits at every position, the KV cache, the loss
and top-k, explain, and the one-line refusals of what is not implemented. The checkpoints
have no tokenizer, so everything runs on token ids; every expected value is transformers'.
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

from sqlgpt.checkpoint import Checkpoint, expected_shapes
from sqlgpt.config import GPTConfig, Llama3RopeScaling
from sqlgpt.engines.numpy import NumpyEngine
from sqlgpt.family import GPT2, LLAMA
from sqlgpt.rotary import cos_sin, inverse_frequencies

from .conftest import LLAMA3_ROPE_SCALING, make_llama_checkpoint
from .test_checkpoint import one_line_error

TOLERANCE = 1e-4  # max |logit difference| allowed against transformers

VARIANTS = {
    "llama": dict(kind="llama"),
    "llama-tied-bias-llama3": dict(kind="llama", tied=True, bias=True, rope_scaling=LLAMA3_ROPE_SCALING),
    "llama-bf16-sharded": dict(kind="llama", dtype="bfloat16", shard=True, rope_theta=500000.0),
    "qwen2": dict(kind="qwen2"),
    "qwen2-tied": dict(kind="qwen2", tied=True, rope_theta=1000.0),
    "qwen2-fp16-llama3": dict(kind="qwen2", dtype="float16", rope_scaling=LLAMA3_ROPE_SCALING),
}


@pytest.fixture(scope="module", params=VARIANTS)
def variant(request, tmp_path_factory):
    """(checkpoint directory, its NumPy engine)."""
    directory = make_llama_checkpoint(tmp_path_factory.mktemp(request.param), **VARIANTS[request.param])
    checkpoint = Checkpoint(directory)
    return directory, NumpyEngine(checkpoint.config, dict(checkpoint.params()))


def hf_logits(model, ids: list[int]) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].numpy()


def random_ids(config: GPTConfig, n: int, seed: int = 0) -> list[int]:
    return np.random.default_rng(seed).integers(0, config.vocab_size, size=n).tolist()


def test_logits_match_transformers_all_positions(variant, hf_causal_lm):
    directory, engine = variant
    ids = random_ids(engine.config, engine.config.block_size)
    with engine.session() as session:
        ours = session.forward(ids, all_logits=True)
    assert ours.shape == (len(ids), engine.config.vocab_size) and ours.dtype == np.float32
    theirs = hf_logits(hf_causal_lm(directory), ids)
    assert np.abs(ours - theirs).max() <= TOLERANCE
    assert np.abs(theirs).max() > 0.5  # the check is not vacuous: logits are far from zero


def test_kv_cache_token_by_token_gives_the_full_pass(variant):
    _, engine = variant
    ids = random_ids(engine.config, 40, seed=1)
    with engine.session() as session:
        whole = session.forward(ids, all_logits=True)
    with engine.session() as session:
        pieces = [session.forward(ids[:9], all_logits=True)]  # the prompt, then one token at a time
        pieces += [session.forward([token], all_logits=True) for token in ids[9:]]
        assert session.k_cache[0].shape == (engine.config.n_kv_head, len(ids), engine.config.head_size)
    assert np.abs(np.concatenate(pieces) - whole).max() <= 1e-5


def test_greedy_continuation_is_transformers_argmax(variant, hf_causal_lm):
    """Each token generated greedily through the cache is the argmax of transformers' logits
    over the sequence so far."""
    directory, engine = variant
    prompt, generated = random_ids(engine.config, 6, seed=2), []
    with engine.session() as session:
        logits = session.forward(prompt)
        for _ in range(30):
            generated.append(int(np.argmax(logits[-1])))
            logits = session.forward(generated[-1:])
    theirs = hf_logits(hf_causal_lm(directory), prompt + generated)[len(prompt) - 1 : -1]  # [30, V]
    assert generated == theirs.argmax(-1).tolist()


def test_loss_and_top_k_match_transformers(variant, hf_causal_lm):
    directory, engine = variant
    ids, first_target, k = random_ids(engine.config, 50, seed=3), 10, 5
    logits = torch.from_numpy(hf_logits(hf_causal_lm(directory), ids)).double()  # [T, V]
    logprobs = torch.log_softmax(logits, -1)
    nll = -logprobs[torch.arange(first_target - 1, len(ids) - 1), torch.tensor(ids[first_target:])].sum().item()
    with engine.session() as session:
        assert session.forward_nll(ids, first_target) == pytest.approx(nll, abs=1e-3)
    probs = torch.softmax(logits[-1], -1).numpy()  # [V]
    best = np.argsort(-probs, kind="stable")[:k]
    with engine.session() as session:
        top = session.forward_top(ids, k, engine.config.vocab_size)
    assert [token for token, _ in top] == best.tolist()
    assert np.abs(np.array([p for _, p in top]) - probs[best]).max() <= 1e-5


def test_explain_attention_and_logit_lens_match_transformers(variant, hf_causal_lm):
    directory, engine = variant
    cfg, ids = engine.config, random_ids(engine.config, 12, seed=4)
    inspection = engine.explain(ids, top_k=3, vocab_size=cfg.vocab_size, temperatures=(0.5, 1.0, 2.0))
    with torch.no_grad():
        out = hf_causal_lm(directory)(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    theirs = torch.stack(out.attentions)[:, 0].numpy()  # [L, H, T, T]: one weight per query head
    assert inspection.attention.shape == (cfg.n_layer, cfg.n_head, len(ids), len(ids))
    assert np.abs(inspection.attention - theirs).max() <= 1e-5
    # transformers' last hidden state is through the final norm, ours not (the lens applies it).
    streams = torch.stack(out.hidden_states[:-1])[:, 0].numpy()  # [L, T, C]: embeddings, blocks 1..L-1
    assert np.abs(inspection.norms[:-1] - np.linalg.norm(streams, axis=-1)).max() <= 1e-4
    final = torch.softmax(out.logits[0].double(), -1).numpy()  # [T, V]
    best = np.argsort(-final, axis=-1, kind="stable")[:, :3]  # [T, 3]
    assert (inspection.lens_tokens[-1] == best).all()
    assert np.abs(inspection.lens_probs[-1] - np.take_along_axis(final, best, -1)).max() <= 1e-5


def test_params_are_transformers_tensors_in_canonical_names(variant, hf_causal_lm):
    """Each canonical tensor is transformers' own (as it loads the file in float32), fused and
    transposed as checkpoint.py's docstring says; biases a model lacks are zeros."""
    directory, engine = variant
    cfg, p = engine.config, engine.params
    state = {k.removeprefix("model."): v.numpy() for k, v in hf_causal_lm(directory).state_dict().items()}
    assert set(p) == set(expected_shapes(cfg)) and all(p[n].shape == s for n, s in expected_shapes(cfg).items())
    zeros = np.zeros

    def bias(name: str, n: int) -> np.ndarray:
        return state.get(name, zeros(n, np.float32))

    np.testing.assert_array_equal(p["wte.weight"], state["embed_tokens.weight"])
    np.testing.assert_array_equal(p["ln_f.weight"], state["norm.weight"])
    for i in range(cfg.n_layer):
        a, m = f"layers.{i}.self_attn.", f"layers.{i}.mlp."
        qkv = [a + "q_proj", a + "k_proj", a + "v_proj"]
        np.testing.assert_array_equal(p[f"h.{i}.ln_1.weight"], state[f"layers.{i}.input_layernorm.weight"])
        np.testing.assert_array_equal(p[f"h.{i}.ln_2.weight"], state[f"layers.{i}.post_attention_layernorm.weight"])
        for norm in ("ln_1", "ln_2"):
            np.testing.assert_array_equal(p[f"h.{i}.{norm}.bias"], zeros(cfg.n_embd))
        np.testing.assert_array_equal(p[f"h.{i}.attn.c_attn.weight"], np.concatenate([state[n + ".weight"] for n in qkv]).T)
        np.testing.assert_array_equal(p[f"h.{i}.attn.c_attn.bias"],
                                      np.concatenate([bias(n + ".bias", len(state[n + ".weight"])) for n in qkv]))
        np.testing.assert_array_equal(p[f"h.{i}.attn.c_proj.weight"], state[a + "o_proj.weight"].T)
        np.testing.assert_array_equal(p[f"h.{i}.attn.c_proj.bias"], bias(a + "o_proj.bias", cfg.n_embd))
        gate_up = [m + "gate_proj", m + "up_proj"]
        np.testing.assert_array_equal(p[f"h.{i}.mlp.c_fc.weight"], np.concatenate([state[n + ".weight"] for n in gate_up]).T)
        np.testing.assert_array_equal(p[f"h.{i}.mlp.c_fc.bias"],
                                      np.concatenate([bias(n + ".bias", cfg.n_inner) for n in gate_up]))
        np.testing.assert_array_equal(p[f"h.{i}.mlp.c_proj.weight"], state[m + "down_proj.weight"].T)
        np.testing.assert_array_equal(p[f"h.{i}.mlp.c_proj.bias"], bias(m + "down_proj.bias", cfg.n_embd))
    if not cfg.tie_word_embeddings:
        np.testing.assert_array_equal(p["lm_head.weight"], state["lm_head.weight"])


def test_config_is_transformers_config(variant, hf_causal_lm):
    directory, engine = variant
    cfg, model = engine.config, hf_causal_lm(directory)
    hf = model.config
    assert (cfg.vocab_size, cfg.block_size, cfg.n_layer, cfg.n_head, cfg.n_kv_head, cfg.n_embd, cfg.n_inner) == (
        hf.vocab_size, hf.max_position_embeddings, hf.num_hidden_layers, hf.num_attention_heads,
        hf.num_key_value_heads, hf.hidden_size, hf.intermediate_size)
    head_dim = getattr(hf, "head_dim", None) or hf.hidden_size // hf.num_attention_heads  # as the modeling code
    assert (cfg.head_size, cfg.layer_norm_epsilon, cfg.tie_word_embeddings) == (head_dim, hf.rms_norm_eps,
                                                                              hf.tie_word_embeddings)
    assert cfg.n_params == model.num_parameters()
    assert cfg.family == dataclasses.replace(LLAMA, tied_unembedding=hf.tie_word_embeddings)
    np.testing.assert_array_equal(inverse_frequencies(cfg), model.model.rotary_emb.inv_freq.numpy())
    # to_hf() round-trips, and transformers reads it as the same model.
    assert GPTConfig.from_hf(cfg.to_hf()) == cfg
    again = type(hf)(**cfg.to_hf())
    assert again.rope_parameters == hf.rope_parameters
    for name in ("num_key_value_heads", "intermediate_size", "tie_word_embeddings", "rms_norm_eps", "hidden_act"):
        assert getattr(again, name) == getattr(hf, name), name


def test_gpt2_config_is_unchanged():
    from transformers import GPT2Config

    config = GPTConfig.from_hf(GPT2Config().to_dict())
    assert config == GPTConfig() and config.family == GPT2 and (config.n_kv_head, config.n_inner) == (12, 3072)
    assert config.to_hf() == {  # installed models are matched by this dict
        "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": 50257, "n_positions": 1024,
        "n_ctx": 1024, "n_layer": 12, "n_head": 12, "n_embd": 768, "layer_norm_epsilon": 1e-5,
        "activation_function": "gelu_new",
    }  # fmt: skip


# The published configs' fields that set the rotary angles (Llama 3.2 1B and 3B, Qwen2.5 0.5B
# and 1.5B, SmolLM2 135M): the hub's format, rope_theta beside rope_scaling.
LLAMA32_SCALING = {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"}
PUBLISHED = {
    "llama-3.2-1b": dict(model_type="llama", hidden_size=2048, num_attention_heads=32, num_key_value_heads=8,
                         max_position_embeddings=131072, rope_theta=500000.0, rope_scaling=LLAMA32_SCALING),
    "llama-3.2-3b": dict(model_type="llama", hidden_size=3072, num_attention_heads=24, num_key_value_heads=8,
                         max_position_embeddings=131072, rope_theta=500000.0, rope_scaling=LLAMA32_SCALING),
    "qwen2.5-0.5b": dict(model_type="qwen2", hidden_size=896, num_attention_heads=14, num_key_value_heads=2,
                         max_position_embeddings=32768, rope_theta=1000000.0, rope_scaling=None,
                         use_sliding_window=False, sliding_window=32768, max_window_layers=21),
    "qwen2.5-1.5b": dict(model_type="qwen2", hidden_size=1536, num_attention_heads=12, num_key_value_heads=2,
                         max_position_embeddings=32768, rope_theta=1000000.0, rope_scaling=None,
                         use_sliding_window=False, sliding_window=32768, max_window_layers=21),
    "smollm2-135m": dict(model_type="llama", hidden_size=576, num_attention_heads=9, num_key_value_heads=3,
                         max_position_embeddings=8192, rope_theta=100000.0, rope_scaling=None),
}


@pytest.mark.parametrize("name", PUBLISHED)
def test_rotary_angles_of_published_configs_match_transformers(name):
    """cos and sin at every position of the context window, as transformers' rotary
    embedding computes them for the published configs."""
    from transformers import AutoConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    hf = PUBLISHED[name] | dict(num_hidden_layers=1, intermediate_size=8, vocab_size=8)
    config = GPTConfig.from_hf(hf)
    theirs = LlamaRotaryEmbedding(AutoConfig.for_model(**hf))
    if hf["rope_scaling"]:
        assert config.rope_scaling == Llama3RopeScaling(32.0, 1.0, 4.0, 8192)
    # inv_freq to a float32 rounding (torch's float32 pow misses correct rounding at times).
    np.testing.assert_allclose(inverse_frequencies(config), theirs.inv_freq.numpy(), rtol=2e-7, atol=0)
    positions = np.arange(0, config.block_size, 7)
    cos, sin = theirs(torch.zeros(1), torch.from_numpy(positions)[None])
    ours = cos_sin(config, positions)
    # float32 angles reach 1.3e5 radians: one last bit of an inverse frequency moves them by ~1e-6.
    assert np.abs(ours[0] - cos[0].numpy()).max() <= 2e-6 and np.abs(ours[1] - sin[0].numpy()).max() <= 2e-6
    assert GPTConfig.from_hf(config.to_hf()) == config


def test_sliding_window_that_no_layer_uses_runs_exactly(tmp_path, hf_causal_lm):
    """Qwen2's use_sliding_window with max_window_layers = the number of layers: no layer slides."""
    directory = make_llama_checkpoint(tmp_path / "window", kind="qwen2", use_sliding_window=True,
                                      sliding_window=4, max_window_layers=2)
    checkpoint = Checkpoint(directory)
    ids = random_ids(checkpoint.config, 20)
    with NumpyEngine(checkpoint.config, dict(checkpoint.params())).session() as session:
        ours = session.forward(ids, all_logits=True)
    assert np.abs(ours - hf_logits(hf_causal_lm(directory), ids)).max() <= TOLERANCE


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    return make_llama_checkpoint(tmp_path_factory.mktemp("refusals"), kind="llama")


def with_config(source, destination, **changes):
    shutil.copytree(source, destination)
    config = json.loads((destination / "config.json").read_text()) | changes
    (destination / "config.json").write_text(json.dumps({k: v for k, v in config.items() if v is not None}))
    return destination


REFUSED = {
    "gpt_neox": (dict(model_type="gpt_neox"), "GPT-2, Llama and Qwen2 models only"),
    "yarn": (dict(rope_parameters={"rope_type": "yarn", "factor": 4.0, "rope_theta": 10000.0,
                                   "original_max_position_embeddings": 32}), "rope type 'yarn'"),
    "linear (hub style)": (dict(rope_parameters=None, rope_theta=10000.0, rope_scaling={"type": "linear", "factor": 2.0}),
                           "rope type 'linear'"),
    "sliding window": (dict(model_type="qwen2", use_sliding_window=True, sliding_window=8, max_window_layers=0),
                       "sliding-window"),
    "head_dim": (dict(head_dim=32), "head_dim 32"),
    "gelu": (dict(hidden_act="gelu"), "hidden_act 'gelu'"),
    "partial rotary": (dict(partial_rotary_factor=0.5), "partial_rotary_factor"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_what_is_not_implemented_is_refused_in_one_line(llama_dir, tmp_path, case):
    changes, expected = REFUSED[case]
    directory = with_config(llama_dir, tmp_path / "changed", **changes)
    assert expected in one_line_error(lambda: Checkpoint(directory))


def test_bad_weights_are_refused_in_one_line(llama_dir, tmp_path):
    tied = with_config(llama_dir, tmp_path / "tied", tie_word_embeddings=True)  # the file has an lm_head
    assert "lm_head.weight differs from wte.weight" in one_line_error(lambda: Checkpoint(tied).params())
    wrong = with_config(llama_dir, tmp_path / "wrong", num_key_value_heads=4)
    assert "k_proj.weight" in one_line_error(lambda: Checkpoint(wrong).params())
    biased = with_config(llama_dir, tmp_path / "biased", attention_bias=True)
    assert "missing tensor 'layers.0.self_attn.q_proj.bias'" in one_line_error(lambda: Checkpoint(biased).params())


def test_shards_are_all_part_of_the_identity(tmp_path):
    directory = make_llama_checkpoint(tmp_path / "sharded", shard=True)
    checkpoint = Checkpoint(directory)
    index = json.loads((directory / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 2 and sorted(p.name for p in checkpoint.weight_files[1:]) == shards
    key, fingerprint = checkpoint.source_key(), checkpoint.fingerprint()
    assert all(str((directory / shard).resolve()) in key for shard in shards)
    last = directory / shards[-1]
    data = bytearray(last.read_bytes())
    data[-1] ^= 1  # one bit of the last shard's last tensor
    last.write_bytes(bytes(data))
    assert Checkpoint(directory).fingerprint() != fingerprint
    last.unlink()
    assert f"names the shard {shards[-1]}, which is missing" in one_line_error(lambda: Checkpoint(directory))


def test_a_sharded_hub_model_resolves_through_the_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from sqlgpt.models import open_checkpoint

    hub = tmp_path / "hub"
    snapshot = hub / "models--someone--sharded" / "snapshots" / ("0" * 40)
    make_llama_checkpoint(snapshot, shard=True)
    (hub / "models--someone--sharded" / "refs").mkdir()
    (hub / "models--someone--sharded" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    checkpoint = open_checkpoint("someone/sharded")
    assert checkpoint.weight_files[0].name == "model.safetensors.index.json" and len(checkpoint.weight_files) > 3
    assert checkpoint.config == Checkpoint(snapshot).config
