"""One file per database: only what differs from the base dialect. This is the one list of
the databases sqlgpt runs on; each dialect's module is imported only when that database is
asked for, so a missing driver matters only to the database that needs it."""

from __future__ import annotations

import importlib
from typing import Any

from .base import Dialect

# Engine name -> (module of this package, its Dialect class).
DIALECTS = {
    "duckdb": ("duckdb", "DuckDBDialect"),
    "postgres": ("postgres", "PostgresDialect"),
    "spark": ("spark", "SparkDialect"),
    "sqlite": ("sqlite", "SQLiteDialect"),
}


def dialect_class(name: str) -> type[Dialect]:
    """The Dialect class of the database called `name` (KeyError if there is none)."""
    module, cls = DIALECTS[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def get_dialect(name: str, **options: Any) -> Dialect:
    """The dialect called `name`; `options` go to its constructor (PostgreSQL: pgvector=)."""
    return dialect_class(name)(**options)


__all__ = ["DIALECTS", "Dialect", "dialect_class", "get_dialect"]
