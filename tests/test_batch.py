"""Scoring a table inside its database (`GPT.score_table`, `sqlgpt score --table`): every
row agrees with `GPT.score` on the NumPy engine, the result table appears whole or not at
all, and table/column names are identifiers or nothing."""

from __future__ import annotations

import math
import sqlite3

import duckdb
import numpy as np
import pytest

import sqlgpt
from sqlgpt import SqlgptError
from sqlgpt.cli import main

WORDS = "the cat sat on mat dog ran far away SQL is fun ' \" ; -- DROP TABLE é 🙂".split()


def texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(1, 14))) for _ in range(n)]


def make_duckdb_table(database, rows: list[str | None]) -> None:
    with duckdb.connect(str(database)) as conn:
        conn.execute("CREATE TABLE docs (id INTEGER, body VARCHAR)")
        conn.executemany("INSERT INTO docs VALUES (?, ?)", list(enumerate(rows)))


def scores(conn, table: str = "sqlgpt_scores") -> dict:
    return {row[0]: row[1:] for row in conn.execute(f"SELECT * FROM {table}").fetchall()}


def test_a_thousand_rows_on_duckdb_agree_with_score(tiny_dir, tmp_path):
    database = tmp_path / "data.duckdb"
    # ...and three longer than the context window (64 tokens), scored in overlapping windows.
    rows = texts(997) + [" ".join(texts(30, seed=s)) for s in (7, 8, 9)]
    make_duckdb_table(database, rows)
    reference = sqlgpt.load(tiny_dir, engine="numpy")
    with sqlgpt.load(tiny_dir, engine="duckdb", database=str(database), progress=False) as gpt:
        summary = gpt.score_table("docs", "body", key="id")
    with duckdb.connect(str(database), read_only=True) as conn:
        got = scores(conn)
    assert summary.rows == len(got) == 1000
    assert reference.score(rows[-1]).n_tokens > 3 * 64
    total = 0.0
    for i, text in enumerate(rows):
        expected = reference.score(text)
        tokens, loss, perplexity = got[i]
        assert tokens == expected.n_tokens
        assert abs(loss - expected.loss) <= 1e-5 and abs(perplexity - expected.perplexity) <= 1e-3 * expected.perplexity
        total += expected.loss * expected.n_tokens
    assert summary.n_tokens == sum(v[0] for v in got.values())
    assert abs(summary.loss - total / summary.n_tokens) <= 1e-6


@pytest.mark.parametrize("engine", ["postgres", "sqlite"])
def test_other_databases(engine, tiny_dir, tmp_path, request):
    rows = texts(12, seed=1) + [None, ""]
    if engine == "postgres":
        import psycopg

        dsn = request.getfixturevalue("pg_dsn")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS docs; DROP TABLE IF EXISTS sqlgpt_scores")
            conn.execute("CREATE TABLE docs (id integer, body text)")
            conn.cursor().executemany("INSERT INTO docs VALUES (%s, %s)", list(enumerate(rows)))
        options = {"dsn": dsn}
        connect = lambda: psycopg.connect(dsn)  # noqa: E731
    else:
        database = tmp_path / "data.sqlite"
        with sqlite3.connect(database) as conn:
            conn.execute("CREATE TABLE docs (id INTEGER, body TEXT)")
            conn.executemany("INSERT INTO docs VALUES (?, ?)", list(enumerate(rows)))
        options = {"database": str(database)}
        connect = lambda: sqlite3.connect(database)  # noqa: E731
    reference = sqlgpt.load(tiny_dir, engine="numpy")
    with sqlgpt.load(tiny_dir, engine=engine, progress=False, **options) as gpt:
        gpt.score_table("docs", "body", key="id")
        gpt.next_table("docs", "body", key="id", k=2, replace=True)
    conn = connect()
    got = scores(conn)
    ranked = conn.execute("SELECT id, piece, probability FROM sqlgpt_next ORDER BY id, rank").fetchall()
    conn.close()
    for i, text in enumerate(rows):
        expected = reference.next_token_probs(text, k=2) if text is not None else []
        mine = [(piece, p) for j, piece, p in ranked if j == i]
        assert [piece for piece, _ in mine] == [piece for piece, _ in expected]
        assert np.allclose([p for _, p in mine], [p for _, p in expected], atol=1e-6)
        if not text:  # nothing to predict: no loss
            assert got[i] == (None if text is None else 0, None, None)
            continue
        assert got[i][0] == reference.score(text).n_tokens
        assert math.isclose(got[i][1], reference.score(text).loss, abs_tol=1e-5)


