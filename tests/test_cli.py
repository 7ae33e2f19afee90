"""The `sqlgpt` command: output of each subcommand, and one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

import sqlgpt
from sqlgpt.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_next_prints_the_candidates_table(capsys, tiny_dir):
    code, out, err = run(capsys, "next", "the cat", "-k", "3", "--model", str(tiny_dir), "--engine", "numpy")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["token", "probability"] and len(lines) == 4
    expected = sqlgpt.load(tiny_dir).next_token_probs("the cat", k=3)
    assert [float(line.split()[-1]) for line in lines[1:]] == pytest.approx([p for _, p in expected], abs=1e-6)


def test_generate_streams_the_same_text_as_the_api(capsys, tiny_dir):
    code, out, _ = run(capsys, "generate", "in the", "-n", "15", "--seed", "3", "--top-k", "30", "--model", str(tiny_dir))
    assert code == 0
    expected = sqlgpt.load(tiny_dir).generate("in the", max_new_tokens=15, seed=3, top_k=30)
    assert out == expected + "\n"


def test_tokenize_shows_ids_and_pieces(capsys, tiny_dir):
    code, out, _ = run(capsys, "tokenize", "the cat", "--model", str(tiny_dir))
    assert code == 0
    ids = sqlgpt.load(tiny_dir).tokenizer.encode("the cat")
    assert out.splitlines()[0] == f"{len(ids)} tokens"
    assert [int(line.split()[0]) for line in out.splitlines()[2:]] == ids
    assert '"he"' in out and '" "' in out  # pieces are shown as JSON strings


def test_score_prints_loss_and_perplexity(capsys, tiny_dir, tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("the cat sat on the mat", encoding="utf-8")
    code, out, _ = run(capsys, "score", str(path), "--model", str(tiny_dir))
    assert code == 0
    result = sqlgpt.load(tiny_dir).score("the cat sat on the mat")
    assert f"{result.loss:.4f}" in out and f"tokens      {result.n_tokens}" in out


@pytest.mark.parametrize("argv,message", [
    (["next", "hi", "--model", "/nonexistent/model"], "not a directory"),
    (["next", "hi", "-k", "0"], "k must be"),
    (["generate", "hi", "--top-p", "1.5"], "top_p"),
    (["generate", "hi", "-n", "1000"], "context window"),
    (["generate", "x" * 300], "context window is 64"),
    (["score", "/nonexistent/file.txt"], "no such file"),
])
def test_errors_are_one_line_with_exit_code_2(capsys, tiny_dir, argv, message):
    if "--model" not in argv:
        argv = argv + ["--model", str(tiny_dir)]
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("sqlgpt: error: ") and message in err
    assert "Traceback" not in err


def test_empty_score_file_and_binary_file(capsys, tiny_dir, tmp_path):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00garbage")
    for name, message in (("empty.txt", "empty"), ("bin.txt", "not UTF-8")):
        code, _, err = run(capsys, "score", str(tmp_path / name), "--model", str(tiny_dir))
        assert code == 2 and message in err and err.count("\n") == 1


def test_module_entry_point_and_help(tiny_dir):
    help_text = subprocess.run([sys.executable, "-m", "sqlgpt", "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "examples:" in help_text.stdout
    bad = subprocess.run([sys.executable, "-m", "sqlgpt", "next", "hi", "--model", str(tiny_dir / "missing")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stderr.startswith("sqlgpt: error:")


def test_sql_prints_one_commented_step(capsys, tiny_dir, tmp_path):
    database = str(tmp_path / "sql.duckdb")
    code, out, err = run(capsys, "sql", "--model", str(tiny_dir), "--database", database)
    assert code == 0, err
    statements = [s for s in out.split(";\n") if s.strip() and not s.strip().startswith("-- kept")]
    # tokens + residual streams + final + per layer (cache, vt); tokens; embed + 3 per layer + final; logits
    assert len(statements) == (1 + 3 + 1 + 2 * 2) + 1 + (1 + 3 * 2 + 1) + 1
    assert all(s.strip().splitlines()[0].startswith("--") for s in statements)  # each one commented
    assert "list_dot_product" in out and "INSERT INTO cache1" in out


def test_sql_keep_leaves_queryable_tables(capsys, tiny_dir, tmp_path):
    import duckdb
    import numpy as np

    database = str(tmp_path / "keep.duckdb")
    code, out, err = run(capsys, "sql", "--keep", "the cat", "--model", str(tiny_dir), "--database", database)
    assert code == 0, err
    assert "sqlgpt_inspect.attn1" in out and "sqlgpt_inspect.x2" in out
    gpt = sqlgpt.load(tiny_dir, engine="numpy")
    n = len(gpt.tokenizer.encode("the cat"))
    with duckdb.connect(database, read_only=True) as db:
        sums = db.execute("SELECT pos, hd, sum(p) FROM sqlgpt_inspect.attn0 GROUP BY ALL").fetchall()
        assert len(sums) == n * gpt.config.n_head and all(abs(total - 1) < 1e-5 for *_, total in sums)
        future = db.execute("SELECT count(*) FROM sqlgpt_inspect.attn1 WHERE kpos > pos AND p <> 0").fetchall()
        assert future == [(0,)]  # causal: nothing attends to later positions
        final = db.execute("SELECT xn FROM sqlgpt_inspect.final ORDER BY pos").fetchall()
    # The kept final hidden state, unembedded, is the model's logits.
    wte = gpt.engine.params["wte.weight"]
    logits = np.array([row[0] for row in final], dtype=np.float32) @ wte.T
    assert np.abs(logits - gpt.logits(gpt.tokenizer.encode("the cat"))).max() < 1e-4


def test_choose_marks_the_most_probable_option(capsys, tiny_dir):
    code, out, err = run(capsys, "choose", "the cat sat on the", " mat", " dog", "!", "--model", str(tiny_dir))
    assert code == 0, err
    choice = sqlgpt.load(tiny_dir, engine="numpy").choose("the cat sat on the", [" mat", " dog", "!"])
    rows = out.splitlines()[1:]
    assert len(rows) == 3 and rows[choice.index].startswith("*")
    assert sum(row.startswith("*") for row in rows) == 1
