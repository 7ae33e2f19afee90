"""The standalone SQL script (`sqlgpt sql --prompt`), run by each database's own shell or
driver: its tokenizer must give `sqlgpt.Tokenizer`'s ids, its decoder Python's text, and the
whole script the text `GPT.generate` gives on the NumPy engine.

Spark's tokenizer and decoder run in the suite's shared Spark session; its whole script runs
in `spark-sql`, a JVM of its own (tens of seconds to start, a second or more per statement
on 2 cores), so it gets one short sampled case."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

import sqlgpt
from sqlgpt import Tokenizer
from sqlgpt.cli import main
from sqlgpt.engines.sql.databases import get_dialect
from sqlgpt.engines.sql.script import (
    build_script,
    decode_statement,
    encode_statements,
    run_command,
    vocabulary_statements,
)
from sqlgpt.errors import SqlgptError
from sqlgpt.models import open_checkpoint

from .conftest import NO_SHARED, SHARED_DATA

CORPUS = Path(__file__).with_name("multilingual_corpus.txt").read_text(encoding="utf-8")
# Everything a pre-tokenizer or a string literal can get wrong: contractions, runs of spaces
# before words and at the end, tabs, CR LF, non-breaking and ideographic spaces, letters and
# numbers outside ASCII (and outside the BMP), quotes, backslashes, psql's meta-commands and
# variables, dollar quotes, and a repeated pair (merged leftmost first).
PROMPTS = [
    CORPUS[:400],
    "Hello, world! It's 2024... isn't it?   Yes.\n\n  ok ",
    "  leading and trailing spaces  ",
    "tabs\tand\n\nnew lines\r\n    indented:\n\treturn x**2  # ok",
    "naïve café — 東京タワー ١٢٣ x² 𝐀𝟙 😀 ｶﾀｶﾅ",
    "'s 'S 'll''ve they're I'LL ''quoted''",
    "nbsp\u00a0\u00a0and ideographic\u3000\u3000space \u2028 x\x0b\x0cy",
    "quotes ' \" `` and \\backslashes\\ $$ $q$ :var :'var' \\set x\n\\q\n.read y",
    "aaaaaaaaaaa 1234567890 !!!???",
    " ",
    "",
]
# What the shells read specially, inside the literal: a psql meta-command, a dot command, a psql
# variable, dollar quotes, a CR LF.
NASTY = "It's \"q\" \\n 'q'\n\\set x\r\n.quit\n  é東 :x $$"


def psql_path() -> str | None:
    """psql from the pgserver package (it ships PostgreSQL's binaries), else from PATH."""
    try:
        import pgserver
    except ImportError:
        return shutil.which("psql")
    bundled = Path(pgserver.__file__).parent / "pginstall" / "bin" / "psql"
    return str(bundled) if bundled.exists() else shutil.which("psql")


# -- running statements through each database's Python driver --------------------------------


def connect(dialect: str, request):
    """A fresh connection with no tables: in memory (DuckDB, SQLite) or a new session
    (PostgreSQL, whose temporary tables are the connection's own; Spark, a session of the
    suite's shared one working in a database of its own, which closing it drops)."""
    if dialect == "duckdb":
        return duckdb.connect()
    if dialect == "sqlite":
        return sqlite3.connect(":memory:")
    if dialect == "spark":
        from sqlgpt.engines.sql.drivers.spark import SparkConnection

        shared = SparkConnection(get_dialect("spark"), request.getfixturevalue("spark_session"), owned=False)
        return contextlib.closing(shared.private_session())
    import psycopg

    return psycopg.connect(request.getfixturevalue("pg_dsn"), autocommit=True)


def run_all(conn, statements) -> None:
    for statement in statements:
        conn.execute(statement.sql)


@pytest.fixture(scope="module")
def trained_tokenizer() -> Tokenizer:
    """A vocabulary with hundreds of merges, learnt on several scripts' text."""
    return Tokenizer.train(CORPUS, 1000)


@pytest.fixture(scope="module")
def gpt2_tokenizer() -> Tokenizer:
    if not SHARED_DATA.is_dir():
        pytest.skip(NO_SHARED)
    return Tokenizer.from_files(SHARED_DATA / "gpt2" / "encoder.json", SHARED_DATA / "gpt2" / "vocab.bpe")


@pytest.mark.parametrize("vocabulary", ["trained", "gpt2"])
@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "sqlite", "spark"])
def test_tokenizer_in_sql_gives_the_tokenizers_ids(dialect, vocabulary, request):
    tokenizer = request.getfixturevalue(f"{vocabulary}_tokenizer")
    with connect(dialect, request) as conn:
        run_all(conn, vocabulary_statements(tokenizer, dialect))
        for prompt in PROMPTS:
            run_all(conn, encode_statements(dialect, prompt))
            ids = [token for (token,) in conn.execute("SELECT token FROM prompt_tokens ORDER BY pos").fetchall()]
            assert ids == tokenizer.encode(prompt), repr(prompt)
            for table in ("prompt", "nums", "pieces", "prompt_tokens"):
                conn.execute(f"DROP TABLE {table}")
    merged = [i for i in tokenizer.encode(PROMPTS[0]) if len(tokenizer.token_bytes(i)) > 1]
    assert len(merged) > 50  # the check is not vacuous: BPE did merge


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "sqlite", "spark"])
def test_decoder_replaces_invalid_utf8_as_python(dialect, trained_tokenizer, request):
    tokenizer = trained_tokenizer
    byte_token = {tokenizer.token_bytes(i): i for i in range(tokenizer.vocab_size)
                  if len(tokenizer.token_bytes(i)) == 1}
    # Valid characters of every length, then each kind of invalid sequence: stray continuation
    # bytes, bytes that never start one, overlongs, surrogates, beyond U+10FFFF, sequences cut
    # short (in the middle and at the very end), and random bytes.
    cases = ["aé€😀".encode(), b"\x80", b"\xbf\xc0\xc1\xf5\xff", b"\xc0\x80", b"\xe0\x80\x80", b"\xe0\xa0\x80",
             b"\xed\xa0\x80", b"\xed\x9f\xbf", b"\xf0\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf4\x8f\xbf\xbf",
             b"\xe2\x82", b"\xf0\x9f\x98", b"\xc3a", b"\xe2\x82a\xf0\x9f", b"x\x00y",
             np.random.default_rng(0).integers(0, 256, 600, dtype=np.uint8).tobytes(), b"\xf0\x9f\x98"]
    ids = [byte_token[bytes([b])] for case in cases for b in case]
    ids += tokenizer.encode("naïve 東京")  # tokens of several bytes too
    picked = [*ids, tokenizer.eot_id]  # as a script that stopped: <|endoftext|> is not text
    with connect(dialect, request) as conn:
        run_all(conn, vocabulary_statements(tokenizer, dialect) + encode_statements(dialect, ""))
        conn.execute(get_dialect(dialect).script_table("picked", "k INTEGER, token INTEGER"))
        conn.execute("INSERT INTO picked VALUES " + ", ".join(f"({k}, {t})" for k, t in enumerate(picked)))
        (text,) = conn.execute(decode_statement(dialect, eot=tokenizer.eot_id).sql).fetchone()
    assert text == tokenizer.decode(ids).replace("\0", "\ufffd")
    assert text.count("\ufffd") > 100 and "東京" in text


