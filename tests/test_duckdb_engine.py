"""The DuckDB engine's promises beyond correct logits (those are in test_engines.py).

    install       atomic (a killed or interrupted install leaves nothing behind, and a killed
                  re-install leaves the old install whole); reopening reads no weights; stale,
                  touched or damaged installs are noticed, said on stderr and redone
    concurrency   two threads on one engine, two processes on one file, and a clear "busy"
                  error when a process cannot get the database
    injection     hostile prompts (and a hostile catalogue) never become SQL
    sessions      each session's KV cache is its own and goes when the session ends
    databases     ':memory:', the default file under the user's cache directory, and one-line
                  errors for files that are not DuckDB databases

Everything runs on the tiny random-weight checkpoint, with the NumPy engine as the reference.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import duckdb
import numpy as np
import pytest

import sqlgpt
from sqlgpt import SqlgptError
from sqlgpt.checkpoint import Checkpoint
from sqlgpt.engines.sql import install as install_module

from .conftest import TINY_SHAPE, make_checkpoint

TOLERANCE = 1e-4  # max |logit difference| against the NumPy engine
IDS = [5, 17, 42, 99, 3, 250, 7, 64, 128, 11]  # token ids for logit checks
SUBPROCESS_TIMEOUT = 180


# -- helpers --------------------------------------------------------------------------------------


def load(directory: Path, database: Path | str) -> sqlgpt.GPT:
    return sqlgpt.load(directory, engine="duckdb", database=str(database), progress=False)


def numpy_logits(directory: Path, ids: list[int] = IDS) -> np.ndarray:
    return sqlgpt.load(directory, engine="numpy").logits(ids)


def assert_logits_match(gpt: sqlgpt.GPT, directory: Path) -> None:
    ours, reference = gpt.logits(IDS), numpy_logits(directory)
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).max() <= TOLERANCE


def copy_checkpoint(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def rewrite_weights(directory: Path, scratch: Path, seed: int) -> None:
    """Replace directory/model.safetensors with other random weights of the same shape."""
    other = make_checkpoint(scratch, seed=seed, **TINY_SHAPE)
    shutil.copyfile(other / "model.safetensors", directory / "model.safetensors")


@contextlib.contextmanager
def read_only(database: Path):
    conn = duckdb.connect(str(database), read_only=True)
    try:
        yield conn
    finally:
        conn.close()


def model_schemas(conn) -> list[str]:
    rows = conn.execute("SELECT DISTINCT schema_name FROM duckdb_schemas() WHERE starts_with(schema_name, 'm_')")
    return sorted(r[0] for r in rows.fetchall())


def model_tables(conn) -> list[tuple[str, str]]:
    rows = conn.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE starts_with(schema_name, 'm_')")
    return sorted(rows.fetchall())


def catalogue(conn) -> list[tuple]:
    """The catalogue's rows (none if the table does not exist)."""
    exists = conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'sqlgpt_models'").fetchone()[0]
    if not exists:
        return []
    return sorted(conn.execute("SELECT * FROM sqlgpt_models").fetchall(), key=repr)


def snapshot(conn) -> dict:
    """Every persistent table with its row count and an order-free checksum of its contents,
    the list sums of its vector columns, the schemas and the catalogue's rows."""
    tables = conn.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()
    out: dict = {"schemas": sorted(r[0] for r in conn.execute("SELECT schema_name FROM duckdb_schemas()").fetchall()),
                 "catalogue": catalogue(conn)}
    for schema, table in sorted(tables):
        columns = conn.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = ? AND table_name = ?", [schema, table]
        ).fetchall()
        sums = [f"sum(list_sum({name}))" for name, kind in columns if kind.endswith("[]")]
        query = f'SELECT count(*), sum(hash(x)){"".join(", " + s for s in sums)} FROM "{schema}"."{table}" x'
        out[(schema, table)] = conn.execute(query).fetchone()
    return out


def run_python(code: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)], capture_output=True,
                          text=True, timeout=SUBPROCESS_TIMEOUT, **kwargs)


