"""Running the compiled model: a connection, the installed weights, one KV cache per session.

The engine opens the database through its driver (`self.driver`: connections), finds or
installs the model (`install.py`) and compiles the forward step once in its dialect
(`self.dialect`: SQL text). Each session gets its own cursor — in DuckDB its own connection,
with its own temporary tables — so its KV cache belongs to it alone: two generations on one
database never mix, and closing the session drops the cache. Token ids enter through bound
parameters; the only thing read back is the logits.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...checkpoint import Checkpoint
from ...errors import SqlgptError, first_line
from ..base import Engine, Inspection, Session
from . import explain as explain_sql
from .databases import get_driver
from .drivers.base import Driver
from .install import find_or_install
from .layouts import layout_of
from .plan import Plan, Statement
from .retrieval import SqlIndex

INSPECT_SCHEMA = "sqlgpt_inspect"


class SqlSession(Session):
    """A KV cache in session tables. `inspect` records attention weights in this session
    even if the engine does not; `batched` makes it a batch session (`nll_batch`, `top_batch`)."""

    def __init__(self, engine: "SqlEngine", inspect: bool = False, batched: bool = False) -> None:
        super().__init__(engine.config)
        self.engine = engine
        self.cursor = engine.driver.cursor(engine.conn, engine.database)
        if batched:
            engine.driver.batch_settings(self.cursor)
        plan = engine.plan
        if inspect or batched:
            plan = Plan(engine.config, engine.dialect, engine.schema, inspect=inspect, batched=batched)
        self.plan = plan
        self._run(plan.session_tables())
        # Planning a layer's statement costs milliseconds; prepare each once per session.
        step = engine.step if plan is engine.plan else plan.step()
        self.step = [self._prepare(f"step{i}", st) for i, st in enumerate(step)]
        if not batched:
            self.logits_all = self._prepare("logits_all", plan.logits(last_only=False))
            self.logits_last = self._prepare("logits_last", plan.logits(last_only=True))
        self.nll = self._prepare("nll", plan.loss())

    def _prepare(self, name: str, statement: Statement) -> Statement:
        """The statement with its SQL replaced by the driver's handle for the prepared form."""
        try:
            return Statement(statement.comment, self.engine.driver.prepare(self.cursor, name, statement.sql))
        except self.engine.driver.errors() as e:
            raise SqlgptError(f"{self.engine.name} failed to prepare '{statement.comment}': {first_line(e)}") from e

    def _run(self, statements: list[Statement], params: list[Any] | None = None, prepared: int | None = None) -> Any:
        """Run `statements` with `params`, or, if `prepared` is a position, as prepared
        statements given that position; returns the last one's result (a cursor)."""
        result = self.cursor
        if result is None:
            raise SqlgptError("this session is closed")
        for statement in statements:
            try:
                if prepared is None:
                    result = self.cursor.execute(statement.sql, *([] if params is None else [params]))
                else:
                    result = self.engine.driver.execute_prepared(self.cursor, statement.sql, prepared)
            except self.engine.driver.errors() as e:
                raise SqlgptError(f"{self.engine.name} failed on '{statement.comment}': {first_line(e)}") from e
        return result

    def _step(self, ids: list[int]) -> int:
        """Append `ids` to the tokens and run the forward step over them; their first position."""
        first = self.n_past
        self._run([self.engine.plan.load_tokens()], self.engine.dialect.token_params(first, ids))
        self._run(self.step, prepared=first)
        return first

    def _forward(self, ids: list[int], all_logits: bool) -> np.ndarray:
        first = self._step(ids)
        last = first + len(ids) - 1
        start = first if all_logits else last  # the first position whose logits are wanted
        cursor = self._run([self.logits_all if all_logits else self.logits_last], prepared=start)
        rows = self.engine.driver.fetch_columns(cursor)
        logits = np.empty((last - start + 1, self.config.vocab_size), dtype=np.float32)  # [n, V]
        logits[np.asarray(rows["pos"]) - start, np.asarray(rows["j"])] = rows["logit"]
        return logits

    def _reset(self) -> None:
        self._run(self.plan.reset())

    def _rewind(self, n_past: int) -> None:
        statements = self.plan.rewind()
        if statements is None:
            super()._rewind(n_past)  # refuses
        self._run(statements, self.engine.dialect.position_params(n_past))

    def nll_batch(self, windows: Sequence[tuple[Sequence[int], int]]) -> list[float]:
        """`forward_nll` of every (ids, first_target) window, each its own sequence, in one
        batched pass: the same numbers, one step's statements for them all."""
        for ids, first_target in windows:
            if not 1 <= first_target < len(ids):
                raise SqlgptError(f"first_target must be in 1..{len(ids) - 1}, got {first_target}")
        self._batch_step(windows)
        nll = dict(self._run([self.nll], prepared=0).fetchall())
        return [float(nll.get(seq, 0.0)) for seq in range(len(windows))]

    def top_batch(self, contexts: Sequence[Sequence[int]], k: int, vocab_size: int) -> list[list[tuple[int, float]]]:
        """`forward_top` of every context, each its own sequence, in one batched pass."""
        self._batch_step([(ids, len(ids)) for ids in contexts])
        ranked: list[list[tuple[int, float]]] = [[] for _ in contexts]
        statement = self.plan.top_batch(int(k), int(vocab_size))
        for seq, _, j, p in self._run([statement]).fetchall():
            ranked[seq].append((int(j), float(p)))
        return ranked

    def _batch_step(self, windows: Sequence[tuple[Sequence[int], int]]) -> None:
        """Empty the tables, load every window as sequence `seq` (its tokens from position
        first_target on scored), and run the batched step over them all."""
        if not self.plan.batched:
            raise SqlgptError("a batched pass needs a batched session")
        rows = []  # seq, pos, token, scored
        for seq, (ids, first_target) in enumerate(windows):
            ids = self._validate(ids)  # (n_past stays 0: each window is its own sequence)
            rows += [(seq, pos, token, int(pos >= first_target)) for pos, token in enumerate(ids)]
        self._reset()
        self._load_rows(rows, "the windows' tokens")
        self._run(self.step, prepared=0)

    def _load_rows(self, rows: list[tuple[int, int, int, int]], what: str) -> None:
        """Append (seq, pos, token, scored) rows to the batch's tokens."""
        driver = self.engine.driver
        try:
            driver.insert_rows(self.cursor, "tokens", [list(column) for column in zip(*rows)] or [[], [], [], []])
        except driver.errors() as e:
            raise SqlgptError(f"{self.engine.name} failed on loading {what}: {first_line(e)}") from e

    def nll_continuations(self, items: Sequence[tuple[Sequence[int], Sequence[Sequence[int]]]]) -> list[list[float]]:
        """`Engine.nll_continuations` in two batched steps. The first reads every context
        but its last token, item i as sequence i. The second reads each continuation after
        its context's last token as a sequence of its own (item i's c-th as i·G + c, G the
        most continuations of an item) whose KV cache starts as a copy of its context's
        (`Plan.branch_caches`); the loss sums over each one's continuation tokens."""
        if not self.plan.batched:
            raise SqlgptError("a batched pass needs a batched session")
        items = [([int(t) for t in context], [[int(t) for t in c] for c in continuations]) for context, continuations in items]
        if not items:
            return []
        if not all(context and continuations and all(continuations) for context, continuations in items):
            raise SqlgptError("nll_continuations needs a non-empty context and continuations")
        group = max(len(continuations) for _, continuations in items)
        shared, branches = [], []  # (seq, pos, token, scored) rows of the two steps
        for i, (context, continuations) in enumerate(items):
            self._validate(context + max(continuations, key=len))  # ids and length, checked once
            shared += [(i, pos, token, 0) for pos, token in enumerate(context[:-1])]
            last = len(context) - 1
            for c, continuation in enumerate(continuations):
                branches += [(i * group + c, last + k, token, int(k > 0))
                             for k, token in enumerate([context[-1], *continuation])]
        self._reset()
        if shared:
            self._load_rows(shared, "the contexts' tokens")
            self._run(self.step, prepared=0)
        self._run(self.plan.empty_activations())
        self._load_rows(branches, "the continuations' tokens")
        self._run(self.plan.branch_caches(group))
        self._run(self.step, prepared=0)
        nll = dict(self._run([self.nll], prepared=0).fetchall())
        return [[float(nll[i * group + c]) for c in range(len(continuations))]
                for i, (_, continuations) in enumerate(items)]

    def _top(self, ids: list[int], k: int, vocab_size: int) -> list[tuple[int, float]]:
        first = self._step(ids)
        statement = self.engine.plan.top(int(k), int(vocab_size))
        rows = self._run([statement], self.engine.dialect.position_params(first + len(ids) - 1)).fetchall()
        return [(int(j), float(p)) for j, p in rows]

    def _nll(self, ids: list[int], first_target: int) -> float:
        first = self._step(ids)
        (nll,) = self._run([self.nll], prepared=first + first_target - 1).fetchone()
        return float(nll)

    def keep(self, schema: str = INSPECT_SCHEMA) -> list[str]:
        """Copy this session's tables (tokens, residual streams, KV cache, attention weights
        if inspecting) into `schema` as ordinary tables that outlive it. Returns their names."""
        names = self.engine.driver.temp_table_names(self._run([]))
        dialect = self.engine.dialect
        self._run([Statement("a schema for the kept tables", dialect.create_schema_if_missing(schema))])
        kept = [dialect.qualify(schema, name) for name in names]
        for name, copy in zip(names, kept):
            self._run([Statement(f"keep {name}", sql) for sql in dialect.copy_table(copy, name)])
        return kept

    def close(self) -> None:
        super().close()
        if self.cursor is not None:
            self.cursor.close()  # its temporary tables — this session's KV cache — go with it
            self.cursor = None


