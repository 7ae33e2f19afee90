"""Copy a model trained by `sqlgpt train` into the package as a bundled model.

    python scripts/bundle_model.py .train/shakespeare shakespeare

Writes src/sqlgpt/bundled/NAME/: config.json, vocab.json, merges.txt, training.json (the
training record, unchanged) and model.safetensors with every weight rounded to float16,
which halves the wheel; sqlgpt reads them back as float32. The bundled directory is an
ordinary Hugging Face GPT-2 directory, so transformers loads it too.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("config.json", "vocab.json", "merges.txt", "training.json")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trained", type=Path, help="a directory written by `sqlgpt train`")
    parser.add_argument("name", help="the bundled model's name, e.g. shakespeare")
    args = parser.parse_args()
    target = ROOT / "src" / "sqlgpt" / "bundled" / args.name
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in COPIED:
        shutil.copy(args.trained / name, staging / name)
    weights = load_file(args.trained / "model.safetensors")
    save_file({key: value.astype(np.float16) for key, value in weights.items()}, staging / "model.safetensors",
              metadata={"format": "pt"})
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    size = sum(f.stat().st_size for f in target.iterdir()) / 2**20
    print(f"bundled {args.trained} as {args.name}: {target} ({size:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
