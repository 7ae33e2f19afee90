"""Scoring a table inside its database (`GPT.score_table`, `sqlgpt score --table`): every
row agrees with `GPT.score` on the NumPy engine, the result table appears whole or not at
all, and table/column names are identifiers or nothing."""

from __future__ import annotations

import math
import re
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
        assert not gpt.engine.driver.table_exists(gpt.engine.conn, None, "sqlgpt_scores")
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


def replace_docs(connect, rows: list[str | None]) -> None:
    """Give the docs table other rows (the same columns)."""
    conn = connect(False)
    conn.execute("DELETE FROM docs")
    conn.executemany("INSERT INTO docs VALUES (?, ?)", list(enumerate(rows)))
    conn.commit()
    conn.close()


def connector(engine: str, database) -> object:
    """connect(read_only) for the database of `engine`."""
    if engine == "duckdb":
        return lambda read_only=True: duckdb.connect(str(database), read_only=read_only)
    return lambda read_only=True: sqlite3.connect(database)


def assert_scores_are_numpys(got: dict, rows: list[str], reference: sqlgpt.GPT) -> None:
    """`got` (key -> tokens, loss, perplexity) holds exactly GPT.score's figures for each row."""
    assert sorted(got) == list(range(len(rows)))
    for i, text in enumerate(rows):
        expected = reference.score(text)
        tokens, loss, perplexity = got[i]
        assert tokens == expected.n_tokens, text
        assert abs(loss - expected.loss) <= 1e-5 and abs(perplexity - expected.perplexity) <= 1e-4 * expected.perplexity


def test_the_cli_scores_a_table(tiny_dir, tmp_path, capsys):
    """`sqlgpt score --table` writes each row's tokens, loss and perplexity as GPT.score gives
    them on the NumPy engine, and prints the totals over all rows. A second run into the same
    table is refused in one line (exit 2) and changes nothing; with --replace the table holds
    the second run's figures."""
    database = tmp_path / "data.duckdb"
    first, second = texts(5), texts(7, seed=3)
    make_duckdb_table(database, first)
    connect = connector("duckdb", database)
    reference = sqlgpt.load(tiny_dir, engine="numpy")
    argv = ["score", "--table", "docs", "--column", "body", "--key", "id", "--into", "scored",
            "--model", str(tiny_dir), "--database", str(database)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "scored" in out and "5 rows" in out
    with connect() as conn:
        assert_scores_are_numpys(scores(conn, "scored"), first, reference)
    expected = [reference.score(text) for text in first]
    n_tokens = sum(e.n_tokens for e in expected)
    loss = sum(e.loss * e.n_tokens for e in expected) / n_tokens  # nats per token over all rows
    assert f"tokens      {n_tokens}" in out.splitlines()
    assert float(re.search(r"^loss\s+(\S+) nats/token", out, re.M).group(1)) == pytest.approx(loss, abs=5e-5 + 1e-6)
    assert float(re.search(r"^perplexity\s+(\S+)", out, re.M).group(1)) == pytest.approx(math.exp(loss), abs=5e-4 + 1e-5)

    replace_docs(connect, second)
    assert main(argv) == 2  # without --replace: refused, the first run's table as it was
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sqlgpt: error:") and "scored" in err and "already exists" in err
    with connect() as conn:
        assert_scores_are_numpys(scores(conn, "scored"), first, reference)
    assert main([*argv, "--replace"]) == 0
    assert "7 rows" in capsys.readouterr().out
    with connect() as conn:
        assert_scores_are_numpys(scores(conn, "scored"), second, reference)


def next_tokens(connect) -> dict:
    """sqlgpt_next by key: [(rank, token, piece, probability)] in rank order."""
    conn = connect()
    got = conn.execute("SELECT id, rank, token, piece, probability FROM sqlgpt_next ORDER BY id, rank").fetchall()
    conn.close()
    by_row: dict = {}
    for i, rank, token, piece, p in got:
        by_row.setdefault(i, []).append((rank, token, piece, p))
    return by_row


def assert_next_tokens_are_numpys(by_row: dict, rows: list[str | None], reference: sqlgpt.GPT, k: int) -> None:
    """Each row's k next tokens are next_token_probs's on the NumPy engine, for the last
    context window of its text (<|endoftext|> for an empty one); NULL text has none."""
    assert sorted(by_row) == [i for i, text in enumerate(rows) if text is not None]
    for i, text in enumerate(rows):
        if text is None:
            continue
        ids = reference.tokenizer.encode(text)[-reference.config.block_size:]
        expected = reference.next_token_probs(reference.tokenizer.decode(ids), k=k) if ids else \
            reference.next_token_probs("", k=k)
        assert [r for r, *_ in by_row[i]] == list(range(1, k + 1))
        assert [piece for _, _, piece, _ in by_row[i]] == [piece for piece, _ in expected]
        assert [reference.tokenizer.decode([token]) for _, token, _, _ in by_row[i]] == [piece for piece, _ in expected]
        assert np.allclose([p for *_, p in by_row[i]], [p for _, p in expected], atol=1e-6)


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_next_tokens_of_every_row(engine, tiny_dir, tmp_path, capsys):
    """`sqlgpt next --table` writes each row's k most likely next tokens as next_token_probs
    gives them on the NumPy engine; a second run is refused in one line (exit 2) and changes
    nothing, and with --replace the table holds the second run's tokens."""
    rows = texts(15, seed=2) + ["", None, "x " * 200]  # empty: <|endoftext|>; long: its last window
    database = tmp_path / f"data.{engine}"
    if engine == "duckdb":
        make_duckdb_table(database, rows)
    else:
        with sqlite3.connect(database) as conn:
            conn.execute("CREATE TABLE docs (id INTEGER, body TEXT)")
            conn.executemany("INSERT INTO docs VALUES (?, ?)", list(enumerate(rows)))
    connect = connector(engine, database)
    reference = sqlgpt.load(tiny_dir, engine="numpy")
    argv = ["next", "--table", "docs", "--column", "body", "--key", "id", "--engine", engine,
            "--model", str(tiny_dir), "--database", str(database)]
    assert main([*argv, "-k", "3"]) == 0
    assert "sqlgpt_next" in capsys.readouterr().out
    assert_next_tokens_are_numpys(next_tokens(connect), rows, reference, 3)

    second = [None] + texts(4, seed=5)
    replace_docs(connect, second)
    assert main([*argv, "-k", "2"]) == 2  # without --replace: refused, the first run's table as it was
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sqlgpt: error:") and "already exists" in err
    assert_next_tokens_are_numpys(next_tokens(connect), rows, reference, 3)
    assert main([*argv, "-k", "2", "--replace"]) == 0
    assert_next_tokens_are_numpys(next_tokens(connect), second, reference, 2)
