"""Speed and memory of each engine on a real model's shape, as ratios to PyTorch in one run.

Run: python bench/bench_engines.py [--quick] [--model-shape gpt2-124m smollm2-135m]
                                   [--engines torch numpy duckdb duckdb-nokernel postgres postgres-plain sqlite spark]
                                   [--tables [--table-rows N]] [--spark-batch]

A random-weight checkpoint of each shape is built once under bench/out/ (weights do not
change speed): GPT-2 small (124M: 12 layers, 768 wide), and SmolLM2-135M (30 layers, 576
wide, 9 query heads sharing 3 key/value heads, a SwiGLU MLP 1536 wide, rotary positions,
vocabulary 49,152; its context is cut to 2,048 positions, which only sizes the table of
rotary angles). For each shape and engine, in its own process so peak memory is its own:

  prefill 7 / 256   seconds to run a prompt of that many tokens (a fresh KV cache)
  decode @10 / @500 seconds per generated token with that many positions already cached
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

--tables adds table throughput: `GPT.score_table` over the same rows on each of torch,
duckdb, duckdb-nokernel and spark asked for (PyTorch: transformers' model on each row's ids,
padded batches of 64), rows/s and tokens/s, for each shape with a tokenizer (GPT-2 small's:
the 1,000 rows of tests/test_batch.py) and for the bundled model (the 1,000 rows
tests/test_spark_engine.py scores; --table-rows N takes N of them, the three longest among
them, for engines that take minutes over all). --spark-batch scores the latter with the tests' tiny
model on Spark local[2] along today's path (vector functions, a weight matrix as one value)
and the one before (a row per output unit, lambda dot products), best of two each, then
once with sqlgpt as it was before that work (commit SPARK_BEFORE_COMMIT, from `git archive`
of this clone: the batch as one partition, no vector functions), all in one run, and checks
every row's loss against `GPT.score` on NumPy (1e-4).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_tokenizer import best_seconds as best  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
SHAPES = ("gpt2-124m", "smollm2-135m")
COLUMNS = ("prefill 7", "prefill 256", "decode @10", "decode @500")
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
    return result


# -- table throughput (--tables) and Spark's batch path against the one before (--spark-batch) ---

BUNDLED = "bundled"  # the bundled model (shakespeare), measured beside the shapes
SPARK_PATHS = {"today": {}, "before": {"layout": "vector", "vector_functions": False}}
# The last commit before Spark's vector functions, matrix layout and batch partitioning: the
# code whose batch scoring took ~3 minutes when that work began. --spark-batch runs it too,
# from `git archive` of this commit, in the same run.
SPARK_BEFORE_COMMIT = "35faa48"


def model_dir(model: str) -> Path:
    if model == BUNDLED:
        from sqlgpt.models import BUNDLED_DIR, DEFAULT_MODEL

        return BUNDLED_DIR / DEFAULT_MODEL
    return checkpoint_of(model)


def table_rows(model: str) -> list[str | None]:
    """The texts each engine scores: for GPT-2 small's shape tests/test_batch.py's 1,000 rows
    (997 of 1-13 words, three of about 200); for the bundled model the 1,000 rows
    tests/test_spark_engine.py scores (1-3 words, a NULL, an empty one, a long one)."""
    sys.path.insert(0, str(ROOT))
    from tests.test_batch import texts

    if model == "gpt2-124m":
        return texts(997) + [" ".join(texts(30, seed=s)) for s in (7, 8, 9)]
    return [" ".join(t.split()[:3]) for t in texts(997, seed=3)] + [None, "", " ".join(texts(12, seed=4))]


def score_in_spark(spark, directory: Path, rows: list[str | None], repeats: int, **options) -> tuple[float, dict]:
    """Best seconds of `repeats` score_table runs over `rows` on Spark, and the last run's
    {row: (tokens, loss)}."""
    import sqlgpt

    spark.sql("DROP TABLE IF EXISTS bench_docs")
    spark.createDataFrame(list(enumerate(rows)), "id INT, body STRING").write.saveAsTable("bench_docs")
    times = []
    with sqlgpt.load(directory, engine="spark", session=spark, progress=False, **options) as gpt:
        for _ in range(repeats):
            spark.sql("DROP TABLE IF EXISTS bench_scores")
            start = time.perf_counter()
            gpt.score_table("bench_docs", "body", key="id", into="bench_scores")
            times.append(time.perf_counter() - start)
        got = {r["id"]: (r["tokens"], r["loss"]) for r in spark.table("bench_scores").collect()}
    spark.sql("DROP TABLE IF EXISTS bench_docs")
    spark.sql("DROP TABLE IF EXISTS bench_scores")
    return min(times), got


def measure_table(model: str, engine: str, n_rows: int) -> dict:
    """Seconds to score `n_rows` of the model's rows on `engine` (not counting the install):
    the first n_rows - 3 and the last three (the long ones); the rows and tokens scored, and
    the total loss (nats) over them."""
    import sqlgpt

    directory, rows = model_dir(model), table_rows(model)
    rows = rows[: n_rows - 3] + rows[-3:] if n_rows < len(rows) else rows
    reference = sqlgpt.load(directory, engine="numpy")  # tokenizer only
    ids = [reference.score_ids(text) for text in rows if text]
    tokens = sum(len(i) - 1 for i in ids)
    if engine == "torch":
        seconds, total = _torch_scores(directory, ids)
    elif engine in ("duckdb", "duckdb-nokernel"):
        import duckdb

        database = OUT / f"tables-{model}-{engine}.duckdb"
        database.unlink(missing_ok=True)
        with duckdb.connect(str(database)) as conn:
            conn.execute("CREATE TABLE docs (id INTEGER, body VARCHAR)")
            conn.executemany("INSERT INTO docs VALUES (?, ?)", list(enumerate(rows)))
        kernel = engine == "duckdb"  # with sqlgpt's vdot kernel (required), or list_dot_product
        with sqlgpt.load(directory, engine="duckdb", database=str(database), progress=False, vector_kernel=kernel) as gpt:
            start = time.perf_counter()
            summary = gpt.score_table("docs", "body", key="id")
            seconds = time.perf_counter() - start
        total = summary.loss * summary.n_tokens
        database.unlink()
    elif engine == "spark":
        from sqlgpt.engines.sql.drivers.spark import local_session

        spark = local_session("local[*]", OUT / "spark")
        seconds, got = score_in_spark(spark, directory, rows, 1)
        total = sum(t * loss for t, loss in got.values() if loss is not None)
    else:
        raise SystemExit(f"no table throughput for {engine}")
    return {"seconds": seconds, "rows": len(rows), "tokens": tokens, "nats": total}


def _torch_scores(directory: Path, ids: list[list[int]]) -> tuple[float, float]:
    """transformers' model over every row's ids (each within the context), in padded batches
    of 64 rows of similar length: seconds and the total loss."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(os.cpu_count() or 1)
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()
    start, total = time.perf_counter(), 0.0
    ids = sorted(ids, key=len)
    for i in range(0, len(ids), 64):
        batch = ids[i : i + 64]
        width = max(len(row) for row in batch)
        tokens = torch.tensor([row + [0] * (width - len(row)) for row in batch])
        mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in batch])
        with torch.no_grad():
            logits = model(tokens, attention_mask=mask).logits[:, :-1].double()
        nll = -torch.log_softmax(logits, -1).gather(-1, tokens[:, 1:, None])[..., 0]
        total += float((nll * mask[:, 1:]).sum())
    return time.perf_counter() - start, total


