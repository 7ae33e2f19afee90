"""The PostgreSQL engine on a real server (pgserver: PostgreSQL 16 + pgvector): atomic
installs, hostile prompts, and concurrent generations on one database."""

from __future__ import annotations

import shutil
import threading

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
