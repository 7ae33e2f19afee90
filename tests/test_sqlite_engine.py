"""The SQLite engine's promises beyond correct logits (those are in test_engines.py): the
wide layout's tables, atomic installs (interrupted or killed), hostile prompts, two threads,
sessions of their own, and ':memory:'. The NumPy engine is the reference."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import sqlgpt
from sqlgpt.engines.sql import install as install_module
from sqlgpt.engines.sql.layouts.wide import balanced_sum
from sqlgpt.errors import SqlgptError

from .test_duckdb_engine import JOBS, generate, generate_in_threads, hostile_prompts, interrupt_third_table

TOLERANCE = 1e-4
IDS = [5, 17, 42, 99, 3, 250, 7, 64, 128, 11]


def load(directory, database) -> sqlgpt.GPT:
    return sqlgpt.load(directory, engine="sqlite", database=str(database), progress=False)


def contents(database) -> dict:
    """Every table of the file with its row count and the sum of its numbers."""
    conn = sqlite3.connect(database)
    try:
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")]
        out = {}
        for name in names:
            columns = [c[1] for c in conn.execute(f"PRAGMA table_info({name})")]
            numeric = [c for c in columns if c not in ("model", "source", "source_key", "fingerprint", "config",
                                                       "schema_name", "installed_at")]
            total = " + ".join(f"total({c})" for c in numeric) or "0"
            out[name] = conn.execute(f"SELECT count(*), {total} FROM {name}").fetchone()
        return out
    finally:
        conn.close()


def assert_matches_numpy(gpt: sqlgpt.GPT, directory) -> None:
    reference = sqlgpt.load(directory, engine="numpy").logits(IDS)
    assert np.abs(gpt.logits(IDS) - reference).max() <= TOLERANCE


def test_balanced_sums_stay_shallow():
    terms = [f"t{k}" for k in range(3000)]
    expression = balanced_sum(terms)
    assert sorted(expression.replace("(", "").replace(")", "").split(" + ")) == sorted(terms)
    depth = max_depth = 0
    for ch in expression:
        depth += (ch == "(") - (ch == ")")
        max_depth = max(max_depth, depth)
    assert max_depth <= 3  # SQLite refuses expressions nested 1000 deep; 3000 terms in a chain would be


def test_weights_are_rows_of_columns(tiny_dir, tmp_path):
    database = tmp_path / "x.sqlite"
    with load(tiny_dir, database) as gpt:
        schema = gpt.engine.schema
        C = gpt.config.n_embd
    conn = sqlite3.connect(database)
    columns = [c[1] for c in conn.execute(f"PRAGMA table_info({schema}__wte)")]
    assert columns == ["j"] + [f"w{k}" for k in range(C)]
    # The embedding row of token 7 is the checkpoint's, to float32 precision.
    params = sqlgpt.models.open_checkpoint(tiny_dir).params()
    row = conn.execute(f"SELECT * FROM {schema}__wte WHERE j = 7").fetchone()
    assert np.allclose(row[1:], params["wte.weight"][7], atol=0)
    conn.close()


def test_an_interrupted_install_leaves_nothing_behind(tiny_dir, tmp_path, monkeypatch):
    database = tmp_path / "x.sqlite"
    interrupt_third_table(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        load(tiny_dir, database)
    assert contents(database) == {}  # not even the catalogue
    monkeypatch.undo()
    with load(tiny_dir, database) as gpt:
        assert_matches_numpy(gpt, tiny_dir)


KILL_DURING_INSTALL = """
    import os, signal, sys
    import sqlgpt
    from sqlgpt.engines.sql import install

    directory, database = sys.argv[1:3]
    original, calls = install._install_table, []

    def counting(*args, **kwargs):
        original(*args, **kwargs)
        calls.append(1)
        if len(calls) == 5:
            os.kill(os.getpid(), signal.SIGKILL)

    install._install_table = counting
    sqlgpt.load(directory, engine="sqlite", database=database, progress=False)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_killed_install_is_rolled_back(tiny_dir, tmp_path):
    database = tmp_path / "x.sqlite"
    killed = subprocess.run([sys.executable, "-c", textwrap.dedent(KILL_DURING_INSTALL), str(tiny_dir), str(database)],
                            capture_output=True, text=True, timeout=180)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert contents(database) == {}  # the hot journal is rolled back on the next open
    with load(tiny_dir, database) as gpt:
        assert_matches_numpy(gpt, tiny_dir)


