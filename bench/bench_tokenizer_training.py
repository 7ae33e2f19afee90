"""Time to train a 4,096-token BPE vocabulary on tinyshakespeare: sqlgpt beside Hugging Face.

Run: python bench/bench_tokenizer_training.py

Both learn from the same text with the same settings (GPT-2's byte-level pre-tokenizer without
a prefix space, all 256 bytes, <|endoftext|> as the one special token), so they learn the same
merges; the script checks that. Hugging Face's BpeTrainer is Rust and uses every core; sqlgpt
is pure Python on one. Each is timed as the best of a few runs, in this one process. Needs
../shared/data (beside the repository); exits 0 without it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench_tokenizer import best_seconds  # bench/ is on sys.path when run as a script

from sqlgpt.tokenizer import ENDOFTEXT, Tokenizer, bytes_to_unicode
from sqlgpt.train.bpe import train_bpe

TEXT = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare" / "input.txt"
VOCAB_SIZE = 4096


def main() -> int:
    if not TEXT.is_file():
        print(f"skipped: needs the project's shared data at {TEXT}")
        return 0
    text = TEXT.read_text(encoding="utf-8")
    mb = len(text.encode("utf-8")) / 1e6

    ours_s = best_seconds(lambda: Tokenizer.train(text, VOCAB_SIZE), 3)
    print(f"training {VOCAB_SIZE:,} tokens on tinyshakespeare ({mb:.2f} MB):")
    print(f"  sqlgpt (pure Python, 1 thread)     {ours_s:6.2f} s")
    try:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import models, pre_tokenizers, trainers
    except ImportError:
        print("Hugging Face tokenizers is not installed: no comparison")
        return 0

    def hf_train() -> HFTokenizer:
        hf = HFTokenizer(models.BPE())
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        trainer = trainers.BpeTrainer(
            vocab_size=VOCAB_SIZE, special_tokens=[ENDOFTEXT], show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
        hf.train_from_iterator([text], trainer)
        return hf

    hf_s = best_seconds(hf_train, 3)
    print(f"  Hugging Face tokenizers (Rust)     {hf_s:6.2f} s")
    print(f"sqlgpt / Hugging Face time: {ours_s / hf_s:.1f}x")

    to_piece = bytes_to_unicode()
    ours = [
        ["".join(to_piece[b] for b in part) for part in pair]
        for pair in train_bpe(text, VOCAB_SIZE).merges
    ]
    if ours != json.loads(hf_train().to_str())["model"]["merges"]:
        print("WARNING: sqlgpt's merges differ from Hugging Face's")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
