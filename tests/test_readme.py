"""Every shell command and Python snippet in README.md, run as a user would, so that the README
cannot drift from what sqlgpt does.

The code blocks are read from README.md itself: indented blocks of commands (a block whose
first word is not a program is one of the known diagrams, or this test fails) and fenced
Python blocks. Each block runs in a directory of its own, its commands one after another
through `bash`, with what they name in place: `play.txt`, `input.txt` (the start of
tinyshakespeare, from the project's shared data), a `reviews` table in `data.duckdb`, and
`../shared` beside it. Every block sees

  * this virtual environment's `sqlgpt`, `duckdb` and `python` first on PATH;
  * one private cache directory (XDG_CACHE_HOME), so the bundled model installs once;
  * a Hugging Face cache (HF_HOME) holding a random-weight GPT-2 ("gpt2", GPT-2's own
    vocabulary, a small shape) with HF_HUB_OFFLINE=1: what `--model gpt2` finds on a machine
    that downloaded it once.

What is checked: every command exits 0 with no error on stderr; what the README promises
beside a command (the standalone script prints what `sqlgpt generate` prints, the tables the
table commands write, the file `-o` writes); each Python snippet's commented results (a
next-token list is compared to the shown decimals, `Name(field=literal, ...)` by type and
field, a dtype by name); and that the Layout section names every module.

Run differently, and why (nothing else is):
  * `pip install ...`: installing is what `.ci/run` does before the tests run; here each
    extra is checked to exist in pyproject.toml.
  * `python -m pytest`: this very run; checked to be the command `.ci/run` runs.
  * `sqlgpt train ...`: with `--steps 2 --eval-batches 1` appended (argparse keeps the last
    value), since training to the end takes minutes to hours; every flag written is parsed
    and used. Its `../shared/data/tinyshakespeare/input.txt` is the play's first 100,000
    characters (over the whole play the command took 78 s, over these 18 s).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import duckdb
import pytest

from .conftest import SHARED_DATA, TINY_SHAPE, make_checkpoint

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PROGRAMS = ("sqlgpt", "duckdb", "pip", "python")
DIAGRAMS = ("text ──BPE tokenizer──▶", "src/sqlgpt/")  # the data-flow picture and the Layout tree
SHORTENED_TRAINING = ["--steps", "2", "--eval-batches", "1"]
REVIEWS = [(1, "A fine play, well acted."), (2, "Too long by half; I slept."), (3, "Wherefore art thou?")]


def code_blocks() -> list[tuple[str, list[str]]]:
    """("python", lines) for each fenced Python block and ("shell", lines) for each indented
    block, in README order; a shell block's lines are joined across trailing backslashes."""
    blocks: list[tuple[str, list[str]]] = []
    fence: list[str] | None = None
    indented: list[str] = []
    previous_blank = True
    for line in README.splitlines() + [""]:
        if line.startswith("```"):
            if fence is None:
                fence = []
            else:
                blocks.append(("python", fence))
                fence = None
            continue
        if fence is not None:
            fence.append(line)
        elif line.startswith("    ") and (indented or previous_blank):
            indented.append(line[4:])
        elif indented:
            blocks.append(("shell", _join_continuations(indented)))
            indented = []
        previous_blank = not line.strip()
    return blocks


def _join_continuations(lines: list[str]) -> list[str]:
    joined: list[str] = []
    for line in lines:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1].rstrip() + " " + line.strip()
        elif line.strip():
            joined.append(line.rstrip())
    return joined


def command_blocks() -> list[list[str]]:
    out = []
    for kind, lines in code_blocks():
        if kind != "shell":
            continue
        if lines[0].split()[0] in PROGRAMS:
            out.append(lines)
        else:
            assert lines[0].startswith(DIAGRAMS), f"a README block that is neither commands nor a known diagram: {lines[0]!r}"
    return out


def python_blocks() -> list[str]:
    return ["\n".join(lines) for kind, lines in code_blocks() if kind == "python"]


