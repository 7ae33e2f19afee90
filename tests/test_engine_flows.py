"""Engine flows beyond DuckDB's: PostgreSQL with no connection string (a private pgserver that
stops with the process), reinstalling damaged weights on SQLite, PostgreSQL and Spark,
refusing non-identifier table names there, and SQLite's default database file.

The reference is always the NumPy engine (logits within 1e-4), or the database's own driver
for what is in the database.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import sqlgpt
from sqlgpt import SqlgptError
from sqlgpt.engines.sql import install as install_module

TOLERANCE = 1e-4
IDS = [5, 17, 42, 99, 3, 250, 7, 64]


def numpy_logits(directory) -> np.ndarray:
    return sqlgpt.load(directory, engine="numpy").logits(IDS)


def changed_copy(tiny_dir, tmp_path, blank_lines: int):
    """The tiny checkpoint with other bytes (blank lines after its config), so its install
    has a schema of its own: damaging it cannot touch the shared one other tests use."""
    directory = tmp_path / "model"
    shutil.copytree(tiny_dir, directory)
    with open(directory / "config.json", "a") as f:
        f.write("\n" * blank_lines)
    return directory


# -- PostgreSQL with no connection string --------------------------------------------------------

CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import platformdirs
    import psutil
    import sqlgpt
    from sqlgpt.engines.sql import install

    directory, ids, forbid_install = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3] == "1"
    if forbid_install:  # the second run must find the first run's install, not make another
        def refuse(*args, **kwargs):
            raise SystemExit("installed again")
        install.install = refuse
    gpt = sqlgpt.load(directory, engine="postgres", progress=False)
    reference = sqlgpt.load(directory, engine="numpy")
    diff = float(np.abs(gpt.logits(ids) - reference.logits(ids)).max())
    started, data = gpt.engine.conn.execute(
        "SELECT pg_postmaster_start_time()::text, current_setting('data_directory')").fetchone()
    # The server's processes while it runs: what must be gone once this process has exited.
    pids = [p.pid for p in psutil.process_iter(attrs=["name", "cmdline"])
            if p.info["name"] == "postgres" and any(data in arg for arg in p.info["cmdline"] or [])]
    gpt.close()
    print(json.dumps({"diff": diff, "cache": platformdirs.user_cache_dir("sqlgpt"), "started": started,
                      "data_directory": data, "pids": pids}))
""")