class _Database:
    """The engine's one connection: read-only while it only reads, so that other processes
    can read the same file; reopened writable just for installing (or for inspecting)."""

    def __init__(self, driver: Driver, database: str, writable: bool) -> None:
        self.driver, self.database = driver, database
        self.writable = writable or database == ":memory:"
        self.conn: Any = driver.open(database, writable=self.writable)

    def make_writable(self, required: bool = True) -> Any:
        if not self.writable and self.driver.single_writer:
            self.conn.close()
            self.conn = None
            try:
                self.conn = self.driver.open(self.database, writable=True)
            except SqlgptError:
                if required:
                    raise
                self.conn = self.driver.open(self.database, writable=False)
                return None
            self.writable = True
        return self.conn

    def make_read_only(self) -> None:
        if self.writable and self.driver.single_writer and self.database != ":memory:":
            self.conn.close()
            self.conn = None
            self.conn = self.driver.open(self.database, writable=False)
            self.writable = False

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class SqlTables:
    """`Engine.tables` of a SQL engine: the tables of its database, through the engine's own
    connection (reopened for writing: the results are written where the data is)."""

    def __init__(self, engine: SqlEngine) -> None:
        self.database = engine.database
        self.driver, self.dialect = engine.driver, engine.dialect
        self.conn = engine.writable_connection()

    def exists(self, name: str) -> bool:
        schema, _, table = name.rpartition(".")
        return self.driver.table_exists(self.conn, schema or None, table)

    def read(self, table: str, columns: list[str]) -> list[tuple]:
        try:
            return self.conn.execute(self.dialect.read_rows(table, columns)).fetchall()
        except self.driver.errors() as e:
            raise SqlgptError(f"cannot read {', '.join(columns)} from {table}: {first_line(e)}") from None

    def read_all(self, table: str) -> tuple[list[str], list[tuple]]:
        try:
            cursor = self.conn.execute(self.dialect.read_rows(table, ["*"]))
            return [d[0] for d in cursor.description], cursor.fetchall()
        except self.driver.errors() as e:
            raise SqlgptError(f"cannot read {table}: {first_line(e)}") from None

    def index(self, table: str, column: str, key: str) -> SqlIndex:
        return SqlIndex(self, table, column, key)

    def write(self, name: str, like: str, key: str, columns: list[tuple[str, str]], rows: list[tuple],
              replace: bool) -> None:
        try:
            self.driver.write_table(self.conn, name, self.dialect.empty_result(like, key, columns), rows, replace)
        except self.driver.errors() as e:
            raise SqlgptError(f"cannot write {name}: {first_line(e)}") from None


