"""The PostgreSQL engine on a real server (pgserver: PostgreSQL 16 + pgvector): atomic
installs, hostile prompts, and concurrent generations on one database."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np
import psycopg
import pytest

import sqlgpt
from sqlgpt.engines.sql import install
from sqlgpt.errors import SqlgptError

HOSTILE = ["'); DROP TABLE wte; --", "$$; DROP SCHEMA public CASCADE; $$", "\\\\'\\\"", "%s %(p1)s ?", "a\x00b",
           "\"; DELETE FROM sqlgpt_models; --", "<|endoftext|>", ""]


def snapshot(dsn: str, schema: str) -> dict:
    with psycopg.connect(dsn) as conn:
        catalogue = conn.execute("SELECT schema_name, fingerprint FROM sqlgpt_models ORDER BY 1").fetchall()
        tables = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1",
                              [schema]).fetchall()
        sums = {t: conn.execute(f"SELECT count(*), sum(inner_product(w, w)) FROM {schema}.{t}").fetchall()
                for (t,) in tables if t != "ln_f"}
    return {"catalogue": catalogue, "tables": tables, "sums": sums}


def test_hostile_prompts_are_only_parameters(tiny_dir, pg_dsn):
    with sqlgpt.load(tiny_dir, engine="postgres", dsn=pg_dsn) as gpt:
        reference = sqlgpt.load(tiny_dir, engine="numpy")
        before = snapshot(pg_dsn, gpt.engine.schema)
        for prompt in HOSTILE:
            got = gpt.generate(prompt, max_new_tokens=3, temperature=0)
            assert got == reference.generate(prompt, max_new_tokens=3, temperature=0)
        with pytest.raises(SqlgptError, match="context window"):
            gpt.next_token_probs("x" * 100_000)
        assert snapshot(pg_dsn, gpt.engine.schema) == before


def test_interrupted_install_leaves_nothing(tiny_dir, pg_dsn, tmp_path, monkeypatch):
    directory = tmp_path / "model"
    shutil.copytree(tiny_dir, directory)
    with open(directory / "config.json", "a") as f:
        f.write("\n")  # other bytes, so another fingerprint than the shared tiny install
    calls = []
    original = install._install_table

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(install, "_install_table", interrupted)
    with psycopg.connect(pg_dsn) as conn:
        schemas_before = conn.execute("SELECT nspname FROM pg_namespace ORDER BY 1").fetchall()
    with pytest.raises(KeyboardInterrupt):
        sqlgpt.load(directory, engine="postgres", dsn=pg_dsn)
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT nspname FROM pg_namespace ORDER BY 1").fetchall() == schemas_before
        sources = conn.execute("SELECT source FROM sqlgpt_models").fetchall()
        assert (str(directory.resolve()),) not in sources
    monkeypatch.setattr(install, "_install_table", original)
    with sqlgpt.load(directory, engine="postgres", dsn=pg_dsn) as gpt:
        expected = sqlgpt.load(directory, engine="numpy").logits([1, 2, 3])
        assert np.abs(gpt.logits([1, 2, 3]) - expected).max() <= 1e-4


def test_two_threads_generate_as_if_alone(tiny_dir, pg_dsn):
    with sqlgpt.load(tiny_dir, engine="postgres", dsn=pg_dsn) as gpt:
        jobs = [("the cat", 1), ("in the", 2)]
        alone = [gpt.generate(p, max_new_tokens=12, seed=s) for p, s in jobs]
        results: list = [None, None]
        barrier = threading.Barrier(2)

        def run(i: int) -> None:
            barrier.wait()
            results[i] = gpt.generate(jobs[i][0], max_new_tokens=12, seed=jobs[i][1])

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == alone


def test_unreachable_server_is_one_line(tiny_dir):
    with pytest.raises(SqlgptError, match="cannot connect to PostgreSQL") as info:
        sqlgpt.load(tiny_dir, engine="postgres", dsn="postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    assert "\n" not in str(info.value)


def test_a_lost_connection_is_one_line(tiny_dir, pg_dsn):
    with sqlgpt.load(tiny_dir, engine="postgres", dsn=pg_dsn) as gpt:
        session = gpt.engine.session()
        session.forward([1, 2])
        with psycopg.connect(pg_dsn, autocommit=True) as admin:  # the server drops this session's connection
            admin.execute("SELECT pg_terminate_backend(%s)", [session.cursor.info.backend_pid])
        with pytest.raises(SqlgptError, match="postgres failed") as info:
            session.forward([3])
        assert "\n" not in str(info.value)
        session.close()


# -- without pgvector: plain real[] arrays ------------------------------------------------------

DEBIAN_PG15 = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture(scope="module")
def pg15_without_pgvector():
    """Debian's PostgreSQL 15, which has no pgvector: a private server for these tests.
    initdb refuses root, so as root it runs as the `postgres` user."""
    if not (DEBIAN_PG15 / "initdb").exists():
        pytest.skip(f"needs Debian's PostgreSQL 15 binaries in {DEBIAN_PG15}")
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    home = Path(tempfile.mkdtemp(prefix="sqlgpt-pg15-"))
    if as_postgres:
        shutil.chown(home, "postgres")
    data, port = home / "data", _free_port()
    subprocess.run(as_postgres + [str(DEBIAN_PG15 / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
                   check=True, capture_output=True)
    subprocess.run(as_postgres + [str(DEBIAN_PG15 / "pg_ctl"), "-D", str(data), "-w", "-l", str(home / "log"), "-o",
                                  f"-p {port} -k {home} -c listen_addresses=''", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@/postgres?host={home}&port={port}"
    finally:
        subprocess.run(as_postgres + [str(DEBIAN_PG15 / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_without_pgvector_plain_arrays_match_and_say_so(tiny_dir, pg15_without_pgvector, hf_model, capsys):
    import torch

    with sqlgpt.load(tiny_dir, engine="postgres", dsn=pg15_without_pgvector) as gpt:
        assert "no pgvector" in capsys.readouterr().err  # it says which path is in use
        assert gpt.engine.dialect.pgvector is False
        ids = list(range(3, 40))
        with torch.no_grad():
            theirs = hf_model(tiny_dir)(torch.tensor([ids])).logits[0].numpy()
        assert np.abs(gpt.logits(ids) - theirs).max() <= 1e-4
        reference = sqlgpt.load(tiny_dir, engine="numpy")
        assert gpt.generate("the cat", max_new_tokens=15, seed=7) == reference.generate("the cat", max_new_tokens=15, seed=7)
    with pytest.raises(SqlgptError, match="pgvector was asked for") as info:
        sqlgpt.load(tiny_dir, engine="postgres", dsn=pg15_without_pgvector, pgvector=True)
    assert "\n" not in str(info.value)


def test_plain_arrays_can_be_chosen_where_pgvector_exists(tiny_dir, pg_dsn):
    reference = sqlgpt.load(tiny_dir, engine="numpy").logits([4, 5, 6, 7])
    with sqlgpt.load(tiny_dir, engine="postgres", dsn=pg_dsn, pgvector=False) as gpt:
        assert gpt.engine.dialect.vector_type == "real[]"
        assert np.abs(gpt.logits([4, 5, 6, 7]) - reference).max() <= 1e-4
