"""Golden SQL: the exact text of the SQL sqlgpt writes today, pinned in tests/golden/.

Each test regenerates one file's SQL for the tiny random checkpoint (conftest's `tiny_dir`)
and compares it, byte for byte after `normalize`, with the committed file:

    step-{engine}.sql           what `sqlgpt sql` prints: session tables, token load, one
                                forward step, the logits query (duckdb, postgres, sqlite from
                                the real CLI; spark, which the CLI cannot reach with a given
                                SparkSession, from `listing`, checked equal to the CLI's
                                output on the other three)
    step-batched-{engine}.sql   a batched session's tables, reset, step, loss and top-k
                                statements (vector layouts: duckdb, postgres, spark)
    scoring-{engine}.sql        the unbatched session's other statements: logits of every
                                position, loss, top-k, reset (all four)
    explain-{engine}.sql        an inspecting session's tables and step, then the plan's
                                explain statements (all four)
    script-{greedy,sampled}-{dialect}.sql
                                `build_script` for a fixed prompt, greedy and seeded
                                sampling (duckdb, postgres, sqlite, spark)

plus the files above for "postgres-nopgvector": PostgreSQL's real[] form, compiled for a
server without pgvector. It is built from the dialect alone, with no database: installing
that layout in the shared test server would replace the pgvector install other tests use.
"duckdb" is DuckDB with `vector_kernel=False` (`--no-kernel`: list_dot_product, the same
wherever it runs) and "duckdb-kernel" DuckDB's SQL with sqlgpt's vdot kernel, built from the
dialect alone too (as the driver settles it where the kernel loads), so that no file depends
on a C compiler being there. Likewise "spark-lambdas": Spark's SQL where it has no vector
functions (before 4.2), its dot products lambdas.

A mismatch fails with a unified diff. When a change of the SQL is intended, refresh with

    SQLGPT_REFRESH_GOLDEN=1 python -m pytest tests/test_golden_sql.py

which rewrites the files (each test then passes, saying it refreshed); commit the refresh on
its own, saying why the SQL changed.

What this does not check: that the SQL runs or computes the right numbers (the engine tests
do), the install statements (weight tables, catalogue) and driver-level SQL (PREPARE
wrappers, bulk inserts), which the drivers run from their dialects rather than as statements.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

import sqlgpt
from sqlgpt.checkpoint import Checkpoint
from sqlgpt.cli import main
from sqlgpt.engines.sql.databases import get_dialect
from sqlgpt.engines.sql.engine import SqlEngine
from sqlgpt.engines.sql.install import schema_name
from sqlgpt.engines.sql.plan import Plan, Statement
from sqlgpt.engines.sql.script import build_script
from sqlgpt.explain import TEMPERATURES
from sqlgpt.models import open_checkpoint

GOLDEN_DIR = Path(__file__).with_name("golden")
REFRESH_VARIABLE = "SQLGPT_REFRESH_GOLDEN"
REFRESH_COMMAND = f"{REFRESH_VARIABLE}=1 python -m pytest tests/test_golden_sql.py"
DIFF_LINES = 60  # of the unified diff shown on a mismatch


class GoldenRefreshed(UserWarning):
    """A golden file was rewritten (SQLGPT_REFRESH_GOLDEN=1)."""


ENGINES = ("duckdb", "duckdb-kernel", "postgres", "postgres-nopgvector", "sqlite", "spark", "spark-lambdas")
VECTOR_ENGINES = ("duckdb", "duckdb-kernel", "postgres", "postgres-nopgvector", "spark", "spark-lambdas")  # batched steps
# Compiled from the dialect alone, with no database (see the module docstring): the options
# their drivers would settle on for a server without pgvector, a Spark older than 4.2, and
# DuckDB where sqlgpt's kernel loads.
COMPILED = {"postgres-nopgvector": ("postgres", {"pgvector": False}),
            "spark-lambdas": ("spark", {"vector_functions": False}),
            "duckdb-kernel": ("duckdb", {"vector_kernel": True})}
SCRIPT_DIALECTS = ("duckdb", "postgres", "sqlite", "spark")
PROMPT, NEW_TOKENS, TEMPERATURE, SEED = "the cat", 5, 0.8, 1234
TOP_K = 5  # GPT.explain's and `sqlgpt next`'s default
# The name the model directory gets here: the checkpoint's name is its directory's, and it is
# written into headers (and wraps their lines), so it must not be the tmp dir's tinyN.
MODEL_NAME = "tiny"


# -- what varies between runs ----------------------------------------------------------------


def normalize(text: str, model_dir: Path) -> str:
    """The one place run-to-run variation is taken out of generated SQL, and only this:

    * the model directory's path (the script header's install command names it), which is a
      pytest tmp dir -> `<model-dir>`;
    * the model's schema `m_<16 hex>`, a hash of config.json and the weights file, whose
      config.json records the transformers version that wrote it -> `m_<schema>`. Only this
      checkpoint's own schema is replaced: any other would show up in the diff.

    Spark's per-session databases (`sqlgpt_session_<hex>`) and the database files' paths
    never appear in the SQL (the session's database is its current one), so they are not
    replaced; if they ever do appear, the test fails and says so by its diff.
    """
    for path in {str(model_dir), str(model_dir.resolve())}:
        text = text.replace(path, "<model-dir>")
    return text.replace(model_schema(model_dir), "m_<schema>")


@functools.cache
def model_schema(model_dir: Path) -> str:
    return schema_name(Checkpoint(model_dir).fingerprint())


# -- comparing with the committed files ----------------------------------------------------------


def check_golden(name: str, text: str, model_dir: Path) -> None:
    """Compare `text` (normalized) with tests/golden/`name`, or rewrite that file when refreshing."""
    text = normalize(text, model_dir)
    path = GOLDEN_DIR / name
    if os.environ.get(REFRESH_VARIABLE) == "1":
        GOLDEN_DIR.mkdir(exist_ok=True)
        # newline="\n": the files are compared byte for byte on every platform.
        path.write_text(text, encoding="utf-8", newline="\n")
        # A warning, so that pytest's summary lists every file a refresh rewrote.
        warnings.warn(GoldenRefreshed(f"refreshed tests/golden/{name}"), stacklevel=2)
        return
    if not path.is_file():
        pytest.fail(f"{path} is missing; create it with: {REFRESH_COMMAND}")
    # newline="": byte for byte, no newline translation (.gitattributes keeps the files LF).
    with open(path, encoding="utf-8", newline="") as f:
        expected = f.read()
    if text != expected:
        diff = list(difflib.unified_diff(expected.splitlines(), text.splitlines(),
                                         f"tests/golden/{name} (committed)", f"{name} (generated now)", lineterm=""))
        shown = "\n".join(diff[:DIFF_LINES])
        if len(diff) > DIFF_LINES:
            shown += f"\n... {len(diff) - DIFF_LINES} more diff lines"
        pytest.fail(f"the SQL in tests/golden/{name} changed:\n{shown}\n\nIf the change is intended, refresh the "
                    f"golden files with `{REFRESH_COMMAND}` and commit them on their own, saying why the SQL changed.",
                    pytrace=False)


def listing(gpt, sections: list[tuple[str, list[Statement]]]) -> str:
    """`sections` formatted as `sqlgpt sql` (cli.cmd_sql) prints them, header included.
    test_step checks that this equals the CLI's own output wherever the CLI can run."""
    engine = gpt.engine
    lines = [f"-- sqlgpt: {gpt.name} ({gpt.config.n_params / 1e6:.1f}M parameters) on {engine.name}; "
             f"weights in schema {engine.schema}",
             *(f"-- {note}" for note in engine.dialect.header_notes()),
             "-- $1 is the step's first new position; the token ids arrive as bound parameters.\n"]
    for title, statements in sections:
        lines.append(f"-- ===== {title} =====\n")
        lines += [f"-- {statement.comment}\n{statement.sql};\n" for statement in statements]
    return "".join(line + "\n" for line in lines)


def with_plan(gpt, **options):
    """A plan of the engine's dialect and schema with `options` (batched, inspect), as
    SqlSession makes one."""
    engine = gpt.engine
    return Plan(engine.config, engine.dialect, engine.schema, **options)


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_dir(tiny_dir, tmp_path_factory) -> Path:
    """tiny_dir's files (the same bytes, so the same fingerprint) in a directory named MODEL_NAME."""
    directory = tmp_path_factory.mktemp("golden-model") / MODEL_NAME
    shutil.copytree(tiny_dir, directory)
    return directory


@pytest.fixture(scope="module")
def databases(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("golden-db")


@pytest.fixture(scope="module")
def loaded(request, model_dir, databases):
    """loaded(engine) -> the model loaded on `engine`, once per module; a database server or
    Spark is started only when a test asks for an engine that needs it."""
    gpts: dict[str, object] = {}

    def get(engine: str):
        if engine not in gpts:
            if engine in COMPILED:
                gpts[engine] = _compiled(model_dir, *COMPILED[engine])
            elif engine == "duckdb":
                gpts[engine] = sqlgpt.load(model_dir, engine=engine, database=databases / f"golden.{engine}",
                                           progress=False, vector_kernel=False)
            elif engine == "postgres":
                gpts[engine] = sqlgpt.load(model_dir, engine=engine, database=request.getfixturevalue("pg_dsn"),
                                           progress=False)
            elif engine == "spark":
                gpts[engine] = sqlgpt.load(model_dir, engine=engine, session=request.getfixturevalue("spark_session"),
                                           progress=False)
            else:  # a file of its own: the CLI's test opens other files, never this one
                gpts[engine] = sqlgpt.load(model_dir, engine=engine, database=databases / f"golden.{engine}",
                                           progress=False)
        return gpts[engine]

    yield get
    for gpt in gpts.values():
        if hasattr(gpt, "close"):
            gpt.close()


def _compiled(model_dir: Path, name: str, options: dict) -> SimpleNamespace:
    """What a loaded GPT offers these tests where the driver's `open` would settle the dialect
    on `options` (PostgreSQL without pgvector, Spark without vector functions, DuckDB with
    sqlgpt's vdot kernel loaded), compiled as SqlEngine compiles it, with no database at all:
    see the module docstring."""
    checkpoint = open_checkpoint(model_dir)
    dialect = get_dialect(name, **options)
    if name == "duckdb":
        dialect.kernel = options["vector_kernel"]  # what the driver settles where the kernel loads
    plan = Plan(checkpoint.config, dialect, model_schema(model_dir))
    engine = SimpleNamespace(name=name, config=checkpoint.config, dialect=dialect, schema=plan.w,
                             plan=plan, step=plan.step())
    engine.describe = lambda: SqlEngine.describe(engine)  # what a loaded engine's describe() gives
    return SimpleNamespace(name=checkpoint.name, config=checkpoint.config, engine=engine, tokenizer=checkpoint.tokenizer)


# -- the golden files ------------------------------------------------------------------------------


def test_checkpoint_is_deterministic(tiny_dir, model_dir):
    """The schema name is normalized, so the golden files alone would not notice the fixture
    changing. No weight appears in the SQL, but the schema must still be the fixture's own,
    and the copy this module loads must be the fixture's bytes."""
    assert Checkpoint(model_dir).fingerprint() == Checkpoint(tiny_dir).fingerprint()
    assert re.fullmatch(r"m_[0-9a-f]{16}", model_schema(model_dir))


@pytest.mark.parametrize("engine", ENGINES)
def test_step(engine, loaded, model_dir, databases, capsys, request):
    gpt = loaded(engine)
    text = listing(gpt, gpt.engine.describe())
    if engine in ("duckdb", "postgres", "sqlite"):
        # The real CLI, on a database of its own, so the helper cannot drift from cmd_sql.
        database = request.getfixturevalue("pg_dsn") if engine == "postgres" else str(databases / f"cli.{engine}")
        capsys.readouterr()
        kernel = ["--no-kernel"] if engine == "duckdb" else []  # the same SQL with a C compiler or without
        assert main(["sql", "--model", str(model_dir), "--engine", engine, "--database", database, *kernel]) == 0
        cli = capsys.readouterr().out
        assert text == cli, "listing() no longer formats like `sqlgpt sql`:\n" + "\n".join(
            list(difflib.unified_diff(cli.splitlines(), text.splitlines(), "cli", "listing", lineterm=""))[:DIFF_LINES])
        text = cli
    check_golden(f"step-{engine}.sql", text, model_dir)


@pytest.mark.parametrize("engine", VECTOR_ENGINES)
def test_step_batched(engine, loaded, model_dir):
    gpt = loaded(engine)
    plan = with_plan(gpt, batched=True)
    vocab = gpt.tokenizer.vocab_size  # what GPT passes as top-k's vocabulary (below the padding)
    text = listing(gpt, [
        ("batched session tables (once per batch session)", plan.session_tables()),
        ("each batch: empty the tables", plan.reset()),
        ("each batch: the forward pass", plan.step()),
        ("each batch: the loss of every sequence", [plan.loss()]),
        ("each batch: the top tokens after every sequence", [plan.top_batch(TOP_K, vocab)]),
    ])
    check_golden(f"step-batched-{engine}.sql", text, model_dir)


@pytest.mark.parametrize("engine", ENGINES)
def test_scoring(engine, loaded, model_dir):
    gpt = loaded(engine)
    plan = gpt.engine.plan
    text = listing(gpt, [
        ("the logits of every new position", [plan.logits(last_only=False)]),
        ("the loss", [plan.loss()]),
        ("the top tokens", [plan.top(TOP_K, gpt.tokenizer.vocab_size)]),
        ("a new sequence on the same session", plan.reset()),
    ])
    check_golden(f"scoring-{engine}.sql", text, model_dir)


@pytest.mark.parametrize("engine", ENGINES)
def test_explain(engine, loaded, model_dir):
    gpt = loaded(engine)
    plan = with_plan(gpt, inspect=True)
    vocab = gpt.tokenizer.vocab_size
    measurements = plan.explain(min(TOP_K, vocab - 1), vocab, TEMPERATURES)  # as GPT.explain calls it
    text = listing(gpt, [
        ("inspecting session tables", plan.session_tables()),
        ("the inspecting forward pass", plan.step()),
        ("the measurements", measurements),
    ])
    check_golden(f"explain-{engine}.sql", text, model_dir)


@pytest.mark.parametrize("mode", ["greedy", "sampled"])
@pytest.mark.parametrize("dialect", SCRIPT_DIALECTS)
def test_script(dialect, mode, model_dir):
    # model=None: the header names the model by its directory, as `build_script`'s default does.
    temperature = 0.0 if mode == "greedy" else TEMPERATURE
    text = build_script(open_checkpoint(str(model_dir)), dialect, PROMPT, NEW_TOKENS, temperature=temperature,
                        seed=SEED)
    check_golden(f"script-{mode}-{dialect}.sql", text, model_dir)


def test_no_stale_golden_files():
    """Every file in tests/golden/ is one these tests write: a case removed here must not
    leave a file behind that nothing checks."""
    expected = {f"step-{e}.sql" for e in ENGINES} | {f"scoring-{e}.sql" for e in ENGINES}
    expected |= {f"step-batched-{e}.sql" for e in VECTOR_ENGINES} | {f"explain-{e}.sql" for e in ENGINES}
    expected |= {f"script-{m}-{d}.sql" for m in ("greedy", "sampled") for d in SCRIPT_DIALECTS}
    present = {p.name for p in GOLDEN_DIR.glob("*.sql")}
    assert not present - expected, f"golden files no test writes (delete them): {sorted(present - expected)}"
    if os.environ.get(REFRESH_VARIABLE) != "1":
        assert not expected - present, f"golden files missing; create them with: {REFRESH_COMMAND}"
