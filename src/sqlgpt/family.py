"""A model family as data: the choices that make one transformer decoder differ from another.

The SQL plan (`engines/sql/plan.py`) and the weight layouts read a `Family` instead of
assuming GPT-2: which norm precedes attention and the MLP, how positions enter, the MLP's
activation, whether the unembedding is the token embedding, and where each block's matrices
are in the checkpoint's canonical names. A new family is a new `Family` value plus the few
switches of the plan that its choices need; the values each field may take are those some
part of the plan implements (`NORMS`, `POSITIONS`, `ACTIVATIONS`), checked when a family is made.
Two families exist: `GPT2`, and `LLAMA` (Llama and Qwen2: RMSNorm, rotary positions, a SiLU-
gated MLP). Grouped-query attention and the rotary frequencies are numbers, not choices: they
are the config's (`n_kv_head`, `rope_theta`, `rope_scaling`; `rotary.py` makes the angles).

What this module does not do: read configs or checkpoints (`config.py`, `checkpoint.py`), or
write SQL (the plan turns an activation's name into SQL).
"""

from __future__ import annotations

import dataclasses

NORMS = (
    "layernorm",  # mean and variance, then gain and bias
    "rmsnorm",  # x / sqrt(mean(x²) + eps) · gain; no mean, no bias (the checkpoint's bias is zeros)
)
POSITIONS = (
    "learned",  # a table of position embeddings added to the token embedding
    "rotary",  # q and k of each head rotated by position (`rotary.py`); nothing added to x
)
ACTIVATIONS = (
    "gelu_tanh",  # GELU, tanh approximation (transformers' "gelu_new")
    "silu",  # x · sigmoid(x)
)


@dataclasses.dataclass(frozen=True)
class Matrix:
    """One matrix of a block: `name` is its table's (h{i}_`name`), `key` the checkpoint's
    canonical name with `{i}` for the layer, and `norm` the norm folded into it, if any."""

    name: str
    key: str
    norm: str | None = None


@dataclasses.dataclass(frozen=True)
class Family:
    name: str
    norm: str
    positions: str
    activation: str
    tied_unembedding: bool  # the logits are the final hidden state · the token embedding
    attention: tuple[Matrix, Matrix]  # QKV (norm folded in), then the output projection
    mlp: tuple[Matrix, Matrix]  # the first layer (norm folded in), then the projection
    final_norm: str  # the checkpoint's name of the norm after the last block
    # SwiGLU: the first MLP matrix's outputs are the gate's units, then the up projection's
    # (n_inner each); the hidden layer is activation(gate) · up, not activation(all of them).
    gated_mlp: bool = False

    def __post_init__(self) -> None:
        for field, allowed in (("norm", NORMS), ("positions", POSITIONS), ("activation", ACTIVATIONS)):
            if getattr(self, field) not in allowed:
                raise ValueError(f"family {self.name}: {field} {getattr(self, field)!r} is not one of {allowed}")


GPT2 = Family(
    name="gpt2",
    norm="layernorm",
    positions="learned",
    activation="gelu_tanh",
    tied_unembedding=True,
    attention=(Matrix("qkv", "h.{i}.attn.c_attn", norm="h.{i}.ln_1"), Matrix("attn_proj", "h.{i}.attn.c_proj")),
    mlp=(Matrix("fc", "h.{i}.mlp.c_fc", norm="h.{i}.ln_2"), Matrix("mlp_proj", "h.{i}.mlp.c_proj")),
    final_norm="ln_f",
)

# Llama, and Qwen2 (the same computation; only which biases exist differs, and those the
# checkpoint reader fills with zeros). Untied as transformers' LlamaConfig defaults; a
# config's own tie_word_embeddings replaces it (`GPTConfig.family`).
LLAMA = Family(
    name="llama",
    norm="rmsnorm",
    positions="rotary",
    activation="silu",
    tied_unembedding=False,
    attention=GPT2.attention,
    mlp=GPT2.mlp,
    final_norm="ln_f",
    gated_mlp=True,
)
