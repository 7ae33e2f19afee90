"""One file per database: only what differs from the base dialect."""

from __future__ import annotations

from typing import Any

from .base import Dialect


def get_dialect(name: str, **options: Any) -> Dialect:
    """The dialect called `name`; `options` go to its constructor (PostgreSQL: pgvector=)."""
    if name == "duckdb":
        from .duckdb import DuckDBDialect

        return DuckDBDialect()
    if name == "postgres":
        from .postgres import PostgresDialect

        return PostgresDialect(**options)
    if name == "sqlite":
        from .sqlite import SQLiteDialect

        return SQLiteDialect()
    if name == "spark":
        from .spark import SparkDialect

        return SparkDialect()
    raise KeyError(name)


__all__ = ["Dialect", "get_dialect"]
