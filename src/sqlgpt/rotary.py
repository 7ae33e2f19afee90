"""Rotary position embeddings: the angles by which Llama-family models turn q and k.

Each head's D channels are D/2 pairs (channel c with channel c + D/2, transformers'
"rotate_half" convention); pair c at position p turns by p · inv_freq[c]. The frequencies
and the cos/sin tables are computed exactly as transformers computes them, in float32 and in
the same order, so that an engine using these tables matches transformers to the last bits
that matter. Every engine reads positions from here: the NumPy reference computes the rows
it needs, and a SQL engine can install the same numbers as a table by position.
"""

from __future__ import annotations

import math

import numpy as np

from .config import GPTConfig


def inverse_frequencies(config: GPTConfig) -> np.ndarray:
    """inv_freq [D/2] float32: theta^(-2c/D), rescaled for a llama3 rope_scaling."""
    # Where transformers divides a number by a tensor, torch computes reciprocal(tensor) · number
    # (Tensor.__rtruediv__); so does this, as the two can differ in the last bit.
    D = config.head_size
    exponents = np.arange(0, D, 2, dtype=np.float32) / np.float32(D)  # [D/2]
    # theta^e rounded once from float64: what torch's float32 pow gives but for a rare last bit.
    inv_freq = _reciprocal((np.float64(config.rope_theta) ** exponents.astype(np.float64)).astype(np.float32))  # [D/2]
    scaling = config.rope_scaling
    if scaling is None:
        return inv_freq
    # transformers' _compute_llama3_parameters, step for step (float32 throughout).
    old_context = scaling.original_max_position_embeddings
    low, high, factor = scaling.low_freq_factor, scaling.high_freq_factor, scaling.factor
    wavelength = _reciprocal(inv_freq) * np.float32(2 * math.pi)  # [D/2]
    scaled = np.where(wavelength > old_context / low, inv_freq / np.float32(factor), inv_freq)  # [D/2] long waves slowed
    smooth = (_reciprocal(wavelength) * np.float32(old_context) - np.float32(low)) / np.float32(high - low)  # [D/2]
    smoothed = (np.float32(1) - smooth) * scaled / np.float32(factor) + smooth * scaled  # [D/2]
    medium = ~(wavelength < old_context / high) & ~(wavelength > old_context / low)  # [D/2]
    return np.where(medium, smoothed, scaled).astype(np.float32)  # [D/2]


def _reciprocal(x: np.ndarray) -> np.ndarray:
    return np.float32(1) / x


def cos_sin(config: GPTConfig, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin [n, D] float32 of the angles at `positions` [n], each pair's angle twice
    (channels c and c + D/2 share it)."""
    angles = positions.astype(np.float32)[:, None] * inverse_frequencies(config)  # [n, D/2] float32, as torch
    angles = np.concatenate([angles, angles], axis=-1).astype(np.float64)  # [n, D]
    # cos and sin of the float32 angles rounded once from float64: the same on every CPU
    # (NumPy's float32 cos/sin depend on its SIMD code), and within a last bit of torch's.
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def rotate(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """x [..., n, D] turned by the angles of its n positions (cos, sin [n, D])."""
    half = x.shape[-1] // 2
    rotated_half = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)  # [..., n, D]
    return x * cos + rotated_half * sin  # [..., n, D]
