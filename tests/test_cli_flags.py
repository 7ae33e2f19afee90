"""The `sqlgpt` command's flags beyond the basics in test_cli.py: --stop, --version, --debug,
'-' for standard input, sampling flags, `sql --seed`, and `sql` on SQLite and PostgreSQL.

Every expectation comes from outside the command line: the NumPy engine's API, the package
metadata, `build_script`, or what a flag's help promises.
"""

from __future__ import annotations

import importlib.metadata
import io
import os
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

import sqlgpt
from sqlgpt.cli import main
from sqlgpt.engines.sql.script import build_script
from sqlgpt.models import open_checkpoint

NUMPY = ("--engine", "numpy")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_with_stdin(capsys, monkeypatch, text: str, *argv: str) -> tuple[int, str, str]:
    """`run`, with `text` as standard input (what '-' reads)."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    return run(capsys, *argv)


@pytest.fixture(scope="module")
def reference(tiny_dir) -> sqlgpt.GPT:
    return sqlgpt.load(tiny_dir, engine="numpy")


def probabilities(out: str) -> list[float]:
    """The probability column of `next`'s table."""
    return [float(line.split()[-1]) for line in out.splitlines()[1:]]


# -- generate --stop ------------------------------------------------------------------------------


def piece_from(text: str, start: int) -> str:
    """Two characters of `text` from `start` on, the first unlike the text's first character,
    so that the piece cannot occur at position 0."""
    return next(text[i : i + 2] for i in range(start, len(text) - 1) if text[i] != text[0])


