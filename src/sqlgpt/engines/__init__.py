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
from .sql.databases import DATABASES

SQL_ENGINES = tuple(DATABASES)  # the databases; "numpy" is the in-memory reference
ENGINES = tuple(sorted(("numpy", *SQL_ENGINES)))
DEFAULT_ENGINE = "duckdb"


def create_engine(name: str, checkpoint: Checkpoint, **options: Any) -> Engine:
    """An engine called `name` holding `checkpoint`'s model."""
    if name in DATABASES:
        from .sql.engine import SqlEngine

        database = DATABASES[name]
        alias = database.database_alias
        if alias is not None and alias in options:  # another name for database=
            if "database" in options:
                raise SqlgptError(f"the {name} engine takes database= or {alias}=, not both")
            options["database"] = options.pop(alias)
        allowed = {"database", "progress", "inspect", *database.options}
        unknown = set(options) - allowed
        if unknown:
            also = f" (or {alias}= for database=)" if alias else ""
            raise SqlgptError(f"the {name} engine takes {', '.join(sorted(allowed))}{also}, "
                              f"not {', '.join(sorted(unknown))}")
        return SqlEngine(checkpoint, name, **options)
    if name == "numpy":  # the reference, in memory
        if options:
            raise SqlgptError(f"the numpy engine takes no options (got {', '.join(sorted(options))})")
        from .numpy import NumpyEngine

        return NumpyEngine(checkpoint.config, dict(checkpoint.params()))
    raise SqlgptError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")


__all__ = ["DEFAULT_ENGINE", "ENGINES", "SQL_ENGINES", "Engine", "Session", "create_engine"]
