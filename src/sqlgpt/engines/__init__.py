"""Engines run the forward pass; this picks one by name.

"numpy" is the in-memory reference. SQL engines install the weights into a database once
and run the model as SQL. Each engine module is imported only when asked for, so a
missing database driver only matters to the engine that needs it.
"""

from __future__ import annotations

from typing import Any

from ..checkpoint import Checkpoint
from ..errors import SqlgptError
from .base import Engine, Session

ENGINES = ("duckdb", "numpy", "postgres", "spark", "sqlite")
DEFAULT_ENGINE = "duckdb"


def create_engine(name: str, checkpoint: Checkpoint, **options: Any) -> Engine:
    """An engine called `name` holding `checkpoint`'s model."""
    if name == "numpy":
        if options:
            raise SqlgptError(f"the numpy engine takes no options (got {', '.join(sorted(options))})")
        from .numpy import NumpyEngine

        return NumpyEngine(checkpoint.config, dict(checkpoint.params()))
    if name in ("duckdb", "postgres", "spark", "sqlite"):
        from .sql.engine import SqlEngine

        if name == "postgres" and "dsn" in options:
            options["database"] = options.pop("dsn")
        if name == "spark" and "session" in options:  # a SparkSession of the caller's: the connection
            if "database" in options:
                raise SqlgptError("the spark engine takes a master URL (database=) or a SparkSession (session=), not both")
            options["database"] = options.pop("session")
        allowed = {"database", "progress", "inspect"} | ({"pgvector"} if name == "postgres" else set())
        unknown = set(options) - allowed
        if unknown:
            raise SqlgptError(f"the {name} engine takes {', '.join(sorted(allowed))} (postgres: or dsn=; spark: or session=), "
                              f"not {', '.join(sorted(unknown))}")
        return SqlEngine(checkpoint, name, **options)
    raise SqlgptError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")


__all__ = ["DEFAULT_ENGINE", "ENGINES", "Engine", "Session", "create_engine"]