def test_reopening_reuses_the_install(tiny_dir, tmp_path, monkeypatch):
    database = tmp_path / "x.sqlite"
    load(tiny_dir, database).close()
    before = contents(database)
    monkeypatch.setattr(install_module, "install", lambda *a, **k: pytest.fail("installed again"))
    with load(tiny_dir, database) as gpt:
        assert_matches_numpy(gpt, tiny_dir)
    assert contents(database) == before


def test_hostile_prompts_never_enter_sql(tiny_dir, tmp_path):
    database = tmp_path / "x.sqlite"
    reference = sqlgpt.load(tiny_dir, engine="numpy")
    with load(tiny_dir, database) as gpt:
        before = contents(database)
        for prompt in hostile_prompts(gpt.engine.schema) + [f"'; DROP TABLE {gpt.engine.schema}__wte; --"]:
            ours = [p for _, p in gpt.next_token_probs(prompt, k=5)]
            theirs = [p for _, p in reference.next_token_probs(prompt, k=5)]
            assert np.allclose(ours, theirs, atol=1e-5), prompt
        with pytest.raises(SqlgptError, match="context window"):
            gpt.next_token_probs("'); DROP TABLE wte; --" * 10_000)
    assert contents(database) == before


def test_two_threads_on_one_engine(tiny_dir, tmp_path):
    reference = sqlgpt.load(tiny_dir, engine="numpy")
    expected = [generate(reference, prompt, seed) for prompt, seed in JOBS]
    with load(tiny_dir, tmp_path / "x.sqlite") as gpt:
        assert generate_in_threads(gpt) == expected


def test_in_memory_database_and_separate_sessions(tiny_dir):
    with sqlgpt.load(tiny_dir, engine="sqlite", database=":memory:", progress=False) as gpt:
        with gpt.engine.session() as a, gpt.engine.session() as b:
            first = a.forward(IDS[:5], all_logits=True)
            b.forward(IDS[5:], all_logits=True)  # another sequence in between
            rest = a.forward(IDS[5:], all_logits=True)
        whole = sqlgpt.load(tiny_dir, engine="numpy").logits(IDS)
        assert np.abs(np.concatenate([first, rest]) - whole).max() <= TOLERANCE


def test_keep_makes_the_tables_queryable(tiny_dir, tmp_path):
    database = tmp_path / "x.sqlite"
    with sqlgpt.load(tiny_dir, engine="sqlite", database=str(database), progress=False, inspect=True) as gpt:
        with gpt.engine.session() as session:
            session.forward(IDS, all_logits=True)
            kept = session.keep()
    assert "sqlgpt_inspect__attn0" in kept
    conn = sqlite3.connect(database)
    sums = conn.execute("SELECT pos, hd, sum(p), max(CASE WHEN kpos > pos THEN p END) FROM sqlgpt_inspect__attn0 "
                        "GROUP BY pos, hd").fetchall()
    assert len(sums) == len(IDS) * gpt.config.n_head
    assert all(abs(total - 1) < 1e-9 and later is None for _, _, total, later in sums)


def test_the_wide_layout_refuses_a_batched_step(tiny_dir):
    """Its tables have no sequence column, so a batched step (whose loss groups by sequence)
    cannot be written for it: the plan says so rather than write one that fails later."""
    from sqlgpt.engines.sql.databases import get_dialect
    from sqlgpt.engines.sql.layouts import LAYOUTS
    from sqlgpt.engines.sql.plan import Plan

    config = sqlgpt.load(tiny_dir, engine="numpy").config
    assert not LAYOUTS["wide"].batched
    with pytest.raises(ValueError, match="no batched step"):
        Plan(config, get_dialect("sqlite"), "m_0", batched=True)
