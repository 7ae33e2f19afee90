"""sqlgpt's vector kernel for DuckDB (`vdot`, engines/sql/kernel.py and csrc/vdot.c).

    the kernel    built with the system's C compiler into the cache, loaded by the default
                  engine (a C compiler is required here: without one this test skips, which
                  fails under CI=true); the file carries DuckDB's 534-byte footer and is
                  written whole or not at all
    its numbers   vdot equals list_dot_product within float32 rounding at every length, and
                  says so clearly for NULL elements and lengths that differ (a NULL vector is
                  NULL, as list_dot_product's)
    the fallback  vector_kernel=False / --no-kernel, and a hidden compiler (CC empty, or no
                  compiler on PATH), run list_dot_product with the same logits and say which
                  on stderr once; vector_kernel=True refuses to fall back
    sqlgpt sql    its header says which dot product the SQL uses
    isolation     a user's own DuckDB connection is never changed

Exactness against transformers with and without the kernel is test_engines.py's ("duckdb"
and "duckdb-nokernel"); here, Llama's plan too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

import sqlgpt
from sqlgpt import SqlgptError
from sqlgpt.checkpoint import Checkpoint
from sqlgpt.cli import main
from sqlgpt.engines import create_engine
from sqlgpt.engines.sql import kernel
from sqlgpt.engines.sql.drivers import duckdb as duckdb_driver

from .conftest import make_llama_checkpoint

SUBPROCESS_TIMEOUT = 180
NO_COMPILER = "needs a C compiler (cc, gcc or clang) to build sqlgpt's vector kernel"


@pytest.fixture(scope="module")
def compiled():
    if kernel.compiler() is None:
        pytest.skip(NO_COMPILER)


@pytest.fixture
def fresh_messages(monkeypatch):
    """The driver's once-per-process messages, said afresh in this test."""
    monkeypatch.setattr(duckdb_driver, "_said", set())


def load(directory, database=":memory:", **options) -> sqlgpt.GPT:
    return sqlgpt.load(directory, engine="duckdb", database=str(database), progress=False, **options)


def step_sql(gpt: sqlgpt.GPT) -> str:
    return "\n".join(statement.sql for _, statements in gpt.engine.describe() for statement in statements)


def duckdb_target() -> tuple[str, str]:
    """This DuckDB's version and platform, as its own SQL gives them."""
    with duckdb.connect() as conn:
        return conn.execute("SELECT library_version, platform FROM pragma_version(), pragma_platform()").fetchone()


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sqlgpt", *args], capture_output=True, text=True,
                          timeout=SUBPROCESS_TIMEOUT, env=env)


# -- the kernel ---------------------------------------------------------------------------------


def test_the_default_engine_builds_and_loads_the_kernel(compiled, tiny_dir, private_cache_dir):
    with load(tiny_dir) as gpt:
        assert gpt.engine.dialect.kernel
        path = Path(gpt.engine.driver.kernel)
        sql = step_sql(gpt)
        assert "vdot(" in sql and "list_dot_product" not in sql
        probs = gpt.next_token_probs("the cat", k=3)
    assert path.is_file() and path.name == "sqlgpt_vdot.duckdb_extension"
    assert path.parent.parent == private_cache_dir / "sqlgpt" / "kernels"
    version, platform = duckdb_target()
    assert path.parent.name.startswith(f"duckdb-{version.lstrip('v')}-{platform}-")
    assert [name for name in os.listdir(path.parent)] == [path.name]  # no temporary file left beside it
    with load(tiny_dir, vector_kernel=False) as gpt:
        assert [p for p, _ in gpt.next_token_probs("the cat", k=3)] == [p for p, _ in probs]


def test_the_file_has_duckdbs_footer(compiled):
    path = kernel.build(*duckdb_target())
    footer = path.read_bytes()[-534:]
    assert footer[:20] == bytes([0, 147, 4, 16]) + b"duckdb_signature" and footer[20:22] == bytes([128, 4])
    fields = [footer[22 + 32 * i:54 + 32 * i].rstrip(b"\0").decode() for i in range(8)][::-1]
    assert fields[0] == "4" and fields[2] == "v1.2.0" and fields[4] == "C_STRUCT"
    assert fields[1] == duckdb_target()[1]
    assert footer[-256:] == bytes(256)  # unsigned


def test_a_failed_build_leaves_nothing_behind(tmp_path, monkeypatch):
    """A compiler that writes half a file and fails (as a killed one would stop): no file
    where a load would find it, no temporary file left."""
    fake = tmp_path / "cc"
    fake.write_text("#!/bin/sh\nwhile [ $# -gt 0 ]; do [ \"$1\" = -o ] && echo half > \"$2\"; shift; done\n"
                    "echo 'vdot.c:1: error: this compiler gave up' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CC", str(fake))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(kernel.KernelUnavailable, match="this compiler gave up"):
        kernel.build("v2.0.1", "linux_amd64")
    target = kernel.kernel_path("v2.0.1", "linux_amd64")
    assert not target.exists() and os.listdir(target.parent) == []


