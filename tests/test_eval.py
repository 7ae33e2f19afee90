"""Benchmarks (`sqlgpt eval`, `GPT.evaluate`): every option's log-likelihood against
transformers, acc and acc_norm as lm-evaluation-harness computes them from those numbers,
the same items from files and from DuckDB, PostgreSQL and Spark tables, the layouts, the
one-line refusals, and the bundled model's accuracy that README.md reports.

The expected numbers are computed here from the test's own prompts (written out from the
harness's templates), transformers' tokenizer and model, never from sqlgpt's evaluation."""

from __future__ import annotations

import csv
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

import sqlgpt
from sqlgpt import SqlgptError
from sqlgpt.cli import main
from sqlgpt.evaluate import prepare

from .conftest import NO_SHARED, SHARED_DATA, TINY_SHAPE, make_checkpoint

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
# Words for questions and options: SQL-looking text, quotes, and characters of 2 and 4 bytes.
WORDS = ["cat", "dog", "sun", "moon", "tree", "red", "ran", "sat", "on", "the", "é", "🙂", "'", '"', ";", "--", "DROP",
         "TABLE"]
SUBJECTS = ["law", "art", "high_school_math"]
MMLU = "The following are multiple choice questions (with answers) about {}.\n\n"


def make_items(n: int, seed: int = 0) -> list[dict]:
    """MMLU-layout rows: id, question, A-D, answer (a letter), subject."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        question = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3))) + "?"
        options = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 2))) for _ in range(4)]
        rows.append({"id": i, "question": question, **dict(zip("ABCD", options)), "answer": "ABCD"[rng.randrange(4)],
                     "subject": rng.choice(SUBJECTS)})
    return rows


ITEMS = make_items(200)
DEV = make_items(15, seed=1)


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


# -- the reference: the harness's prompts, transformers' numbers -------------------------------


def letters_prompt(row: dict, description: str = "") -> str:
    """MMLU's doc_to_text, after the description."""
    return f"{description}{row['question'].strip()}\nA. {row['A']}\nB. {row['B']}\nC. {row['C']}\nD. {row['D']}\nAnswer:"


def cloze_prompt(row: dict) -> str:
    """The cloze (mmlu_continuation) doc_to_text."""
    return f"Question: {row['question'].strip()}\nAnswer:"


class Reference:
    """transformers' log-likelihood of continuations after a prompt, tokenized the harness's way."""

    def __init__(self, directory: Path, hf_model) -> None:
        from transformers import GPT2TokenizerFast

        self.tokenizer = GPT2TokenizerFast.from_pretrained(directory)
        self.model = hf_model(directory)

    def loglikelihoods(self, prompt: str, continuations: list[str]) -> list[float]:
        return self.many([(prompt, continuations)])[0]

    def many(self, requests: list[tuple[str, list[str]]]) -> list[list[float]]:
        """Each (prompt, continuations) request's log-likelihoods, from one forward pass over
        all prompt + continuation sequences (padded on the right, which a causal model's
        earlier positions never see)."""
        import torch

        sequences, spans = [], []
        for prompt, continuations in requests:
            context = self.tokenizer(prompt)["input_ids"]
            for continuation in continuations:
                target = self.tokenizer(prompt + continuation)["input_ids"][len(context):]
                sequences.append(context + target)
                spans.append((len(context), target))
        width = max(map(len, sequences))
        ids = torch.tensor([s + [0] * (width - len(s)) for s in sequences])
        with torch.no_grad():
            logprobs = self.model(ids).logits.double().log_softmax(-1)  # [n, width, V]
        flat = [float(logprobs[i, start - 1 : start - 1 + len(target)][range(len(target)), target].sum())
                for i, (start, target) in enumerate(spans)]
        out, at = [], 0
        for _, continuations in requests:
            out.append(flat[at : at + len(continuations)])
            at += len(continuations)
        return out


def expected_accuracy(lls: list[list[float]], golds: list[int], lengths: list[list[int]]) -> dict:
    """acc and acc_norm (by bytes) with the harness's standard error, sample sd / sqrt(n)."""
    acc = [int(np.argmax(ll) == gold) for ll, gold in zip(lls, golds)]
    norm = [int(np.argmax(np.asarray(ll) / np.asarray(n)) == gold) for ll, gold, n in zip(lls, golds, lengths)]
    return {"acc": statistics.fmean(acc), "acc_stderr": statistics.stdev(acc) / math.sqrt(len(acc)),
            "acc_norm": statistics.fmean(norm), "acc_norm_stderr": statistics.stdev(norm) / math.sqrt(len(norm))}


