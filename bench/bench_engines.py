"""Speed and memory of each engine on a real model's shape, as ratios to PyTorch in one run.

Run: python bench/bench_engines.py [--quick] [--model-shape gpt2-124m smollm2-135m]
                                   [--engines torch numpy duckdb duckdb-nokernel postgres postgres-plain sqlite spark]

A random-weight checkpoint of each shape is built once under bench/out/ (weights do not
change speed): GPT-2 small (124M: 12 layers, 768 wide), and SmolLM2-135M (30 layers, 576
wide, 9 query heads sharing 3 key/value heads, a SwiGLU MLP 1536 wide, rotary positions,
vocabulary 49,152; its context is cut to 2,048 positions, which only sizes the table of
rotary angles). For each shape and engine, in its own process so peak memory is its own:

  prefill 7 / 256   seconds to run a prompt of that many tokens (a fresh KV cache)
  decode @10 / @500 seconds per generated token with that many positions already cached
  score_table       seconds for `GPT.score_table` over tests/test_batch.py's 1,000 rows (DuckDB,
                    checkpoints with a tokenizer, not --quick); PyTorch's figure is the same
                    rows' losses in padded batches of 32
  peak RSS          the process's peak resident memory, and its ratio to the weights' bytes

With two shapes, a last table compares decode time per layer (a SmolLM2 layer holds about
half the multiply-adds of a GPT-2 small layer). PyTorch is transformers' model of the shape
(GPT2LMHeadModel, LlamaForCausalLM) on the CPU with its KV cache, on as many threads as
DuckDB uses. --quick skips the 256-token prompt and position 500 (minutes on SQL engines;
PostgreSQL, SQLite and Spark, much slower still, are best measured with --quick). Spark runs
on a local master with its warehouse under bench/out; its peak RSS is the Python process's
alone (the JVM, a child process, is not counted). `postgres-plain` is PostgreSQL without
pgvector (`real[]` arrays, a dot product is `unnest` + `sum`) on the same private server.
`duckdb` uses sqlgpt's vdot kernel (built on first use; the run fails if it cannot be had),
`duckdb-nokernel` DuckDB's list_dot_product (`vector_kernel=False`); with both, a last line
gives the kernel's gain on each figure. Figures are best-of-n and still move with whatever
else the machine is doing.
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
SHAPES = ("gpt2-124m", "smollm2-135m")
COLUMNS = ("prefill 7", "prefill 256", "decode @10", "decode @500", "score_table")
SMOLLM2_135M_SHAPE = dict(hidden_size=576, num_attention_heads=9, num_key_value_heads=3, num_hidden_layers=30,
                          intermediate_size=1536, vocab_size=49152, max_position_embeddings=2048, rope_theta=100000.0)


def checkpoint_of(shape: str) -> Path:
    return OUT / f"{shape}-random"


def has_tokenizer(shape: str) -> bool:
    """Whether the checkpoint has GPT-2's tokenizer files (built with the project's shared data)."""
    return (checkpoint_of(shape) / "vocab.json").is_file()


def prompt_ids(vocab_size: int) -> list[int]:
    return [(i * 7919) % vocab_size for i in range(520)]  # any ids: weights are random


def build_checkpoint(shape: str) -> None:
    directory = checkpoint_of(shape)
    if (directory / "model.safetensors").is_file():
        return
    sys.path.insert(0, str(ROOT))
    from tests.conftest import GPT2_124M_SHAPE, SHARED_DATA, make_checkpoint, make_llama_checkpoint

    print(f"building a random {shape} checkpoint in {directory} ...", file=sys.stderr)
    if shape == "gpt2-124m":
        make_checkpoint(directory, seed=1, std=0.02, gpt2_vocab=SHARED_DATA.is_dir(), **GPT2_124M_SHAPE)
    else:
        make_llama_checkpoint(directory, kind="llama", tied=True, seed=1, std=0.02, **SMOLLM2_135M_SHAPE)


def measure_torch(shape: str, quick: bool, threads: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(checkpoint_of(shape), dtype=torch.float32).eval()
    ids = prompt_ids(model.config.vocab_size)

    def prefill(n: int):
        with torch.no_grad():
            return model(torch.tensor([ids[:n]]), use_cache=True).past_key_values

    def decode_at(n: int) -> float:
        cache = prefill(n)
        token = torch.tensor([[ids[n]]])

        def one():
            with torch.no_grad():
                model(token, past_key_values=cache, use_cache=True)
                cache.crop(-1)  # back to n positions, so every repeat decodes at the same place

        return best(one, 10)

    result = {"prefill 7": best(lambda: prefill(7), 5), "decode @10": decode_at(10)}
    if not quick:
        result |= {"prefill 256": best(lambda: prefill(256), 2), "decode @500": decode_at(500)}
        if has_tokenizer(shape):
            from sqlgpt.checkpoint import Checkpoint

            result["score_table"] = torch_score_rows(model, Checkpoint(checkpoint_of(shape)).tokenizer)
    return result


def measure_sqlgpt(shape: str, engine: str, quick: bool) -> dict:
    from sqlgpt.checkpoint import Checkpoint
    from sqlgpt.engines import create_engine

    options: dict = {}
    if engine == "duckdb-nokernel":
        engine, options = "duckdb", {"vector_kernel": False}
    elif engine == "duckdb":
        options = {"vector_kernel": True}  # measured with the kernel, or not at all
    if engine in ("duckdb", "sqlite"):
        options |= {"database": str(OUT / f"bench.{engine}"), "progress": True}  # shapes side by side in one file
    elif engine == "spark":
        from sqlgpt.engines.sql.drivers.spark import local_session

        options = {"session": local_session("local[*]", OUT / "spark"), "progress": True}
    elif engine.startswith("postgres"):  # a private server of its own under bench/out
        import pgserver

        options = {"dsn": pgserver.get_server(OUT / "pgdata", cleanup_mode="stop").get_uri(), "progress": True}
        if engine == "postgres-plain":
            engine, options["pgvector"] = "postgres", False
    start = time.perf_counter()
    checkpoint = Checkpoint(checkpoint_of(shape))
    model = create_engine(engine, checkpoint, **options)  # the engine alone: these checkpoints have no tokenizer
    result = {"load": time.perf_counter() - start}
    ids = prompt_ids(checkpoint.config.vocab_size)

    def prefill(n: int):
        session = model.session()
        session.forward(ids[:n])
        return session

    def decode(session, repeats: int) -> float:
        times = []
        for _ in range(repeats):  # each repeat moves one position on: close enough to "@n"
            start = time.perf_counter()
            session.forward([ids[session.n_past]])
            times.append(time.perf_counter() - start)
        return min(times)

    result["prefill 7"] = best(lambda: prefill(7).close(), 2)
    with prefill(10) as session:
        result["decode @10"] = decode(session, 5)
    if not quick:
        start = time.perf_counter()
        session = prefill(256)
        result["prefill 256"] = time.perf_counter() - start
        session.forward(ids[256:500])
        result["decode @500"] = decode(session, 3)
        session.close()
        if engine == "duckdb" and has_tokenizer(shape):
            result["score_table"] = measure_score_table(model, checkpoint)
    return result


def score_rows() -> list[str]:
    """tests/test_batch.py's 1,000 rows: 997 of 1-13 words, three of about 200."""
    sys.path.insert(0, str(ROOT))
    from tests.test_batch import texts

    return texts(997) + [" ".join(texts(30, seed=s)) for s in (7, 8, 9)]