def run_cli(*args: str, cache: Path) -> subprocess.CompletedProcess:
    """The `sqlgpt` command with its default database under `cache` (XDG_CACHE_HOME)."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    return subprocess.run([sys.executable, "-m", "sqlgpt", *args], capture_output=True, text=True,
                          timeout=SUBPROCESS_TIMEOUT, env=env)


def assert_one_clean_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def default_database(cache: Path) -> Path:
    return cache / "sqlgpt" / "models.duckdb"


# -- install: atomic --------------------------------------------------------------------------------

needs_sigkill = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")

# Loads a model, killing the process (no cleanup, no rollback) after the N-th weight table was
# inserted, or at the COMMIT itself (everything written, nothing committed).
KILL_DURING_INSTALL = """
    import os, signal, sys
    import sqlgpt
    from sqlgpt.engines.sql import install
    from sqlgpt.engines.sql.drivers.duckdb import DuckDBDriver

    directory, database, when = sys.argv[1:4]

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    if when == "commit":
        DuckDBDriver.commit = lambda self, conn: die()
    else:
        original, calls = install._install_table, []

        def counting(*args, **kwargs):
            original(*args, **kwargs)
            calls.append(1)
            if len(calls) == int(when):
                die()

        install._install_table = counting
    sqlgpt.load(directory, engine="duckdb", database=database, progress=False)
    print("the install finished: the kill never came")
