"""The Spark engine's promises beyond correct logits (those are in test_engines.py): installs
that an interruption cannot leave half-done, hostile prompts, sessions of their own, and
one-line errors. One local SparkSession (conftest's `spark_session`) serves all tests: a JVM
takes seconds to start. The NumPy engine is the reference."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import sqlgpt
from sqlgpt.cli import main
from sqlgpt.engines.sql import install as install_module
from sqlgpt.errors import SqlgptError

from .test_duckdb_engine import interrupt_third_table

TOLERANCE = 1e-4
IDS = [5, 17, 42, 99, 3, 250, 7, 64]


@pytest.fixture(scope="module")
def gpt(tiny_dir, spark_session):
    with sqlgpt.load(tiny_dir, engine="spark", session=spark_session, progress=False) as model:
        yield model


def load(directory, spark_session) -> sqlgpt.GPT:
    return sqlgpt.load(directory, engine="spark", session=spark_session, progress=False)


def databases(spark) -> set[str]:
    return {d.name for d in spark.catalog.listDatabases()}


def contents(spark, schemas: set[str] | None = None) -> dict:
    """The catalogue's rows and the databases, and every table of `schemas` (default: all but
    `default`) with its row count and the sum of its weights."""
    out: dict = {"catalogue": sorted(tuple(r) for r in spark.sql(
        f"SELECT schema_name, fingerprint, source FROM {install_module.CATALOGUE}").collect()),
        "databases": databases(spark)}
    for database in sorted(databases(spark) - {"default"} if schemas is None else schemas):
        for table in spark.catalog.listTables(database):
            if table.isTemporary:  # (listed with every database)
                continue
            columns = {c.name: c.dataType for c in spark.catalog.listColumns(f"{database}.{table.name}")}
            w = "flatten(w)" if columns.get("w") == "array<array<float>>" else "w"  # a matrix per row
            total = f"sum(aggregate({w}, 0D, (s, e) -> s + e))" if "w" in columns else "0"
            out[f"{database}.{table.name}"] = tuple(spark.sql(
                f"SELECT count(*), {total} FROM {database}.{table.name}").collect()[0])
    return out


def changed_copy(tiny_dir, tmp_path, blank_lines: int):
    """The tiny checkpoint with other bytes (`blank_lines` appended to its config), so another
    fingerprint and another install than the shared one or another test's."""
    directory = tmp_path / "model"
    shutil.copytree(tiny_dir, directory)
    with open(directory / "config.json", "a") as f:
        f.write("\n" * blank_lines)
    return directory


def assert_matches_numpy(gpt: sqlgpt.GPT, directory) -> None:
    reference = sqlgpt.load(directory, engine="numpy").logits(IDS)
    assert np.abs(gpt.logits(IDS) - reference).max() <= TOLERANCE


def test_weights_are_float_arrays_cached_while_open(gpt, tiny_dir, spark_session):
    wte = f"{gpt.engine.schema}.wte"
    types = {c.name: c.dataType for c in spark_session.catalog.listColumns(wte)}
    assert types == {"j": "int", "w": "array<float>"}
    assert spark_session.catalog.isCached(wte)
    # The embedding row of token 7 is the checkpoint's, bit for bit.
    row = spark_session.sql(f"SELECT w FROM {wte} WHERE j = 7").collect()[0][0]
    expected = sqlgpt.models.open_checkpoint(tiny_dir).params()["wte.weight"][7]
    assert np.array_equal(np.asarray(row, dtype=np.float32), expected)