def postgres_processes(data_directory) -> list:
    """Running postgres processes whose command line names `data_directory`."""
    import psutil

    found = []
    for process in psutil.process_iter(attrs=["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and any(str(data_directory) in arg for arg in cmdline):
            found.append(process)
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG_CACHE_HOME is where the cache is on Linux")
def test_postgres_without_a_dsn_runs_a_private_server_that_stops_at_exit(tiny_dir, tmp_path):
    """No DSN: a private pgserver under the user cache directory, started without a warning on
    stderr, stopped when the process exits, and found again (with its installed model) by the
    next process."""
    pytest.importorskip("pgserver", reason="needs pgserver")
    cache = tmp_path / "cache"  # this test's own cache: no other test's server shares it
    # Without XDG_RUNTIME_DIR (root, containers), where pgserver's import makes platformdirs warn.
    env = {**{k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}, "XDG_CACHE_HOME": str(cache)}
    data = cache / "sqlgpt" / "postgres"

    def child(forbid_install: bool) -> dict:
        done = subprocess.run([sys.executable, "-c", CHILD, str(tiny_dir), json.dumps(IDS), str(int(forbid_install))],
                              capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""  # nothing but sqlgpt's own lines: no library's warnings
        return json.loads(done.stdout.strip().splitlines()[-1])

    first = child(False)
    assert first["cache"] == str(cache / "sqlgpt")
    assert first["diff"] <= TOLERANCE
    assert (data / "PG_VERSION").is_file()  # the server's data lives in the user cache directory
    assert os.path.samefile(first["data_directory"], data)
    # The README: the server is stopped when the process exits.
    assert first["pids"]  # (the scan does find the server while it runs)
    assert_stopped(first["pids"], data)

    second = child(True)  # the same data directory, and the model found installed there
    assert second["diff"] <= TOLERANCE
    assert os.path.samefile(second["data_directory"], data)
    assert second["started"] != first["started"]  # a fresh start: the first one had stopped
    assert_stopped(second["pids"], data)


def assert_stopped(pids: list[int], data) -> None:
    import psutil

    alive = []
    for pid in pids:
        try:
            process = psutil.Process(pid)
            # Not a new process that got its number, nor one that has exited and merely waits
            # for its parent (pg_ctl daemonizes it: the container's init) to reap it.
            if process.name() == "postgres" and process.status() != psutil.STATUS_ZOMBIE:
                alive.append((pid, process.cmdline(), process.status()))
        except psutil.NoSuchProcess:
            pass
    assert alive == [] and postgres_processes(data.resolve()) == []
    assert not (data / "postmaster.pid").exists()


# -- damaged weights are noticed and reinstalled --------------------------------------------------


def assert_reinstalled(load, directory, capsys, ids=IDS, again: bool = True) -> None:
    """Loading again says it reinstalls, and the logits are the NumPy engine's again; with
    `again`, the next load reuses that install silently."""
    capsys.readouterr()
    with load() as gpt:
        expected = sqlgpt.load(directory, engine="numpy").logits(ids)
        assert np.abs(gpt.logits(ids) - expected).max() <= TOLERANCE
    err = capsys.readouterr().err
    assert "reinstalling" in err and "incomplete" in err, err
    if again:
        load().close()
        assert "reinstalling" not in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["delete-rows", "drop-table"])
def test_sqlite_reinstalls_damaged_weights(damage, tiny_dir, tmp_path, capsys):
    """Rows deleted or a table dropped in SQLite: said on stderr, reinstalled, right again."""
    database = tmp_path / "models.sqlite"
    load = lambda: sqlgpt.load(tiny_dir, engine="sqlite", database=str(database), progress=False)  # noqa: E731
    with load() as gpt:
        schema = gpt.engine.schema
    with sqlite3.connect(database) as conn:
        if damage == "delete-rows":
            conn.execute(f"DELETE FROM {schema}__wte WHERE j % 2 = 0")
            assert conn.execute(f"SELECT count(*) FROM {schema}__wte").fetchone()[0] < 200
        else:
            conn.execute(f"DROP TABLE {schema}__h0_fc")
    assert_reinstalled(load, tiny_dir, capsys)
    with sqlite3.connect(database) as conn:
        assert conn.execute(f"SELECT count(*) FROM {schema}__wte").fetchone()[0] == 265
        assert conn.execute(f"SELECT count(*) FROM {schema}__h0_fc").fetchone()[0] == 4 * 32


@pytest.mark.parametrize("damage", ["delete-rows", "drop-table"])
def test_postgres_reinstalls_damaged_weights(damage, tiny_dir, tmp_path, pg_dsn, capsys):
    """The same on PostgreSQL."""
    import psycopg

    directory = changed_copy(tiny_dir, tmp_path, 11 if damage == "delete-rows" else 12)
    load = lambda: sqlgpt.load(directory, engine="postgres", dsn=pg_dsn, progress=False)  # noqa: E731
    with load() as gpt:
        schema = gpt.engine.schema
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        if damage == "delete-rows":
            conn.execute(f"DELETE FROM {schema}.wte WHERE j % 2 = 0")
        else:
            conn.execute(f"DROP TABLE {schema}.h0_fc")
    assert_reinstalled(load, directory, capsys)
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute(f"SELECT count(*) FROM {schema}.wte").fetchone()[0] == 265
        assert conn.execute(f"SELECT count(*) FROM {schema}.h0_fc").fetchone()[0] == 4 * 32


def test_spark_reinstalls_a_dropped_weight_table(tiny_dir, spark_session, capsys):
    """A weight table dropped in Spark: said on stderr, reinstalled, right again."""
    # Spark's plain tables have no DELETE: the damage is a table gone. Spark is slow (an
    # install or a forward pass takes seconds), so this damages the shared install, which
    # other Spark tests have made already and which the reinstall restores for them, and
    # checks one position's logits.
    load = lambda: sqlgpt.load(tiny_dir, engine="spark", session=spark_session, progress=False)  # noqa: E731
    with load() as gpt:
        schema = gpt.engine.schema
    whole = spark_session.sql(f"SELECT * FROM {schema}.h0_fc").collect()
    spark_session.sql(f"DROP TABLE {schema}.h0_fc")
    assert_reinstalled(load, tiny_dir, capsys, ids=IDS[:1], again=False)
    assert sorted(spark_session.sql(f"SELECT * FROM {schema}.h0_fc").collect()) == sorted(whole)
    with load():  # cached again while in use, though conftest's engine kept the model open all along
        assert spark_session.catalog.isCached(f"{schema}.h0_fc")


# -- table names that are not identifiers are refused, on every database -------------------------

VICTIM = "flows_victim"  # what the hostile names would drop
DOCS = "flows_docs"
HOSTILE = [f"{DOCS}; DROP TABLE {VICTIM}", "a b", '"q"', f"{DOCS} --", f"{DOCS}'"]


def refuse_every_hostile_name(gpt: sqlgpt.GPT) -> None:
    calls = []
    for bad in HOSTILE:
        calls += [
            lambda: gpt.score_table(bad, "body"),
            lambda: gpt.score_table(DOCS, bad),
            lambda: gpt.score_table(DOCS, "body", key=bad),
            lambda: gpt.score_table(DOCS, "body", into=bad),
            lambda: gpt.next_table(bad, "body"),
            lambda: gpt.next_table(DOCS, bad),
            lambda: gpt.next_table(DOCS, "body", key=bad),
            lambda: gpt.next_table(DOCS, "body", into=bad),
        ]
        for call in calls[-8:]:
            with pytest.raises(SqlgptError, match="identifier") as error:
                call()
            assert "\n" not in str(error.value)  # one line


def sqlite_contents(database) -> dict:
    with sqlite3.connect(database) as conn:
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")]
        return {"tables": names, DOCS: conn.execute(f"SELECT * FROM {DOCS} ORDER BY id").fetchall(),
                VICTIM: conn.execute(f"SELECT * FROM {VICTIM}").fetchall()}


def test_sqlite_refuses_names_that_are_not_identifiers(tiny_dir, tmp_path):
    """Hostile table/column/key/result names: one-line refusals, the file untouched."""
    database = tmp_path / "data.sqlite"
    with sqlite3.connect(database) as conn:
        conn.execute(f"CREATE TABLE {DOCS} (id INTEGER, body TEXT)")
        conn.executemany(f"INSERT INTO {DOCS} VALUES (?, ?)", [(0, "the cat"), (1, "a b")])
        conn.execute(f"CREATE TABLE {VICTIM} (x INTEGER)")
        conn.execute(f"INSERT INTO {VICTIM} VALUES (1)")
    with sqlgpt.load(tiny_dir, engine="sqlite", database=str(database), progress=False) as gpt:
        before = sqlite_contents(database)
        refuse_every_hostile_name(gpt)
        # The plain names work: the refusals were about the names, nothing else.
        gpt.next_table(DOCS, "body", key="id", k=1)
    after = sqlite_contents(database)
    assert after["tables"] == sorted(before["tables"] + ["sqlgpt_next"])
    assert after[DOCS] == before[DOCS] and after[VICTIM] == before[VICTIM] == [(1,)]


def test_postgres_refuses_names_that_are_not_identifiers(tiny_dir, pg_dsn):
    """The same on PostgreSQL."""
    import psycopg

    def contents() -> dict:
        with psycopg.connect(pg_dsn) as conn:
            tables = conn.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE "
                                  "table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2").fetchall()
            return {"tables": tables, DOCS: conn.execute(f"SELECT * FROM {DOCS} ORDER BY id").fetchall(),
                    VICTIM: conn.execute(f"SELECT * FROM {VICTIM}").fetchall()}

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {DOCS}; DROP TABLE IF EXISTS {VICTIM}")
        conn.execute(f"CREATE TABLE {DOCS} (id integer, body text)")
        conn.execute(f"INSERT INTO {DOCS} VALUES (0, 'the cat'), (1, 'a b')")
        conn.execute(f"CREATE TABLE {VICTIM} (x integer); INSERT INTO {VICTIM} VALUES (1)")
    try:
        with sqlgpt.load(tiny_dir, engine="postgres", dsn=pg_dsn, progress=False) as gpt:
            before = contents()
            refuse_every_hostile_name(gpt)
        after = contents()
        assert after == before and after[VICTIM] == [(1,)]
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {DOCS}; DROP TABLE IF EXISTS {VICTIM}")


def test_spark_refuses_names_that_are_not_identifiers(tiny_dir, spark_session):
    """The same on Spark."""
    def contents() -> dict:
        tables = sorted((t.database, t.name) for t in spark_session.catalog.listTables() if not t.isTemporary)
        return {"tables": tables, DOCS: sorted(tuple(r) for r in spark_session.table(DOCS).collect()),
                VICTIM: [tuple(r) for r in spark_session.table(VICTIM).collect()]}

    spark_session.createDataFrame([(0, "the cat"), (1, "a b")], "id INT, body STRING").write.saveAsTable(DOCS)
    spark_session.createDataFrame([(1,)], "x INT").write.saveAsTable(VICTIM)
    try:
        with sqlgpt.load(tiny_dir, engine="spark", session=spark_session, progress=False) as gpt:
            before = contents()
            refuse_every_hostile_name(gpt)
        after = contents()
        assert after == before and after[VICTIM] == [(1,)]
    finally:
        spark_session.sql(f"DROP TABLE IF EXISTS {DOCS}")
        spark_session.sql(f"DROP TABLE IF EXISTS {VICTIM}")


# -- SQLite's default database --------------------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG_CACHE_HOME is where the cache is on Linux")
def test_sqlite_default_database_is_in_the_user_cache(tiny_dir, tmp_path, monkeypatch):
    """No database given: models.sqlite in the user cache directory, listed in its catalogue."""
    cache = tmp_path / "cache"  # this test's own, so no other test's install is found there
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    expected = cache / "sqlgpt" / "models.sqlite"
    with sqlgpt.load(tiny_dir, engine="sqlite", progress=False) as gpt:
        assert os.path.samefile(gpt.engine.database, expected)
        assert np.abs(gpt.logits(IDS) - numpy_logits(tiny_dir)).max() <= TOLERANCE
        schema = gpt.engine.schema
    assert expected.is_file()
    with sqlite3.connect(expected) as conn:
        rows = conn.execute(f"SELECT schema_name, model, source FROM {install_module.CATALOGUE}").fetchall()
    assert rows == [(schema, tiny_dir.name, str(tiny_dir.resolve()))]