"""


@needs_sigkill
@pytest.mark.parametrize("when", ["1", "5", "commit"])
def test_a_killed_install_leaves_nothing_and_the_next_load_installs(tiny_dir, tmp_path, when):
    database = tmp_path / "x.duckdb"
    killed = run_python(KILL_DURING_INSTALL, tiny_dir, database, when)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert database.exists()  # the install had begun writing the file

    with read_only(database) as conn:  # nothing half-written survives
        assert model_schemas(conn) == []
        assert model_tables(conn) == []
        assert catalogue(conn) == []

    with load(tiny_dir, database) as gpt:
        assert_logits_match(gpt, tiny_dir)
    with read_only(database) as conn:
        rows = catalogue(conn)
        assert len(rows) == 1
        assert model_schemas(conn) == [rows[0][0]]


@needs_sigkill
def test_a_killed_reinstall_keeps_the_old_install_whole(tiny_dir, tmp_path):
    directory = copy_checkpoint(tiny_dir, tmp_path / "model")
    database = tmp_path / "x.duckdb"
    with load(directory, database) as gpt:
        old_schema = gpt.engine.schema
    with read_only(database) as conn:
        before = snapshot(conn)

    rewrite_weights(directory, tmp_path / "other", seed=1)  # now the install is stale
    killed = run_python(KILL_DURING_INSTALL, directory, database, "3")
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert "reinstalling" in killed.stderr  # it really was replacing the old install

    with read_only(database) as conn:  # the old install, whole: the drop was rolled back too
        assert snapshot(conn) == before
        assert model_schemas(conn) == [old_schema]

    with load(directory, database) as gpt:  # and the next load replaces it
        assert gpt.engine.schema != old_schema
        assert_logits_match(gpt, directory)
    with read_only(database) as conn:
        assert len(catalogue(conn)) == 1
        assert model_schemas(conn) == [catalogue(conn)[0][0]]


def interrupt_third_table(monkeypatch) -> None:
    original, calls = install_module._install_table, []

    def interrupting(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        original(*args, **kwargs)

    monkeypatch.setattr(install_module, "_install_table", interrupting)


def test_an_interrupted_install_leaves_nothing_behind(tiny_dir, tmp_path, monkeypatch):
    database = tmp_path / "x.duckdb"
    interrupt_third_table(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        load(tiny_dir, database)
    # Drop the traceback (and with it the failed engine's connection: see the next test), so
    # that this process may open the file read-only.
    gc.collect()
    with read_only(database) as conn:
        assert model_schemas(conn) == []
        assert model_tables(conn) == []
        assert catalogue(conn) == []

    monkeypatch.undo()
    with load(tiny_dir, database) as gpt:
        assert_logits_match(gpt, tiny_dir)
    with read_only(database) as conn:
        assert len(catalogue(conn)) == 1


def test_a_failed_load_releases_the_database(tiny_dir, tmp_path, monkeypatch):
    """After Ctrl-C during an install, trying again must work even while the exception is
    still around (a REPL keeps it as sys.last_traceback; here pytest's excinfo does)."""
    database = tmp_path / "x.duckdb"
    interrupt_third_table(monkeypatch)
    with pytest.raises(KeyboardInterrupt) as interrupted:
        load(tiny_dir, database)
    monkeypatch.undo()
    with load(tiny_dir, database) as gpt:
        assert_logits_match(gpt, tiny_dir)
    assert interrupted.value is not None


# -- install: found again, without reading weights --------------------------------------------------


def forbid_reading_weights(monkeypatch) -> None:
    def forbidden(self, *args, **kwargs):
        raise AssertionError("read the checkpoint's weights")

    monkeypatch.setattr(Checkpoint, "params", forbidden)
    monkeypatch.setattr(Checkpoint, "fingerprint", forbidden)


def test_reopening_reads_no_weights(tiny_dir, tmp_path, monkeypatch, capsys):
    database = tmp_path / "x.duckdb"
    expected = sqlgpt.load(tiny_dir, engine="numpy").generate("the cat", max_new_tokens=10, temperature=0.8, seed=4)
    load(tiny_dir, database).close()
    capsys.readouterr()

    forbid_reading_weights(monkeypatch)
    with load(tiny_dir, database) as gpt:
        assert gpt.generate("the cat", max_new_tokens=10, temperature=0.8, seed=4) == expected
        assert gpt.logits(IDS).shape == (len(IDS), gpt.config.vocab_size)
    assert capsys.readouterr().err == ""


def test_an_engine_that_installed_does_not_hold_the_database_for_writing(tiny_dir, tmp_path):
    """Once the install has committed, the database is only read: loading it again in the same
    process (or in another process) must work while the first engine is still open."""
    database = tmp_path / "x.duckdb"
    with load(tiny_dir, database) as first:
        with load(tiny_dir, database) as second:
            assert second.engine.schema == first.engine.schema
            assert_logits_match(second, tiny_dir)


def test_touched_files_are_hashed_once_not_on_every_load(tiny_dir, tmp_path, monkeypatch, capsys):
    directory = copy_checkpoint(tiny_dir, tmp_path / "model")
    database = tmp_path / "x.duckdb"
    load(directory, database).close()
    weights = directory / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched: same bytes, new mtime

    with load(directory, database) as gpt:  # the same content: reused, silently
        assert_logits_match(gpt, directory)
    assert capsys.readouterr().err == ""
    with read_only(database) as conn:
        assert len(catalogue(conn)) == 1

    forbid_reading_weights(monkeypatch)  # now the catalogue knows the touched files
    with load(directory, database) as gpt:
        assert gpt.logits(IDS).shape == (len(IDS), gpt.config.vocab_size)


# -- install: stale or damaged installs are noticed and said ----------------------------------------


def test_changed_weights_are_reinstalled_and_said(tiny_dir, tmp_path, capsys):
    directory = copy_checkpoint(tiny_dir, tmp_path / "model")
    database = tmp_path / "x.duckdb"
    with load(directory, database) as gpt:
        old_schema = gpt.engine.schema
        old_logits = gpt.logits(IDS)
    rewrite_weights(directory, tmp_path / "other", seed=1)
    new_reference = numpy_logits(directory)
    assert np.abs(new_reference - old_logits).max() > 0.1  # the new weights really are different
    capsys.readouterr()

    with load(directory, database) as gpt:
        new_schema = gpt.engine.schema
        assert np.abs(gpt.logits(IDS) - new_reference).max() <= TOLERANCE
    err = capsys.readouterr().err
    assert "reinstalling" in err and "changed" in err
    assert new_schema != old_schema

    with read_only(database) as conn:
        rows = catalogue(conn)
        assert [row[0] for row in rows] == [new_schema]  # one row for this directory, the new one
        assert model_schemas(conn) == [new_schema]  # the old tables are gone

    with load(directory, database) as gpt:  # and now it is current: reused, silently
        assert gpt.engine.schema == new_schema
    assert capsys.readouterr().err == ""


def test_installs_of_other_directories_are_kept(tiny_dir, tmp_path, capsys):
    """Two models side by side in one database, one directory's name a prefix of the other's
    (gpt and gpt-ft): installing one must not count as a change of the other."""
    base = copy_checkpoint(tiny_dir, tmp_path / "gpt")
    tuned = copy_checkpoint(tiny_dir, tmp_path / "gpt-ft")
    rewrite_weights(tuned, tmp_path / "other", seed=2)
    database = tmp_path / "x.duckdb"
    with load(tuned, database) as gpt:
        tuned_schema = gpt.engine.schema
    capsys.readouterr()

    with load(base, database) as gpt:
        base_schema = gpt.engine.schema
    assert "reinstalling" not in capsys.readouterr().err
    with read_only(database) as conn:
        assert sorted(row[0] for row in catalogue(conn)) == sorted([tuned_schema, base_schema])
        assert model_schemas(conn) == sorted([tuned_schema, base_schema])


def drop_a_weight_table(conn, schema: str) -> None:
    tables = [t for s, t in model_tables(conn) if s == schema]
    victim = "h0_fc" if "h0_fc" in tables else tables[len(tables) // 2]
    conn.execute(f"DROP TABLE {schema}.{victim}")


def delete_some_rows(conn, schema: str) -> None:
    tables = [t for s, t in model_tables(conn) if s == schema]
    victim = "wte" if "wte" in tables else tables[0]
    conn.execute(f"DELETE FROM {schema}.{victim} WHERE rowid % 2 = 0")


@pytest.mark.parametrize("damage", [drop_a_weight_table, delete_some_rows], ids=["dropped-table", "deleted-rows"])
def test_a_damaged_install_is_said_and_redone(tiny_dir, tmp_path, capsys, damage):
    database = tmp_path / "x.duckdb"
    with load(tiny_dir, database) as gpt:
        schema = gpt.engine.schema
    conn = duckdb.connect(str(database))
    try:
        damage(conn, schema)
    finally:
        conn.close()
    capsys.readouterr()

    with load(tiny_dir, database) as gpt:
        assert gpt.engine.schema == schema
        assert_logits_match(gpt, tiny_dir)
    assert "incomplete" in capsys.readouterr().err

    with load(tiny_dir, database):  # repaired: reused, silently
        pass
    assert capsys.readouterr().err == ""
    with read_only(database) as conn:
        assert len(catalogue(conn)) == 1


# -- concurrency --------------------------------------------------------------------------------------

JOBS = [("the cat sat", 1), ("SQL is", 2)]  # (prompt, seed)


def generate(gpt: sqlgpt.GPT, prompt: str, seed: int) -> str:
    return gpt.generate(prompt, max_new_tokens=20, temperature=0.8, seed=seed)


def test_two_threads_on_one_engine(tiny_dir, tmp_path):
    reference = sqlgpt.load(tiny_dir, engine="numpy")
    expected = [generate(reference, prompt, seed) for prompt, seed in JOBS]
    with load(tiny_dir, tmp_path / "x.duckdb") as gpt:
        assert [generate(gpt, prompt, seed) for prompt, seed in JOBS] == expected  # one at a time

        assert generate_in_threads(gpt) == expected


def generate_in_threads(gpt: sqlgpt.GPT) -> list[str | None]:
    """Every job of JOBS at once, each on its own thread; their texts (errors re-raised)."""
    barrier = threading.Barrier(len(JOBS))
    results: list[str | None] = [None] * len(JOBS)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[i] = generate(gpt, *JOBS[i])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(JOBS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=SUBPROCESS_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    if errors:
        raise errors[0]
    return results


# Loads, says "ready", waits for the go (so that both processes have the file open at once),
# then generates and prints the text as JSON.
GENERATE_WHEN_TOLD = """
    import json, sys
    import sqlgpt

    directory, database, prompt, seed = sys.argv[1:5]
    gpt = sqlgpt.load(directory, engine="duckdb", database=database, progress=False)
    print("ready", flush=True)
    sys.stdin.readline()
    print(json.dumps(gpt.generate(prompt, max_new_tokens=20, temperature=0.8, seed=int(seed))), flush=True)
"""


def test_two_processes_on_one_database(tiny_dir, tmp_path):
    database = tmp_path / "x.duckdb"
    with load(tiny_dir, database) as gpt:
        expected = [generate(gpt, prompt, seed) for prompt, seed in JOBS]

    processes = [
        subprocess.Popen([sys.executable, "-c", textwrap.dedent(GENERATE_WHEN_TOLD), str(tiny_dir), str(database),
                          prompt, str(seed)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for prompt, seed in JOBS
    ]
    try:
        for process in processes:  # both have the database open before either generates
            line = process.stdout.readline()
            if line != "ready\n":
                process.wait(timeout=SUBPROCESS_TIMEOUT)
                pytest.fail(f"a reader failed to load: {line}{process.stdout.read()}{process.stderr.read()}")
        outputs = []
        for process in processes:
            process.stdin.write("go\n")
            process.stdin.flush()
        for process in processes:
            out, err = process.communicate(timeout=SUBPROCESS_TIMEOUT)
            assert process.returncode == 0, err
            outputs.append(json.loads(out))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert outputs == expected


@pytest.mark.parametrize("holder", ["reader", "writer"])
def test_a_database_held_by_another_process_is_busy_in_one_line(tiny_dir, tmp_path, holder):
    """DuckDB allows one writer or many readers, across processes. A reader elsewhere blocks an
    install here; a writer elsewhere blocks even reading. Either is one line saying "busy"."""
    cache = tmp_path / "cache"
    database = default_database(cache)
    database.parent.mkdir(parents=True)
    if holder == "reader":
        duckdb.connect(str(database)).close()  # an existing database without the model: must install
    else:
        load(tiny_dir, database).close()  # the model installed: only needs to read
    held = duckdb.connect(str(database), read_only=holder == "reader")
    try:
        result = run_cli("next", "hi", "--model", str(tiny_dir), "--engine", "duckdb", cache=cache)
    finally:
        held.close()
    assert result.returncode == 2, result.stdout + result.stderr
    line = assert_one_clean_line(result.stderr)
    assert line.startswith("sqlgpt: error:") and "busy" in line and str(database) in line
    assert result.stdout == ""

    result = run_cli("next", "hi", "--model", str(tiny_dir), "--engine", "duckdb", cache=cache)  # released: works
    assert result.returncode == 0, result.stderr


# -- hostile input never becomes SQL ------------------------------------------------------------------


def hostile_prompts(schema: str) -> list[str]:
    return [
        "'); DROP TABLE wte; --",
        f"'; DROP TABLE {schema}.wte; --",
        f'"; DROP SCHEMA {schema} CASCADE; --',
        "$$; DROP SCHEMA x CASCADE; $$",
        f"); DELETE FROM {schema}.wte; SELECT (",
        "'); DELETE FROM sqlgpt_models; --",
        "\\", "\\'", '\\"', "\\\\'; --", "'", "''", '"', "`", "‘’‚‛“”„«»‹›´`", "'\"`",
        "? $1 $2 ?1 :name %s %(x)s {0}",
        "\x00", "a\x00'; DROP TABLE wte; --\x00",
        "<|endoftext|>",
        "",
        "é 🙂 ÿ \u200b \r\n\t",
    ]


def test_hostile_prompts_never_enter_sql(tiny_dir, tmp_path):
    database = tmp_path / "x.duckdb"
    reference = sqlgpt.load(tiny_dir, engine="numpy")
    with load(tiny_dir, database) as gpt:  # this engine installed: its connection may write
        schema = gpt.engine.schema
        before = snapshot(gpt.engine.conn)
        weights = [counts for key, counts in before.items() if isinstance(key, tuple) and key[0] == schema]
        assert weights and all(counts[0] > 0 for counts in weights)
        for prompt in hostile_prompts(schema):
            assert len(gpt.tokenizer.encode(prompt)) + 2 <= gpt.config.block_size  # fits: really runs
            ours = [p for _, p in gpt.next_token_probs(prompt, k=5)]
            theirs = [p for _, p in reference.next_token_probs(prompt, k=5)]
            assert np.allclose(ours, theirs, atol=1e-5), prompt
            assert gpt.generate(prompt, max_new_tokens=2, seed=0) == reference.generate(prompt, max_new_tokens=2, seed=0)

        huge = ("'); DROP TABLE wte; -- \\ \" ` $$ \x00 " * 4000)[:100_000]
        assert len(huge) == 100_000
        for call in (lambda: gpt.next_token_probs(huge), lambda: gpt.generate(huge, max_new_tokens=2)):
            with pytest.raises(SqlgptError, match="context window") as error:
                call()
            assert "\n" not in str(error.value)

        assert snapshot(gpt.engine.conn) == before
    with read_only(database) as conn:  # and what is on disk
        assert snapshot(conn) == before


def test_a_hostile_catalogue_never_enters_sql(tiny_dir, tmp_path, capsys):
    """The catalogue is read from the database file, which may come from anywhere: a schema
    name in it is data, not SQL. A row whose schema name is not one sqlgpt makes (m_ and 16
    hex digits) is ignored: not trusted as an install, not dropped as an older one, left as
    it was; the reinstall goes ahead and replaces only the real older install."""
    directory = copy_checkpoint(tiny_dir, tmp_path / "model")
    database = tmp_path / "x.duckdb"
    with load(directory, database) as gpt:
        old_schema = gpt.engine.schema
    hostile = "m_0; CREATE TABLE main.pwned(a INT); --"
    conn = duckdb.connect(str(database))
    try:  # a row that claims to be an older install of this directory, with a hostile name
        conn.execute(
            "INSERT INTO sqlgpt_models (schema_name, model, source, source_key, fingerprint, config, format_version,"
            " installed_at) SELECT ?, model, source, ?, 'f', config, format_version, installed_at FROM sqlgpt_models",
            [hostile, f"{directory.resolve()}/config.json:1:1"],
        )
        hostile_rows = [row for row in catalogue(conn) if row[0] == hostile]
    finally:
        conn.close()
    assert len(hostile_rows) == 1
    rewrite_weights(directory, tmp_path / "other", seed=3)  # a reinstall that replaces "older" installs
    capsys.readouterr()

    with load(directory, database) as gpt:  # not refused: the hostile row is not an install
        new_schema = gpt.engine.schema
        assert_logits_match(gpt, directory)
    assert "reinstalling" in capsys.readouterr().err  # the real older install was noticed
    with read_only(database) as conn:
        tables = [t for (t,) in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        rows = catalogue(conn)
        schemas = model_schemas(conn)
    assert "pwned" not in tables
    assert new_schema != old_schema and schemas == [new_schema]  # the old install dropped, by its own name
    assert sorted(row[0] for row in rows) == sorted([new_schema, hostile])
    assert [row for row in rows if row[0] == hostile] == hostile_rows  # ignored: neither run nor deleted


# -- sessions: the KV cache belongs to the session -------------------------------------------------


def temporary_tables(cursor) -> list[str]:
    return sorted(t for (t,) in cursor.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall())


def record_sessions(gpt: sqlgpt.GPT, monkeypatch) -> list:
    """The raw DuckDB cursor of every session the engine opens from now on."""
    cursors = []
    original = gpt.engine.session

    def recording():
        session = original()
        cursors.append(session.cursor)
        return session

    monkeypatch.setattr(gpt.engine, "session", recording)
    return cursors


def assert_closed(cursor) -> None:
    """A closed connection: its temporary tables — the KV cache — went with it."""
    with pytest.raises(duckdb.Error):
        cursor.execute("SELECT 1")


def test_sessions_do_not_share_a_kv_cache(tiny_dir, tmp_path):
    a_ids, b_ids = IDS, [200, 1, 2, 3, 4, 5]
    with load(tiny_dir, tmp_path / "x.duckdb") as gpt:
        reference = sqlgpt.load(tiny_dir, engine="numpy")
        with gpt.session() as a, gpt.session() as b:  # interleaved, step by step
            a_logits = [a.forward(a_ids[:4], all_logits=True)]
            b_logits = [b.forward(b_ids[:3], all_logits=True)]
            a_logits.append(a.forward(a_ids[4:], all_logits=True))
            b_logits.append(b.forward(b_ids[3:], all_logits=True))
            assert temporary_tables(a.cursor) and temporary_tables(a.cursor) == temporary_tables(b.cursor)
            assert temporary_tables(gpt.engine.conn) == []  # not the engine's: each session's own
        for ours, ids in ((a_logits, a_ids), (b_logits, b_ids)):
            assert np.abs(np.concatenate(ours) - reference.logits(ids)).max() <= TOLERANCE


def test_a_finished_generation_drops_its_kv_cache(tiny_dir, tmp_path, monkeypatch):
    with load(tiny_dir, tmp_path / "x.duckdb") as gpt:
        cursors = record_sessions(gpt, monkeypatch)
        gpt.generate("the cat", max_new_tokens=5, seed=0)
        gpt.next_token_probs("the cat")
        gpt.logits(IDS)
        gpt.score("the cat sat on the mat")
        assert len(cursors) >= 4
        for cursor in cursors:
            assert_closed(cursor)

        cursors.clear()  # a stream abandoned midway
        pieces = gpt.stream("the cat", max_new_tokens=30, temperature=0, seed=0)
        next(pieces)
        (cursor,) = cursors
        assert temporary_tables(cursor)  # the cache exists while the stream runs
        pieces.close()
        assert_closed(cursor)
        assert temporary_tables(gpt.engine.conn) == []


def test_a_closed_session_is_not_reusable(tiny_dir, tmp_path):
    """Using a session after close is a one-line SqlgptError saying it is closed (not the
    driver's error about a closed connection, and never logits), and the engine goes on."""
    with load(tiny_dir, tmp_path / "x.duckdb") as gpt:
        session = gpt.session()
        session.forward(IDS[:3])
        cursor = session.cursor
        session.close()
        session.close()  # safe twice
        assert_closed(cursor)
        with pytest.raises(SqlgptError) as error:  # the library's own one-line error, not a driver's
            session.forward(IDS[3:4])
        message = str(error.value)
        assert "session" in message and "closed" in message and "\n" not in message
        with gpt.session() as fresh:  # the engine itself goes on
            assert np.abs(fresh.forward(IDS, all_logits=True) - numpy_logits(tiny_dir)).max() <= TOLERANCE


# -- databases: in memory, the default file, files that are not databases ---------------------------


def test_in_memory_database(tiny_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with load(tiny_dir, ":memory:") as gpt:
        assert_logits_match(gpt, tiny_dir)
        with gpt.session() as a, gpt.session() as b:  # sessions see the same in-memory weights
            a.forward(IDS[:2])
            b.forward(IDS[:5])
        assert gpt.generate("the cat", max_new_tokens=5, seed=0) == \
            sqlgpt.load(tiny_dir, engine="numpy").generate("the cat", max_new_tokens=5, seed=0)
    assert list(tmp_path.iterdir()) == []  # no file called ':memory:', nothing else either


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG_CACHE_HOME is the cache directory on Linux")
def test_the_default_database_is_in_the_user_cache_dir(tiny_dir, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    expected = default_database(cache)
    with sqlgpt.load(tiny_dir, engine="duckdb", progress=False) as gpt:
        assert Path(gpt.engine.database) == expected
        assert_logits_match(gpt, tiny_dir)
    assert expected.is_file()
    with read_only(expected) as conn:
        assert len(catalogue(conn)) == 1


def test_a_corrupt_database_file_is_one_line(tiny_dir, tmp_path):
    database = tmp_path / "x.duckdb"
    garbage = np.random.default_rng(0).bytes(64 * 1024)
    database.write_bytes(garbage)
    with pytest.raises(SqlgptError) as error:
        load(tiny_dir, database)
    message = str(error.value)
    assert "\n" not in message and str(database) in message
    assert error.value.__cause__ is None and error.value.__suppress_context__
    assert database.read_bytes() == garbage  # not overwritten, not "repaired"

    cache = tmp_path / "cache"  # the same through the command, with the default database
    default_database(cache).parent.mkdir(parents=True)
    default_database(cache).write_bytes(garbage)
    result = run_cli("next", "hi", "--model", str(tiny_dir), "--engine", "duckdb", cache=cache)
    assert result.returncode == 2
    line = assert_one_clean_line(result.stderr)
    assert line.startswith("sqlgpt: error:") and str(default_database(cache)) in line


@pytest.mark.parametrize("kind", ["missing-directory", "directory", "empty-file"])
def test_other_unusable_paths_are_one_line(tiny_dir, tmp_path, kind):
    database = tmp_path / "x.duckdb"
    if kind == "missing-directory":
        database = tmp_path / "no" / "such" / "x.duckdb"
    elif kind == "directory":
        database.mkdir()
    else:
        database.write_bytes(b"")
    with pytest.raises(SqlgptError) as error:
        load(tiny_dir, database)
    assert "\n" not in str(error.value) and str(database) in str(error.value)