def test_an_interrupted_install_leaves_nothing_behind(tiny_dir, tmp_path, spark_session, monkeypatch):
    directory = changed_copy(tiny_dir, tmp_path, 1)
    load(tiny_dir, spark_session).close()  # the catalogue exists: only this install's traces count
    before = contents(spark_session, set())  # the catalogue and the databases
    interrupt_third_table(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        load(directory, spark_session)
    assert contents(spark_session, set()) == before
    monkeypatch.undo()
    with load(directory, spark_session) as gpt:
        assert_matches_numpy(gpt, directory)


def test_a_half_written_model_is_never_used(tiny_dir, tmp_path, spark_session, monkeypatch):
    """As if the process died mid-install (no rollback): the tables written so far stay, but
    without their catalogue row the next load installs afresh rather than use them."""
    directory = changed_copy(tiny_dir, tmp_path, 2)
    interrupt_third_table(monkeypatch)
    monkeypatch.setattr("sqlgpt.engines.sql.drivers.spark.SparkConnection.rollback", lambda self: None)
    with pytest.raises(KeyboardInterrupt):
        load(directory, spark_session)
    schema = install_module.schema_name(sqlgpt.models.open_checkpoint(directory).fingerprint())
    assert schema in databases(spark_session)  # the half-written tables are there...
    rows = spark_session.sql(f"SELECT count(*) FROM {install_module.CATALOGUE} WHERE schema_name = ?",
                             args=[schema]).collect()
    assert rows[0][0] == 0  # ...but nothing points at them
    monkeypatch.undo()
    with load(directory, spark_session) as gpt:
        assert gpt.engine.schema == schema
        assert_matches_numpy(gpt, directory)


def test_reopening_reuses_the_install(gpt, tiny_dir, spark_session, monkeypatch):
    before = contents(spark_session, {gpt.engine.schema})
    monkeypatch.setattr(install_module, "install", lambda *a, **k: pytest.fail("installed again"))
    with load(tiny_dir, spark_session) as again:
        assert again.engine.schema == gpt.engine.schema
    assert contents(spark_session, {gpt.engine.schema}) == before


def test_hostile_prompts_never_enter_sql(gpt, tiny_dir, spark_session):
    reference = sqlgpt.load(tiny_dir, engine="numpy")
    schema = gpt.engine.schema
    before = contents(spark_session, {schema})
    # Each prompt costs a Spark session: a few that reach for Spark's parameter markers,
    # variable substitution and quoting (the others run on DuckDB and SQLite).
    prompts = [f"'); DROP DATABASE {schema} CASCADE; --", "${spark.sql.warehouse.dir} :first :ids :p1 ? `x` \\'", ""]
    for prompt in prompts:
        ours = [p for _, p in gpt.next_token_probs(prompt, k=5)]
        theirs = [p for _, p in reference.next_token_probs(prompt, k=5)]
        assert np.allclose(ours, theirs, atol=1e-5), prompt
    with pytest.raises(SqlgptError, match="context window"):
        gpt.next_token_probs("'); DROP TABLE wte; --" * 10_000)
    assert contents(spark_session, {schema}) == before


def test_sessions_are_private_and_dropped_at_close(gpt, tiny_dir, spark_session):
    whole = sqlgpt.load(tiny_dir, engine="numpy").logits(IDS)
    with gpt.engine.session() as a, gpt.engine.session() as b:
        private = {a.cursor.database, b.cursor.database}
        assert len(private) == 2 and private <= databases(spark_session)
        first = a.forward(IDS[:5], all_logits=True)
        b.forward(IDS[5:], all_logits=True)  # another sequence in between
        rest = a.forward(IDS[5:], all_logits=True)
        b.reset()  # emptied, not dropped: the same session reads a new sequence
        again = b.forward(IDS[:5], all_logits=True)
    assert np.abs(np.concatenate([first, rest]) - whole).max() <= TOLERANCE
    assert np.abs(again - whole[:5]).max() <= TOLERANCE
    assert not private & databases(spark_session)


def test_another_master_in_the_same_process_is_one_line(tiny_dir, spark_session):
    with pytest.raises(SqlgptError, match="already runs Spark on master local\\[2\\]") as info:
        sqlgpt.load(tiny_dir, engine="spark", database="local[1]", progress=False)
    assert "\n" not in str(info.value)


def test_the_master_url_shares_the_running_application(gpt, tiny_dir, spark_session):
    with sqlgpt.load(tiny_dir, engine="spark", database="local[2]", progress=False) as again:
        assert again.engine.conn.spark.sparkContext is spark_session.sparkContext
    assert spark_session.sql("SELECT 1").collect()[0][0] == 1  # not the engine's to stop


def test_an_unreachable_master_is_one_line(tiny_dir):
    with pytest.raises(SqlgptError, match="cannot reach the Spark master at spark://127.0.0.1:1") as info:
        sqlgpt.load(tiny_dir, engine="spark", database="spark://127.0.0.1:1", progress=False)
    assert "\n" not in str(info.value)


NO_JAVA = """
    import sys
    import sqlgpt
    from sqlgpt.errors import SqlgptError

    try:
        sqlgpt.load(sys.argv[1], engine="spark", progress=False)
    except SqlgptError as e:
        print(e)
"""


def test_no_java_is_one_line(tiny_dir, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = os.path.dirname(sys.executable)  # python, and no java
    env["XDG_CACHE_HOME"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(NO_JAVA), str(tiny_dir)], env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip().splitlines() == [
        "the spark engine needs a Java 17+ runtime: install one (e.g. openjdk-17-jre) or set JAVA_HOME"]


def next_tokens(output: str) -> list[tuple[str, float]]:
    """(token, probability) from the table `sqlgpt next` prints after its header line."""
    rows = [line.rsplit(maxsplit=1) for line in output.strip().splitlines()[1:]]
    return [(token.strip(), float(probability)) for token, probability in rows]


def test_a_spark_sqlgpt_starts_keeps_its_jvm_console_to_its_log(spark_started_by_sqlgpt, tiny_dir, capsys):
    """`sqlgpt next` on a Spark application that sqlgpt starts (conftest's NEXT_THEN_FAIL): the
    tokens are printed, and nothing of Spark's reaches stderr: not the JVM's start-up notices
    (they go to spark.log in sqlgpt's cache directory), nor PySpark's JSON record of a failed query."""
    done, folder = spark_started_by_sqlgpt
    assert done.returncode == 0, done.stderr
    spark_lines, refused, _ = done.stdout.rsplit("\n", 2)  # the table, the refusal, "" after the last newline
    assert main(["next", "the cat", "--model", str(tiny_dir), "--engine", "numpy", "-k", "3"]) == 0
    expected = next_tokens(capsys.readouterr().out)
    got = next_tokens(spark_lines)
    assert [t for t, _ in got] == [t for t, _ in expected] and len(got) == 3
    assert all(abs(p - q) <= 2e-6 for (_, p), (_, q) in zip(got, expected))
    assert refused.startswith("refused:") and "no_such_function" in refused
    assert done.stderr == ""
    assert (folder / "spark.log").read_text().strip()  # the JVM's notices, kept


def test_a_thousand_rows_scored_in_one_batch_agree_with_score(gpt, spark_session, tiny_dir):
    from .test_batch import texts

    # Short rows (one to three words) keep the test's time in check; one row needs two windows.
    rows = [" ".join(text.split()[:3]) for text in texts(997, seed=3)] + [None, "", " ".join(texts(12, seed=4))]
    spark_session.createDataFrame(list(enumerate(rows)), "id INT, body STRING").write.mode("overwrite").saveAsTable("docs")
    try:
        summary = gpt.score_table("docs", "body", key="id", into="docs_scores")
        got = {r["id"]: (r["tokens"], r["loss"]) for r in spark_session.table("docs_scores").collect()}
    finally:
        spark_session.sql("DROP TABLE IF EXISTS docs")
        spark_session.sql("DROP TABLE IF EXISTS docs_scores")
    reference = sqlgpt.load(tiny_dir, engine="numpy")
    assert summary.rows == len(got) == 1000
    assert got[997] == (None, None) and got[998] == (0, None)
    assert reference.score(rows[-1]).n_tokens > 64
    for i, text in enumerate(rows[:997] + rows[-1:]):
        expected = reference.score(text)
        tokens, loss = got[i if i < 997 else 999]
        assert tokens == expected.n_tokens and abs(loss - expected.loss) <= 1e-5, (i, text)


def test_next_tokens_of_every_row_in_one_batch(gpt, spark_session, tiny_dir):
    from .test_batch import texts

    rows = texts(8, seed=5) + ["", None, "x " * 100]  # empty: <|endoftext|>; long: its last window
    spark_session.createDataFrame(list(enumerate(rows)), "id INT, body STRING").write.mode("overwrite").saveAsTable("docs")
    try:
        assert gpt.next_table("docs", "body", key="id", k=3, into="docs_next") == "docs_next"
        got = sorted(tuple(r) for r in spark_session.sql("SELECT id, rank, piece, probability FROM docs_next").collect())
    finally:
        spark_session.sql("DROP TABLE IF EXISTS docs")
        spark_session.sql("DROP TABLE IF EXISTS docs_next")
    reference = sqlgpt.load(tiny_dir, engine="numpy")
    assert 9 not in {i for i, *_ in got}  # NULL text: no rows
    for i, text in enumerate(rows):
        if text is None:
            continue
        ids = reference.tokenizer.encode(text)[-reference.config.block_size:]
        expected = reference.next_token_probs(reference.tokenizer.decode(ids), k=3)
        mine = [(rank, piece, p) for j, rank, piece, p in got if j == i]
        assert [rank for rank, *_ in mine] == [1, 2, 3]
        assert [piece for _, piece, _ in mine] == [piece for piece, _ in expected], i
        assert np.allclose([p for *_, p in mine], [p for _, p in expected], atol=1e-6)
