"""GPT-2's byte-level alphabet and pre-tokenizer patterns: what the tokenizer, its trainer
(`train/bpe.py`) and the tokenizer.json reader (`hf_tokenizer.py`) share. Constants and pure
functions; no encoding or training here."""

from __future__ import annotations

import regex

# The pattern of OpenAI's GPT-2 encoder.py.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# The pattern of tiktoken's cl100k_base (GPT-3.5/GPT-4).
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
ENDOFTEXT = "<|endoftext|>"


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map from each byte to a printable character, as in vocab.json and merges.txt.

    Printable Latin-1 bytes map to themselves; the other 68 (controls, space, soft hyphen...)
    map to U+0100 onwards, so that every token is a visible, whitespace-free string.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    for n, b in enumerate(b for b in range(256) if b not in table):
        table[b] = chr(256 + n)
    return dict(sorted(table.items()))


def replace_outside_classes(pattern: str, replacements: dict[str, str]) -> str:
    """`pattern` with each unescaped one-character metacharacter in `replacements` (say "$")
    replaced, except inside character classes, where it means itself.

    Regex dialects disagree on anchors (tiktoken's `$` is the end of the text, Oniguruma's the
    end of a line, Python's either), so a pattern written for one is rewritten for the `regex`
    package this way.
    """
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            c = pattern[i : i + 2]
        elif in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            # A "]" straight after "[" or "[^" is a literal, not the end of the class.
            c = regex.match(r"\[\^?\]?", pattern[i:]).group()
        elif c in replacements:
            out.append(replacements[c])
            i += 1
            continue
        out.append(c)
        i += len(c)
    return "".join(out)