def measure_score_table(model, checkpoint) -> float:
    """Seconds for GPT.score_table over score_rows(), a table in the engine's own database."""
    import duckdb

    from sqlgpt.gpt import GPT

    model.close()  # the table is written with a connection of its own; the engine's is reopened
    with duckdb.connect(model.database) as conn:
        conn.execute("CREATE OR REPLACE TABLE bench_docs (id INTEGER, body VARCHAR)")
        conn.executemany("INSERT INTO bench_docs VALUES (?, ?)", list(enumerate(score_rows())))
    options = {"vector_kernel": model.dialect.wanted, "database": model.database, "progress": False}
    gpt = GPT(type(model)(checkpoint, "duckdb", **options), checkpoint.tokenizer, name=checkpoint.name)
    start = time.perf_counter()
    gpt.score_table("bench_docs", "body", key="id", into="bench_scores", replace=True)
    seconds = time.perf_counter() - start
    gpt.close()
    return seconds


def torch_score_rows(model, tokenizer) -> float:
    """Seconds for the losses of score_rows() in PyTorch: each row after <|endoftext|>, in
    batches of 32 rows padded to their longest (sorted by length), as score_table scores them."""
    import torch

    rows = sorted(([tokenizer.eot_id, *tokenizer.encode(text)] for text in score_rows()), key=len)
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(rows), 32):
            batch = rows[i:i + 32]
            width = max(len(ids) for ids in batch)
            ids = torch.tensor([ids + [0] * (width - len(ids)) for ids in batch])
            mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in batch])
            logits = model(ids, attention_mask=mask).logits[:, :-1]
            nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
            (nll * mask[:, 1:]).sum(1)
    return time.perf_counter() - start


