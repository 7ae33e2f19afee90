"""Encoding speed of sqlgpt's Tokenizer on tinyshakespeare, beside tiktoken's "gpt2".

Run: python bench/bench_tokenizer.py

"cold" starts from an empty pre-token cache (a fresh tokenizer, as on a first call); "warm"
encodes the same text again, so every pre-token is a cache hit. tiktoken is built offline
from the same GPT-2 files. Needs ../shared/data (beside the repository); exits 0 without it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlgpt.tokenizer import ENDOFTEXT, Tokenizer

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
GPT2 = SHARED / "gpt2"
TEXT = SHARED / "tinyshakespeare" / "input.txt"


def best_seconds(run: Callable[[], object], repeats: int) -> float:
    """The fastest of `repeats` runs: the least disturbed by other work on the machine."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    if not (GPT2 / "encoder.json").is_file() or not TEXT.is_file():
        print(f"skipped: needs the project's shared data at {SHARED} (gpt2/, tinyshakespeare/)")
        return 0
    text = TEXT.read_text(encoding="utf-8")
    mb = len(text.encode("utf-8")) / 1e6

    start = time.perf_counter()
    tok = Tokenizer.from_files(GPT2 / "encoder.json", GPT2 / "vocab.bpe")
    print(f"load vocab.json + merges.txt: {time.perf_counter() - start:.2f} s")

    def cold() -> float:
        fresh = Tokenizer.from_files(GPT2 / "encoder.json", GPT2 / "vocab.bpe")
        start = time.perf_counter()
        fresh.encode(text)
        return time.perf_counter() - start

    cold_s = min(cold() for _ in range(3))
    warm_s = best_seconds(lambda: tok.encode(text), 5)
    print(f"encoding tinyshakespeare ({mb:.2f} MB, {len(tok.encode(text)):,} tokens):")
    print(f"  sqlgpt, cold cache        {cold_s:6.3f} s  {mb / cold_s:6.2f} MB/s")
    print(f"  sqlgpt, warm cache        {warm_s:6.3f} s  {mb / warm_s:6.2f} MB/s")
    try:
        import tiktoken
        from tiktoken.load import data_gym_to_mergeable_bpe_ranks
        from tiktoken_ext.openai_public import r50k_pat_str
    except ImportError:
        print("tiktoken is not installed: no comparison")
        return 0
    os.environ["TIKTOKEN_CACHE_DIR"] = ""  # read the local files, cache nothing
    ranks = data_gym_to_mergeable_bpe_ranks(str(GPT2 / "vocab.bpe"), str(GPT2 / "encoder.json"))
    ref = tiktoken.Encoding(
        name="gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks, special_tokens={ENDOFTEXT: 50256}
    )
    ref_s = best_seconds(lambda: ref.encode_ordinary(text), 5)
    print(f"  tiktoken gpt2 (1 thread)  {ref_s:6.3f} s  {mb / ref_s:6.2f} MB/s")
    print(f"sqlgpt / tiktoken time: {cold_s / ref_s:.1f}x cold, {warm_s / ref_s:.1f}x warm")
    if ref.encode_ordinary(text) != tok.encode(text):
        print("WARNING: sqlgpt's ids differ from tiktoken's")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
