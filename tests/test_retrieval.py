"""Retrieval in SQL: the BM25 index as tables in each database, scores equal to rank_bm25's
BM25Okapi on the same words, re-indexing after changes equal to a fresh index, hostile
questions harmless, and `ask` building its prompt from what it retrieved (the bundled GPT-2
on DuckDB, and a random Qwen2 with a chat template)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import duckdb
import pytest
from rank_bm25 import BM25Okapi

import sqlgpt
from sqlgpt.chat import template_ids
from sqlgpt.cli import main
from sqlgpt.retrieval import words

from .conftest import SHARED_DATA, make_llama_checkpoint, write_hf_tokenizer

CORPUS = Path(__file__).with_name("multilingual_corpus.txt").read_text(encoding="utf-8")
OTHER_SCRIPTS = [
    "왕이 죽었다. 왕이여 만수무강하소서! 한국어 문장입니다.",
    "고양이가 매트 위에 앉았다. 고양이와 개.",
    "東京タワーは東京にあります。 king",
    "Ο βασιλιάς είναι νεκρός. Café crème, naïve king.",
    "Король умер, да здравствует король!",
    "",
]
QUESTIONS = ["Where is the king?", "the", "고양이 문장", "café KING king", "love and death", "東京タワーは",
             "what says the duke of the lord and the queen", "zzz unknownword"]
ENGINES = ["duckdb", "sqlite", "postgres", "spark"]


def paragraphs() -> list[str]:
    """Paragraphs of tinyshakespeare when ../shared has it (the lines of the tests' own
    multilingual corpus otherwise), then rows in other scripts and an empty one."""
    shakespeare = SHARED_DATA / "tinyshakespeare" / "input.txt"
    if shakespeare.is_file():
        texts = shakespeare.read_text(encoding="utf-8").split("\n\n")[:300]
    else:
        texts = [line for line in CORPUS.splitlines() if line.strip()][:300]
    return texts + OTHER_SCRIPTS


def expected_scores(texts: dict[int, str | None], question: str) -> dict[int, float]:
    """rank_bm25's BM25Okapi scores of the rows with text, on the same words."""
    keys = [k for k, text in texts.items() if text is not None]
    scores = BM25Okapi([words(texts[k]) for k in keys]).get_scores(words(question))
    return dict(zip(keys, map(float, scores)))


def check_retrieval(gpt, table: str, texts: dict[int, str | None], questions: list[str], k: int = 5) -> None:
    for question in questions:
        got = gpt.retrieve(question, table, "body", k, key="id")
        expected = expected_scores(texts, question)
        shared = {key for key, text in texts.items() if text is not None and set(words(text)) & set(words(question))}
        ranked = sorted(shared, key=lambda key: (-expected[key], key))[:k]
        assert [p.key for p in got] == ranked, question
        for passage in got:
            assert abs(passage.score - expected[passage.key]) <= 1e-6
            assert passage.text == texts[passage.key]


class Table:
    """A `docs(id, body)` table in one database, reachable through that database's own driver."""

    def __init__(self, engine: str, request, tmp_path: Path, name: str = "docs") -> None:
        self.engine, self.name = engine, name
        if engine == "postgres":
            self.dsn = request.getfixturevalue("pg_dsn")
            self.options = {"dsn": self.dsn}
        elif engine == "spark":
            self.spark = request.getfixturevalue("spark_session")
            self.options = {"session": self.spark}
        if engine in ("postgres", "spark"):  # shared by the whole test session: leave nothing behind
            request.addfinalizer(self.drop)
        else:
            self.path = tmp_path / f"data.{engine}"
            self.options = {"database": str(self.path)}

    def sql(self, statement: str, rows: list[tuple] | None = None) -> list[tuple]:
        if self.engine == "spark":
            return [tuple(r) for r in self.spark.sql(statement).collect()]
        if self.engine == "postgres":
            import psycopg

            with psycopg.connect(self.dsn, autocommit=True) as conn:
                if rows is not None:
                    conn.cursor().executemany(statement, rows)
                    return []
                cursor = conn.execute(statement)
                return cursor.fetchall() if cursor.description else []
        connect = duckdb.connect if self.engine == "duckdb" else sqlite3.connect
        conn = connect(str(self.path))
        try:
            if rows is not None:
                conn.executemany(statement, rows)
                conn.commit()
                return []
            result = conn.execute(statement).fetchall()
            conn.commit()
            return result
        finally:
            conn.close()

    def fill(self, texts: dict[int, str | None]) -> None:
        rows = list(texts.items())
        if self.engine == "spark":
            self.spark.sql(f"DROP TABLE IF EXISTS {self.name}")
            self.spark.createDataFrame(rows, "id INT, body STRING").write.saveAsTable(self.name)
            return
        self.sql(f"DROP TABLE IF EXISTS {self.name}")
        self.sql(f"CREATE TABLE {self.name} (id INTEGER, body TEXT)")
        marker = "%s" if self.engine == "postgres" else "?"
        self.sql(f"INSERT INTO {self.name} VALUES ({marker}, {marker})", rows)

    def drop(self) -> None:
        self.drop_index()
        self.sql(f"DROP TABLE IF EXISTS {self.name}")

    def drop_index(self) -> None:
        for part in ("rows", "postings", "terms"):
            self.sql(f"DROP TABLE IF EXISTS sqlgpt_bm25_{self.name}_body_{part}")