def measure_spark_batch(paths: dict[str, dict] = SPARK_PATHS, repeats: int = 2, folder: str = "spark-tiny") -> dict:
    """The 1,000 rows with the tests' tiny model on local[2] along each of `paths` (sqlgpt's
    options), alternating, best of `repeats` each; every row's loss checked against GPT.score
    on NumPy. Run under an older sqlgpt (PYTHONPATH), it measures that code's one path."""
    import sqlgpt
    from sqlgpt.engines.sql.drivers.spark import local_session

    sys.path.insert(0, str(ROOT))
    from tests.conftest import TINY_SHAPE, make_checkpoint

    directory = OUT / "tiny-random"
    if not (directory / "model.safetensors").is_file():
        make_checkpoint(directory, **TINY_SHAPE)
    rows = table_rows(BUNDLED)  # the test's rows
    reference = sqlgpt.load(directory, engine="numpy")
    expected = {i: reference.score(text) for i, text in enumerate(rows) if text}
    spark = local_session("local[2]", OUT / folder)  # its warehouse and metastore
    result: dict = {}
    for _ in range(repeats):
        for name, options in paths.items():
            seconds, got = score_in_spark(spark, directory, rows, 1, **options)
            worst = max(abs(got[i][1] - score.loss) for i, score in expected.items())
            assert all(got[i][0] == score.n_tokens for i, score in expected.items()) and worst <= 1e-4, (name, worst)
            result[name] = min(result.get(name, seconds), seconds)
            result[f"{name} worst loss error"] = max(result.get(f"{name} worst loss error", 0.0), worst)
    result["tokens"] = sum(score.n_tokens for score in expected.values())
    return result


