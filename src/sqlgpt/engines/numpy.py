"""The reference engine: GPT-2's forward pass in NumPy, with a KV cache.

Small and obviously correct, in the style of picoGPT: pure functions, the shape of every
tensor in a comment. Every SQL engine is checked against this one (and this one against
transformers). It computes in float32 like PyTorch; nothing here is tuned for speed beyond
the KV cache, which makes each generated token cost one position instead of the whole prefix.

Shapes: n = new positions this call, t = all positions so far (cache + new), C = n_embd,
H = n_head, D = head size, V = vocab size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..config import GPTConfig
from ..errors import SqlgptError
from ..sampling import probabilities
from .base import Engine, Inspection, Session


def layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)  # [n, 1]
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)  # [n, 1] biased variance, as torch
    return g * (x - mean) / np.sqrt(var + eps) + b  # [n, C]


def gelu(x: np.ndarray) -> np.ndarray:
    # GPT-2's tanh approximation ("gelu_new"), not the exact erf form.
    return 0.5 * x * (1.0 + np.tanh(np.float32(np.sqrt(2.0 / np.pi)) * (x + np.float32(0.044715) * x**3)))


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
        self._reset()
        # With `inspect`, the latest forward call's residual streams and attention weights are
        # kept for `explain`; off by default, since they grow with the square of the length.
        self.inspect = inspect
        self.streams: list[np.ndarray] = []  # L+1 × [n, C]: x0 (embeddings), then after each block
        self.attention: list[np.ndarray] = []  # L × [H, n, t]

    def _reset(self) -> None:
        # Per layer: keys and values of every position so far.
        H, D = self.config.n_head, self.config.head_size
        self.k_cache = [np.zeros((H, 0, D), np.float32) for _ in range(self.config.n_layer)]  # L × [H, 0, D]
        self.v_cache = [np.zeros((H, 0, D), np.float32) for _ in range(self.config.n_layer)]  # L × [H, 0, D]

    def _forward(self, ids: list[int], all_logits: bool) -> np.ndarray:
        cfg, p = self.config, self.p
        n, t0 = len(ids), self.n_past
        x = p["wte.weight"][ids] + p["wpe.weight"][t0 : t0 + n]  # [n, C]
        if self.inspect:
            self.streams, self.attention = [x], []
        for i in range(cfg.n_layer):
            x = x + self._attention(i, layer_norm(x, p[f"h.{i}.ln_1.weight"], p[f"h.{i}.ln_1.bias"], cfg.layer_norm_epsilon))  # [n, C]
            x = x + self._mlp(i, layer_norm(x, p[f"h.{i}.ln_2.weight"], p[f"h.{i}.ln_2.bias"], cfg.layer_norm_epsilon))  # [n, C]
            if self.inspect:
                self.streams.append(x)
        if not all_logits:
            x = x[-1:]  # [1, C] generation needs only the last position
        x = layer_norm(x, p["ln_f.weight"], p["ln_f.bias"], cfg.layer_norm_epsilon)  # [n, C]
        return (x @ p["wte.weight"].T).astype(np.float32)  # [n, V] tied unembedding

    def _attention(self, i: int, x: np.ndarray) -> np.ndarray:
        cfg, p = self.config, self.p
        n, H, D = x.shape[0], cfg.n_head, cfg.head_size
        qkv = x @ p[f"h.{i}.attn.c_attn.weight"] + p[f"h.{i}.attn.c_attn.bias"]  # [n, 3C]
        q, k, v = (m.reshape(n, H, D).transpose(1, 0, 2) for m in np.split(qkv, 3, axis=-1))  # 3 × [H, n, D]
        self.k_cache[i] = k = np.concatenate([self.k_cache[i], k], axis=1)  # [H, t, D]
        self.v_cache[i] = v = np.concatenate([self.v_cache[i], v], axis=1)  # [H, t, D]
        t = k.shape[1]
        scores = q @ k.transpose(0, 2, 1) * np.float32(cfg.attention_scale())  # [H, n, t]
        # New position j (absolute t-n+j) may look at absolute positions 0..t-n+j only.
        future = np.triu(np.ones((n, t), dtype=bool), k=t - n + 1)  # [n, t]
        scores = np.where(future, np.float32(-np.inf), scores)  # [H, n, t]
        weights = softmax(scores)  # [H, n, t]
        if self.inspect:
            self.attention.append(weights)
        out = weights @ v  # [H, n, D]
        out = out.transpose(1, 0, 2).reshape(n, H * D)  # [n, C] heads side by side again
        return out @ p[f"h.{i}.attn.c_proj.weight"] + p[f"h.{i}.attn.c_proj.bias"]  # [n, C]

    def _mlp(self, i: int, x: np.ndarray) -> np.ndarray:
        p = self.p
        h = gelu(x @ p[f"h.{i}.mlp.c_fc.weight"] + p[f"h.{i}.mlp.c_fc.bias"])  # [n, 4C]
        return h @ p[f"h.{i}.mlp.c_proj.weight"] + p[f"h.{i}.mlp.c_proj.bias"]  # [n, C]

    def close(self) -> None:
        super().close()
        self.k_cache = self.v_cache = []


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
        wte = p["wte.weight"][:vocab_size]  # [V, C]
        lens_tokens, lens_probs = [], []
        for x in streams[1:]:  # one layer at a time: [T, V] is large for long prompts
            probs = softmax(layer_norm(x, p["ln_f.weight"], p["ln_f.bias"], self.config.layer_norm_epsilon) @ wte.T)  # [T, V]
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