# -- its numbers --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kernel_connection(compiled, tiny_dir):
    """A connection of sqlgpt's DuckDB driver, with the kernel loaded."""
    with load(tiny_dir) as gpt:
        driver = gpt.engine.driver
    conn = driver.open(":memory:", writable=True)
    yield conn
    conn.close()


@pytest.mark.parametrize("n", [0, 1, 7, 31, 32, 33, 64, 100, 768, 3072])
def test_vdot_is_list_dot_product_within_float32_rounding(kernel_connection, n):
    rng = np.random.default_rng(n)
    a, b = rng.standard_normal((2, 50, n)).astype(np.float32)
    rows = kernel_connection.execute(
        "SELECT vdot(a, b), list_dot_product(a, b) FROM (SELECT unnest($1::FLOAT[][]) AS a, unnest($2::FLOAT[][]) AS b)",
        [a.tolist(), b.tolist()]).fetchall()
    ours, theirs = np.array(rows, dtype=np.float64).T
    exact = np.einsum("ij,ij->i", a.astype(np.float64), b.astype(np.float64))
    scale = np.einsum("ij,ij->i", np.abs(a), np.abs(b)).astype(np.float64)  # sum |a_i b_i|
    bound = n * np.finfo(np.float32).eps * scale + 1e-30  # a float32 sum's rounding, in any order
    assert (np.abs(ours - exact) <= bound).all() and (np.abs(ours - theirs) <= 2 * bound).all()
    if n == 0:
        assert (ours == 0).all()


def test_nulls_and_lengths_that_differ(kernel_connection):
    conn = kernel_connection
    assert conn.execute("SELECT vdot(NULL::FLOAT[], [1, 2]::FLOAT[]), vdot([1, 2]::FLOAT[], NULL)").fetchone() == (None, None)
    for left, right, message in [("[1, NULL]", "[1, 2]", "the left vector holds a NULL element"),
                                 ("[1, 2]", "[NULL, 2]", "the right vector holds a NULL element"),
                                 ("[1, 2, 3]", "[1, 2]", "the two vectors' lengths differ (3 and 2)")]:
        with pytest.raises(duckdb.InvalidInputException, match=message.replace("(", r"\(").replace(")", r"\)")):
            conn.execute(f"SELECT vdot({left}::FLOAT[], {right}::FLOAT[])").fetchall()
    # A NULL element far into a long list, and in a row after good ones.
    with pytest.raises(duckdb.InvalidInputException, match="NULL element"):
        conn.execute("SELECT vdot(CASE WHEN i = 3 THEN list_concat(range(200)::FLOAT[], [NULL]) "
                     "ELSE range(201)::FLOAT[] END, range(201)::FLOAT[]) FROM range(5) t(i)").fetchall()


# -- the fallback -------------------------------------------------------------------------------


def test_vector_kernel_false_runs_list_dot_product_and_says_so(tiny_dir, capsys, fresh_messages):
    with load(tiny_dir, vector_kernel=False) as gpt:
        assert not gpt.engine.dialect.kernel and gpt.engine.driver.kernel is None
        sql = step_sql(gpt)
        assert "list_dot_product(" in sql and "vdot" not in sql
        gpt.logits([1, 2, 3])
    with load(tiny_dir, vector_kernel=False):
        pass
    err = capsys.readouterr().err
    assert err == "sqlgpt: DuckDB's dot products are list_dot_product (vector_kernel=False)\n"  # once


def test_the_same_logits_with_and_without_the_kernel(compiled, tiny_dir):
    ids = list(range(3, 60))
    with load(tiny_dir) as fast, load(tiny_dir, vector_kernel=False) as plain:
        assert fast.engine.dialect.kernel and not plain.engine.dialect.kernel
        assert np.abs(fast.logits(ids) - plain.logits(ids)).max() <= 1e-5
        windows = [([1, 5, 9, 13, 2], 1), ([7, 7, 8], 2)]
        assert np.allclose(fast.engine.nll_many(windows), plain.engine.nll_many(windows), atol=1e-5)


