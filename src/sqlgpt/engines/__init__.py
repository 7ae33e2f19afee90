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

ENGINES = ("duckdb", "numpy", "postgres", "sqlite")
DEFAULT_ENGINE = "duckdb"


def create_engine(name: str, checkpoint: Checkpoint, **options: Any) -> Engine:
    """An engine called `name` holding `checkpoint`'s model."""
    if name == "numpy":
        if options:
            raise SqlgptError(f"the numpy engine takes no options (got {', '.join(sorted(options))})")
        from .numpy import NumpyEngine

        return NumpyEngine(checkpoint.config, dict(checkpoint.params()))
    if name in ("duckdb", "postgres", "sqlite"):
        from .sql.engine import SqlEngine

        if name == "postgres" and "dsn" in options:
            options["database"] = options.pop("dsn")
        unknown = set(options) - {"database", "progress", "inspect"}
        if unknown:
            raise SqlgptError(f"the {name} engine takes database= (or dsn=), progress= and inspect=, "
                              f"not {', '.join(sorted(unknown))}")
        return SqlEngine(checkpoint, name, **options)
    raise SqlgptError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")


__all__ = ["DEFAULT_ENGINE", "ENGINES", "Engine", "Session", "create_engine"]
