"""GPTConfig: the shape of a decoder-only transformer, and reading it from a Hugging Face config.

One config type serves every family sqlgpt runs: GPT-2 (`model_type` "gpt2"), and Llama
("llama": SmolLM2, Llama 3.2, ...) with Qwen2 ("qwen2": Qwen2.5), which compute the same way
(RMSNorm, rotary positions, grouped-query attention, a SwiGLU MLP; `family.LLAMA`). Only the
hyper-parameters that change the forward pass are kept, and a GPT-2 config keeps exactly the
fields and `to_hf()` it always had. Configs of other model types, or with features the
engines do not implement (other rotary scalings, sliding-window attention, a head size other
than hidden / heads, ...), are refused with one clear line rather than silently run wrong.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from .errors import SqlgptError
from .family import GPT2, LLAMA, Family

# Activation names transformers accepts for GPT-2's tanh-approximated GELU.
_TANH_GELU = {"gelu_new", "gelu_pytorch_tanh", "gelu_fast"}
_SILU = {"silu", "swish"}  # the same function in transformers' ACT2FN
MODEL_TYPES = ("gpt2", "llama", "qwen2")
_ARCHITECTURES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"}


@dataclasses.dataclass(frozen=True)
class Llama3RopeScaling:
    """Llama 3.1's rescaling of the rotary frequencies (`rope_type` "llama3"): long wavelengths
    divided by `factor`, short ones kept, those between interpolated (`rotary.py`)."""

    factor: float
    low_freq_factor: float
    high_freq_factor: float
    original_max_position_embeddings: int

    def to_hf(self) -> dict[str, Any]:
        return {"rope_type": "llama3", **dataclasses.asdict(self)}


@dataclasses.dataclass(frozen=True)
class GPTConfig:
    """Hyper-parameters of a decoder (names follow nanoGPT; the later ones are Llama's).

    Fields left None take their family's value when the config is made: `n_kv_head` is
    `n_head` (no grouped-query attention), `n_inner` is 4·n_embd, and the biases are GPT-2's
    (all), Qwen2's (q, k and v only) or Llama's (none). `layer_norm_epsilon` is the norm's
    epsilon whichever the norm is (Llama's `rms_norm_eps`). The rotary fields mean nothing to
    GPT-2, whose positions are learned, and stay at their defaults there.
    """

    vocab_size: int = 50257
    block_size: int = 1024  # context window (n_positions, max_position_embeddings)
    n_layer: int = 12
    n_head: int = 12  # query heads
    n_embd: int = 768
    layer_norm_epsilon: float = 1e-5
    model_type: str = "gpt2"  # one of MODEL_TYPES; picks the family
    n_kv_head: int | None = None  # key/value heads: each serves n_head / n_kv_head query heads
    n_inner: int | None = None  # the MLP's hidden width
    rope_theta: float = 10000.0  # base of the rotary frequencies
    rope_scaling: Llama3RopeScaling | None = None
    tie_word_embeddings: bool = True  # the unembedding is the token embedding
    qkv_bias: bool | None = None  # q, k and v projections have biases
    proj_bias: bool | None = None  # the attention's output projection has a bias
    mlp_bias: bool | None = None  # the MLP's matrices have biases

    def __post_init__(self) -> None:
        if self.model_type not in MODEL_TYPES:
            raise SqlgptError(f"config: model_type must be one of {', '.join(MODEL_TYPES)}, got {self.model_type!r}")
        gpt2 = self.model_type == "gpt2"
        defaults = {"n_kv_head": self.n_head, "n_inner": 4 * self.n_embd if isinstance(self.n_embd, int) else None,
                    "qkv_bias": self.model_type != "llama", "proj_bias": gpt2, "mlp_bias": gpt2}
        for field, value in defaults.items():
            if getattr(self, field) is None:
                object.__setattr__(self, field, value)  # frozen: filled in once, here
        for field in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "n_kv_head", "n_inner"):
            value = getattr(self, field)
            if not isinstance(value, int) or value <= 0:
                raise SqlgptError(f"config: {field} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise SqlgptError(
                f"config: n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})"
            )
        if self.n_head % self.n_kv_head:
            raise SqlgptError(f"config: n_head ({self.n_head}) must be divisible by n_kv_head ({self.n_kv_head})")
        if not (isinstance(self.layer_norm_epsilon, (int, float)) and self.layer_norm_epsilon > 0):
            raise SqlgptError(f"config: layer_norm_epsilon must be > 0, got {self.layer_norm_epsilon!r}")
        if not (self.rope_scaling is None or isinstance(self.rope_scaling, Llama3RopeScaling)):
            raise SqlgptError(f"config: rope_scaling must be None or a Llama3RopeScaling, got {self.rope_scaling!r}")
        if not (isinstance(self.rope_theta, (int, float)) and self.rope_theta > 0):
            raise SqlgptError(f"config: rope_theta must be > 0, got {self.rope_theta!r}")
        # What each family fixes, so that a config means one model and to_hf() says which.
        if gpt2 and (self.n_kv_head != self.n_head or self.n_inner != 4 * self.n_embd or not self.tie_word_embeddings
                     or not (self.qkv_bias and self.proj_bias and self.mlp_bias) or self.rope_scaling is not None):
            raise SqlgptError("config: a gpt2 config has n_kv_head = n_head, n_inner = 4·n_embd, tied embeddings, "
                              "every bias and no rope_scaling")
        if self.model_type == "qwen2" and (self.qkv_bias, self.proj_bias, self.mlp_bias) != (True, False, False):
            raise SqlgptError("config: qwen2 has biases on q, k and v only")
        if self.model_type == "llama" and self.qkv_bias != self.proj_bias:
            raise SqlgptError("config: llama's attention_bias puts biases on q, k, v and the output projection alike")

    @property
    def family(self) -> Family:
        """The architecture's choices (norms, positions, activation, ...), as data the SQL plan reads."""
        if self.model_type == "gpt2":
            return GPT2
        return dataclasses.replace(LLAMA, tied_unembedding=self.tie_word_embeddings)

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    @property
    def n_params(self) -> int:
        """Parameter count as transformers' num_parameters() gives it: a tied unembedding once."""
        C, L, V, I, D = self.n_embd, self.n_layer, self.vocab_size, self.n_inner, self.head_size
        if self.model_type == "gpt2":
            per_layer = 4 * C + (C * 3 * C + 3 * C) + (C * C + C) + (C * 4 * C + 4 * C) + (4 * C * C + C)
            return self.vocab_size * C + self.block_size * C + L * per_layer + 2 * C
        qkv = (self.n_head + 2 * self.n_kv_head) * D  # q, k and v units
        per_layer = (2 * C  # the two norms' gains
                     + C * qkv + qkv * self.qkv_bias + C * C + C * self.proj_bias  # attention
                     + 3 * C * I + (2 * I + C) * self.mlp_bias)  # gate, up and down
        return V * C * (1 if self.tie_word_embeddings else 2) + L * per_layer + C

    @classmethod
    def from_hf(cls, hf: dict[str, Any]) -> "GPTConfig":
        """Read a transformers `config.json` dict of a GPT-2, Llama or Qwen2 model; refuse anything else."""
        model_type = hf.get("model_type")
        if model_type not in MODEL_TYPES:
            raise SqlgptError(
                f"config.json describes model_type {model_type!r}; sqlgpt runs GPT-2, Llama and Qwen2 models only"
            )
        try:
            return cls._from_hf_gpt2(hf) if model_type == "gpt2" else cls._from_hf_llama(hf)
        except KeyError as missing:
            raise SqlgptError(f"config.json lacks {missing.args[0]!r}") from None

    @classmethod
    def _from_hf_gpt2(cls, hf: dict[str, Any]) -> "GPTConfig":
        activation = hf.get("activation_function", "gelu_new")
        if activation not in _TANH_GELU:
            raise SqlgptError(
                f"config.json: activation_function {activation!r} is not supported (GPT-2 uses gelu_new)"
            )
        # Variants that change the math in ways the engines do not implement.
        if hf.get("scale_attn_by_inverse_layer_idx") or hf.get("reorder_and_upcast_attn"):
            raise SqlgptError("config.json: scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not supported")
        if hf.get("scale_attn_weights") is False:
            raise SqlgptError("config.json: scale_attn_weights=false is not supported")
        if hf.get("n_inner") not in (None, 4 * hf.get("n_embd", 768)):
            raise SqlgptError("config.json: n_inner other than 4*n_embd is not supported")
        if hf.get("tie_word_embeddings") is False:
            raise SqlgptError("config.json: untied word embeddings are not supported (GPT-2 ties them)")
        return cls(
            vocab_size=hf["vocab_size"],
            block_size=hf.get("n_positions", hf.get("n_ctx", 1024)),
            n_layer=hf["n_layer"],
            n_head=hf["n_head"],
            n_embd=hf["n_embd"],
            layer_norm_epsilon=float(hf.get("layer_norm_epsilon", 1e-5)),
        )

    @classmethod
    def _from_hf_llama(cls, hf: dict[str, Any]) -> "GPTConfig":
        """LlamaForCausalLM / Qwen2ForCausalLM, with transformers' defaults for absent keys."""
        model_type = hf["model_type"]
        activation = hf.get("hidden_act", "silu")
        if activation not in _SILU:
            raise SqlgptError(f"config.json: hidden_act {activation!r} is not supported ({model_type} uses silu)")
        default_block_size = 32768 if model_type == "qwen2" else 2048  # LlamaConfig's and Qwen2Config's
        C, H, block_size = hf["hidden_size"], hf["num_attention_heads"], hf.get("max_position_embeddings", default_block_size)
        if hf.get("head_dim") is not None and isinstance(C, int) and isinstance(H, int) and H and hf["head_dim"] * H != C:
            raise SqlgptError(f"config.json: head_dim {hf['head_dim']} is not hidden_size / num_attention_heads "
                              f"({C} / {H}); such models are not supported")
        rope_theta, rope_scaling = _rope(hf, block_size)
        if model_type == "qwen2":
            _refuse_sliding_window(hf, block_size)
            biases = {"qkv_bias": True, "proj_bias": False, "mlp_bias": False}  # fixed in Qwen2's modeling code
        else:
            attention_bias = bool(hf.get("attention_bias", False))
            biases = {"qkv_bias": attention_bias, "proj_bias": attention_bias, "mlp_bias": bool(hf.get("mlp_bias", False))}
        return cls(
            vocab_size=hf["vocab_size"],
            block_size=block_size,
            n_layer=hf["num_hidden_layers"],
            n_head=H,
            n_embd=C,
            layer_norm_epsilon=float(hf.get("rms_norm_eps", 1e-6)),
            model_type=model_type,
            n_kv_head=hf.get("num_key_value_heads") or H,
            n_inner=hf["intermediate_size"],
            rope_theta=float(rope_theta),
            rope_scaling=rope_scaling,
            tie_word_embeddings=bool(hf.get("tie_word_embeddings", False)),
            **biases,
        )

    def to_hf(self) -> dict[str, Any]:
        """The matching transformers `config.json` dict (for saving trained models, and the
        identity of an installed model). Rotary settings are written the way the hub's Llama
        3.2 and Qwen2.5 files write them (rope_theta, rope_scaling), which every transformers reads."""
        if self.model_type == "gpt2":
            return {
                "model_type": "gpt2",
                "architectures": ["GPT2LMHeadModel"],
                "vocab_size": self.vocab_size,
                "n_positions": self.block_size,
                "n_ctx": self.block_size,
                "n_layer": self.n_layer,
                "n_head": self.n_head,
                "n_embd": self.n_embd,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "activation_function": "gelu_new",
            }
        hf = {
            "model_type": self.model_type,
            "architectures": [_ARCHITECTURES[self.model_type]],
            "vocab_size": self.vocab_size,
            "max_position_embeddings": self.block_size,
            "num_hidden_layers": self.n_layer,
            "num_attention_heads": self.n_head,
            "num_key_value_heads": self.n_kv_head,
            "hidden_size": self.n_embd,
            "head_dim": self.head_size,
            "intermediate_size": self.n_inner,
            "hidden_act": "silu",
            "rms_norm_eps": self.layer_norm_epsilon,
            "rope_theta": self.rope_theta,
            "rope_scaling": self.rope_scaling.to_hf() if self.rope_scaling else None,
            "tie_word_embeddings": self.tie_word_embeddings,
        }
        if self.model_type == "llama":
            hf |= {"attention_bias": self.qkv_bias, "mlp_bias": self.mlp_bias}
        else:
            hf |= {"use_sliding_window": False}
        return hf

    def attention_scale(self) -> float:
        return 1.0 / math.sqrt(self.head_size)


def _rope(hf: dict[str, Any], block_size: int) -> tuple[float, Llama3RopeScaling | None]:
    """rope_theta and the llama3 scaling, from either way config.json writes them: the hub's
    top-level rope_theta + rope_scaling, or transformers 5's rope_parameters (rope_scaling
    wins when both are there, as in transformers)."""
    rope = hf.get("rope_scaling") or hf.get("rope_parameters") or {}
    if not isinstance(rope, dict) or any(isinstance(value, dict) for value in rope.values()):
        raise SqlgptError("config.json: rotary parameters per layer type are not supported")
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope.get("partial_rotary_factor", hf.get("partial_rotary_factor", 1.0)) != 1.0:
        raise SqlgptError("config.json: partial_rotary_factor other than 1 is not supported")
    theta = rope.get("rope_theta", hf.get("rope_theta", 10000.0))
    if rope_type == "default":
        return theta, None
    if rope_type == "llama3":
        return theta, Llama3RopeScaling(
            factor=float(rope["factor"]),
            low_freq_factor=float(rope["low_freq_factor"]),
            high_freq_factor=float(rope["high_freq_factor"]),
            original_max_position_embeddings=int(rope.get("original_max_position_embeddings", block_size)),
        )
    raise SqlgptError(f"config.json: rope type {rope_type!r} is not supported (only default and llama3 are)")


def _refuse_sliding_window(hf: dict[str, Any], block_size: int) -> None:
    """Qwen2's sliding-window attention, where it would change anything: it is on, some layer
    uses it, and the window is shorter than the context (key j is seen from query i only if
    j > i - window)."""
    window = hf.get("sliding_window")
    if not hf.get("use_sliding_window") or window is None or window >= block_size:
        return
    n_layer, first = hf["num_hidden_layers"], hf.get("max_window_layers", 28)
    layer_types = hf.get("layer_types") or ["sliding_attention" if i >= first else "full_attention" for i in range(n_layer)]
    if "sliding_attention" in layer_types:
        raise SqlgptError(f"config.json: sliding-window attention (use_sliding_window, window {window}) is not supported")
