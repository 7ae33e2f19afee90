"""GPT-2's pre-tokenizer pattern with its character classes written out as code-point ranges,
for the standalone script's regexes (DuckDB's RE2, PostgreSQL's AREs) and SQLite's scan.

The ranges come from the `regex` package that `sqlgpt.Tokenizer` uses, so every database
splits exactly as it does. This module builds patterns; it writes no SQL.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import regex


@functools.cache
def unicode_classes() -> dict[str, list[tuple[int, int]]]:
    """The code-point ranges of GPT-2's pattern classes, as the installed `regex` package has
    them: 'L' letters (\\p{L}), 'N' numbers (\\p{N}), 'S' white space (\\s)."""
    # Every code point but the surrogates, in order; a run of matches is a range.
    points = [*range(0xD800), *range(0xE000, 0x110000)]
    text = "".join(map(chr, points))
    classes = {}
    for name, pattern in (("L", r"\p{L}+"), ("N", r"\p{N}+"), ("S", r"\s+")):
        ranges = []
        for m in regex.finditer(pattern, text):
            lo, hi = points[m.start()], points[m.end() - 1]
            if lo < 0xD800 < hi:  # a run across the surrogates' gap is two ranges
                ranges += [(lo, 0xD7FF), (0xE000, hi)]
            else:
                ranges.append((lo, hi))
        classes[name] = ranges
    return classes


def class_body(ranges: list[tuple[int, int]], escape: Callable[[int], str]) -> str:
    """The inside of a bracket expression matching `ranges`, each code point escaped."""
    return "".join(escape(lo) if lo == hi else f"{escape(lo)}-{escape(hi)}" for lo, hi in ranges)


def gpt2_pattern(escape: Callable[[int], str], lookahead: bool) -> str:
    """GPT-2's pre-tokenizer pattern with its classes written out. With `lookahead`, as
    GPT-2 has it; without, its `\\s+(?!\\S)|\\s+` becomes `\\s+` (see `DuckDBDialect.pieces`)."""
    c = unicode_classes()
    letters, numbers, space = (class_body(c[k], escape) for k in "LNS")
    tail = f"[{space}]+(?![^{space}])|[{space}]" if lookahead else f"[{space}]+"
    return (f"'s|'t|'re|'ve|'m|'ll|'d| ?[{letters}]+| ?[{numbers}]+| ?[^{space}{letters}{numbers}]+|{tail}")