def assert_accuracy(got, expected: dict) -> None:
    for name, value in expected.items():
        assert math.isclose(getattr(got, name), value, abs_tol=1e-12), name


@pytest.fixture(scope="module")
def eval_dir(tmp_path_factory) -> Path:
    """The tiny random GPT-2 with room for few-shot prompts (256 positions), its weights
    larger than the other tests' so that no two options are a rounding error apart."""
    return make_checkpoint(tmp_path_factory.mktemp("eval-tiny"), std=0.4, **{**TINY_SHAPE, "n_positions": 256})


@pytest.fixture(scope="module")
def reference(eval_dir, hf_model) -> Reference:
    return Reference(eval_dir, hf_model)


@pytest.fixture(scope="module")
def items_csv(tmp_path_factory) -> Path:
    return write_csv(tmp_path_factory.mktemp("items") / "items.csv", ITEMS)


@pytest.fixture(scope="module")
def expected_letters(reference) -> list[list[float]]:
    """transformers' log-likelihoods of " A" .. " D" after each item's prompt (no description: style plain)."""
    return reference.many([(letters_prompt(row), [" A", " B", " C", " D"]) for row in ITEMS])


@pytest.fixture(scope="module")
def numpy_result(eval_dir, items_csv):
    return sqlgpt.load(eval_dir, engine="numpy").evaluate(str(items_csv), style="plain", progress=False)


def gold(row: dict) -> int:
    return "ABCD".index(row["answer"])


# -- against transformers ----------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["numpy", "duckdb"])
def test_two_hundred_items_agree_with_transformers(engine, eval_dir, items_csv, expected_letters, numpy_result):
    if engine == "numpy":
        result = numpy_result
    else:
        with sqlgpt.load(eval_dir, engine=engine, database=":memory:", progress=False) as gpt:
            result = gpt.evaluate(str(items_csv), style="plain", progress=False)
    assert len(result.items) == 200 and result.truncated == 0
    got = np.array([r.loglikelihoods for r in result.items])
    assert np.abs(got - np.array(expected_letters)).max() <= 1e-4
    # No best option so close to the next that rounding could pick another: acc compares exactly.
    assert min(np.diff(sorted(ll))[-1] for ll in expected_letters) > 2e-4
    golds = [gold(row) for row in ITEMS]
    assert [r.gold for r in result.items] == golds
    assert_accuracy(result.overall, expected_accuracy(expected_letters, golds, [[1] * 4] * 200))
    for subject in SUBJECTS:
        mine = [i for i, row in enumerate(ITEMS) if row["subject"] == subject]
        assert_accuracy(result.categories[subject], expected_accuracy(
            [expected_letters[i] for i in mine], [golds[i] for i in mine], [[1] * 4] * len(mine)))
    assert 0 < result.overall.acc < 1 and result.overall.acc_norm == result.overall.acc  # letters: 1 byte each


def shots_for(row: dict, k: int, seed: int = 1234) -> list[dict]:
    """The documented choice: the dev items of the row's subject, sorted by (question,
    options, answer), k + 1 drawn by random.Random(seed), the first k that are not the row."""
    pool = sorted((d for d in DEV if d["subject"] == row["subject"]),
                  key=lambda d: (d["question"], tuple(d[c] for c in "ABCD"), gold(d)))
    drawn = random.Random(seed).sample(pool, min(k + 1, len(pool)))
    return [d for d in drawn if (d["question"], [d[c] for c in "ABCD"]) != (row["question"], [row[c] for c in "ABCD"])][:k]


