"""The reference engine: the forward pass of GPT-2 and of Llama / Qwen2 in NumPy, with a KV cache.

Small and obviously correct, in the style of picoGPT: pure functions, the shape of every
tensor in a comment. Every SQL engine is checked against this one (and this one against
transformers). It computes in float32 like PyTorch; nothing here is tuned for speed beyond
the KV cache, which makes each generated token cost one position instead of the whole prefix.

One session runs every family (`config.family`): the norm (LayerNorm or RMSNorm), how
positions enter (a learned table added to the embedding, or rotary q and k), the MLP (GELU,
or SiLU-gated), and whether the unembedding is the token embedding. Grouped-query attention
is the general case: H query heads share KV key/value heads (GPT-2: KV = H), and the cache
holds only the KV heads.

Shapes: n = new positions this call, t = all positions so far (cache + new), C = n_embd,
H = n_head, KV = n_kv_head, G = H / KV query heads per key/value head, D = head size,
I = n_inner (the MLP's width), V = vocab size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..config import GPTConfig
from ..errors import SqlgptError
from ..rotary import cos_sin, rotate
from ..sampling import probabilities
from .base import Engine, Inspection, Session


def layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)  # [n, 1]
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)  # [n, 1] biased variance, as torch
    return g * (x - mean) / np.sqrt(var + eps) + b  # [n, C]


def rms_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    # As transformers' LlamaRMSNorm: x · rsqrt(mean(x²) + eps), then the gain. b is the zeros
    # the checkpoint reader puts where RMSNorm has no bias, so adding it changes nothing.
    ms = (x * x).mean(axis=-1, keepdims=True)  # [n, 1]
    return g * (x * (np.float32(1) / np.sqrt(ms + np.float32(eps)))) + b  # [n, C]


def gelu(x: np.ndarray) -> np.ndarray:
    # GPT-2's tanh approximation ("gelu_new"), not the exact erf form.
    return 0.5 * x * (1.0 + np.tanh(np.float32(np.sqrt(2.0 / np.pi)) * (x + np.float32(0.044715) * x**3)))


def silu(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(-x) overflows to inf for very negative x: silu is then -0
        return x / (np.float32(1) + np.exp(-x))


NORMS = {"layernorm": layer_norm, "rmsnorm": rms_norm}
ACTIVATIONS = {"gelu_tanh": gelu, "silu": silu}


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))  # subtracting the max keeps exp from overflowing
    return e / e.sum(axis=-1, keepdims=True)


def top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores along the last axis, largest first, ties by index."""
    return np.argsort(-scores, axis=-1, kind="stable")[..., :k]  # [..., k]


