"""Fuzz: Hypothesis over what takes user input — prompts, table and column names, sampling
options, files to score, damaged model directories, the command line. Every case either
works or ends in one line (SqlgptError; exit code 2 from the command), and no text ever runs
as SQL: a canary table in the database stays as it was."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sqlgpt
from sqlgpt import SqlgptError
from sqlgpt.cli import main

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CANARY = [(1, "canary row"), (2, "'; DROP TABLE canary; --")]
# Text that SQL, shells and string handling find hard, mixed with anything.
HOSTILE_TEXT = st.one_of(
    st.text(max_size=200),
    st.sampled_from(["'; DROP TABLE canary; --", "\\x00", "$$", "' OR '1'='1", "%s %d ?", "\x00", "\ud800", "😀" * 50]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=60),
)


@pytest.fixture(scope="module")
def fuzz_db(tiny_dir, tmp_path_factory):
    """A DuckDB file holding the canary table and the tiny model, and the model loaded on it."""
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE canary (id INTEGER, body VARCHAR)")
        conn.executemany("INSERT INTO canary VALUES (?, ?)", CANARY)
    gpt = sqlgpt.load(tiny_dir, engine="duckdb", database=str(path), progress=False)
    yield gpt, path
    gpt.close()


def canary_intact(gpt) -> bool:
    return sorted(map(tuple, gpt.engine.tables().read("canary", ["id", "body"]))) == CANARY


@FUZZ
@given(prompt=HOSTILE_TEXT, temperature=st.one_of(st.floats(allow_nan=True), st.integers(-3, 3)),
       top_k=st.one_of(st.none(), st.integers(-5, 500)), top_p=st.one_of(st.none(), st.floats(-1, 2)),
       seed=st.one_of(st.none(), st.integers(-(2**70), 2**70)), n=st.integers(-2, 80))
def test_prompts_and_sampling_options_work_or_are_refused_in_one_line(fuzz_db, prompt, temperature, top_k, top_p,
                                                                       seed, n):
    gpt, _ = fuzz_db
    try:
        text = gpt.generate(prompt, max_new_tokens=n, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
        assert isinstance(text, str)
    except SqlgptError as e:
        assert "\n" not in str(e)
    try:
        gpt.next_token_probs(prompt, k=3)
    except SqlgptError as e:
        assert "\n" not in str(e)
    assert canary_intact(gpt)


@FUZZ
@given(table=HOSTILE_TEXT, column=HOSTILE_TEXT, key=st.one_of(st.none(), HOSTILE_TEXT), question=HOSTILE_TEXT)
def test_table_and_column_names_work_or_are_refused_in_one_line(fuzz_db, table, column, key, question):
    gpt, _ = fuzz_db
    for work in (lambda: gpt.score_table(table, column, key=key, into="fuzz_scores", replace=True),
                 lambda: gpt.retrieve(question, table, column, 2, key=key),
                 lambda: gpt.index(table, column, key=key)):
        try:
            work()
        except SqlgptError as e:
            assert "\n" not in str(e)
    assert canary_intact(gpt)


@FUZZ
@given(content=st.binary(max_size=400))
def test_files_to_score_work_or_are_refused_in_one_line(tiny_dir, tmp_path_factory, capsys, content):
    path = tmp_path_factory.mktemp("score") / "file.txt"
    path.write_bytes(content)
    code = main(["score", str(path), "--model", str(tiny_dir), "--engine", "numpy"])
    err = capsys.readouterr().err
    assert code in (0, 2) and (code == 0 or err.count("\n") == 1), err


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["config.json", "model.safetensors", "vocab.json", "merges.txt"]),
       cut=st.floats(0, 1), flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=4))
def test_damaged_model_directories_load_or_are_refused_in_one_line(tiny_dir, tmp_path_factory, name, cut, flips):
    directory = tmp_path_factory.mktemp("damaged")
    shutil.copytree(tiny_dir, directory, dirs_exist_ok=True)
    path = Path(directory) / name
    data = bytearray(path.read_bytes())
    for where, value in flips:
        if data:
            data[int(where * (len(data) - 1))] = value
    path.write_bytes(bytes(data[: max(0, int(cut * len(data)))] if cut < 0.5 else data))
    try:
        gpt = sqlgpt.load(directory, engine="numpy")
        gpt.generate("the cat", max_new_tokens=2, seed=0)
    except SqlgptError as e:
        assert "\n" not in str(e)


COMMANDS = st.sampled_from(["next", "generate", "score", "choose", "tokenize", "retrieve", "index", "ask"])
OPTIONS = st.lists(st.sampled_from(["-k", "-n", "--temperature", "--top-k", "--top-p", "--seed", "--table", "--column",
                                    "--key", "--into", "--replace", "--split", "--stop"]), max_size=4)


@pytest.fixture(scope="module")
def cli_db(tmp_path_factory) -> Path:
    """A DuckDB file holding the canary table, for the command line (which opens and closes it)."""
    path = tmp_path_factory.mktemp("cli") / "cli.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE canary (id INTEGER, body VARCHAR)")
        conn.executemany("INSERT INTO canary VALUES (?, ?)", CANARY)
    return path


@FUZZ
@given(command=COMMANDS, options=OPTIONS, values=st.lists(HOSTILE_TEXT.filter(lambda t: "\x00" not in t), max_size=5))
def test_command_lines_work_or_end_in_one_line_with_exit_2(tiny_dir, cli_db, capsys, command, options, values):
    argv = [command]
    for i, option in enumerate(options):
        argv += [option] if option == "--replace" else [option, values[i] if i < len(values) else "1"]
    argv += values[len(options):][:1]  # a positional, maybe
    argv += ["--model", str(tiny_dir)] + ([] if command == "tokenize" else ["--engine", "duckdb", "-d", str(cli_db)])
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own usage errors: its usage, one error line, exit 2
        assert e.code == 2
        capsys.readouterr()
        code = 2
    else:
        err = capsys.readouterr().err
        assert code in (0, 2), err
        if code == 2:
            assert err.count("\n") == 1 and err.startswith("sqlgpt: error:"), err
    with duckdb.connect(str(cli_db), read_only=True) as conn:
        assert sorted(conn.execute("SELECT id, body FROM canary").fetchall()) == CANARY