@pytest.mark.parametrize("engine", ["numpy", "duckdb"])
def test_text_continuations_with_shots_agree_with_transformers(engine, eval_dir, reference, tmp_path):
    rows = ITEMS[:40]
    write_jsonl(tmp_path / "items.jsonl", rows)
    write_csv(tmp_path / "dev.csv", DEV)
    options = {"database": ":memory:", "progress": False} if engine != "numpy" else {}
    with sqlgpt.load(eval_dir, engine=engine, **options) as gpt:
        result = gpt.evaluate(str(tmp_path / "items.jsonl"), dev=str(tmp_path / "dev.csv"), shots=2,
                              continuation="text", progress=False)
    requests, lengths = [], []
    for row in rows:
        shots = "".join(f"{cloze_prompt(d)} {d[d['answer']]}\n\n" for d in shots_for(row, 2))
        prompt = MMLU.format(row["subject"].replace("_", " ")) + shots + cloze_prompt(row)
        requests.append((prompt, [" " + row[c] for c in "ABCD"]))
        lengths.append([len(row[c].encode("utf-8")) for c in "ABCD"])
    expected = reference.many(requests)
    got = np.array([r.loglikelihoods for r in result.items])
    assert np.abs(got - np.array(expected)).max() <= 1e-4
    assert_accuracy(result.overall, expected_accuracy(expected, [gold(row) for row in rows], lengths))
    # Bytes, not characters: some options hold "é" and "🙂", so the two normalisations differ somewhere.
    assert any([len(row[c]) for c in "ABCD"] != n for row, n in zip(rows, lengths))


def test_continuations_share_their_prompt_on_every_engine(eval_dir, tmp_path):
    """`nll_continuations` gives what scoring context + continuation as one sequence gives,
    on the batched SQL path (DuckDB) and the rewinding one (SQLite, NumPy)."""
    rng = np.random.default_rng(0)
    items = [([int(t) for t in rng.integers(0, 265, size=rng.integers(1, 40))],
              [[int(t) for t in rng.integers(0, 265, size=rng.integers(1, 5))] for _ in range(rng.integers(1, 5))])
             for _ in range(12)]
    reference = sqlgpt.load(eval_dir, engine="numpy").engine
    expected = [reference.nll_many([(context + c, len(context)) for c in continuations])
                for context, continuations in items]
    for engine in ("numpy", "duckdb", "sqlite"):
        options = {"database": str(tmp_path / f"m.{engine}"), "progress": False} if engine != "numpy" else {}
        with sqlgpt.load(eval_dir, engine=engine, **options) as gpt:
            got = gpt.engine.nll_continuations(items)
        assert [len(g) for g in got] == [len(e) for e in expected]
        assert max(abs(a - b) for g, e in zip(got, expected) for a, b in zip(g, e)) <= 1e-5, engine


# -- the same items from tables -----------------------------------------------------------------


def table_rows(rows: list[dict]) -> list[tuple]:
    return [(row["id"], row["question"], row["A"], row["B"], row["C"], row["D"], row["answer"], row["subject"])
            for row in rows]


def make_table(engine: str, rows: list[dict], request, tmp_path) -> dict:
    """The items as table `quiz` in the engine's database; the options to load a model there."""
    if engine == "duckdb":
        database = tmp_path / "data.duckdb"
        with duckdb.connect(str(database)) as conn:
            conn.execute("CREATE TABLE quiz (id INTEGER, question VARCHAR, A VARCHAR, B VARCHAR, C VARCHAR, "
                         "D VARCHAR, answer VARCHAR, subject VARCHAR)")
            conn.executemany("INSERT INTO quiz VALUES (?, ?, ?, ?, ?, ?, ?, ?)", table_rows(rows))
        return {"database": str(database)}
    if engine == "postgres":
        import psycopg

        dsn = request.getfixturevalue("pg_dsn")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS quiz; DROP TABLE IF EXISTS sqlgpt_eval")
            conn.execute('CREATE TABLE quiz (id integer, question text, "A" text, "B" text, "C" text, "D" text, '
                         'answer text, "Category" text)')  # (quoted: as a CSV import would name them)
            conn.cursor().executemany("INSERT INTO quiz VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", table_rows(rows))
        return {"dsn": dsn}
    spark = request.getfixturevalue("spark_session")
    spark.sql("DROP TABLE IF EXISTS quiz")
    spark.sql("DROP TABLE IF EXISTS sqlgpt_eval")
    spark.createDataFrame(table_rows(rows), "id INT, question STRING, A STRING, B STRING, C STRING, D STRING, "
                                            "answer STRING, subject STRING").write.saveAsTable("quiz")
    return {"session": spark}


def read_results(engine: str, options: dict) -> dict:
    query = "SELECT id, category, gold, pred, pred_norm, acc, acc_norm, loglikelihoods FROM sqlgpt_eval"
    if engine == "duckdb":
        with duckdb.connect(options["database"], read_only=True) as conn:
            rows = conn.execute(query).fetchall()
    elif engine == "postgres":
        import psycopg

        with psycopg.connect(options["dsn"]) as conn:
            rows = conn.execute(query).fetchall()
    else:
        rows = [tuple(row) for row in options["session"].sql(query).collect()]
    return {row[0]: row[1:] for row in rows}