# -- the whole script, through each database's own shell --------------------------------------


@pytest.fixture(scope="module")
def databases(tiny_dir, tmp_path_factory) -> dict[str, str]:
    """DuckDB and SQLite files with the tiny model installed, made by sqlgpt as a user's are
    (the `duckdb` shell can be older than the Python module: sqlgpt writes a format it reads)."""
    directory = tmp_path_factory.mktemp("script-databases")
    paths = {"duckdb": str(directory / "models.duckdb"), "sqlite": str(directory / "models.sqlite")}
    for engine, path in paths.items():
        sqlgpt.load(tiny_dir, engine=engine, database=path).close()
    return paths


@pytest.fixture(scope="module")
def spark_folder(spark_started_by_sqlgpt) -> Path:
    """The folder (warehouse, Derby metastore) where `sqlgpt next --engine spark`, run as a user
    runs it, installed the tiny model (conftest's `spark_started_by_sqlgpt`): the script's DATABASE."""
    done, folder = spark_started_by_sqlgpt
    assert done.returncode == 0, done.stderr
    return folder


def spark_sql_command(script: Path, folder: Path) -> tuple[list[str], dict[str, str]]:
    """The header's spark-sql command line for `script` with DATABASE `folder`, run by the
    shell that pyspark ships (SPARK_HOME its folder: its launcher looks for a Python with
    pyspark otherwise), and the environment to run it in."""
    import pyspark

    home = Path(pyspark.__file__).parent
    command = shlex.split(run_command("spark", str(script)).replace("DATABASE", str(folder)))
    assert command[0] == "spark-sql"
    return [str(home / "bin" / "spark-sql"), *command[1:]], {**os.environ, "SPARK_HOME": str(home)}


