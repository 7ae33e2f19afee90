"""Progress bars on stderr for long work (installing, reading long prompts, scoring).

One place decides how they look; callers say whether to show one at all. tqdm is imported
only when a bar is shown.
"""

from __future__ import annotations

from typing import Any


class _Silent:
    def update(self, n: int) -> None: ...
    def close(self) -> None: ...


def progress_bar(total: int, description: str, enabled: bool, unit: str = "tok") -> Any:
    """A bar with `update(n)` and `close()`; a silent stand-in when not `enabled`."""
    if not enabled:
        return _Silent()
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, unit_scale=True, desc=description, leave=False)