@pytest.mark.parametrize("engine", ENGINES)
def test_scores_are_rank_bm25s_and_a_reindex_after_changes_is_a_fresh_index(engine, tiny_dir, tmp_path, request):
    texts: dict[int, str | None] = dict(enumerate(paragraphs()))
    texts[len(texts)] = None  # not indexed
    # Spark spends a fraction of a second on each statement: three questions there.
    questions = QUESTIONS[:3] if engine == "spark" else QUESTIONS
    table = Table(engine, request, tmp_path)
    table.fill(texts)
    table.drop_index()
    with sqlgpt.load(tiny_dir, engine=engine, progress=False, **table.options) as gpt:
        report = gpt.index("docs", "body", key="id")
        assert (report.rows, report.added, report.changed, report.deleted) == (len(texts) - 1, len(texts) - 1, 0, 0)
        check_retrieval(gpt, "docs", texts, questions)
        assert gpt.index("docs", "body", key="id").touched == 0  # nothing changed, nothing touched

    # Rows added, changed (one to NULL: it leaves the index) and deleted, in the table itself
    # (with the model closed: a DuckDB file has one writer).
    marker = "%s" if engine == "postgres" else "?"
    added = {9001: "A new king is crowned in 東京.", 9002: "고양이 king king"}
    if engine == "spark":  # plain Spark tables have no UPDATE or DELETE: write the table again
        texts |= added | {0: "The king, changed.", 1: None}
        del texts[2]
        table.fill(texts)
    else:
        table.sql(f"INSERT INTO docs VALUES ({marker}, {marker})", list(added.items()))
        table.sql(f"UPDATE docs SET body = {marker} WHERE id = {marker}", [("The king, changed.", 0), (None, 1)])
        table.sql(f"DELETE FROM docs WHERE id = {marker}", [(2,)])
        texts |= added | {0: "The king, changed.", 1: None}
        del texts[2]
    with sqlgpt.load(tiny_dir, engine=engine, progress=False, **table.options) as gpt:
        report = gpt.index("docs", "body", key="id")
        assert (report.added, report.changed, report.deleted) == (2, 1, 2)
        check_retrieval(gpt, "docs", texts, questions)
        reindexed = {q: gpt.retrieve(q, "docs", "body", 8, key="id") for q in questions}
    table.drop_index()
    with sqlgpt.load(tiny_dir, engine=engine, progress=False, **table.options) as gpt:
        gpt.index("docs", "body", key="id")
        for question, passages in reindexed.items():
            fresh = gpt.retrieve(question, "docs", "body", 8, key="id")
            assert [p.key for p in fresh] == [p.key for p in passages]
            assert all(abs(a.score - b.score) <= 1e-9 for a, b in zip(fresh, passages))


# Each shares a word with the rows ("the", "king"), so each reaches the scoring query.
HOSTILE = ["the king'; DROP TABLE docs; --", "the \" OR 1=1 --", "x\x00y the king\x00", "the $$ \\'' %s ? :p1 $1",
           "the king " * 12_000]  # 108 kB


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_hostile_questions_run_nothing_and_change_nothing(engine, tiny_dir, tmp_path, request):
    texts = dict(enumerate(paragraphs()[:40] + OTHER_SCRIPTS))
    table = Table(engine, request, tmp_path)
    table.fill(texts)
    table.drop_index()
    names = ("docs", "sqlgpt_bm25_docs_body_rows", "sqlgpt_bm25_docs_body_postings", "sqlgpt_bm25_docs_body_terms")
    with sqlgpt.load(tiny_dir, engine=engine, progress=False, **table.options) as gpt:
        gpt.index("docs", "body", key="id")
    before = {name: sorted(table.sql(f"SELECT * FROM {name}"), key=repr) for name in names}
    with sqlgpt.load(tiny_dir, engine=engine, progress=False, **table.options) as gpt:
        for question in HOSTILE:
            got = gpt.retrieve(question, "docs", "body", 3, key="id")
            expected = expected_scores(texts, question)
            assert got and all(abs(p.score - expected[p.key]) <= 1e-6 for p in got)
    after = {name: sorted(table.sql(f"SELECT * FROM {name}"), key=repr) for name in names}
    assert after == before