def run_in_shell(runner: str, script: str, tmp_path: Path, request) -> str:
    """The text the script prints, run by `runner`: the DuckDB Python module, or a shell."""
    env = None
    path = tmp_path / "script.sql"
    path.write_text(script, encoding="utf-8", newline="\n")
    if runner == "duckdb-module":
        with duckdb.connect(request.getfixturevalue("databases")["duckdb"]) as conn:
            return conn.execute(script).fetchone()[0]
    if runner == "sqlite-module":  # as a program would: executescript, which returns no rows, then the last query
        body, query = script.rsplit("-- ===== the generated text =====", 1)
        with sqlite3.connect(request.getfixturevalue("databases")["sqlite"]) as conn:
            conn.executescript(body)
            return conn.execute(query).fetchone()[0]
    if runner == "psql":
        psql = psql_path()
        if psql is None:
            pytest.skip("no psql")
        dsn = request.getfixturevalue("pg_dsn")
        # (Re)install: another test may have installed the model there in another layout.
        sqlgpt.load(request.getfixturevalue("tiny_dir"), engine="postgres", dsn=dsn).close()
        command = [psql, "-X", "-f", str(path), dsn]
    elif runner == "spark-sql":
        command, env = spark_sql_command(path, request.getfixturevalue("spark_folder"))
    elif runner == "duckdb-shell":
        # duckdb-cli (test extra) puts the shell beside this Python, whose bin need not be on PATH.
        beside = Path(sys.executable).parent / "duckdb"
        shell = str(beside) if beside.exists() else "duckdb"
        command = [shell, "-bail", "-list", "-noheader", request.getfixturevalue("databases")["duckdb"]]
    else:
        command = ["sqlite3", "-bail", request.getfixturevalue("databases")["sqlite"]]
    if shutil.which(command[0]) is None:
        pytest.skip(f"no {command[0]} shell on PATH")
    with path.open("rb") as script_file:
        done = subprocess.run(command, stdin=script_file, capture_output=True, timeout=600, env=env)
    # spark-sql writes its notices and timings to stderr; its exit status says whether it failed.
    assert done.returncode == 0 and (runner == "spark-sql" or not done.stderr), done.stderr.decode(errors="replace")
    out = done.stdout.decode("utf-8")
    assert out.endswith("\n")  # the shell ends the value's line
    return out[:-1]


def ended_early_seed(gpt, n: int) -> int:
    """A seed for which sampling from an empty prompt at temperature 2 draws <|endoftext|>
    after a few tokens but before `n`: the NumPy reference says which."""
    for seed in range(1000):
        if 5 <= len(gpt.generate_ids([gpt.tokenizer.eot_id], n, temperature=2.0, seed=seed)) < n:
            return seed
    raise AssertionError("no seed ends early")


def reference_cases(tiny_dir, specs) -> list[tuple[str, int, float, int | None, str]]:
    """Each (prompt, new tokens, temperature, seed) of `specs` with the NumPy engine's text."""
    reference = sqlgpt.load(tiny_dir, engine="numpy")
    out = []
    for prompt, n, temperature, seed in specs:
        seed = seed(reference) if callable(seed) else seed
        text = reference.generate(prompt, max_new_tokens=n, temperature=temperature, seed=seed)
        assert len(text) >= min(n, 4)  # a real text, not a vacuous pass
        out.append((prompt, n, temperature, seed, text))
    return out