@pytest.mark.parametrize("hide", ["CC empty", "no compiler on PATH"])
def test_a_hidden_compiler_falls_back_and_says_why(hide, tiny_dir, tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}  # nothing built there yet
    if hide == "CC empty":
        env["CC"] = ""
    else:
        env.pop("CC", None)
        env["PATH"] = str(tmp_path / "empty")  # no cc, gcc or clang
    args = ["next", "the cat sat", "-k", "4", "--model", str(tiny_dir), "--database", ":memory:"]
    done = run_cli(*args, env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    why = "$CC is empty" if hide == "CC empty" else "none of cc, gcc, clang on PATH"
    assert lines == [f"sqlgpt: DuckDB's dot products are list_dot_product, sqlgpt's vector kernel is not available "
                     f"(no C compiler: {why}); prefill runs several times slower"], done.stderr
    assert not list((tmp_path / "cache").rglob("*.duckdb_extension"))
    plain = run_cli(*args, "--no-kernel", env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache2")})
    assert plain.returncode == 0 and done.stdout == plain.stdout  # the same next-token table
    shown = run_cli("sql", "--model", str(tiny_dir), "--database", ":memory:", env=env)
    assert "-- dot products: DuckDB's list_dot_product" in shown.stdout and "vdot(" not in shown.stdout


def test_vector_kernel_true_refuses_to_fall_back(tiny_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("CC", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(SqlgptError, match=r"^vector_kernel=True, but sqlgpt's vector kernel is not available: no C "
                                          r"compiler: \$CC is empty$"):
        load(tiny_dir, vector_kernel=True)


# -- sqlgpt sql and the command line ------------------------------------------------------------


def test_sqlgpt_sql_says_which_dot_product(compiled, tiny_dir, tmp_path, capsys):
    database = str(tmp_path / "x.duckdb")
    assert main(["sql", "--model", str(tiny_dir), "--database", database]) == 0
    fast = capsys.readouterr().out
    assert fast.splitlines()[1].startswith("-- dot products: vdot, sqlgpt's vector kernel") and "vdot(m.w" in fast
    assert main(["sql", "--model", str(tiny_dir), "--database", database, "--no-kernel"]) == 0
    plain = capsys.readouterr().out
    assert plain.splitlines()[1] == "-- dot products: DuckDB's list_dot_product (sqlgpt's vdot kernel is off)"
    assert plain.replace("list_dot_product(", "vdot(").splitlines()[2:] == fast.splitlines()[2:]  # only that differs
    # The standalone script runs in DuckDB's shell, which has no kernel: list_dot_product, and its header says so.
    assert main(["sql", "--model", str(tiny_dir), "--prompt", "the cat", "-n", "2", "--dialect", "duckdb"]) == 0
    script = capsys.readouterr().out
    assert "vdot(" not in script and "list_dot_product(" in script and "-- * Dot products are DuckDB's" in script


def test_no_kernel_is_for_duckdb(tiny_dir, capsys):
    assert main(["next", "x", "--model", str(tiny_dir), "--engine", "sqlite", "--no-kernel"]) == 2
    assert "--no-kernel is for the duckdb engine" in capsys.readouterr().err
    with pytest.raises(SqlgptError, match="vector_kernel"):
        sqlgpt.load(tiny_dir, engine="sqlite", vector_kernel=False)


# -- isolation ----------------------------------------------------------------------------------


def test_a_users_own_connection_is_never_changed(compiled, tiny_dir, tmp_path):
    mine = duckdb.connect(str(tmp_path / "users.duckdb"))
    before = mine.execute("SELECT current_setting('allow_unsigned_extensions')").fetchone()
    with load(tiny_dir, database=tmp_path / "models.duckdb") as gpt:
        assert gpt.engine.dialect.kernel
        gpt.logits([1, 2])
        assert mine.execute("SELECT current_setting('allow_unsigned_extensions')").fetchone() == before == (False,)
        with pytest.raises(duckdb.CatalogException):
            mine.execute("SELECT vdot([1]::FLOAT[], [1]::FLOAT[])")
    mine.close()


# -- Llama's plan -------------------------------------------------------------------------------


def test_llama_with_and_without_the_kernel_matches_transformers(compiled, tmp_path_factory, hf_causal_lm):
    import torch

    directory = make_llama_checkpoint(tmp_path_factory.mktemp("llama-kernel"), "qwen2")
    ids = list(range(3, 40))
    with torch.no_grad():
        theirs = hf_causal_lm(directory)(torch.tensor([ids])).logits[0].numpy()
    for vector_kernel in (None, False):
        engine = create_engine("duckdb", Checkpoint(directory), database=":memory:", progress=False,
                               vector_kernel=vector_kernel)
        try:
            assert engine.dialect.kernel == (vector_kernel is None)
            with engine.session() as session:
                ours = session.forward(ids, all_logits=True)
            assert np.abs(ours - theirs).max() <= 1e-4
        finally:
            engine.close()