@pytest.mark.parametrize("engine", ["duckdb", "postgres", "spark"])
def test_the_same_items_from_a_table_give_the_same_results(engine, eval_dir, numpy_result, request, tmp_path):
    rows = ITEMS
    options = make_table(engine, rows, request, tmp_path)
    try:
        with sqlgpt.load(eval_dir, engine=engine, progress=False, **options) as gpt:
            result = gpt.evaluate("quiz", key="id", style="plain", progress=False)
            with pytest.raises(SqlgptError, match="sqlgpt_eval already exists"):
                gpt.evaluate("quiz", key="id", style="plain", limit=1, progress=False)
        stored = read_results(engine, options)
    finally:
        if engine == "spark":
            options["session"].sql("DROP TABLE IF EXISTS quiz")
            options["session"].sql("DROP TABLE IF EXISTS sqlgpt_eval")
    assert result.table == "sqlgpt_eval" and [r.key for r in result.items] == [row["id"] for row in rows]
    from_file = numpy_result.items
    got = np.array([r.loglikelihoods for r in result.items])
    assert np.abs(got - np.array([r.loglikelihoods for r in from_file])).max() <= 1e-4
    assert [(r.category, r.pred, r.pred_norm) for r in result.items] == [(r.category, r.pred, r.pred_norm) for r in from_file]
    assert result.overall == numpy_result.overall and result.categories == numpy_result.categories
    assert set(stored) == {row["id"] for row in rows}
    for r in result.items:
        category, gold_, pred, pred_norm, acc, acc_norm, lls = stored[r.key]
        assert (category, gold_, pred, pred_norm, acc, acc_norm) == (r.category, r.gold, r.pred, r.pred_norm, r.acc,
                                                                     r.acc_norm)
        assert json.loads(lls) == pytest.approx(r.loglikelihoods, abs=1e-9)


def test_table_names_are_identifiers_and_results_are_not_the_items(eval_dir, tmp_path, request):
    options = make_table("duckdb", ITEMS[:3], request, tmp_path)
    with sqlgpt.load(eval_dir, engine="duckdb", progress=False, **options) as gpt:
        for call, message in [(lambda: gpt.evaluate("quiz; DROP TABLE quiz"), "no such file, and not a table name"),
                              (lambda: gpt.evaluate("quiz", into="x y"), "identifier"),
                              (lambda: gpt.evaluate("quiz", key="id;"), "no column"),
                              (lambda: gpt.evaluate("quiz", into="quiz"), "must not be the table being read"),
                              (lambda: gpt.evaluate("nothing"), "no table nothing")]:
            with pytest.raises(SqlgptError, match=message):
                call()
    with duckdb.connect(options["database"], read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM quiz").fetchone() == (3,)


# -- the layouts and the command -----------------------------------------------------------------


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


KMMLU = [
    {"question": "대한민국의 수도는?", "answer": 2, "A": "부산", "B": "서울", "C": "대구", "D": "인천",
     "Category": "korean_history", "Human Accuracy": 0.9},
    {"question": "물의 끓는점은 섭씨 몇 도인가?", "answer": 4, "A": "0", "B": "50", "C": "90", "D": "100",
     "Category": "chemistry", "Human Accuracy": 0.8},
    {"question": "'훈민정음'을 만든 왕은?", "answer": 1, "A": "세종", "B": "태조", "C": "정조", "D": "영조",
     "Category": "korean_history", "Human Accuracy": 0.7},
]


def test_a_kmmlu_csv_with_korean_text_runs(capsys, eval_dir, tmp_path, reference):
    path = write_csv(tmp_path / "kmmlu.csv", KMMLU)
    code, out, err = run(capsys, "eval", str(path), "--style", "kmmlu", "--json", "--model", str(eval_dir),
                         "--engine", "numpy")
    assert code == 0, err
    result = json.loads(out)
    assert result["overall"]["n"] == 3 and set(result["categories"]) == {"korean_history", "chemistry"}
    assert [item["gold"] for item in result["items"]] == [1, 3, 0]  # 1-4, as KMMLU numbers answers
    for item, row in zip(result["items"], KMMLU):
        prompt = f"{row['question']}\nA. {row['A']}\nB. {row['B']}\nC. {row['C']}\nD. {row['D']}\n정답："
        assert item["loglikelihoods"] == pytest.approx(reference.loglikelihoods(prompt, [" A", " B", " C", " D"]),
                                                       abs=1e-4)
    code, out, _ = run(capsys, "eval", str(path), "--style", "kmmlu", "--show-prompt", "--model", str(eval_dir),
                       "--engine", "numpy")
    assert code == 0 and out.startswith("대한민국의 수도는?\nA. 부산\n") and '\n정답：\n--- ' in out


def test_an_mmlu_jsonl_and_the_generic_layout_in_parquet_run(capsys, eval_dir, tmp_path, numpy_result):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = ITEMS[:30]
    path = write_jsonl(tmp_path / "mmlu.jsonl", rows)
    code, out, err = run(capsys, "eval", str(path), "--style", "plain", "--model", str(eval_dir), "--engine", "numpy")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"{path}: 30 items, 0-shot, letter continuations")
    assert lines[1].split() == ["category", "n", "acc", "acc_norm"]
    assert [line.split()[0] for line in lines[2:6]] == sorted(SUBJECTS) + ["all"]
    assert re.fullmatch(r"all +30 +\d\.\d{4} ± \d\.\d{4} +\d\.\d{4} ± \d\.\d{4}", lines[5])
    # cais/mmlu's layout: choices as a list, the answer an index from 0
    generic = pa.table({"question": [r["question"] for r in rows], "subject": [r["subject"] for r in rows],
                        "choices": [[r[c] for c in "ABCD"] for r in rows], "answer": [gold(r) for r in rows]})
    pq.write_table(generic, tmp_path / "mmlu.parquet")
    result = sqlgpt.load(eval_dir, engine="numpy").evaluate(str(tmp_path / "mmlu.parquet"), style="plain")
    assert [r.loglikelihoods for r in result.items] == [r.loglikelihoods for r in numpy_result.items[:30]]


