"""The plan's softmax and top-k, the one place every engine ranks tokens, against NumPy.

`plan.top_probabilities` is what `next_token_probs`, batched top-k and explain's logit lens
and next-token tables all run. NumPy's reference (`engines/base.py`, `sampling.py`,
`engines/numpy.py`) ranks by probability with a stable argsort: most likely first, ties by
the smaller id. Two different scores can have one probability when exp() rounds them to one
double; the scores here force that, with the larger score on the larger id, so a ranking by
score (or by anything but the probability and then the id) fails. Each database runs the
same query over a VALUES list: DuckDB, SQLite, PostgreSQL and Spark.
"""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from sqlgpt.engines.sql.databases import get_dialect
from sqlgpt.engines.sql.plan import top_probabilities

# (group, j, score): in group 0, j=7's score is 1e-17 above j=3's, which exp() cannot tell
# apart; group 1 has no tie and the best score on the smallest id.
ROWS = [(0, 3, 0.0), (0, 7, 1e-17), (0, 5, -1.0), (0, 9, -3.5),
        (1, 2, 0.5), (1, 4, 0.25), (1, 6, 2.0), (1, 8, -0.75)]
K = 3


def numpy_top(rows: list[tuple[int, int, float]], k: int) -> dict[int, list[tuple[int, float]]]:
    """Per group: the k most likely (j, p), as sqlgpt's NumPy engine ranks them."""
    out = {}
    for group in sorted({g for g, _, _ in rows}):
        ids = np.array([j for g, j, _ in rows if g == group])
        order = np.argsort(ids, kind="stable")  # the vocabulary's order, as a logits row has it
        ids, z = ids[order], np.array([s for g, _, s in rows if g == group])[order]  # [V]
        probs = np.exp(z - z.max())
        probs /= probs.sum()
        best = np.argsort(-probs, kind="stable")[:k]
        out[group] = [(int(ids[i]), float(probs[i])) for i in best]
    return out


def query(dialect_name: str, **options) -> str:
    d = get_dialect(dialect_name, **options)
    double = d.result_type("double")
    values = " UNION ALL ".join(f"SELECT {g} AS grp, {j} AS j, CAST({s!r} AS {double}) AS score" for g, j, s in ROWS)
    return f"SELECT grp, token, p, rank FROM ({top_probabilities(f'({values}) v', ['grp'], 'score', K)}) t ORDER BY grp, rank"


def check(rows: list[tuple]) -> None:
    expected = numpy_top(ROWS, K)
    got: dict[int, list[tuple[int, float]]] = {}
    for group, token, p, rank in rows:
        got.setdefault(int(group), []).append((int(token), float(p)))
        assert int(rank) == len(got[int(group)])
    assert [[j for j, _ in got[g]] for g in sorted(got)] == [[j for j, _ in expected[g]] for g in sorted(expected)]
    for g in expected:
        assert np.allclose([p for _, p in got[g]], [p for _, p in expected[g]], rtol=1e-12, atol=0)


def test_duckdb_ranks_as_numpy():
    import duckdb

    with duckdb.connect() as db:
        check(db.execute(query("duckdb")).fetchall())


def test_sqlite_ranks_as_numpy():
    with sqlite3.connect(":memory:") as db:
        check(db.execute(query("sqlite")).fetchall())


def test_postgres_ranks_as_numpy(pg_dsn):
    import psycopg

    with psycopg.connect(pg_dsn) as db:
        check(db.execute(query("postgres")).fetchall())


def test_spark_ranks_as_numpy(spark_session):
    check([tuple(row) for row in spark_session.sql(query("spark")).collect()])


def test_a_ranking_by_score_would_fail():
    """The tie is real: ranked by score, j=7 comes first; NumPy puts j=3 first."""
    tied = [(j, s) for g, j, s in ROWS if g == 0 and s >= 0]
    assert max(tied, key=lambda r: r[1])[0] == 7
    assert np.exp(0.0 - 1e-17) == np.exp(0.0)
    first, second, _ = numpy_top(ROWS, K)[0]
    assert (first[0], second[0]) == (3, 7) and first[1] == second[1]


@pytest.mark.parametrize("k", [1, 4])
def test_k_limits_each_group(k):
    import duckdb

    values = " UNION ALL ".join(f"SELECT {g} AS grp, {j} AS j, CAST({s!r} AS DOUBLE) AS score" for g, j, s in ROWS)
    with duckdb.connect() as db:
        rows = db.execute(f"SELECT grp, count(*) FROM ({top_probabilities(f'({values}) v', ['grp'], 'score', k)}) t "
                          "GROUP BY grp ORDER BY grp").fetchall()
    assert rows == [(0, k), (1, k)]
