"""Kills at random moments, and what must hold afterwards (tests/crash_harness.py): the short
form, a few kills on DuckDB, SQLite and PostgreSQL; `python bench/bench_crash.py` runs the
long one, Spark and training included. Also the two
faults the harness was built for, each on its own: the spill files of a killed DuckDB process
and the private PostgreSQL server of a killed run, with `sqlgpt server` to see and stop it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .crash_harness import OPERATIONS, Case, leaks, reference, run_case

MODEL = "shakespeare"  # the bundled model: big enough that an install takes a few seconds
# (operation, engine, model, seeds): a kill or two each; the table work with the tests' tiny
# model, whose scoring takes a second, not minutes.
SHORT = [("install", "duckdb", MODEL, [11, 12]), ("score_table", "duckdb", "tiny", [13]),
         ("index", "duckdb", "tiny", [14]), ("generate", "sqlite", "tiny", [15]),
         ("generate", "postgres", MODEL, [16]), ("next_table", "duckdb", "tiny", [17]), ("eval", "duckdb", "tiny", [18])]
# Spark (three JVM starts a kill, a minute and a half) and train: bench/bench_crash.py, which
# runs every operation on every engine.


@pytest.mark.parametrize(("operation", "engine", "model", "seeds"), SHORT, ids=[f"{o}-{e}" for o, e, *_ in SHORT])
def test_killed_runs_leave_nothing_and_the_next_run_is_right(operation, engine, model, seeds, tmp_path, request):
    model = str(request.getfixturevalue("tiny_dir")) if model == "tiny" else model
    op = OPERATIONS[operation]
    expected = reference(op, engine, tmp_path / "reference", model)
    for seed in seeds:
        outcome = run_case(op, engine, tmp_path / f"kill-{seed}", model, seed, expected)
        assert not outcome.problems, outcome


def _case(tmp_path: Path, engine: str) -> Case:
    case = Case("probe", engine, tmp_path, MODEL)
    return case


def test_a_killed_duckdb_process_leaves_no_spill_files(tmp_path):
    """A process holding a DuckDB connection, with a file in its scratch (spill) directory,
    killed: the next sqlgpt process removes the directory; a live process's stays."""
    case = _case(tmp_path, "duckdb")
    holder = """
import sys, time, sqlgpt
from sqlgpt.engines.sql.drivers.scratch import scratch_directory
gpt = sqlgpt.load("shakespeare", engine="duckdb", database=sys.argv[1], progress=False)
(scratch_directory() / "duckdb_temp_storage-0.tmp").write_bytes(b"x" * 4096)  # what a spill leaves
print(scratch_directory(), flush=True)
time.sleep(600)
"""
    env = case.env()
    killed = subprocess.Popen([sys.executable, "-c", holder, str(tmp_path / "a.duckdb")], env=env,
                              stdout=subprocess.PIPE, text=True)
    alive = subprocess.Popen([sys.executable, "-c", holder, str(tmp_path / "b.duckdb")], env=env,
                             stdout=subprocess.PIPE, text=True)
    try:
        killed_dir, alive_dir = Path(killed.stdout.readline().strip()), Path(alive.stdout.readline().strip())
        assert killed_dir.is_dir() and alive_dir.is_dir() and killed_dir != alive_dir
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert killed_dir.is_dir()  # nothing removes it by itself...
        done = case.sqlgpt(["next", "x", "-k", "1", "--engine", "duckdb", "--database", str(tmp_path / "c.duckdb")])
        assert done.returncode == 0, done.stderr
        assert not killed_dir.exists()  # ...until the next sqlgpt process sweeps it
        assert alive_dir.is_dir() and any(alive_dir.iterdir())  # a live owner's is kept
    finally:
        for process in (killed, alive):
            process.kill()
            process.wait()
    case.sqlgpt(["next", "x", "-k", "1", "--engine", "duckdb", "--database", str(tmp_path / "c.duckdb")])
    assert not leaks(case)