class SqlEngine(Engine):
    """A model installed in a database and run there as SQL."""

    prompt_chunk = 32

    def __init__(self, checkpoint: Checkpoint, name: str, database: str | os.PathLike[str] | Any = None,
                 progress: bool | None = None, inspect: bool = False, **dialect_options: Any) -> None:
        super().__init__(checkpoint.config)
        self.driver = get_driver(name, **dialect_options)  # connections
        self.dialect = self.driver.dialect  # SQL text
        self.layout = layout_of(self.dialect)
        self.name = name
        if database is None:
            database = self.driver.default_database()
        # A path becomes text; a live session (Spark's SparkSession) is used as it is.
        self.database = os.fspath(database) if isinstance(database, os.PathLike) else database
        if progress is None:
            progress = sys.stderr.isatty()
        # Inspecting writes the step's tables into the database, so it keeps write access.
        self._db = _Database(self.driver, self.database, writable=inspect)
        try:
            self.schema = find_or_install(self._db, self.driver, checkpoint, progress=progress)
            self.driver.use_model(self._db.conn, self.schema, [t.name for t in self.layout.weight_tables(self.config)])
            if not inspect:
                self._db.make_read_only()
        except BaseException as e:
            self._db.close()  # a failed load must not keep the file locked
            if isinstance(e, self.driver.errors()):
                raise SqlgptError(f"{name} failed while installing the model: {first_line(e)}") from e
            raise
        self.plan = Plan(self.config, self.dialect, self.schema, inspect=inspect)
        self.step = self.plan.step()
        # Tokens per `nll_many` call: a batched pass computes a logit for every token and
        # vocabulary entry, so this keeps that to about 16M rows (one window at least).
        self.batch_tokens = max(self.config.block_size, 2**24 // self.config.vocab_size)

    @property
    def conn(self) -> Any:
        return self._db.conn

    def writable_connection(self) -> Any:
        """The engine's connection, reopened for writing if it was read-only (before sessions)."""
        return self._db.make_writable()

    def tables(self) -> SqlTables:
        return SqlTables(self)

    def describe(self) -> list[tuple[str, list[Statement]]]:
        """Every statement a generation runs, in sections (title, statements): the session's
        tables, then each step's new tokens, forward pass and logits. What `sqlgpt sql` prints."""
        return [("session tables (once per generation)", self.plan.session_tables()),
                ("each step: the new tokens", [self.plan.load_tokens()]),
                ("each step: the forward pass", self.step),
                ("each step: the logits", [self.plan.logits(last_only=True)])]

    def session(self, batched: bool = False) -> SqlSession:
        """A new session; `batched`: one for `nll_batch` / `top_batch`."""
        if self._db.conn is None:
            raise SqlgptError("this model has been closed")
        return SqlSession(self, batched=batched)

    def nll_many(self, windows: Sequence[tuple[Sequence[int], int]]) -> list[float]:
        """One batched pass over all windows where the layout has one (vector layouts), so
        that a table's rows cost one step's statements, not one step each."""
        if not self.layout.batched:
            return super().nll_many(windows)
        with self.session(batched=True) as session:
            return session.nll_batch(windows)

    def nll_continuations(self, items: Sequence[tuple[Sequence[int], Sequence[Sequence[int]]]]) -> list[list[float]]:
        """Batched like `nll_many` where the layout has a batched step: two steps for all the
        items (`SqlSession.nll_continuations`); else one session rewound per continuation."""
        if not self.layout.batched:
            return super().nll_continuations(items)
        with self.session(batched=True) as session:
            return session.nll_continuations(items)

    def top_many(self, contexts: Sequence[Sequence[int]], k: int, vocab_size: int) -> list[list[tuple[int, float]]]:
        """Batched like `nll_many`."""
        if not self.layout.batched:
            return super().top_many(contexts, k, vocab_size)
        with self.session(batched=True) as session:
            return session.top_batch(contexts, k, vocab_size)

    def explain(self, ids: Sequence[int], *, top_k: int, vocab_size: int, temperatures: Sequence[float],
                keep: bool = False) -> Inspection:
        """Measured in SQL by `explain.py`; with `keep`, its tables (listed there) and the
        session's stay in the schema sqlgpt_inspect, to query afterwards."""
        if self._db.conn is None:
            raise SqlgptError("this model has been closed")
        if keep:
            self._db.make_writable()  # keeping writes tables into the database
        try:
            with SqlSession(self, inspect=True) as session:
                session.forward(ids)  # leaves the streams x0..xL and attn{l} in the session's tables
                session._run(session.plan.explain(top_k, vocab_size, temperatures))
                read = {name: self.driver.fetch_columns(session._run([query]))
                        for name, query in session.plan.explain_read_back().items()}
                return explain_sql.inspection(read, self.config, len(ids), top_k=top_k, temperatures=temperatures,
                                              tables=session.keep() if keep else ())
        finally:
            if keep and not self.plan.inspect:
                self._db.make_read_only()

    def close(self) -> None:
        self._db.close()
