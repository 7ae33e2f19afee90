"""Load: several processes and threads on one database at once give what the same work gives
done one after another; a writer that DuckDB's single-writer rule blocks says so in one line
and corrupts nothing."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

import sqlgpt

from .crash_harness import Case, leaks

PROMPTS = ["ROMEO:", "the king", "Fair is foul", "My lord,"]


def generate_argv(i: int, case: Case) -> list[str]:
    return ["generate", PROMPTS[i], "-n", "12", "--seed", str(i), *case.engine_args()]


def run_together(case: Case, argvs: list[list[str]]) -> list[subprocess.CompletedProcess]:
    processes = [subprocess.Popen([sys.executable, "-m", "sqlgpt", *argv], env=case.env(), cwd=case.directory,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for argv in argvs]
    done = []
    for argv, process in zip(argvs, processes):
        out, err = process.communicate(timeout=600)
        done.append(subprocess.CompletedProcess(argv, process.returncode, out, err))
    return done


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_four_processes_at_once_equal_one_after_another(engine, tiny_dir, tmp_path):
    """Four processes start at once on a database without the model (PostgreSQL: without a
    server yet): each output equals the NumPy engine's for the same prompt and seed."""
    if engine == "postgres":
        pytest.importorskip("pgserver")
    case = Case("load", engine, tmp_path, str(tiny_dir))
    reference = sqlgpt.load(tiny_dir, engine="numpy")
    expected = [reference.generate(PROMPTS[i], max_new_tokens=12, seed=i) + "\n" for i in range(4)]
    if engine == "duckdb":  # one writer or many readers: the model is installed first
        first = case.sqlgpt(["next", "x", "-k", "1", *case.engine_args()])
        assert first.returncode == 0, first.stderr
    done = run_together(case, [generate_argv(i, case) for i in range(4)])
    for result, want in zip(done, expected):
        assert result.returncode == 0, result.stderr
        assert result.stdout == want
    assert not leaks(case)


def test_a_blocked_duckdb_writer_says_so_and_corrupts_nothing(tiny_dir, tmp_path):
    """Readers generating while another process installs a second model into the same file:
    the writer either gets in or is refused in one line (exit 2); every reader's text is
    right, and the file opens and answers afterwards."""
    case = Case("load", "duckdb", tmp_path, str(tiny_dir))
    assert case.sqlgpt(["next", "x", "-k", "1", *case.engine_args()]).returncode == 0
    reference = sqlgpt.load(tiny_dir, engine="numpy")
    writer = ["next", "x", "-k", "1", "--model", "shakespeare", "--engine", "duckdb", "--database", case.database]
    done = run_together(case, [generate_argv(0, case), writer, generate_argv(1, case)])
    for i, result in ((0, done[0]), (1, done[2])):
        if result.returncode == 2:  # opened while the writer held the file
            assert result.stderr.count("\n") == 1 and "busy" in result.stderr, result.stderr
        else:
            assert result.returncode == 0, result.stderr
            assert result.stdout == reference.generate(PROMPTS[i], max_new_tokens=12, seed=i) + "\n"
    assert done[1].returncode in (0, 2), done[1].stderr
    if done[1].returncode == 2:
        assert done[1].stderr.count("\n") == 1 and "busy" in done[1].stderr
    again = case.sqlgpt(generate_argv(2, case))
    assert again.stdout == reference.generate(PROMPTS[2], max_new_tokens=12, seed=2) + "\n"


def test_four_threads_on_one_model_equal_one_after_another(tiny_dir, tmp_path):
    reference = sqlgpt.load(tiny_dir, engine="numpy")
    expected = [reference.generate(PROMPTS[i], max_new_tokens=12, seed=i) for i in range(4)]
    got: list[str | None] = [None] * 4
    with sqlgpt.load(tiny_dir, engine="duckdb", database=str(Path(tmp_path) / "m.duckdb"), progress=False) as gpt:
        def work(i: int) -> None:
            got[i] = gpt.generate(PROMPTS[i], max_new_tokens=12, seed=i)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert got == expected