def child(shape: str, engine: str, quick: bool, threads: int) -> None:
    result = measure_torch(shape, quick, threads) if engine == "torch" else measure_sqlgpt(shape, engine, quick)
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
    parser.add_argument("--engines", nargs="+", default=["torch", "numpy", "duckdb", "duckdb-nokernel"])
    parser.add_argument("--model-shape", nargs="+", choices=SHAPES, default=["gpt2-124m"], dest="shapes",
                        help="the shapes to measure, each a random-weight checkpoint (default: gpt2-124m)")
    parser.add_argument("--quick", action="store_true", help="skip the 256-token prompt and position 500")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    threads = os.cpu_count() or 1
    if args.child:
        child(*args.child, args.quick, threads)
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, dict]] = {}
    for shape in args.shapes:
        build_checkpoint(shape)
        results[shape] = {}
        for engine in args.engines:
            print(f"measuring {engine} on {shape} ...", file=sys.stderr)
            command = [sys.executable, __file__, "--child", shape, engine] + (["--quick"] if args.quick else [])
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                print(done.stderr[-2000:], file=sys.stderr)
                return 1
            results[shape][engine] = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"  {json.dumps(results[shape][engine])}", file=sys.stderr)  # kept if a later engine fails
        print_table(shape, results[shape], threads)
        if {"duckdb", "duckdb-nokernel"} <= set(results[shape]):
            print_kernel_gain(results[shape])
    if len(results) > 1:
        print_per_layer(results)
    return 0


def print_table(shape: str, results: dict[str, dict], threads: int) -> None:
    from sqlgpt.checkpoint import Checkpoint

    weights_mb = Checkpoint(checkpoint_of(shape)).config.n_params * 4 / 2**20
    base = results.get("torch", {})
    columns = [c for c in COLUMNS if any(c in result for result in results.values())]
    print(f"\n{shape} shape, {threads} threads; seconds (ratio to PyTorch); peak RSS (ratio to the "
          f"{weights_mb:.0f} MB of float32 weights)\n")
    print(f"| engine | {' | '.join(columns)} | peak RSS |")
    print("|---" * (len(columns) + 2) + "|")
    for engine, result in results.items():
        cells = []
        for column in columns:
            if column not in result:
                cells.append("–")
                continue
            ratio = f" ({result[column] / base[column]:.1f}×)" if column in base and engine != "torch" else ""
            cells.append(f"{result[column]:.3f}{ratio}")
        peak = result["peak MB"]
        print(f"| {engine} | {' | '.join(cells)} | {peak:.0f} MB ({peak / weights_mb:.1f}×) |")


def print_kernel_gain(results: dict[str, dict]) -> None:
    """How many times faster DuckDB is with sqlgpt's vdot kernel than with list_dot_product."""
    with_kernel, without = results["duckdb"], results["duckdb-nokernel"]
    gains = [f"{column} {without[column] / with_kernel[column]:.1f}×" for column in COLUMNS
             if column in with_kernel and column in without]
    print(f"\nDuckDB with sqlgpt's vdot kernel against list_dot_product: {', '.join(gains)} faster")


def print_per_layer(results: dict[str, dict[str, dict]]) -> None:
    """Decode @10 per layer of each shape, and the ratio of the last shape's to the first's."""
    from sqlgpt.checkpoint import Checkpoint

    layers = {shape: Checkpoint(checkpoint_of(shape)).config.n_layer for shape in results}
    first, last = list(results)[0], list(results)[-1]
    print(f"\ndecode @10 per layer, ms ({last} / {first})\n")
    print(f"| engine | {' | '.join(results)} | ratio |")
    print("|---" * (len(results) + 2) + "|")
    for engine in results[first]:
        per_layer = {shape: 1000 * results[shape][engine]["decode @10"] / layers[shape] for shape in results}
        cells = " | ".join(f"{per_layer[shape]:.2f}" for shape in results)
        print(f"| {engine} | {cells} | {per_layer[last] / per_layer[first]:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