def without_comment(command: str) -> str:
    """The command as bash runs it: shlex drops the comment and keeps quoted '#'s."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars="|<>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return shlex.join(list(lexer)).replace("'|'", "|").replace("'<'", "<")


# -- the world the README's commands run in ----------------------------------------------------


@pytest.fixture(scope="module")
def environment(tmp_path_factory) -> dict[str, str]:
    """PATH, a private cache directory and a Hugging Face cache holding a small random "gpt2"."""
    if not SHARED_DATA.is_dir():
        pytest.skip("the README's commands read tinyshakespeare and GPT-2's vocabulary from ../shared/data")
    hf_home = tmp_path_factory.mktemp("hf")
    commit = "0" * 40
    repo = hf_home / "hub" / "models--gpt2"
    make_checkpoint(repo / "snapshots" / commit, seed=2, gpt2_vocab=True, **{**TINY_SHAPE, "n_positions": 128})
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                XDG_CACHE_HOME=str(tmp_path_factory.mktemp("readme-cache")), HF_HOME=str(hf_home),
                HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")


def block_directory(base: Path) -> Path:
    """A fresh directory `repo` with the files the README's commands name, and `../shared`."""
    repo = base / "repo"
    repo.mkdir(parents=True)
    play = (SHARED_DATA / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    shared_play = base / "shared" / "data" / "tinyshakespeare" / "input.txt"
    shared_play.parent.mkdir(parents=True)
    shared_play.write_text(play[:100_000], encoding="utf-8")
    (repo / "play.txt").write_text(play[:3000], encoding="utf-8")
    (repo / "input.txt").write_text(play[:60_000], encoding="utf-8")
    with duckdb.connect(str(repo / "data.duckdb")) as db:
        db.execute("CREATE TABLE reviews (id INTEGER, body VARCHAR)")
        db.executemany("INSERT INTO reviews VALUES (?, ?)", REVIEWS)
    return repo


def run(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    argv = without_comment(command)
    if argv.startswith("sqlgpt train "):
        argv += " " + shlex.join(SHORTENED_TRAINING)
    done = subprocess.run(["bash", "-c", argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{command}\n{done.stderr}"
    assert "Traceback" not in done.stderr and "error" not in done.stderr.lower(), f"{command}\n{done.stderr}"
    return done


# -- the checks -------------------------------------------------------------------------------


def test_the_readme_has_what_this_test_runs():
    blocks = command_blocks()
    assert len(blocks) >= 9 and len(python_blocks()) == 3
    assert sum(len(block) for block in blocks) >= 25


def test_install_commands_name_real_extras():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    installs = [line for block in command_blocks() for line in block if line.startswith("pip ")]
    assert installs
    for line in installs:
        target = shlex.split(without_comment(line))[-1]
        match = re.fullmatch(r"\.(?:\[(\w+)\])?", target)
        assert match, line
        assert match.group(1) is None or match.group(1) in extras, line
    assert 'pip install --quiet -e ".[test]"' in (ROOT / ".ci" / "run").read_text()


def test_the_test_command_is_what_ci_runs():
    (command,) = [line for block in command_blocks() for line in block if line.startswith("python -m pytest")]
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == command


def test_the_layout_names_every_module():
    layout = next("\n".join(lines) for kind, lines in code_blocks() if lines[0].startswith("src/sqlgpt/"))
    folders = ["src/sqlgpt", "src/sqlgpt/engines", "src/sqlgpt/engines/sql", "src/sqlgpt/train", "scripts", "bench"]
    modules = [path.name for folder in folders for path in (ROOT / folder).glob("*.py") if path.name != "__init__.py"]
    assert len(modules) > 20
    assert [name for name in modules if name not in layout] == []


RUNNABLE = [block for block in command_blocks() if not block[0].startswith(("pip ", "python -m pytest"))]


@pytest.mark.parametrize("block", RUNNABLE, ids=[block[0].split("#")[0].strip()[:48] for block in RUNNABLE])
def test_each_command_block_runs_as_written(block, environment, tmp_path):
    cwd = block_directory(tmp_path)
    outputs = [run(line, cwd, environment) for line in block]
    for line, done in zip(block, outputs):
        check_promise(line, done, cwd, environment)


def check_promise(line: str, done: subprocess.CompletedProcess, cwd: Path, env: dict[str, str]) -> None:
    """What the README says beside a command (`line`, with its comment), checked on its output
    and the files it wrote."""
    command = without_comment(line)
    argv = shlex.split(command)
    if "prints what `sqlgpt generate` prints" in line:
        script = next(line for line in README.splitlines() if "--dialect duckdb -o romeo.sql" in line)
        generate = shlex.split(without_comment(script))
        n, temperature, prompt = generate[generate.index("-n") + 1], generate[generate.index("-t") + 1], generate[3]
        expected = run(shlex.join(["sqlgpt", "generate", prompt, "-n", n, "-t", temperature]), cwd, env).stdout
        assert done.stdout == expected and len(expected) > len(prompt) + 10
    elif command.startswith("duckdb x.duckdb"):
        assert "kpos" in done.stdout and done.stdout.count("\n") > 12
    elif " -o " in command:
        written = cwd / argv[argv.index("-o") + 1]
        assert written.is_file() and written.stat().st_size > 1000
        if written.suffix == ".html":
            assert "sqlgpt-data" in written.read_text(encoding="utf-8")
    elif "--table reviews" in command:
        into = "sqlgpt_scores" if command.startswith("sqlgpt score") else "sqlgpt_next"
        with duckdb.connect(str(cwd / "data.duckdb"), read_only=True) as db:
            keys = {key for (key,) in db.execute(f"SELECT id FROM {into}").fetchall()}
        assert keys == {key for key, _ in REVIEWS}
    elif command.startswith("sqlgpt train "):
        out = Path(cwd, argv[argv.index("--out") + 1])
        assert json.loads((out / "training.json").read_text())["steps"] == 2
        hint = done.stdout.splitlines()[-1].removeprefix("try").strip()
        run(hint, cwd, env)  # the closing hint runs as printed
    elif command.startswith("sqlgpt sql |"):
        assert done.stdout.count(";\n") > 10 and re.search(r"\b(vdot|list_dot_product)\(", done.stdout)
    else:
        assert done.stdout.strip(), command  # every other command prints its answer


# The Python blocks run in a child process, statement by statement; each expression statement
# with a comment on its last line is reported (its value's type, fields and a JSON view).
HARNESS = r"""
import ast, dataclasses, json, sys

source = open(sys.argv[1], encoding="utf-8").read()
lines = source.splitlines()
namespace, reports = {}, []
for node in ast.parse(source).body:
    if not isinstance(node, ast.Expr):
        exec(compile(ast.Module([node], []), "README", "exec"), namespace)
        continue
    value = eval(compile(ast.Expression(node.value), "README", "eval"), namespace)
    last = lines[node.end_lineno - 1]
    if "  # " in last:
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)} if dataclasses.is_dataclass(value) else {}
        reports.append({"comment": last.split("  # ", 1)[1].strip(), "type": type(value).__name__,
                        "dtype": str(getattr(value, "dtype", "")), "fields": json.loads(json.dumps(fields, default=repr)),
                        "value": json.loads(json.dumps(value, default=repr))})
json.dump(reports, open(sys.argv[2], "w"))
"""


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_each_python_snippet_runs_and_its_comments_hold(index, environment, tmp_path):
    snippet = python_blocks()[index]
    if "import sqlgpt" not in snippet:
        pytest.fail("a README Python snippet that does not import sqlgpt cannot be pasted as it is")
    cwd = block_directory(tmp_path)
    (cwd / "snippet.py").write_text(snippet, encoding="utf-8")
    (cwd / "harness.py").write_text(textwrap.dedent(HARNESS), encoding="utf-8")
    done = subprocess.run([sys.executable, "harness.py", "snippet.py", "reports.json"], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    reports = json.loads((cwd / "reports.json").read_text())
    assert reports
    for report in reports:
        check_comment(report)


def check_comment(report: dict) -> None:
    """A snippet's comment is a claim about its value: hold it to what it shows."""
    comment = report["comment"]
    if comment.startswith("[("):  # [(" be", 0.137), (" do", 0.107), ...]: pieces and rounded probabilities
        shown = re.findall(r'\("((?:[^"\\]|\\.)*)", (\d+\.(\d+))\)', comment)
        assert shown and len(shown) <= len(report["value"]), comment
        for (piece, probability, decimals), (actual_piece, actual) in zip(shown, report["value"]):
            assert (json.loads(f'"{piece}"'), float(probability)) == (actual_piece, round(actual, len(decimals))), comment
    elif match := re.match(r"(\w+)\((.*)\)", comment):  # Choice(index=0, option=" be", logprobs=[...])
        assert report["type"] == match.group(1), comment
        for name, literal in re.findall(r'(\w+)=("[^"]*"|-?\d+(?:\.\d+)?)', match.group(2)):
            assert report["fields"][name] == json.loads(literal), comment
    elif comment.startswith("float32"):
        assert report["dtype"] == "float32", comment
