"""The reference engine: GPT-2's forward pass in NumPy, with a KV cache.

Small and obviously correct, in the style of picoGPT: pure functions, the shape of every
tensor in a comment. Every SQL engine is checked against this one (and this one against
transformers). It computes in float32 like PyTorch; nothing here is tuned for speed beyond
the KV cache, which makes each generated token cost one position instead of the whole prefix.

Shapes: n = new positions this call, t = all positions so far (cache + new), C = n_embd,
H = n_head, D = head size, V = vocab size.
"""

from __future__ import annotations

import numpy as np

from ..config import GPTConfig
from .base import Engine, Session


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


class NumpySession(Session):
    def __init__(self, engine: "NumpyEngine") -> None:
        super().__init__(engine.config)
        self.p = engine.params
        H, D = self.config.n_head, self.config.head_size
        # Per layer: keys and values of every position so far.
        self.k_cache = [np.zeros((H, 0, D), np.float32) for _ in range(self.config.n_layer)]  # L × [H, t, D]
        self.v_cache = [np.zeros((H, 0, D), np.float32) for _ in range(self.config.n_layer)]  # L × [H, t, D]

    def _forward(self, ids: list[int], all_logits: bool) -> np.ndarray:
        cfg, p = self.config, self.p
        n, t0 = len(ids), self.n_past
        x = p["wte.weight"][ids] + p["wpe.weight"][t0 : t0 + n]  # [n, C]
        for i in range(cfg.n_layer):
            x = x + self._attention(i, layer_norm(x, p[f"h.{i}.ln_1.weight"], p[f"h.{i}.ln_1.bias"], cfg.layer_norm_epsilon))  # [n, C]
            x = x + self._mlp(i, layer_norm(x, p[f"h.{i}.ln_2.weight"], p[f"h.{i}.ln_2.bias"], cfg.layer_norm_epsilon))  # [n, C]
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
        out = softmax(scores) @ v  # [H, n, D]
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
