"""A BM25 index's tables in a SQL engine's database, written and searched through the engine's
connection with the SQL of `plan/retrieval.py`.

This module runs statements and moves rows; it decides nothing: which rows changed, and each
row's words, come from `sqlgpt.retrieval`, which also checks the names it is given.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ...errors import SqlgptError, first_line
from .plan import retrieval as sql
from .plan.retrieval import IndexTables


class SqlIndex:
    """The BM25 index of `column` of `source` (rows identified by `key`), through `tables`'
    connection (an `engine.SqlTables`)."""

    def __init__(self, tables: Any, source: str, column: str, key: str) -> None:
        self.conn, self.driver, self.dialect = tables.conn, tables.driver, tables.dialect
        self.database, self.exists_table = tables.database, tables.exists
        self.source, self.column, self.key = source, column, key
        self.names = IndexTables.of(source, column)

    def exists(self) -> bool:
        return all(self.exists_table(name) for name in self.names.all())

    def hashes(self) -> dict[Any, str]:
        """Every indexed row's key and text hash (none when there is no index yet)."""
        if not self.exists():
            return {}
        return dict(self._query(sql.read_hashes(self.names)))

    def write(self, stale_keys: list[Any], rows: list[tuple[Any, str, int]], postings: list[tuple[Any, str, int]]) -> None:
        """One transaction: the index's tables made if missing, the stale keys' rows and
        postings deleted, the new ones (key, hash, words) and (key, term, tf) inserted, and
        the document frequencies counted again."""
        missing = not self.exists()
        self.driver.begin(self.conn)
        try:
            if missing:
                for name in self.names.all():
                    self.conn.execute(self.dialect.drop_table_sql(name))
                for statement in sql.create(self.dialect, self.names, self.source, self.key):
                    self.conn.execute(statement)
            self.driver.replace_keyed_rows(self.conn, self.names.rows, "row_key", stale_keys, rows)
            self.driver.replace_keyed_rows(self.conn, self.names.postings, "row_key", stale_keys, postings)
            for statement in sql.count_terms(self.dialect, self.names):
                self.conn.execute(statement)
            self.driver.commit(self.conn)
        except BaseException as e:
            self.driver.rollback(self.conn)
            if isinstance(e, self.driver.errors()):
                raise SqlgptError(f"cannot write the index of {self.source}.{self.column}: {first_line(e)}") from None
            raise

    def search(self, words: Counter[str], k: int, k1: float, b: float, epsilon: float) -> list[tuple[Any, float]]:
        """The `k` best (key, score) for the question's `words` (each with how often it occurs)."""
        if not self.exists():
            raise SqlgptError(f"{self.source}.{self.column} has no index in {self.database}: run sqlgpt index first")
        if self._query(sql.count_rows(self.names))[0][0] == 0:
            raise SqlgptError(f"the index of {self.source}.{self.column} holds no rows: the column has no text")
        self.driver.temp_rows(self.conn, sql.QUESTION, [("term", "text"), ("n", "int")], list(words.items()))
        try:
            return [(key, float(score)) for key, score in
                    self._query(sql.scores(self.dialect, self.names, k, k1, b, epsilon))]
        finally:
            self.driver.drop_temp_rows(self.conn, sql.QUESTION)

    def texts(self, keys: list[Any]) -> dict[Any, str]:
        """The text of the rows with these keys, as the source table has it now."""
        if not keys:
            return {}
        return dict(self._query(sql.texts(self.dialect, self.source, self.key, self.column, len(keys)), keys))

    def _query(self, statement: str, params: list[Any] | None = None) -> list[tuple]:
        try:
            return [tuple(row) for row in self.conn.execute(statement, *([params] if params else [])).fetchall()]
        except self.driver.errors() as e:
            raise SqlgptError(f"cannot read the index of {self.source}.{self.column}: {first_line(e)}") from None
