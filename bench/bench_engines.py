"""Speed and memory of each engine on GPT-2 small's shape, as ratios to PyTorch in one run.

Run: python bench/bench_engines.py [--quick] [--engines torch numpy duckdb postgres postgres-plain sqlite spark]

A random-weight checkpoint of the full 124M shape is built once under bench/out/ (weights do
not change speed). For each engine, in its own process so peak memory is its own:

  prefill 7 / 256   seconds to run a prompt of that many tokens (a fresh KV cache)
  decode @10 / @500 seconds per generated token with that many positions already cached
  peak RSS          the process's peak resident memory, and its ratio to the weights' bytes

PyTorch is transformers' GPT2LMHeadModel on the CPU with its KV cache, on as many threads as
DuckDB uses. --quick skips the 256-token prompt and position 500 (minutes on SQL engines;
PostgreSQL, SQLite and Spark, much slower still, are best measured with --quick). Spark runs
on a local master with its warehouse under bench/out; its peak RSS is the Python process's
alone (the JVM, a child process, is not counted). `postgres-plain` is PostgreSQL without
pgvector (`real[]` arrays, a dot product is `unnest` + `sum`) on the same private server.
Figures are best-of-n and still move with whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench_tokenizer import best_seconds as best  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
CHECKPOINT = OUT / "gpt2-124m-random"
PROMPT_IDS = [(i * 7919) % 50000 for i in range(520)]  # any ids: weights are random


def build_checkpoint() -> None:
    if (CHECKPOINT / "model.safetensors").is_file():
        return
    sys.path.insert(0, str(ROOT))
    from tests.conftest import GPT2_124M_SHAPE, SHARED_DATA, make_checkpoint

    print(f"building a random 124M checkpoint in {CHECKPOINT} ...", file=sys.stderr)
    make_checkpoint(CHECKPOINT, seed=1, std=0.02, gpt2_vocab=SHARED_DATA.is_dir(), **GPT2_124M_SHAPE)


def measure_torch(quick: bool, threads: int) -> dict:
    import torch
    from transformers import GPT2LMHeadModel

    torch.set_num_threads(threads)
    model = GPT2LMHeadModel.from_pretrained(CHECKPOINT).eval()

    def prefill(n: int):
        with torch.no_grad():
            return model(torch.tensor([PROMPT_IDS[:n]]), use_cache=True).past_key_values

    def decode_at(n: int) -> float:
        cache = prefill(n)
        token = torch.tensor([[PROMPT_IDS[n]]])

        def one():
            with torch.no_grad():
                model(token, past_key_values=cache, use_cache=True)
                cache.crop(-1)  # back to n positions, so every repeat decodes at the same place

        return best(one, 10)

    result = {"prefill 7": best(lambda: prefill(7), 5), "decode @10": decode_at(10)}
    if not quick:
        result |= {"prefill 256": best(lambda: prefill(256), 2), "decode @500": decode_at(500)}
    return result


def measure_sqlgpt(engine: str, quick: bool) -> dict:
    import sqlgpt

    options: dict = {}
    if engine in ("duckdb", "sqlite"):
        options = {"database": str(OUT / f"bench.{engine}"), "progress": True}
    elif engine == "spark":
        from sqlgpt.engines.sql.drivers.spark import local_session

        options = {"session": local_session("local[*]", OUT / "spark"), "progress": True}
    elif engine.startswith("postgres"):  # a private server of its own under bench/out
        import pgserver

        options = {"dsn": pgserver.get_server(OUT / "pgdata", cleanup_mode="stop").get_uri(), "progress": True}
        if engine == "postgres-plain":
            engine, options["pgvector"] = "postgres", False
    start = time.perf_counter()
    gpt = sqlgpt.load(CHECKPOINT, engine=engine, **options)
    result = {"load": time.perf_counter() - start}

    def prefill(n: int):
        session = gpt.engine.session()
        session.forward(PROMPT_IDS[:n])
        return session

    def decode(session, repeats: int) -> float:
        times = []
        for _ in range(repeats):  # each repeat moves one position on: close enough to "@n"
            start = time.perf_counter()
            session.forward([PROMPT_IDS[session.n_past]])
            times.append(time.perf_counter() - start)
        return min(times)

    result["prefill 7"] = best(lambda: prefill(7).close(), 2)
    with prefill(10) as session:
        result["decode @10"] = decode(session, 5)
    if not quick:
        start = time.perf_counter()
        session = prefill(256)
        result["prefill 256"] = time.perf_counter() - start
        session.forward(PROMPT_IDS[256:500])
        result["decode @500"] = decode(session, 3)
        session.close()
    return result


def child(engine: str, quick: bool, threads: int) -> None:
    result = measure_torch(quick, threads) if engine == "torch" else measure_sqlgpt(engine, quick)
    result["peak MB"] = peak_megabytes()
    print(json.dumps(result))


def peak_megabytes() -> float:
    """This process's peak resident memory. On Linux its address space's own high-water mark:
    getrusage's ru_maxrss outlives exec, so a child would report its parent's peak instead
    (the parent reaches 1.1 GB when it builds the checkpoint with PyTorch)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    (kilobytes,) = [line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(kilobytes) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", nargs="+", default=["torch", "numpy", "duckdb"])
    parser.add_argument("--quick", action="store_true", help="skip the 256-token prompt and position 500")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    threads = os.cpu_count() or 1
    if args.child:
        child(args.child, args.quick, threads)
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    build_checkpoint()
    results = {}
    for engine in args.engines:
        print(f"measuring {engine} ...", file=sys.stderr)
        command = [sys.executable, __file__, "--child", engine] + (["--quick"] if args.quick else [])
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr[-2000:], file=sys.stderr)
            return 1
        results[engine] = json.loads(done.stdout.strip().splitlines()[-1])
    weights_mb = 124_439_808 * 4 / 2**20
    base = results.get("torch", {})
    columns = [c for c in ("prefill 7", "prefill 256", "decode @10", "decode @500") if c in next(iter(results.values()))]
    print(f"\nGPT-2 124M shape, {threads} threads; seconds (ratio to PyTorch); peak RSS (ratio to the "
          f"{weights_mb:.0f} MB of float32 weights)\n")
    print(f"| engine | {' | '.join(columns)} | peak RSS |")
    print("|---" * (len(columns) + 2) + "|")
    for engine, result in results.items():
        cells = []
        for column in columns:
            ratio = f" ({result[column] / base[column]:.1f}×)" if column in base and engine != "torch" else ""
            cells.append(f"{result[column]:.3f}{ratio}")
        peak = result["peak MB"]
        print(f"| {engine} | {' | '.join(cells)} | {peak:.0f} MB ({peak / weights_mb:.1f}×) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
