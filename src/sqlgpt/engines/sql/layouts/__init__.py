"""The ways a database stores vectors and matrices, and the one place a dialect's layout is looked up.

    vector   a value of a vector type with a dot product (DuckDB FLOAT[], pgvector, Spark
             ARRAY<FLOAT>): `vector.py`; it has a batched step (sequences keyed by (seq, pos))
    matrix   vectors as `vector`, and each weight matrix one value, an array of its rows
             (Spark ARRAY<ARRAY<FLOAT>>): `matrix.py`; batched too
    wide     a column per element, for databases without a vector type (SQLite): `wide.py`

A dialect names its layout (`Dialect.layout`); `layout_of` turns the name into the class
whose operations the plan uses (see `base.py`) and whose weight tables an install creates.
"""

from __future__ import annotations

from ..dialects.base import Dialect
from .base import Layout, WeightTable, folded_matrix
from .matrix import MatrixLayout
from .vector import VectorLayout
from .wide import WideLayout

LAYOUTS: dict[str, type[Layout]] = {"vector": VectorLayout, "matrix": MatrixLayout, "wide": WideLayout}


def layout_of(dialect: Dialect) -> type[Layout]:
    return LAYOUTS[dialect.layout]


def format_version(dialect: Dialect) -> int:
    """The format version an install in this dialect records: its layout's, and the
    dialect's variant of it (other column types), which installs of another do not share."""
    return layout_of(dialect).format_version + 1000 * dialect.layout_variant


__all__ = ["LAYOUTS", "Layout", "WeightTable", "folded_matrix", "format_version", "layout_of"]
