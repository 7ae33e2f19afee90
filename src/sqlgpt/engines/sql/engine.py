"""Running the compiled model: a connection, the installed weights, one KV cache per session.

The engine opens the database, finds or installs the model (`install.py`) and compiles the
forward step once. Each session gets its own cursor — in DuckDB its own connection, with its
own temporary tables — so its KV cache belongs to it alone: two generations on one database
never mix, and closing the session drops the cache. Token ids enter through bound parameters;
the only thing read back is the logits.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ...checkpoint import Checkpoint
from ...errors import SqlgptError
from ..base import Engine, Session
from .compiler import Compiler, Statement
from .dialects import get_dialect
from .install import find_or_install


def default_database() -> str:
    """The database file used when none is given: under the user's cache directory."""
    import platformdirs

    directory = Path(platformdirs.user_cache_dir("sqlgpt"))
    directory.mkdir(parents=True, exist_ok=True)
    return str(directory / "models.duckdb")


class SqlSession(Session):
    def __init__(self, engine: "SqlEngine") -> None:
        super().__init__(engine.config)
        self.engine = engine
        self.cursor = engine.dialect.cursor(engine.conn)
        self._run(engine.compiler.session_tables())

    def _run(self, statements: list[Statement], params: list[Any] | None = None) -> Any:
        cursor = self.cursor
        for statement in statements:
            try:
                cursor.execute(statement.sql, params)
            except self.engine.dialect.errors() as e:
                raise SqlgptError(f"{self.engine.name} failed on '{statement.comment}': {_first_line(e)}") from e
        return cursor

    def _forward(self, ids: list[int], all_logits: bool) -> np.ndarray:
        compiler = self.engine.compiler
        self._run([Statement("clear the previous step's tokens", "DELETE FROM tokens")])
        self._run([compiler.load_tokens()], [self.n_past, ids])
        self._run(self.engine.step)
        rows = self.engine.dialect.fetch_columns(self._run([compiler.logits(last_only=not all_logits)]))
        first = self.n_past if all_logits else self.n_past + len(ids) - 1
        logits = np.empty((len(ids) if all_logits else 1, self.config.vocab_size), dtype=np.float32)  # [n, V]
        logits[np.asarray(rows["pos"]) - first, np.asarray(rows["j"])] = rows["logit"]
        return logits

    def close(self) -> None:
        if self.cursor is not None:
            self.cursor.close()  # its temporary tables — this session's KV cache — go with it
            self.cursor = None


class SqlEngine(Engine):
    """A model installed in a database and run there as SQL."""

    def __init__(self, checkpoint: Checkpoint, dialect_name: str, database: str | os.PathLike[str] | None = None,
                 progress: bool | None = None) -> None:
        super().__init__(checkpoint.config)
        self.dialect = get_dialect(dialect_name)
        self.name = dialect_name
        self.database = str(database) if database is not None else default_database()
        if progress is None:
            progress = sys.stderr.isatty()
        conn = self.dialect.open(self.database, writable=False)
        try:
            self.conn, installed = find_or_install(
                conn, self.dialect, checkpoint, progress=progress,
                reopen_writable=lambda: self._reopen_writable(conn),
            )
        except self.dialect.errors() as e:
            raise SqlgptError(f"{dialect_name} failed while installing the model: {_first_line(e)}") from e
        self.schema = installed.schema
        self.compiler = Compiler(self.config, self.dialect, self.schema)
        self.step = self.compiler.step()

    def _reopen_writable(self, conn: Any) -> Any:
        if self.database == ":memory:":
            return conn
        conn.close()
        return self.dialect.open(self.database, writable=True)

    def session(self) -> SqlSession:
        return SqlSession(self)

    def close(self) -> None:
        self.conn.close()


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