def test_processes_starting_together_never_sweep_each_others_directories(tmp_path):
    """Four processes each make 150 scratch directories (each making one sweeps the others'
    first): none fails, and every directory stays while its maker lives. A lock file that
    could be found before its owner locked it was taken by a sweep, and the live process's
    directory removed (a CI run failed on it)."""
    maker = """
from sqlgpt.engines.sql.drivers import scratch
made = []
for _ in range(150):
    scratch.scratch_directory.cache_clear()  # a new directory, as a new process makes
    made.append(scratch.scratch_directory())
print(sum(not directory.is_dir() for directory in made))
"""
    env = _case(tmp_path, "duckdb").env()
    makers = [subprocess.Popen([sys.executable, "-c", maker], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True) for _ in range(4)]
    for process in makers:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0 and out.strip() == "0", err


def test_what_a_killed_process_claimed_is_handed_to_the_next(tmp_path):
    """A process claims a name (as a Spark session claims its private database) and is killed:
    the next process finds it among the orphans, and a live process's claim is not there."""
    case = _case(tmp_path, "spark")
    holder = """
import sys, time
from sqlgpt.engines.sql.drivers import scratch
scratch.claim(sys.argv[1])
print("claimed", flush=True)
time.sleep(600)
"""
    killed = subprocess.Popen([sys.executable, "-c", holder, "sqlgpt_session_killed"], env=case.env(),
                              stdout=subprocess.PIPE, text=True)
    alive = subprocess.Popen([sys.executable, "-c", holder, "sqlgpt_session_alive"], env=case.env(),
                             stdout=subprocess.PIPE, text=True)
    finder = """
from sqlgpt.engines.sql.drivers import scratch
found = scratch.orphans("sqlgpt_session_")
print(" ".join(found))
for name in found:
    scratch.forget(name)
"""
    try:
        assert killed.stdout.readline().strip() == alive.stdout.readline().strip() == "claimed"
        assert case.python(finder).split() == []  # both owners live
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert case.python(finder).split() == ["sqlgpt_session_killed"]
        assert case.python(finder).split() == []  # handed over once, then forgotten
    finally:
        for process in (killed, alive):
            process.kill()
            process.wait()


def test_the_private_server_outlives_no_user_and_sqlgpt_server_shows_and_stops_it(tmp_path):
    """A run using the private PostgreSQL is killed: `sqlgpt server` shows the server with
    only the live users; `--stop` is refused while one uses it and stops it after."""
    pytest.importorskip("pgserver")
    case = _case(tmp_path, "postgres")
    user = """
import time
from sqlgpt.engines.sql.drivers import private_server
private_server.start()
print("up", flush=True)
time.sleep(600)
"""
    env = case.env()
    first = subprocess.Popen([sys.executable, "-c", user], env=env, stdout=subprocess.PIPE, text=True)
    second = subprocess.Popen([sys.executable, "-c", user], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "up" and second.stdout.readline().strip() == "up"
        shown = case.sqlgpt(["server"])
        assert shown.returncode == 0 and "is running" in shown.stdout
        assert str(first.pid) in shown.stdout and str(second.pid) in shown.stdout
        first.send_signal(signal.SIGKILL)
        first.wait()
        shown = case.sqlgpt(["server"])
        assert "is running" in shown.stdout and str(first.pid) not in shown.stdout and str(second.pid) in shown.stdout
        refused = case.sqlgpt(["server", "--stop"])
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and str(second.pid) in refused.stderr
        second.send_signal(signal.SIGKILL)
        second.wait()
        stopped = case.sqlgpt(["server", "--stop"])
        assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stderr
        assert "not running" in case.sqlgpt(["server"]).stdout
    finally:
        for process in (first, second):
            process.kill()
            process.wait()
    deadline = time.time() + 10
    while leaks(case) and time.time() < deadline:
        time.sleep(0.5)
    assert not leaks(case)
    assert os.environ.get("XDG_CACHE_HOME") != env["XDG_CACHE_HOME"]  # the test's server was its own