@pytest.mark.parametrize("bad", ["docs; DROP TABLE docs", "docs--", "a.b.c", "", "do cs", "\"docs\"", "docs'"])
def test_names_must_be_identifiers(bad, tiny_dir, tmp_path):
    database = tmp_path / "data.duckdb"
    make_duckdb_table(database, ["a b c"])
    with sqlgpt.load(tiny_dir, engine="duckdb", database=str(database), progress=False) as gpt:
        for call in (lambda: gpt.score_table(bad, "body"), lambda: gpt.score_table("docs", bad),
                     lambda: gpt.score_table("docs", "body", key=bad), lambda: gpt.score_table("docs", "body", into=bad)):
            with pytest.raises(SqlgptError, match="identifier"):
                call()
    with duckdb.connect(str(database), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM docs").fetchone() == (1,)


def test_an_interrupted_run_writes_nothing_and_existing_results_are_kept(tiny_dir, tmp_path, monkeypatch):
    database = tmp_path / "data.duckdb"
    make_duckdb_table(database, texts(20))
    with sqlgpt.load(tiny_dir, engine="duckdb", database=str(database), progress=False) as gpt:
        with pytest.raises(SqlgptError, match="must not be the table being read"):
            gpt.score_table("docs", "body", into="docs")
        monkeypatch.setattr(gpt.engine, "batch_tokens", 50)  # several passes over the rows
        calls = []
        original = gpt.engine.nll_many

        def interrupted(*args, **kwargs):
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return original(*args, **kwargs)

        monkeypatch.setattr(gpt.engine, "nll_many", interrupted)
        with pytest.raises(KeyboardInterrupt):
            gpt.score_table("docs", "body", key="id")
        assert not gpt.engine.dialect.table_exists(gpt.engine.conn, None, "sqlgpt_scores")
        monkeypatch.undo()
        gpt.score_table("docs", "body", key="id")
        with pytest.raises(SqlgptError, match="already exists"):
            gpt.score_table("docs", "body", key="id")
        gpt.score_table("docs", "body", key="id", replace=True)


def test_errors_are_one_line(tiny_dir, tmp_path, capsys):
    database = tmp_path / "data.duckdb"
    make_duckdb_table(database, ["a b"])
    base = ["--model", str(tiny_dir), "--database", str(database)]
    for args, message in [(["score", "--table", "nope", "--column", "body"], "no table nope"),
                          (["score", "--table", "docs", "--column", "nope"], "nope"),
                          (["score", "--table", "docs"], "--column"),
                          (["score", "--table", "docs", "--column", "body", "--engine", "numpy"], "SQL engine")]:
        assert main(args + base) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err


def test_the_cli_scores_a_table(tiny_dir, tmp_path, capsys):
    database = tmp_path / "data.duckdb"
    rows = texts(5)
    make_duckdb_table(database, rows)
    assert main(["score", "--table", "docs", "--column", "body", "--key", "id", "--into", "scored",
                 "--model", str(tiny_dir), "--database", str(database)]) == 0
    out = capsys.readouterr().out
    assert "scored" in out and "5 rows" in out
    with duckdb.connect(str(database), read_only=True) as conn:
        assert len(scores(conn, "scored")) == 5


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_next_tokens_of_every_row(engine, tiny_dir, tmp_path, capsys):
    rows = texts(15, seed=2) + ["", None, "x " * 200]  # empty: <|endoftext|>; long: its last window
    database = tmp_path / f"data.{engine}"
    if engine == "duckdb":
        make_duckdb_table(database, rows)
        connect = lambda: duckdb.connect(str(database), read_only=True)  # noqa: E731
    else:
        with sqlite3.connect(database) as conn:
            conn.execute("CREATE TABLE docs (id INTEGER, body TEXT)")
            conn.executemany("INSERT INTO docs VALUES (?, ?)", list(enumerate(rows)))
        connect = lambda: sqlite3.connect(database)  # noqa: E731
    assert main(["next", "--table", "docs", "--column", "body", "--key", "id", "-k", "3", "--engine", engine,
                 "--model", str(tiny_dir), "--database", str(database)]) == 0
    assert "sqlgpt_next" in capsys.readouterr().out
    reference = sqlgpt.load(tiny_dir, engine="numpy")
    conn = connect()
    got = conn.execute("SELECT id, rank, token, piece, probability FROM sqlgpt_next ORDER BY id, rank").fetchall()
    conn.close()
    by_row: dict = {}
    for i, rank, token, piece, p in got:
        by_row.setdefault(i, []).append((rank, token, piece, p))
    assert 16 not in by_row  # NULL text: no rows
    for i, text in enumerate(rows):
        if text is None:
            continue
        ids = reference.tokenizer.encode(text)[-reference.config.block_size:]
        expected = reference.next_token_probs(reference.tokenizer.decode(ids), k=3) if ids else \
            reference.next_token_probs("", k=3)
        assert [r for r, *_ in by_row[i]] == [1, 2, 3]
        assert [piece for _, _, piece, _ in by_row[i]] == [piece for piece, _ in expected]
        assert np.allclose([p for *_, p in by_row[i]], [p for _, p in expected], atol=1e-6)
