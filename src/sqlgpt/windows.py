"""How a text longer than the context window is scored: overlapping windows.

Each window holds at most `block_size` tokens and starts half a window after the one before,
so every token after the first is predicted exactly once, with as much context as the
windows give it. Used by `GPT.score` and by scoring a table, so both give the same numbers.
"""

from __future__ import annotations


def score_windows(ids: list[int], block_size: int) -> list[tuple[list[int], int]]:
    """(window ids, first target) pairs covering ids[1:] once: the window's tokens from its
    first target on are predicted there (earlier ones are context, scored by an earlier window)."""
    stride = max(1, block_size // 2)
    out: list[tuple[list[int], int]] = []
    counted = 1  # position 0 (<|endoftext|>) is context, never predicted
    for start in range(0, max(1, len(ids) - 1), stride):
        chunk = ids[start : start + block_size]
        if len(chunk) < 2 or start + len(chunk) <= counted:
            break
        out.append((chunk, counted - start))
        counted = start + len(chunk)
        if counted >= len(ids):
            break
    return out