@pytest.fixture(scope="module")
def cases(tiny_dir) -> list[tuple[str, int, float, int | None, str]]:
    """(prompt, new tokens, temperature, seed, the NumPy engine's text): greedy after a prompt
    full of what shells read specially, sampled, and sampled until <|endoftext|> from none."""
    return reference_cases(tiny_dir, [(NASTY, 12, 0.0, None), ("the cat", 20, 1.3, 5),
                                      ("", 30, 2.0, lambda reference: ended_early_seed(reference, 30))])


@pytest.fixture(scope="module")
def spark_cases(tiny_dir) -> list[tuple[str, int, float, int | None, str]]:
    """One short case, sampled after the prompt full of what shells read specially: a spark-sql
    run takes a minute (its JVM, the tables, seconds per token). Two tokens: one from the
    prompt's pass, one from a step that reads the KV cache (the next ones repeat that step's
    text). Spark's greedy pick is pinned by its golden script."""
    return reference_cases(tiny_dir, [(NASTY, 2, 1.3, 5)])


RUNNERS = {"duckdb-module": "duckdb", "duckdb-shell": "duckdb", "psql": "postgres", "sqlite-shell": "sqlite",
           "sqlite-module": "sqlite", "spark-sql": "spark"}


@pytest.mark.parametrize("runner", RUNNERS)
def test_script_prints_what_generate_gives(runner, tiny_dir, tmp_path, request):
    checkpoint = open_checkpoint(str(tiny_dir))
    cases = request.getfixturevalue("spark_cases" if runner == "spark-sql" else "cases")
    for prompt, n, temperature, seed, expected in cases:
        script = build_script(checkpoint, RUNNERS[runner], prompt, n, temperature=temperature, seed=seed)
        assert run_in_shell(runner, script, tmp_path, request) == expected.replace("\0", "\ufffd")


# -- building it, and the command line -----------------------------------------------------------


def test_prompt_with_nul_or_too_long_is_refused(tiny_dir):
    checkpoint = open_checkpoint(str(tiny_dir))
    with pytest.raises(SqlgptError, match="NUL"):
        build_script(checkpoint, "duckdb", "a\0b", 3)
    with pytest.raises(SqlgptError, match="context window"):
        build_script(checkpoint, "duckdb", "the cat", 64)
    with pytest.raises(SqlgptError, match="choose one of"):
        build_script(checkpoint, "numpy", "the cat", 3)


def test_a_seedless_script_records_its_seed(tiny_dir):
    script = build_script(open_checkpoint(str(tiny_dir)), "sqlite", "the cat", 5, temperature=0.9)
    line = next(line for line in script.splitlines() if "--seed" in line)
    seed = int(line.split("--seed ")[1].split()[0])
    assert script == build_script(open_checkpoint(str(tiny_dir)), "sqlite", "the cat", 5, temperature=0.9, seed=seed)


def test_cli_writes_the_script(capsys, tiny_dir, tmp_path):
    out = tmp_path / "gen.sql"
    argv = ["sql", "--prompt", "the cat", "-n", "4", "-t", "0", "--dialect", "postgres", "--model", str(tiny_dir)]
    assert main([*argv, "-o", str(out)]) == 0
    expected = build_script(open_checkpoint(str(tiny_dir)), "postgres", "the cat", 4, model=str(tiny_dir))
    assert out.read_text(encoding="utf-8") == expected
    assert f"psql -X -f {out}" in capsys.readouterr().out
    assert main(argv) == 0
    assert capsys.readouterr().out == expected


@pytest.mark.parametrize("argv,message", [
    (["--prompt", "a\0b"], "NUL"),
    (["-n", "3"], "only with --prompt"),
    (["--prompt", "x", "--keep", "y"], "give one of them"),
    (["--prompt", "x", "-d", "some.duckdb"], "opens no database"),
    (["--prompt", "x", "--engine", "numpy"], "choose one with --dialect"),
])
def test_cli_script_errors_are_one_line(capsys, tiny_dir, argv, message):
    assert main(["sql", *argv, "--model", str(tiny_dir)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
