"""The crash harness's long form: many seeded kills of every operation on every engine, and a
table of what held (tests/crash_harness.py says what is checked; tests/test_crash.py runs a
few kills in the suite).

Run: python bench/bench_crash.py [--kills 10] [--operations install generate ...]
                                 [--engines duckdb sqlite postgres spark] [--seed 0]

Each row: an operation on an engine, how many kills (and how many landed before the run
ended by itself), how many cases held every invariant, and what was left behind (files,
processes) — all should be 0. A failing case prints its seed: `--seed S --kills 1` replays it;
its folder is kept under the printed directory (a case that held is deleted: each is a
database or a Spark warehouse, and a long run's would fill a disk).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.crash_harness import OPERATIONS, reference, run_case  # noqa: E402

MODEL = "shakespeare"


def tiny_model(directory: Path) -> str:
    from tests.conftest import TINY_SHAPE, make_checkpoint

    return str(make_checkpoint(directory, **TINY_SHAPE))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10, help="kills per operation and engine (default 10)")
    parser.add_argument("--operations", nargs="+", choices=list(OPERATIONS), default=list(OPERATIONS))
    parser.add_argument("--engines", nargs="+", default=["duckdb", "sqlite", "postgres", "spark"])
    parser.add_argument("--seed", type=int, default=0, help="the first case's seed (each case adds one)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="sqlgpt-crash-"))
    tiny = tiny_model(base / "tiny")
    print(f"cases under {base}\n", file=sys.stderr)
    print("| operation | engine | kills | mid-run | invariants held | left behind | seconds |")
    print("|---|---|---|---|---|---|---|")
    seed, failures = args.seed, 0
    for name in args.operations:
        op = OPERATIONS[name]
        for engine in op.engines:
            if engine != "train" and engine not in args.engines:
                continue
            # Table work with the tiny model (the bundled one scores for minutes); the rest
            # with the bundled one, whose install takes long enough to be killed inside.
            model = tiny if name in ("score_table", "next_table", "eval", "index") or engine == "spark" else MODEL
            start = time.perf_counter()
            expected = reference(op, engine, base / f"{name}-{engine}-reference", model)
            held = mid_run = leaked = 0
            for _ in range(args.kills):
                folder = base / f"{name}-{engine}-{seed}"
                outcome = run_case(op, engine, folder, model, seed, expected)
                mid_run += not outcome.finished
                held += not outcome.problems
                leaked += sum(p.startswith(("scratch", "left", "processes", "Spark session")) for p in outcome.problems)
                if outcome.problems:
                    failures += 1
                    print(f"  seed {seed}: {outcome.problems} (kept: {folder})", file=sys.stderr)
                else:
                    shutil.rmtree(folder, ignore_errors=True)
                seed += 1
            shutil.rmtree(base / f"{name}-{engine}-reference", ignore_errors=True)
            print(f"| {name} | {engine} | {args.kills} | {mid_run} | {held} | {leaked} | "
                  f"{time.perf_counter() - start:.0f} |", flush=True)
    if not failures:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
