"""One file per database: only what differs from the base dialect."""

from __future__ import annotations

from .base import Dialect


def get_dialect(name: str) -> Dialect:
    if name == "duckdb":
        from .duckdb import DuckDBDialect

        return DuckDBDialect()
    if name == "postgres":
        from .postgres import PostgresDialect

        return PostgresDialect()
    if name == "sqlite":
        from .sqlite import SQLiteDialect

        return SQLiteDialect()
    raise KeyError(name)


__all__ = ["Dialect", "get_dialect"]