MISSING = "has columns question, A, B, answer; expected question, A, B, C, D and answer"


@pytest.mark.parametrize("name, text, message", [
    ("missing.csv", "question,A,B,answer\nq,a,b,A\n", MISSING),
    ("range.csv", "question,A,B,C,D,answer\nq,a,b,c,d,A\nq,a,b,c,d,E\n", "row 2: answer 'E' is not a letter A-D or a number 1-4"),
    ("number.csv", "question,A,B,C,D,answer\nq,a,b,c,d,5\n", "row 1: answer '5' is not a letter A-D or a number 1-4"),
    ("index.jsonl", '{"question": "q", "choices": ["a", "b"], "answer": 2}\n', "row 1: answer 2 is not an index of its 2 choices"),
    ("empty.csv", "", "empty.csv is empty"),
    ("header.csv", "question,A,B,C,D,answer\n", "holds no items"),
    ("blank.jsonl", "\n\n", "blank.jsonl is empty"),
    ("broken.jsonl", '{"question": "q"\n', "line 1 is not valid JSON"),
    ("choices.csv", "question,choices,answer\nq,not a list,0\n", "row 1: choices is not a list"),
    ("question.jsonl", '{"question": " ", "A": "a", "B": "b", "C": "c", "D": "d", "answer": "A"}\n', "the question is missing"),
    ("bad.parquet", "not parquet", "cannot read"),
])
def test_a_malformed_file_is_one_line_and_exit_2(capsys, name, text, message, tiny_dir, tmp_path):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    code, out, err = run(capsys, "eval", str(path), "--model", str(tiny_dir), "--engine", "numpy")
    assert code == 2 and out == ""
    assert err.startswith("sqlgpt: error: ") and err.count("\n") == 1 and message in err, err


def test_other_refusals_are_one_line(capsys, tiny_dir, tmp_path):
    write_csv(tmp_path / "items.csv", ITEMS[:3])
    model = ["--model", str(tiny_dir), "--engine", "numpy"]
    for argv, message in [(["nowhere.csv"], "no such file: nowhere.csv"),
                          (["quiz"], "working on a table needs a SQL engine"),
                          ([str(tmp_path / "items.csv"), "--shots", "2"], "few-shot examples come from a dev set"),
                          ([str(tmp_path / "items.csv"), "--key", "id"], "items from a file have none"),
                          ([str(tmp_path / "items.csv"), "--shots", "3", "--dev", str(tmp_path / "items.csv")],
                           "the dev set"),
                          ([str(tmp_path / "items.csv"), "--split", "test"], "it has no split column")]:
        code, _, err = run(capsys, "eval", *argv, *model)
        assert code == 2 and err.startswith("sqlgpt: error: ") and err.count("\n") == 1 and message in err, err