def test_stop_cuts_before_the_first_stop_string(capsys, tiny_dir, reference):
    """--stop (given twice) ends the text before the earliest occurrence of either string."""
    common = ["generate", "the cat", "-n", "40", "--seed", "4", "--model", str(tiny_dir), *NUMPY]
    code, out, err = run(capsys, *common)
    assert code == 0, err
    full = out[:-1]  # the command ends the text with a newline
    assert full == reference.generate("the cat", max_new_tokens=40, seed=4) and len(full) > 20
    # Two stop strings taken from the text itself: one from the middle, one later on, given
    # first, so the cut must be at the earliest occurrence of any, not at the first flag's.
    early, late = piece_from(full, len(full) // 3), piece_from(full, 3 * len(full) // 4)
    cut = min(full.find(early), full.find(late))
    assert 0 < cut < len(full) - 2  # a real cut: some text kept, some dropped

    code, out, err = run(capsys, *common, "--stop", late, "--stop", early)
    assert code == 0, err
    assert out == full[:cut] + "\n"
    assert out[:-1] == reference.generate("the cat", max_new_tokens=40, seed=4, stop=[late, early])


# -- --version and --debug ----------------------------------------------------------------------------


def test_version_is_the_installed_distributions(capsys):
    """--version prints the installed distribution's version and exits 0."""
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"sqlgpt {importlib.metadata.version('sqlgpt')}\n"


def test_version_of_the_module_entry_point():
    """The same through `python -m sqlgpt`, a real process."""
    done = subprocess.run([sys.executable, "-m", "sqlgpt", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert done.stdout == f"sqlgpt {importlib.metadata.version('sqlgpt')}\n"


@pytest.mark.parametrize("argv", [
    ["next", "hi", "--model", "/nonexistent/model"],
    ["generate", "hi", "--top-p", "1.5", *NUMPY],
    ["score", "/nonexistent/file.txt", *NUMPY],
])
def test_debug_adds_the_traceback_to_the_one_error_line(capsys, tiny_dir, argv):
    """Without --debug one line; with it the traceback first, then the same line; exit 2 both times."""
    if "--model" not in argv:
        argv = argv + ["--model", str(tiny_dir)]
    code, _, err = run(capsys, *argv)
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1

    code, _, debug_err = run(capsys, *argv, "--debug")
    assert code == 2
    assert "Traceback (most recent call last)" in debug_err and "SqlgptError" in debug_err
    error_lines = [line for line in debug_err.splitlines() if line.startswith("sqlgpt: error: ")]
    assert error_lines == [err.rstrip("\n")]  # still the same one line, last
    assert debug_err.rstrip("\n").splitlines()[-1] == error_lines[0]


# -- '-' reads standard input -----------------------------------------------------------------------

TEXT = "the cat 'sat'\non \"the\" mat;\n"  # quotes and new lines: what a shell would mangle


@pytest.mark.parametrize("argv", [
    ["next", "{}", "-k", "4", *NUMPY],
    ["generate", "{}", "-n", "8", "--seed", "2", *NUMPY],
    ["tokenize", "{}"],
    ["choose", "{}", " mat", " dog", *NUMPY],
    ["explain", "{}", "-k", "2", *NUMPY],
    ["sql", "--prompt", "{}", "-n", "3", "-t", "0", "--dialect", "sqlite"],
])
def test_dash_reads_the_text_from_stdin(capsys, monkeypatch, tiny_dir, argv):
    """`CMD -` with TEXT on stdin prints what `CMD TEXT` prints."""
    model = ["--model", str(tiny_dir)]
    code, expected, err = run(capsys, *[TEXT if a == "{}" else a for a in argv], *model)
    assert code == 0, err
    code, out, err = run_with_stdin(capsys, monkeypatch, TEXT, *["-" if a == "{}" else a for a in argv], *model)
    assert code == 0, err
    assert out == expected
    # Not vacuous: another text gives other output.
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, dash, _ = run(capsys, *["x-" if a == "{}" else a for a in argv], *model)
    assert dash != expected


def test_score_dash_reads_stdin(capsys, monkeypatch, tiny_dir, tmp_path):
    """`score -` scores stdin as `score FILE` scores the file."""
    path = tmp_path / "text.txt"
    path.write_text(TEXT, encoding="utf-8")
    code, expected, err = run(capsys, "score", str(path), "--model", str(tiny_dir), *NUMPY)
    assert code == 0, err
    code, out, err = run_with_stdin(capsys, monkeypatch, TEXT, "score", "-", "--model", str(tiny_dir), *NUMPY)
    assert code == 0, err
    assert out == expected
    score = sqlgpt.load(tiny_dir, engine="numpy").score(TEXT)
    assert f"{score.loss:.4f}" in out and f"tokens      {score.n_tokens}" in out


def test_dash_through_a_real_process(tiny_dir, capsys):
    """A real pipe into `python -m sqlgpt`: UTF-8 text on stdin, tokenized as the argument is."""
    text = "naïve café 東京\nthe cat"
    done = subprocess.run([sys.executable, "-m", "sqlgpt", "tokenize", "-", "--model", str(tiny_dir)],
                          input=text.encode("utf-8"), capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONUTF8": "1"})
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    ids = sqlgpt.load(tiny_dir, engine="numpy").tokenizer.encode(text)
    lines = done.stdout.decode("utf-8").splitlines()
    assert lines[0] == f"{len(ids)} tokens"
    assert [int(line.split()[0]) for line in lines[2:]] == ids


# -- sampling flags ------------------------------------------------------------------------------------


def test_temperature_and_top_p_sample_as_the_api(capsys, tiny_dir, reference):
    """-t and --top-p reach the sampler: the API's text for the same seed."""
    code, out, err = run(capsys, "generate", "the cat", "-n", "25", "-t", "0.7", "--top-p", "0.9", "--seed", "3",
                         "--model", str(tiny_dir), *NUMPY)
    assert code == 0, err
    expected = reference.generate("the cat", max_new_tokens=25, temperature=0.7, top_p=0.9, seed=3)
    assert out == expected + "\n"
    # The flags matter: the defaults (temperature 1, no top-p) sample another text.
    assert expected != reference.generate("the cat", max_new_tokens=25, seed=3)


def test_next_temperature_prints_the_softened_probabilities(capsys, tiny_dir, reference):
    """`next -t 2` prints next_token_probs(temperature=2)."""
    code, out, err = run(capsys, "next", "the cat", "-k", "5", "-t", "2", "--model", str(tiny_dir), *NUMPY)
    assert code == 0, err
    expected = reference.next_token_probs("the cat", k=5, temperature=2)
    assert probabilities(out) == pytest.approx([p for _, p in expected], abs=1e-6)
    at_one = reference.next_token_probs("the cat", k=5)
    assert not np.allclose([p for _, p in at_one], [p for _, p in expected], atol=1e-4)  # -t really changed them


# -- sql --prompt --seed: a script that samples as sqlgpt does -----------------------------------------


def run_sqlite_script(script: str, database) -> str:
    """What the script prints, run as a program would through sqlite3: executescript of its
    body (which returns no rows), then its last query, the generated text."""
    body, query = script.rsplit("-- ===== the generated text =====", 1)
    conn = sqlite3.connect(database)
    try:
        conn.executescript(body)
        return conn.execute(query).fetchone()[0]
    finally:
        conn.close()


def test_sql_script_with_a_seed_samples_as_generate(capsys, tiny_dir, tmp_path, reference):
    """`sql --prompt --seed` writes build_script's script, which SQLite runs to generate's text."""
    prompt, n, seed = "the cat", 12, 7
    path = tmp_path / "gen.sql"
    code, out, err = run(capsys, "sql", "--prompt", prompt, "-n", str(n), "--seed", str(seed), "--dialect", "sqlite",
                         "--model", str(tiny_dir), "-o", str(path))
    assert code == 0, err
    assert str(path) in out
    script = path.read_text(encoding="utf-8")
    header = script.split("\n\n", 1)[0]
    assert f"--seed {seed}" in header and f"seed {seed}" in header  # the seed is recorded
    expected_script = build_script(open_checkpoint(str(tiny_dir)), "sqlite", prompt, n, temperature=1.0, seed=seed,
                                   model=str(tiny_dir))
    assert script == expected_script

    database = tmp_path / "models.sqlite"
    sqlgpt.load(tiny_dir, engine="sqlite", database=str(database), progress=False).close()
    expected = reference.generate(prompt, max_new_tokens=n, seed=seed)
    assert len(expected) >= 4  # a real text, not a vacuous pass
    assert run_sqlite_script(script, database) == expected.replace("\0", "\ufffd")
    # Another seed, another text: the seed is what the script samples with.
    other = build_script(open_checkpoint(str(tiny_dir)), "sqlite", prompt, n, temperature=1.0, seed=seed + 1)
    assert run_sqlite_script(other, database) == reference.generate(prompt, max_new_tokens=n, seed=seed + 1) \
        .replace("\0", "\ufffd") != expected


# -- sql: the step's statements on SQLite and PostgreSQL ------------------------------------------------


def statements(out: str) -> list[str]:
    """The printed statements (each ends with ';' and a new line), without the '-- kept' list."""
    return [s for s in out.split(";\n") if s.strip() and not s.strip().startswith("-- kept")]


def test_sql_on_sqlite_prints_one_commented_step(capsys, tiny_dir, tmp_path):
    """Every statement of a SQLite step, each with its comment."""
    code, out, err = run(capsys, "sql", "--model", str(tiny_dir), "--engine", "sqlite",
                         "--database", str(tmp_path / "sql.sqlite"))
    assert code == 0, err
    found = statements(out)
    # The wide layout (wide.py): session tables tokens, x0..x2, final and a cache per layer
    # (no transposed values); the tokens; the step: embeddings, 2 per layer (QKV into the
    # cache; attention + MLP), the final norm; the logits.
    assert len(found) == (1 + 3 + 1 + 2) + 1 + (1 + 2 * 2 + 1) + 1
    assert all(s.strip().splitlines()[0].startswith("--") for s in found)  # each one commented
    assert "INSERT INTO cache1" in out and "INSERT INTO x2" in out
    assert "list_dot_product" not in out and "inner_product" not in out  # sums of products, written out


def test_sql_on_postgres_prints_one_commented_step(capsys, tiny_dir, pg_dsn):
    """Every statement of a PostgreSQL step, each with its comment."""
    code, out, err = run(capsys, "sql", "--model", str(tiny_dir), "--engine", "postgres", "--database", pg_dsn)
    assert code == 0, err
    found = statements(out)
    # As DuckDB (the vector layout): tokens, x0..x2, final, per layer a cache and transposed
    # values; the tokens; embeddings, 3 per layer (QKV, append the values, attention + MLP),
    # the final norm; the logits.
    assert len(found) == (1 + 3 + 1 + 2 * 2) + 1 + (1 + 3 * 2 + 1) + 1
    assert all(s.strip().splitlines()[0].startswith("--") for s in found)
    assert "inner_product" in out and "INSERT INTO cache1" in out  # pgvector's dot product


def test_sql_keep_on_sqlite_leaves_tables_sqlite_can_query(capsys, tiny_dir, tmp_path, reference):
    """`sql --keep` on SQLite: the step really ran, its tables hold softmaxes and the logits' state."""
    database = tmp_path / "keep.sqlite"
    code, out, err = run(capsys, "sql", "--keep", "the cat", "--model", str(tiny_dir), "--engine", "sqlite",
                         "-d", str(database))
    assert code == 0, err
    assert "sqlgpt_inspect__attn1" in out and "sqlgpt_inspect__final" in out
    n = len(reference.tokenizer.encode("the cat"))
    C = reference.config.n_embd
    with sqlite3.connect(database) as conn:
        sums = conn.execute("SELECT pos, hd, sum(p) FROM sqlgpt_inspect__attn0 GROUP BY pos, hd").fetchall()
        future = conn.execute("SELECT count(*) FROM sqlgpt_inspect__attn1 WHERE kpos > pos AND p <> 0").fetchone()
        columns = ", ".join(f"xn{k}" for k in range(C))
        final = conn.execute(f"SELECT {columns} FROM sqlgpt_inspect__final ORDER BY pos").fetchall()
    assert len(sums) == n * reference.config.n_head and all(abs(total - 1) < 1e-5 for *_, total in sums)
    assert future == (0,)  # causal: nothing attends to later positions
    # The kept final hidden state, unembedded, gives the NumPy engine's logits.
    logits = np.array(final, dtype=np.float32) @ reference.engine.params["wte.weight"].T
    assert np.abs(logits - reference.logits(reference.tokenizer.encode("the cat"))).max() < 1e-4
