"""Rotary position embeddings' angles, computed as transformers computes them for Llama-family models.

A rotary family turns each query and key head by its position instead of adding a position
embedding: element d of a head is paired with element d ± D/2 and the pair is rotated by
the angle position · inv_freq[d mod D/2]. This module computes those angles' cosines and
sines in float32, as transformers' `LlamaRotaryEmbedding` does (with the "llama3" frequency
scaling of Llama 3.1/3.2 where the config asks for it); the NumPy engine applies them and
the SQL engines install them as a table. It does not rotate anything itself.
"""

from __future__ import annotations

import math

import numpy as np

from .config import GPTConfig


def inverse_frequencies(config: GPTConfig) -> np.ndarray:
    """inv_freq [D/2], float32: θ^(−2i/D), then llama3's smoothing of the low frequencies."""
    D = config.head_size
    inv_freq = (1.0 / (np.float32(config.rope_theta) ** (np.arange(0, D, 2, dtype=np.float32) / np.float32(D))))
    inv_freq = inv_freq.astype(np.float32)  # [D/2]
    if config.rope_scaling is None:
        return inv_freq
    scaling = dict(config.rope_scaling)
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old_context = scaling["original_max_position_embeddings"]
    wavelength = (2 * math.pi / inv_freq).astype(np.float32)  # [D/2]
    scaled = np.where(wavelength > old_context / low, inv_freq / np.float32(factor), inv_freq)  # [D/2]
    smooth = ((old_context / wavelength - low) / (high - low)).astype(np.float32)  # [D/2]
    smoothed = (1 - smooth) * scaled / np.float32(factor) + smooth * scaled  # [D/2]
    medium = ~(wavelength < old_context / high) & ~(wavelength > old_context / low)
    return np.where(medium, smoothed, scaled).astype(np.float32)


def cos_sin(config: GPTConfig, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin [n, D] of the angles at `positions` [n], float32; the two halves of a head share one angle."""
    freqs = np.asarray(positions, np.float32)[:, None] * inverse_frequencies(config)[None, :]  # [n, D/2]
    angles = np.concatenate([freqs, freqs], axis=-1)  # [n, D]
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)
