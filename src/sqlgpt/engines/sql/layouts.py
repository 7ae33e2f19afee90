"""The two ways a database stores a vector, and what the rest of the SQL engine asks of each.

    vector   a value of a vector type with a dot product (DuckDB FLOAT[], pgvector, Spark
             ARRAY<FLOAT>): `compiler.py` writes the plan, and it has a batched form
             (sequences keyed by (seq, pos)) and the explain queries
    wide     a column per element, for databases without a vector type (SQLite):
             `wide.py` writes the plan, window by window, and has no explain queries yet

A dialect names its layout (`Dialect.layout`); `layout_of` is the one place that turns the
name into the compiler, the weight tables and the install format. This module holds no SQL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ...config import GPTConfig
from . import compiler, wide
from .compiler import Compiler, WeightTable
from .dialects.base import Dialect


@dataclasses.dataclass(frozen=True)
class Layout:
    name: str
    compiler: type[Compiler]  # writes the forward step and the queries over it
    weight_tables: Callable[[GPTConfig], list[WeightTable]]  # what an install creates
    format_version: int  # of an install; a change means installs made before are redone
    batched: bool  # many sequences through one step (table work); else window by window
    explains: bool  # explain's queries are written for it


LAYOUTS = {
    "vector": Layout("vector", compiler.Compiler, compiler.weight_tables, compiler.FORMAT_VERSION,
                     batched=True, explains=True),
    "wide": Layout("wide", wide.WideCompiler, wide.weight_tables, wide.FORMAT_VERSION, batched=False, explains=False),
}


def layout_of(dialect: Dialect) -> Layout:
    return LAYOUTS[dialect.layout]


def format_version(dialect: Dialect) -> int:
    """The format version an install in this dialect records: its layout's, and the
    dialect's variant of it (other column types), which installs of another do not share."""
    return layout_of(dialect).format_version + 1000 * dialect.layout_variant