class NumpySession(Session):
    def __init__(self, engine: "NumpyEngine", inspect: bool = False) -> None:
        super().__init__(engine.config)
        self.p = engine.params
        self.family = self.config.family
        self.norm = NORMS[self.family.norm]
        self.activation = ACTIVATIONS[self.family.activation]
        self._reset()
        # With `inspect`, the latest forward call's residual streams and attention weights are
        # kept for `explain`; off by default, since they grow with the square of the length.
        self.inspect = inspect
        self.streams: list[np.ndarray] = []  # L+1 × [n, C]: x0 (embeddings), then after each block
        self.attention: list[np.ndarray] = []  # L × [H, n, t]

    def _reset(self) -> None:
        # Per layer: keys and values of every position so far, one per key/value head.
        KV, D = self.config.n_kv_head, self.config.head_size
        self.k_cache = [np.zeros((KV, 0, D), np.float32) for _ in range(self.config.n_layer)]  # L × [KV, 0, D]
        self.v_cache = [np.zeros((KV, 0, D), np.float32) for _ in range(self.config.n_layer)]  # L × [KV, 0, D]

    def _rewind(self, n_past: int) -> None:
        self.k_cache = [k[:, :n_past] for k in self.k_cache]  # L × [KV, n_past, D]
        self.v_cache = [v[:, :n_past] for v in self.v_cache]  # L × [KV, n_past, D]

    def _forward(self, ids: list[int], all_logits: bool) -> np.ndarray:
        cfg, p = self.config, self.p
        n, t0 = len(ids), self.n_past
        x = p["wte.weight"][ids]  # [n, C]
        rotation = None
        if self.family.positions == "learned":
            x = x + p["wpe.weight"][t0 : t0 + n]  # [n, C]
        else:  # rotary: the positions turn q and k inside attention instead
            rotation = cos_sin(cfg, np.arange(t0, t0 + n))  # 2 × [n, D]
        if self.inspect:
            self.streams, self.attention = [x], []
        for i in range(cfg.n_layer):
            x = x + self._attention(i, self._norm(x, f"h.{i}.ln_1"), rotation)  # [n, C]
            x = x + self._mlp(i, self._norm(x, f"h.{i}.ln_2"))  # [n, C]
            if self.inspect:
                self.streams.append(x)
        if not all_logits:
            x = x[-1:]  # [1, C] generation needs only the last position
        x = self._norm(x, self.family.final_norm)  # [n, C]
        return (x @ unembedding(p, self.family.tied_unembedding).T).astype(np.float32)  # [n, V]

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        return self.norm(x, self.p[f"{name}.weight"], self.p[f"{name}.bias"], self.config.layer_norm_epsilon)  # [n, C]

    def _attention(self, i: int, x: np.ndarray, rotation: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
        cfg, p = self.config, self.p
        n, H, KV, D = x.shape[0], cfg.n_head, cfg.n_kv_head, cfg.head_size
        qkv = x @ p[f"h.{i}.attn.c_attn.weight"] + p[f"h.{i}.attn.c_attn.bias"]  # [n, (H + 2KV)·D]
        q, k, v = np.split(qkv, [H * D, (H + KV) * D], axis=-1)  # [n, H·D], 2 × [n, KV·D]
        q = q.reshape(n, H, D).transpose(1, 0, 2)  # [H, n, D]
        k, v = (m.reshape(n, KV, D).transpose(1, 0, 2) for m in (k, v))  # 2 × [KV, n, D]
        if rotation is not None:
            q, k = rotate(q, *rotation), rotate(k, *rotation)  # [H, n, D], [KV, n, D]
        self.k_cache[i] = k = np.concatenate([self.k_cache[i], k], axis=1)  # [KV, t, D]
        self.v_cache[i] = v = np.concatenate([self.v_cache[i], v], axis=1)  # [KV, t, D]
        t = k.shape[1]
        # Query head h reads key/value head h // G: group the query heads by the head they share.
        q = q.reshape(KV, H // KV, n, D)  # [KV, G, n, D]
        scores = q @ k[:, None].transpose(0, 1, 3, 2) * np.float32(cfg.attention_scale())  # [KV, G, n, t]
        # New position j (absolute t-n+j) may look at absolute positions 0..t-n+j only.
        future = np.triu(np.ones((n, t), dtype=bool), k=t - n + 1)  # [n, t]
        scores = np.where(future, np.float32(-np.inf), scores)  # [KV, G, n, t]
        weights = softmax(scores)  # [KV, G, n, t]
        if self.inspect:
            self.attention.append(weights.reshape(H, n, t))
        out = (weights @ v[:, None]).reshape(H, n, D)  # [H, n, D]
        out = out.transpose(1, 0, 2).reshape(n, H * D)  # [n, C] heads side by side again
        return out @ p[f"h.{i}.attn.c_proj.weight"] + p[f"h.{i}.attn.c_proj.bias"]  # [n, C]

    def _mlp(self, i: int, x: np.ndarray) -> np.ndarray:
        p = self.p
        h = x @ p[f"h.{i}.mlp.c_fc.weight"] + p[f"h.{i}.mlp.c_fc.bias"]  # [n, I], or [n, 2I] gated
        if self.family.gated_mlp:  # SwiGLU: the gate's units, then the up projection's
            gate, up = np.split(h, 2, axis=-1)  # 2 × [n, I]
            h = self.activation(gate) * up  # [n, I]
        else:
            h = self.activation(h)  # [n, I]
        return h @ p[f"h.{i}.mlp.c_proj.weight"] + p[f"h.{i}.mlp.c_proj.bias"]  # [n, C]

    def close(self) -> None:
        super().close()
        self.k_cache = self.v_cache = []


def unembedding(p: dict[str, np.ndarray], tied: bool) -> np.ndarray:
    """[V, C]: the token embedding when tied, else the checkpoint's lm_head."""
    return p["wte.weight"] if tied else p["lm_head.weight"]


class NumpyEngine(Engine):
    """Weights held as NumPy arrays in memory."""

    name = "numpy"

    def __init__(self, config: GPTConfig, params: dict[str, np.ndarray]) -> None:
        super().__init__(config)
        self.params = params

    def session(self) -> NumpySession:
        return NumpySession(self)

    def explain(self, ids: Sequence[int], *, top_k: int, vocab_size: int, temperatures: Sequence[float],
                keep: bool = False) -> Inspection:
        if keep:
            raise SqlgptError("keep leaves tables in a database, and the numpy engine has none; use a SQL engine")
        p, ids = self.params, [int(i) for i in ids]
        with NumpySession(self, inspect=True) as session:
            logits = session.forward(ids, all_logits=True)[-1, :vocab_size]  # [V]
            streams, attention = session.streams, session.attention  # L+1 × [T, C], L × [H, T, T]
        family, eps = self.config.family, self.config.layer_norm_epsilon
        wte = p["wte.weight"][:vocab_size]  # [V, C]
        unembed = unembedding(p, family.tied_unembedding)[:vocab_size]  # [V, C]
        lens_tokens, lens_probs = [], []
        for x in streams[1:]:  # one layer at a time: [T, V] is large for long prompts
            normed = NORMS[family.norm](x, p[f"{family.final_norm}.weight"], p[f"{family.final_norm}.bias"], eps)  # [T, C]
            probs = softmax(normed @ unembed.T)  # [T, V]
            lens_tokens.append(top(probs, top_k))  # [T, k]
            lens_probs.append(np.take_along_axis(probs, lens_tokens[-1], -1))  # [T, k]
        next_probs = np.stack([probabilities(logits, t) for t in temperatures])  # [n, V]
        next_tokens = top(next_probs, top_k)  # [n, k]
        unit = wte / np.linalg.norm(wte, axis=-1, keepdims=True)  # [V, C]
        similarity = unit[ids] @ unit.T  # [T, V] cosine
        similarity[np.arange(len(ids)), ids] = -np.inf  # a token is not its own neighbour
        neighbours = top(similarity, top_k)  # [T, k]
        return Inspection(
            attention=np.stack(attention),  # [L, H, T, T]
            norms=np.linalg.norm(np.stack(streams), axis=-1),  # [L+1, T]
            lens_tokens=np.stack(lens_tokens),  # [L, T, k]
            lens_probs=np.stack(lens_probs),  # [L, T, k]
            temperatures=tuple(float(t) for t in temperatures),
            next_tokens=next_tokens,
            next_probs=np.take_along_axis(next_probs, next_tokens, -1),  # [n, k]
            neighbour_tokens=neighbours,
            neighbour_similarity=np.take_along_axis(similarity, neighbours, -1),  # [T, k]
        )
