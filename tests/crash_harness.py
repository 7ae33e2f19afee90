"""A crash harness: each operation run in a subprocess, killed (SIGKILL) at a seeded random
moment within the length of an uninterrupted run, what it left checked, then run again to the
end and checked against a run nobody killed. Used by tests/test_crash.py (a few kills per
engine) and bench/bench_crash.py (many).

What is checked after every kill, as sqlgpt promises it:

  - right after the kill, a result table (scores, next tokens, eval results, the BM25 index)
    is whole or absent;
  - the next run's output equals an uninterrupted run's (an interrupted install is found
    and replaced, never used), and a run after that installs nothing;
  - the catalogue lists one install, and no model schema lies outside it;
  - nothing is left behind once the last process ends: no spill files (sqlgpt's scratch
    directories, DuckDB's `<database>.tmp`), no WAL or journal files, no PostgreSQL server
    and no Java process started for the case, no Spark session databases.

Every case has its own directory and its own cache directory (XDG_CACHE_HOME), so it owns
its private PostgreSQL server, scratch directories and Spark warehouse. A case replays from
its seed. The harness itself opens no database: it runs small Python programs in the case's
environment to look inside, so the PostgreSQL server's only users are the case's processes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE_ROWS = 300
# Where kills land: a uniform moment within this span of an uninterrupted run's length on the
# same engine, measured by `reference` (fixed windows in seconds mostly came after the end).
KILL_BETWEEN = (0.1, 0.9)


@dataclasses.dataclass
class Case:
    """One operation on one engine, in a directory of its own."""

    operation: str
    engine: str
    directory: Path
    model: str  # a model name or directory the operation runs

    @property
    def cache(self) -> Path:
        return self.directory / "cache"

    @property
    def database(self) -> str | None:
        """--database for the engine: a file in the case's directory; none for PostgreSQL
        (the private server under the case's cache) and Spark (a local master)."""
        return str(self.directory / f"data.{self.engine}") if self.engine in ("duckdb", "sqlite") else None

    def env(self) -> dict[str, str]:
        env = dict(os.environ, XDG_CACHE_HOME=str(self.cache), PYTHONPATH=str(ROOT / "src"), PYTHONUNBUFFERED="1")
        env.pop("CI", None)
        return env

    def engine_args(self) -> list[str]:
        args = ["--model", self.model]
        if self.engine != "train":
            args += ["--engine", self.engine]
        return args + (["--database", self.database] if self.database else [])

    def python(self, program: str, *args: str, timeout: float = 300) -> str:
        """Run a Python program in the case's environment; its stdout (it must succeed)."""
        done = subprocess.run([sys.executable, "-c", program, *args], env=self.env(), cwd=self.directory,
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise AssertionError(f"{self.operation}/{self.engine}: helper program failed: {done.stderr[-2000:]}")
        return done.stdout

    def sqlgpt(self, argv: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "sqlgpt", *argv], env=self.env(), cwd=self.directory,
                              capture_output=True, text=True, timeout=timeout)


# -- looking inside a case's database, from a program of its own ----------------------------

# Reads tables through sqlgpt's own engine (whatever the database), prints JSON.
READ_TABLES = """
import json, sys, sqlgpt
engine, model, database, names = sys.argv[1], sys.argv[2], sys.argv[3] or None, sys.argv[4:]
options = {"progress": False} | ({"database": database} if database else {})
with sqlgpt.load(model, engine=engine, **options) as gpt:
    tables = gpt.engine.tables()
    out = {}
    for name in names:
        table, _, columns = name.partition(":")
        out[table] = sorted(map(list, tables.read(table, columns.split(",")))) if tables.exists(table) else None
print(json.dumps(out, default=repr))
"""

# The catalogue's schemas, and the model schemas that exist, for the engine's database.
CATALOGUE = """
import json, sys, sqlgpt
from sqlgpt.engines.sql.install import CATALOGUE, SCHEMA_NAME
engine, model, database = sys.argv[1], sys.argv[2], sys.argv[3] or None
options = {"progress": False} | ({"database": database} if database else {})
with sqlgpt.load(model, engine=engine, **options) as gpt:
    conn = gpt.engine.conn
    listed = sorted(row[0] for row in conn.execute(f"SELECT schema_name FROM {CATALOGUE}").fetchall())
    if engine == "sqlite":  # a model's tables are prefixed by its schema's name
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()]
    elif engine == "spark":
        names = [r[0] for r in conn.execute("SHOW DATABASES").fetchall()]
    else:
        names = [r[0] for r in conn.execute("SELECT schema_name FROM information_schema.schemata").fetchall()]
    present = sorted({n[:18] for n in names if SCHEMA_NAME.fullmatch(n[:18])})
print(json.dumps({"listed": listed, "present": present}))
"""

# Creates a table of int and text columns in the case's database and fills it.
MAKE_TABLE = """
import json, sys
engine, database, name, columns, rows = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), json.loads(sys.argv[5])
types = {"duckdb": {"int": "INTEGER", "text": "VARCHAR"}, "sqlite": {"int": "INTEGER", "text": "TEXT"},
         "postgres": {"int": "integer", "text": "text"}, "spark": {"int": "INT", "text": "STRING"}}[engine]
definition = ", ".join(f"{column} {types[kind]}" for column, kind in columns)
marks = ", ".join(["%s" if engine == "postgres" else "?"] * len(columns))
if engine == "duckdb":
    import duckdb
    with duckdb.connect(database) as conn:
        conn.execute(f"CREATE TABLE {name} ({definition})")
        conn.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
elif engine == "sqlite":
    import sqlite3
    with sqlite3.connect(database) as conn:
        conn.execute(f"CREATE TABLE {name} ({definition})")
        conn.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
elif engine == "postgres":
    import psycopg
    from sqlgpt.engines.sql.drivers import private_server
    with psycopg.connect(private_server.start(), autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {name} ({definition})")
        conn.cursor().executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
else:
    from sqlgpt.engines.sql.drivers.spark import local_session
    local_session().createDataFrame(rows, definition).write.saveAsTable(name)
"""


def table_rows(seed: int) -> list[list]:
    """TABLE_ROWS short texts (words from a fixed list), some NULL."""
    rng = random.Random(seed)
    vocabulary = ("the king is dead long live queen fair foul and my lord come to court of war peace "
                  "왕이 고양이 東京 café naïve night day love").split()
    return [[i, None if i % 37 == 5 else " ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 12)))]
            for i in range(TABLE_ROWS)]


# -- the operations ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Operation:
    """An operation the harness kills: its command, what it needs first, what must hold right
    after a kill, and the result an uninterrupted run gives."""

    name: str
    engines: tuple[str, ...]
    command: Callable[[Case], list[str]]
    prepare: Callable[[Case], None] = lambda case: None
    after_kill: Callable[[Case], list[str]] = lambda case: []
    result: Callable[[Case, subprocess.CompletedProcess], object] = lambda case, done: done.stdout
    same_everywhere: bool = False  # its result is the NumPy engine's (sqlgpt's promise): the reference checks it


def _install_first(case: Case) -> None:
    done = case.sqlgpt(["next", "x", "-k", "1", *case.engine_args()])
    assert done.returncode == 0, done.stderr


def _make_table(case: Case, name: str, columns: list[tuple[str, str]], rows: list[list]) -> None:
    case.python(MAKE_TABLE, case.engine, case.database or "", name, json.dumps(columns), json.dumps(rows))


def _with_table(case: Case) -> None:
    _install_first(case)
    _make_table(case, "docs", [("id", "int"), ("body", "text")], table_rows(7))


def quiz_rows(n: int = 12) -> list[list]:
    """n multiple-choice items (id, question, A, B, C, D, answer) whose options are words of
    table_rows's vocabulary."""
    rng = random.Random(11)
    words = [text.split()[0] for _, text in table_rows(7) if text]
    return [[i, " ".join(rng.choice(words) for _ in range(rng.randint(2, 8))), *rng.sample(words, 4), rng.choice("ABCD")]
            for i in range(n)]


def _with_quiz(case: Case) -> None:
    _install_first(case)
    _make_table(case, "quiz", [("id", "int"), ("question", "text"), ("A", "text"), ("B", "text"), ("C", "text"),
                               ("D", "text"), ("answer", "text")], quiz_rows())


def _read(case: Case, *names: str) -> dict:
    return json.loads(case.python(READ_TABLES, case.engine, case.model, case.database or "", *names))


def _scores_whole_or_absent(case: Case) -> list[str]:
    rows = _read(case, "sqlgpt_scores:id,tokens,loss")["sqlgpt_scores"]
    expected = sum(1 for _, text in table_rows(7) if text is not None)
    return [] if rows is None or len(rows) == TABLE_ROWS and sum(r[1] is not None for r in rows) == expected else \
        [f"sqlgpt_scores has {len(rows)} rows after the kill: neither whole ({TABLE_ROWS}) nor absent"]


def _whole_or_absent(case: Case, table: str, columns: str, whole: int) -> list[str]:
    rows = _read(case, f"{table}:{columns}")[table]
    return [] if rows is None or len(rows) == whole else \
        [f"{table} has {len(rows)} rows after the kill: neither whole ({whole}) nor absent"]


def _index_whole_or_absent(case: Case) -> list[str]:
    prefix = "sqlgpt_bm25_docs_body"
    found = _read(case, f"{prefix}_rows:row_key,words", f"{prefix}_postings:row_key,tf")
    rows, postings = found[f"{prefix}_rows"], found[f"{prefix}_postings"]
    if rows is None:
        return []
    expected = sum(1 for _, text in table_rows(7) if text is not None)
    words = {key: n for key, n in rows}
    counted: dict = {}
    for key, tf in postings or []:
        counted[key] = counted.get(key, 0) + tf
    if len(rows) != expected or counted != {k: n for k, n in words.items() if n}:
        return [f"the index holds {len(rows)} of {expected} rows after the kill, or postings that disagree"]
    return []


OPERATIONS = {
    op.name: op for op in [
        Operation("install", ("duckdb", "sqlite", "postgres"), lambda case: ["generate", "ROMEO:", "-n", "8", "--seed", "1", *case.engine_args()],
                  same_everywhere=True),
        # A few tokens: Spark spends seconds on each.
        Operation("generate", ("duckdb", "sqlite", "postgres", "spark"), lambda case: ["generate", "ROMEO:", "-n", "6", "--seed", "2", *case.engine_args()],
                  prepare=_install_first, same_everywhere=True),
        Operation("score_table", ("duckdb", "sqlite", "postgres"), lambda case: ["score", "--table", "docs", "--column", "body", "--key", "id", "--replace",
                                *case.engine_args()],
                  prepare=_with_table, after_kill=_scores_whole_or_absent,
                  result=lambda case, done: (done.stdout, _read(case, "sqlgpt_scores:id,tokens,loss"))),
        Operation("next_table", ("duckdb", "sqlite", "postgres"),
                  lambda case: ["next", "--table", "docs", "--column", "body", "--key", "id", "-k", "3", "--replace",
                                *case.engine_args()],
                  prepare=_with_table,
                  after_kill=lambda case: _whole_or_absent(
                      case, "sqlgpt_next", "id,rank,token,probability",
                      3 * sum(1 for _, text in table_rows(7) if text is not None)),
                  result=lambda case, done: (done.stdout, _read(case, "sqlgpt_next:id,rank,token,probability"))),
        Operation("eval", ("duckdb", "sqlite", "postgres"),
                  lambda case: ["eval", "quiz", "--continuation", "text", "--style", "plain", "--key", "id",
                                "--replace", *case.engine_args()],
                  prepare=_with_quiz,
                  after_kill=lambda case: _whole_or_absent(case, "sqlgpt_eval", "id,gold,pred,acc", len(quiz_rows())),
                  result=lambda case, done: (done.stdout, _read(case, "sqlgpt_eval:id,gold,pred,acc,loglikelihoods"))),
        Operation("index", ("duckdb", "sqlite", "postgres"), lambda case: ["index", "--table", "docs", "--column", "body", "--key", "id", *case.engine_args()],
                  prepare=_with_table, after_kill=_index_whole_or_absent,
                  result=lambda case, done: case.sqlgpt(["retrieve", "the king of war", "--table", "docs", "--column",
                                                          "body", "--key", "id", "-k", "10", *case.engine_args()]).stdout),
        Operation("train", ("train",), lambda case: ["train", str(case.directory / "text.txt"), "--out", str(case.directory / "run"),
                                "--layers", "2", "--heads", "2", "--embd", "32", "--context", "32", "--batch", "4",
                                "--steps", "40", "--eval-every", "10", "--eval-batches", "2", "--save-every", "5",
                                "--vocab-size", "300", "--threads", "1"],
                  prepare=lambda case: (case.directory / "text.txt").write_text(
                      " ".join(text or "" for _, text in table_rows(3)) * 3, encoding="utf-8"),
                  result=lambda case, done: json.loads((case.directory / "run" / "training.json").read_text())["curve"]),
    ]
}


# -- leaks ----------------------------------------------------------------------------------


def leaks(case: Case) -> list[str]:
    """What the case's processes left behind, now that none runs."""
    import psutil

    found = []
    scratch = case.cache / "sqlgpt" / "scratch"
    if scratch.is_dir() and any(scratch.iterdir()):
        found.append(f"scratch directories left: {sorted(p.name for p in scratch.iterdir())}")
    for path in case.directory.iterdir():
        if path.name.endswith((".tmp", ".wal", "-journal", "-wal", "-shm")):
            found.append(f"left beside the database: {path.name}")
    warehouse = case.cache / "sqlgpt" / "spark" / "warehouse"
    if warehouse.is_dir():
        sessions = [p.name for p in warehouse.iterdir() if p.name.startswith("sqlgpt_session_")]
        if sessions:
            found.append(f"Spark session databases left: {sessions}")
    mine = str(case.directory)
    deadline = time.time() + 10  # a server stopping at its last user's exit takes a moment
    while True:
        procs = []
        for proc in psutil.process_iter(attrs=["pid", "name", "cmdline"]):
            cmdline = " ".join(proc.info["cmdline"] or [])
            if mine in cmdline and proc.pid != os.getpid():
                procs.append(f"{proc.info['name']}[{proc.pid}]")
        if not procs or time.time() > deadline:
            break
        time.sleep(0.5)
    if procs:
        found.append(f"processes left running: {procs}")
    return found


# -- one case ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    operation: str
    engine: str
    seed: int
    killed_at: float  # seconds after the start (the run had ended before, if `finished`)
    finished: bool  # the run ended on its own before the kill came
    problems: list[str]


@dataclasses.dataclass(frozen=True)
class Reference:
    """What an uninterrupted run gives, and how long it took on the engine."""

    result: object
    seconds: float


def reference(operation: Operation, engine: str, directory: Path, model: str) -> Reference:
    """Run the operation uninterrupted on the engine (in a directory of its own, after its
    preparation), timed; an operation whose result sqlgpt promises equal everywhere is also
    run on the NumPy engine, and the two must agree."""
    case = Case(operation.name, engine, directory / engine, model)
    case.directory.mkdir(parents=True)
    operation.prepare(case)
    start = time.monotonic()
    done = case.sqlgpt(operation.command(case))
    seconds = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    result = operation.result(case, done)
    if operation.same_everywhere:
        numpy = Case(operation.name, "numpy", directory / "numpy", model)
        numpy.directory.mkdir(parents=True)
        done = numpy.sqlgpt(operation.command(numpy))
        assert done.returncode == 0, done.stderr
        assert operation.result(numpy, done) == result, f"{operation.name} on {engine} differs from NumPy's"
    return Reference(result, seconds)


def run_case(operation: Operation, engine: str, directory: Path, model: str, seed: int,
             expected: Reference) -> Outcome:
    """Kill the operation at a moment drawn from `seed` (within KILL_BETWEEN of the reference
    run's length), check, run it again, check."""
    case = Case(operation.name, engine, directory, model)
    directory.mkdir(parents=True)
    operation.prepare(case)
    delay = random.Random(seed).uniform(*KILL_BETWEEN) * expected.seconds
    process = subprocess.Popen([sys.executable, "-m", "sqlgpt", *operation.command(case)], env=case.env(),
                               cwd=case.directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = time.monotonic()
    try:
        process.wait(timeout=delay)
        finished = True
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        finished = False
    killed_at = time.monotonic() - start
    problems = [] if finished else operation.after_kill(case)
    again = operation.command(case)
    if operation.name == "train":
        # Killed after a save: resume. Killed before its first save, or finished before the
        # kill came: the run is made again from the start, into the directory it left.
        saved = (case.directory / "run" / "training_state.pt").exists()
        again += ["--resume"] if not finished and saved else ["--force"]
    done = case.sqlgpt(again)
    if operation.name == "train" and done.returncode != 0 and "steps already" in done.stderr:
        # Killed after its last save: --resume has nothing left to train (and says so in
        # one line); the run is made again from the start instead.
        done = case.sqlgpt(operation.command(case) + ["--force"])
    if done.returncode != 0:
        problems.append(f"the run after the kill failed: {done.stderr.strip()[-500:]}")
    elif operation.result(case, done) != expected.result:
        problems.append("the run after the kill gave another result than an uninterrupted run")
    if engine in ("duckdb", "sqlite", "postgres") and not problems:
        listing = json.loads(case.python(CATALOGUE, engine, model, case.database or ""))
        if len(listing["listed"]) != 1 or listing["present"] != listing["listed"]:
            problems.append(f"catalogue {listing['listed']} but model schemas {listing['present']}")
        third = case.sqlgpt(["next", "x", "-k", "1", *case.engine_args()])
        if "install" in third.stderr.lower():
            problems.append(f"a later run installed again: {third.stderr.strip()[:200]}")
    problems += leaks(case)
    return Outcome(operation.name, engine, seed, round(killed_at, 2), finished, problems)