def print_tables(model: str, results: dict[str, dict]) -> None:
    first = next(iter(results.values()))
    base = results.get("torch")
    print(f"\n{model}: score_table over {first['rows']} rows ({first['tokens']} tokens scored)\n")
    print("| engine | seconds | rows/s | tokens/s | loss (nats/token) |")
    print("|---|---|---|---|---|")
    for engine, r in results.items():
        ratio = f" ({r['seconds'] / base['seconds']:.0f}×)" if base and engine != "torch" else ""
        print(f"| {engine} | {r['seconds']:.2f}{ratio} | {r['rows'] / r['seconds']:.1f} | {r['tokens'] / r['seconds']:.1f} "
              f"| {r['nats'] / r['tokens']:.6f} |")
    if "duckdb" in results and "duckdb-nokernel" in results:
        gain = results["duckdb-nokernel"]["seconds"] / results["duckdb"]["seconds"]
        print(f"\nDuckDB's score_table with sqlgpt's vdot kernel against list_dot_product: {gain:.1f}× faster")


def print_spark_batch(result: dict) -> None:
    print(f"\nSpark local[2], the tests' tiny model: score_table over 1,000 rows ({result['tokens']} tokens), "
          "best of 2 (the old code: one run)\n")
    print("| path | seconds | tokens/s | worst loss error vs GPT.score |")
    print("|---|---|---|---|")
    for name, label in (("then", f"sqlgpt as of {SPARK_BEFORE_COMMIT}, before this work"),
                        ("before", "today's code, the path before: a row per output unit, lambda dot products"),
                        ("today", "today: vector_inner_product, a matrix as one value")):
        print(f"| {label} | {result[name]:.1f} | {result['tokens'] / result[name]:.0f} | "
              f"{result[name + ' worst loss error']:.1e} |")
    print(f"\n{result['then'] / result['today']:.1f}× faster than sqlgpt as of {SPARK_BEFORE_COMMIT}, "
          f"{result['before'] / result['today']:.1f}× faster than the path before in today's code")


def child(shape: str, engine: str, quick: bool, threads: int) -> None:
    if shape == "spark-batch":
        print(json.dumps(measure_spark_batch()))
        return
    if shape == "spark-batch-then":  # under the older sqlgpt that PYTHONPATH names
        print(json.dumps(measure_spark_batch({"then": {}}, repeats=1, folder="spark-tiny-then")))
        return
    if engine.startswith("table:"):
        _, engine, n_rows = engine.split(":")
        print(json.dumps(measure_table(shape, engine, int(n_rows))))
        return
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
    parser.add_argument("--tables", action="store_true",
                        help="also score a table's rows (torch, duckdb, duckdb-nokernel, spark among --engines): "
                             "rows/s and tokens/s")
    parser.add_argument("--table-rows", type=int, default=1000,
                        help="with --tables: how many of the 1,000 rows to score, the long ones among them (default all)")
    parser.add_argument("--spark-batch", action="store_true",
                        help="also score 1,000 rows with the tests' tiny model on Spark, today's path against the one before")
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
            results[shape][engine] = run_child(shape, engine, args.quick)
            print(f"  {json.dumps(results[shape][engine])}", file=sys.stderr)  # kept if a later engine fails
        print_table(shape, results[shape], threads)
        if {"duckdb", "duckdb-nokernel"} <= set(results[shape]):
            print_kernel_gain(results[shape])
    if len(results) > 1:
        print_per_layer(results)
    if args.tables:
        for model in [shape for shape in args.shapes if shape == "gpt2-124m" and has_tokenizer(shape)] + [BUNDLED]:
            tables = {}
            for engine in [e for e in args.engines if e in ("torch", "duckdb", "duckdb-nokernel", "spark")]:
                print(f"scoring a table with {engine} on {model} ...", file=sys.stderr)
                tables[engine] = run_child(model, f"table:{engine}:{args.table_rows}", args.quick)
            print_tables(model, tables)
    if args.spark_batch:
        print("scoring 1,000 rows on Spark, today's path and the one before ...", file=sys.stderr)
        result = run_child("spark-batch", "spark", args.quick)
        print(f"... and with sqlgpt as of commit {SPARK_BEFORE_COMMIT} ...", file=sys.stderr)
        with tempfile.TemporaryDirectory() as old:
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", SPARK_BEFORE_COMMIT, "src"],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
            result |= run_child("spark-batch-then", "spark", args.quick, {"PYTHONPATH": str(Path(old) / "src")})
        print_spark_batch(result)
    return 0


def run_child(shape: str, engine: str, quick: bool, env: dict[str, str] | None = None) -> dict:
    """One measurement in a process of its own (its peak memory its own; one Spark application
    each), with `env` added to the environment."""
    command = [sys.executable, __file__, "--child", shape, engine] + (["--quick"] if quick else [])
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ | (env or {}))
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        raise SystemExit(1)
    return json.loads(done.stdout.strip().splitlines()[-1])


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