def test_bad_names_and_a_missing_index_are_one_line(tiny_dir, tmp_path, capsys):
    table = Table("duckdb", None, tmp_path)
    table.fill({1: "the king", 2: None})
    empty = Table("duckdb", None, tmp_path, name="empty")
    empty.fill({1: None})
    assert main(["index", "--table", "empty", "--column", "body", "--model", str(tiny_dir), "-d", str(table.path)]) == 0
    capsys.readouterr()
    common = ["--model", str(tiny_dir), "-d", str(table.path)]
    for argv, message in [
        (["retrieve", "king", "--table", "empty", "--column", "body"], "holds no rows"),
        (["retrieve", "king", "--table", "docs", "--column", "body"], "no index"),
        (["retrieve", "king", "--table", "nope", "--column", "body"], "no table nope"),
        (["index", "--table", "docs", "--column", "nope"], "cannot read"),
        (["index", "--table", "docs; DROP TABLE docs", "--column", "body"], "table"),
        (["retrieve", "king", "--table", "docs", "--column", "body", "-k", "0"], "k must be"),
        (["ask", "king", "--table", "docs", "--column", "body", "-n", "5000"], "context window"),
        (["index", "--table", "docs", "--column", "body", "--key", "body2"], "cannot read"),
    ]:
        assert main([*argv, *common]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("sqlgpt: error:") and message in err, err
    assert table.sql("SELECT count(*) FROM docs") == [(2,)]


def test_the_cli_indexes_retrieves_and_asks(tiny_dir, tmp_path, capsys):
    table = Table("duckdb", None, tmp_path)
    texts = dict(enumerate(paragraphs()[:60]))
    table.fill(texts)
    common = ["--table", "docs", "--column", "body", "--key", "id", "--model", str(tiny_dir), "-d", str(table.path)]
    assert main(["index", *common]) == 0
    assert "touched 60 rows: 60 added, 0 changed, 0 deleted" in capsys.readouterr().out
    assert main(["retrieve", "the king and the lord", *common, "-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = expected_scores(texts, "the king and the lord")
    best = sorted(expected, key=lambda key: (-expected[key], key))[:2]
    assert [int(line.split("\t")[0]) for line in lines] == best
    assert main(["ask", "Who is the king?", *common, "-n", "5", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("(from rows ")


def test_ask_with_the_bundled_model_builds_its_prompt_from_the_passages(tmp_path):
    """Passages in rank order, the question last, within the context window: long passages
    cut from the lowest-ranked up (and said); the answer is the model's text for that prompt."""
    texts = dict(enumerate(paragraphs()))
    table = Table("duckdb", None, tmp_path)
    table.fill(texts)
    question = "What says the king to the lord of the people?"
    with sqlgpt.load("shakespeare", engine="duckdb", database=str(table.path), progress=False) as gpt:
        gpt.index("docs", "body", key="id")
        ranked = gpt.retrieve(question, "docs", "body", 8, key="id")
        answer = gpt.ask(question, "docs", "body", 8, key="id", max_new_tokens=20, seed=3)
        window = gpt.config.block_size
        assert len(answer.prompt_ids) + 20 <= window
        assert answer.prompt.endswith(f"Question: {question}\nAnswer:")
        assert answer.keys == [p.key for p in ranked][: len(answer.keys)]  # rank order, lowest cut first
        position = 0
        for passage, found in zip(answer.passages, ranked):
            at = answer.prompt.index(passage.text, position)  # in order
            assert found.text.startswith(passage.text)
            position = at + len(passage.text)
        if len(answer.passages) < len(ranked) or answer.passages[-1].text != ranked[len(answer.passages) - 1].text:
            assert answer.notes  # what was cut is said
        text = answer.text
    reference = sqlgpt.load("shakespeare", engine="numpy")
    assert text == reference.generate(answer.content(answer.passages), max_new_tokens=20, seed=3)


CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
          "'<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def test_ask_with_a_chat_model_uses_its_template(tmp_path):
    directory = tmp_path / "chat"
    directory.mkdir()
    write_hf_tokenizer(directory, "qwen2", CORPUS.splitlines(keepends=True))
    config = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8"))
    config |= {"chat_template": CHATML, "eos_token": "<|im_end|>"}
    (directory / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    vocab = sqlgpt.Tokenizer.from_directory(directory).vocab_size
    make_llama_checkpoint(directory, kind="qwen2", tied=True, vocab_size=vocab, max_position_embeddings=512)
    texts = dict(enumerate(OTHER_SCRIPTS + [line for line in CORPUS.splitlines() if line.strip()][:20]))
    table = Table("duckdb", None, tmp_path)
    table.fill(texts)
    question = "고양이 king?"
    with sqlgpt.load(directory, engine="duckdb", database=str(table.path), progress=False) as gpt:
        gpt.index("docs", "body", key="id")
        ranked = gpt.retrieve(question, "docs", "body", 2, key="id")
        answer = gpt.ask(question, "docs", "body", 2, key="id", max_new_tokens=6, seed=2)
        assert answer.keys == [p.key for p in ranked] and not answer.notes
        content = "Answer the question using the passages below.\n\n" + "\n\n".join(
            f"[{i}] {p.text}" for i, p in enumerate(ranked, 1)) + f"\n\nQuestion: {question}"
        assert answer.prompt_ids == template_ids(gpt.tokenizer, [{"role": "user", "content": content}])
        text = answer.text
    reference = sqlgpt.load(directory, engine="numpy")
    assert text == reference.chat([{"role": "user", "content": content}], max_new_tokens=6, temperature=1.0, seed=2)