# -- prompts and shots ----------------------------------------------------------------------------


def test_show_prompt_prints_the_first_prompt_and_its_continuations(capsys, tiny_dir, tmp_path):
    write_csv(tmp_path / "items.csv", ITEMS[:5])
    write_csv(tmp_path / "dev.csv", DEV)
    code, out, _ = run(capsys, "eval", str(tmp_path / "items.csv"), "--dev", str(tmp_path / "dev.csv"), "--shots", "1",
                       "--show-prompt", "--model", str(tiny_dir), "--engine", "numpy")
    row = ITEMS[0]
    (shot,) = shots_for(row, 1)
    description = MMLU.format(row["subject"].replace("_", " "))
    assert code == 0
    assert out == (f"{description}{letters_prompt(shot)} {shot['answer']}\n\n{letters_prompt(row)}\n"
                   '--- continuations scored after the prompt: " A" | " B" | " C" | " D"\n')


def test_shots_are_fixed_by_the_seed_per_category(tiny_dir, tmp_path):
    write_csv(tmp_path / "items.csv", ITEMS[:30])
    write_csv(tmp_path / "dev.csv", DEV)
    gpt = sqlgpt.load(tiny_dir, engine="numpy")

    def prompts(seed: int) -> list[str]:
        return prepare(gpt, str(tmp_path / "items.csv"), dev=str(tmp_path / "dev.csv"), shots=3, seed=seed).prompts

    first = prompts(1)
    assert first == prompts(1) and first != prompts(2)
    for row, prompt in zip(ITEMS, first):
        assert prompt.startswith(MMLU.format(row["subject"].replace("_", " ")))
        assert prompt.count("\n\n") == 4  # the description, then 3 shots
        assert all(letters_prompt(shot) in prompt for shot in shots_for(row, 3, seed=1))
    # A split of the same items: the dev rows are the shots, and are not evaluated.
    rows = [{**row, "split": "dev"} for row in DEV] + [{**row, "split": "test"} for row in ITEMS[:10]]
    write_jsonl(tmp_path / "both.jsonl", rows)
    split = prepare(gpt, str(tmp_path / "both.jsonl"), dev="dev", shots=3, seed=1)
    assert split.prompts == first[:10] and len(split.items) == 10


# -- the bundled model ----------------------------------------------------------------------------


def next_word_items(n: int = 100, seed: int = 0) -> list[dict]:
    """Which word comes next? From tinyshakespeare's last 10% (what `sqlgpt train` holds out
    for validation): up to 150 characters of text, then the true next word (one that follows
    a space on its line) among three other words of that text, in the generic layout."""
    text = (SHARED_DATA / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    val = text[int(len(text) * 0.9):]
    spans = [m.span() for m in re.finditer(r"(?<= )[A-Za-z']+", val)]
    words = [val[a:b] for a, b in spans]
    rng = random.Random(seed)
    items = []
    for a, b in rng.sample(spans, n):
        context = val[max(0, a - 150) : a - 1]
        context = context[context.find(" ") + 1:] if a > 150 else context  # from a word's start
        options = [val[a:b]]
        while len(options) < 4:
            word = rng.choice(words)
            if word not in options:
                options.append(word)
        rng.shuffle(options)
        items.append({"question": context, "choices": options, "answer": options.index(val[a:b])})
    return items


def test_the_bundled_model_on_next_words_is_what_the_readme_says(tmp_path):
    if not SHARED_DATA.is_dir():
        pytest.skip(NO_SHARED)
    path = write_jsonl(tmp_path / "next-word.jsonl", next_word_items())
    # As a user runs it, with one BLAS thread: the model's matrices are small, and on a busy
    # machine more threads only wait for each other (several times slower).
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "sqlgpt", "eval", str(path), "--engine", "numpy", "--continuation",
                           "text", "--style", "plain", "--json"], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    a = json.loads(done.stdout)["overall"]
    figure = f"acc {a['acc']:.2f} ± {a['acc_stderr']:.2f}, acc_norm {a['acc_norm']:.2f} ± {a['acc_norm_stderr']:.2f}"
    assert a["n"] == 100 and figure in README, figure
