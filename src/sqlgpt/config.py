"""GPTConfig: the shape of a GPT-2 style model, and reading it from a Hugging Face config.

Only the hyper-parameters that change the forward pass are kept. Configs of other model
families (or GPT-2 variants with features we do not implement) are refused with one clear
line rather than silently run wrong.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from .errors import SqlgptError
from .family import GPT2, Family

# Activation names transformers accepts for GPT-2's tanh-approximated GELU.
_TANH_GELU = {"gelu_new", "gelu_pytorch_tanh", "gelu_fast"}


@dataclasses.dataclass(frozen=True)
class GPTConfig:
    """Hyper-parameters of a GPT-2 style decoder (names follow nanoGPT)."""

    vocab_size: int = 50257
    block_size: int = 1024  # context window (n_positions)
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    layer_norm_epsilon: float = 1e-5

    def __post_init__(self) -> None:
        for field in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, field)
            if not isinstance(value, int) or value <= 0:
                raise SqlgptError(f"config: {field} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise SqlgptError(
                f"config: n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})"
            )
        if not (isinstance(self.layer_norm_epsilon, (int, float)) and self.layer_norm_epsilon > 0):
            raise SqlgptError(f"config: layer_norm_epsilon must be > 0, got {self.layer_norm_epsilon!r}")

    @property
    def family(self) -> Family:
        """The architecture's choices (norms, positions, activation, ...), as data the SQL plan reads."""
        return GPT2

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    @property
    def n_params(self) -> int:
        """Parameter count with the unembedding tied to the token embedding."""
        C, L = self.n_embd, self.n_layer
        per_layer = 4 * C + (C * 3 * C + 3 * C) + (C * C + C) + (C * 4 * C + 4 * C) + (4 * C * C + C)
        return self.vocab_size * C + self.block_size * C + L * per_layer + 2 * C

    @classmethod
    def from_hf(cls, hf: dict[str, Any]) -> "GPTConfig":
        """Read a transformers `config.json` dict of a GPT-2 model; refuse anything else."""
        model_type = hf.get("model_type")
        if model_type != "gpt2":
            raise SqlgptError(
                f"config.json describes model_type {model_type!r}; sqlgpt runs GPT-2 models only"
            )
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
        try:
            return cls(
                vocab_size=hf["vocab_size"],
                block_size=hf.get("n_positions", hf.get("n_ctx", 1024)),
                n_layer=hf["n_layer"],
                n_head=hf["n_head"],
                n_embd=hf["n_embd"],
                layer_norm_epsilon=float(hf.get("layer_norm_epsilon", 1e-5)),
            )
        except KeyError as missing:
            raise SqlgptError(f"config.json lacks {missing.args[0]!r}") from None

    def to_hf(self) -> dict[str, Any]:
        """The matching transformers `config.json` dict (for saving trained models)."""
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

    def attention_scale(self) -> float:
        return 1.0 / math.sqrt(self.head_size)
