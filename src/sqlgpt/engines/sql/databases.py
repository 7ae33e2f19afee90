"""The one list of the databases sqlgpt runs on: each name's dialect and driver, and what
`sqlgpt.load(..., engine=name)` takes for it.

A database is a dialect (`dialects/<db>.py`: its SQL text) and a driver (`drivers/<db>.py`:
its connections). Both are imported only when that database is asked for, so a missing
client package (pyspark, psycopg) matters only to the database that needs it. This is the
only place that tells databases apart by name.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .dialects.base import Dialect
    from .drivers.base import Driver


@dataclasses.dataclass(frozen=True)
class Database:
    module: str  # the name of its module in dialects/ and in drivers/
    dialect: str  # its Dialect class there
    driver: str  # its Driver class there
    # What `sqlgpt.load(..., engine=name)` takes for it beyond database=, progress= and
    # inspect=: options of the dialect's constructor, and another name for database=.
    options: frozenset[str] = frozenset()
    database_alias: str | None = None


DATABASES = {
    "duckdb": Database("duckdb", "DuckDBDialect", "DuckDBDriver",
                       options=frozenset({"vector_kernel"})),  # sqlgpt's vdot kernel: None (where it loads), True, False
    "postgres": Database("postgres", "PostgresDialect", "PostgresDriver", options=frozenset({"pgvector"}),
                         database_alias="dsn"),  # a connection string
    "spark": Database("spark", "SparkDialect", "SparkDriver", options=frozenset({"vector_functions", "layout"}),
                      database_alias="session"),  # a SparkSession of the caller's, used as it is
    "sqlite": Database("sqlite", "SQLiteDialect", "SQLiteDriver"),
}


def dialect_class(name: str) -> type[Dialect]:
    """The Dialect class of the database called `name` (KeyError if there is none)."""
    database = DATABASES[name]
    return getattr(importlib.import_module(f"{__package__}.dialects.{database.module}"), database.dialect)


def driver_class(name: str) -> type[Driver]:
    """The Driver class of the database called `name` (KeyError if there is none)."""
    database = DATABASES[name]
    return getattr(importlib.import_module(f"{__package__}.drivers.{database.module}"), database.driver)


def get_dialect(name: str, **options: Any) -> Dialect:
    """The dialect called `name`; `options` go to its constructor (PostgreSQL: pgvector=;
    DuckDB: vector_kernel=)."""
    return dialect_class(name)(**options)


def get_driver(name: str, **options: Any) -> Driver:
    """The driver of the database called `name`, holding a new dialect made with `options`."""
    return driver_class(name)(get_dialect(name, **options))


__all__ = ["DATABASES", "Database", "dialect_class", "driver_class", "get_dialect", "get_driver"]
