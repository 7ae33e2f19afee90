"""The SQL layer's parts stay apart: the plan, the layouts and the dialects write SQL text,
drivers and everything else run it.

No module outside `engines/sql/plan/`, `layouts/` and `dialects/` holds SQL: the step and
every query over it are the plan's, what depends on how a vector is stored the layout's,
and what differs between databases the dialect's. In particular a driver module holds no
SQL: every statement it runs comes from its dialect, so that one file per database says
what SQL that database gets. Every hook the rest of the engine
calls on a dialect is declared on the base `Dialect`, with a docstring, so that a new
database knows what to provide; a dialect's own extra hooks are only for its own driver.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from sqlgpt.engines.sql.databases import (
    DATABASES,
    dialect_class,
    driver_class,
    get_dialect,
)
from sqlgpt.engines.sql.dialects.base import Dialect
from sqlgpt.engines.sql.drivers.base import Driver

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "sqlgpt"
SQL = PACKAGE / "engines" / "sql"
DRIVERS = sorted(path for path in (SQL / "drivers").glob("*.py"))
# Where SQL text may be written.
WRITERS = ("engines/sql/plan/", "engines/sql/layouts/", "engines/sql/dialects/")
OTHERS = sorted(path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py")
                if not path.relative_to(PACKAGE).as_posix().startswith(WRITERS))
# Words that begin a SQL statement: in upper case anywhere in a string, or in any case at
# the start of one or after a semicolon.
KEYWORDS = ["SELECT", "INSERT", "CREATE", "DROP", "UPDATE", "DELETE", "ALTER", "TRUNCATE", "PRAGMA", "COPY",
            "PREPARE", "EXECUTE", "CACHE TABLE", "UNCACHE TABLE", "ANALYZE", "CHECKPOINT", "SET", "RESET", "USE",
            "BEGIN", "COMMIT", "ROLLBACK", "WITH", "VALUES"]
UPPER = re.compile(r"\b(?:" + "|".join(KEYWORDS) + r")\b")
STATEMENT_START = re.compile(r"(?:^|;)\s*(?:" + "|".join(KEYWORDS) + r")\s", re.IGNORECASE)
# Every module of the SQL engine but the dialects: what calls a dialect's hooks, by these names.
CALLERS = sorted(path.relative_to(SQL).as_posix() for path in SQL.rglob("*.py") if "dialects" not in path.parts)
DIALECT_NAMES = {"d", "dialect", "sql_dialect"}


def docstrings(tree: ast.AST) -> set[int]:
    """The ids of the string constants that are docstrings (of a module, class or function)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def sql_in(source: str) -> list[str]:
    """The string literals (docstrings aside; f-strings by their literal parts) that look like SQL."""
    tree = ast.parse(source)
    skip = docstrings(tree)
    hits = []
    for node in ast.walk(tree):
        text = node.value if isinstance(node, ast.Constant) and id(node) not in skip else None
        if isinstance(text, str) and (UPPER.search(text) or STATEMENT_START.search(text)):
            hits.append(text)
    return hits


def test_the_scan_finds_sql():
    assert sql_in('x = f"CREATE TABLE {name} (a INTEGER)"') == ["CREATE TABLE "]
    assert sql_in('x = "select 1"; y = "a; drop table t"') == ["select 1", "a; drop table t"]
    assert sql_in('def f():\n    """Runs INSERT and COPY."""\n    return "cannot open database x"') == []
    assert sql_in((SQL / "dialects" / "duckdb.py").read_text(encoding="utf-8"))  # dialects are full of it


@pytest.mark.parametrize("path", DRIVERS, ids=[path.name for path in DRIVERS])
def test_drivers_hold_no_sql(path):
    assert sql_in(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("module", OTHERS)
def test_no_sql_outside_the_plan_the_layouts_and_the_dialects(module):
    # By upper-case keywords, as all of sqlgpt's SQL is written: messages and help texts
    # outside the SQL engine say "with", "use" and "set" in English.
    assert [text for text in sql_in((PACKAGE / module).read_text(encoding="utf-8")) if UPPER.search(text)] == []


def test_the_writers_are_scanned_apart():
    assert "engines/sql/script.py" in OTHERS and "engines/sql/engine.py" in OTHERS and "cli.py" in OTHERS
    assert not any(module.startswith(WRITERS) for module in OTHERS)
    assert sql_in((SQL / "plan" / "model.py").read_text(encoding="utf-8"))  # the plan is full of it
    assert UPPER.search("x = f\"SELECT {a} FROM t\"") and not UPPER.search("use a SQL engine; with seed 3")


def attributes_called_on_a_dialect(path: Path) -> set[str]:
    """The attributes `path` reads from something called d, dialect, self.d, self.dialect,
    engine.dialect, ...: the hooks it calls."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute):
            value = node.value
            holder = value.id if isinstance(value, ast.Name) else value.attr if isinstance(value, ast.Attribute) else None
            if holder in DIALECT_NAMES:
                names.add(node.attr)
    return names


def test_the_hook_scan_finds_hooks():
    assert {"dot", "param", "materialized"} <= set().union(*(attributes_called_on_a_dialect(SQL / c) for c in CALLERS))


@pytest.mark.parametrize("caller", CALLERS)
def test_every_hook_the_engine_calls_is_declared_on_the_base(caller):
    """Everywhere but in a database's own driver, a dialect is used through the base's hooks;
    that driver may use its own dialect's too (an instance: PostgreSQL's are set at init)."""
    path = SQL / caller
    own = [name for name in DATABASES if caller == f"drivers/{DATABASES[name].module}.py"]
    declared = get_dialect(own[0]) if own else Dialect
    called = attributes_called_on_a_dialect(path)
    assert sorted(name for name in called if not hasattr(declared, name)) == []


@pytest.mark.parametrize("name", sorted(DATABASES))
def test_a_dialects_own_hooks_are_its_drivers(name):
    """What a dialect defines beyond the base is asked for by its own driver only."""
    dialect, driver = dialect_class(name), driver_class(name)
    own = {attr for attr in vars(dialect) if not attr.startswith("_") and not hasattr(Dialect, attr)}
    source = Path(inspect.getfile(driver)).read_text(encoding="utf-8")
    assert sorted(attr for attr in own if f"dialect.{attr}" not in source) == []


def test_every_hook_on_the_bases_says_what_it_does():
    for base in (Dialect, Driver):
        for attr, value in vars(base).items():
            if callable(value) and not attr.startswith("_"):
                assert inspect.getdoc(value), f"{base.__name__}.{attr} has no docstring"


@pytest.mark.parametrize("name", sorted(DATABASES))
def test_each_database_pairs_a_dialect_with_a_driver(name):
    assert issubclass(dialect_class(name), Dialect) and dialect_class(name).name == name
    assert issubclass(driver_class(name), Driver)
