"""What a layout is: how vectors are stored, and the few operations of the plan that depend on it.

The plan (`plan.py`) writes every query once. Where a query touches the elements of a
vector it asks its layout, which answers with SQL text built from the dialect's primitives:

    vector_columns   a vector's columns in a table definition
    elementwise      a function applied element by element (a select list)
    dot              the dot product of two vectors (an expression)
    norm_ctes        a norm's statistics (mean, 1/√(var+ε)) of each row, as CTEs
    units, rotary, mlp_hidden, attention, loss
                     a matrix after a norm, rotary positions, the MLP's hidden layer, attention
                     (as CTEs) and the loss: by default the plan's long rows (a row per unit,
                     per query and key, per position and token), which the layouts below then
                     gather; a layout that keeps a matrix as one value (`matrix.py`) answers
                     them itself
    heads            the QKV projection's units gathered into the KV cache's rows
    attend           the softmax weights · the cached values, as CTEs ending in `attn`
    hidden           the MLP's first layer, activated, as the CTE `fc`
    project          a matrix back into the residual stream, plus the residual
    final_norm       the final norm applied to rows with their statistics
    value_tables, append_values, reset_values
                     a layout's own session tables (the vector layout's transposed values)

and it lists its weight tables (`weight_tables`), from the checkpoint's arrays. Norms fold
into the matrix after them by one function for both layouts (`folded_matrix`). What a
layout does not do: decide the order of the step, name the session tables, or write the
softmax, top-k, loss or logits — those are the plan's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Protocol

import numpy as np

from ....config import GPTConfig
from ....rotary import cos_sin
from ..dialects.base import Dialect

QUERY, KEY, VALUE = 0, 1, 2  # `kind` of a KV cache row


@dataclasses.dataclass(frozen=True)
class WeightTable:
    """A table of the installed model: its columns and how to fill them from the params."""

    name: str
    schema: list[tuple[str, str]]  # (column, kind) with kind in 'int', 'float', 'vector'
    n_rows: int
    n_values: int  # floats it holds, for progress bars
    columns: Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]


def qkv_width(config: GPTConfig) -> int:
    """Output units of the QKV projection: every query head, then the key and value heads."""
    return (config.n_head + 2 * config.n_kv_head) * config.head_size


def fc_width(config: GPTConfig) -> int:
    """Output units of the MLP's first matrix: n_inner, twice that when gated (gate, then up)."""
    return (2 if config.family.gated_mlp else 1) * config.n_inner


def head_slots(config: GPTConfig, j: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """kind (0 query, 1 key, 2 value), head and element of the QKV projection's units j: the
    n_head query heads first, then the n_kv_head key heads, then as many value heads."""
    D, H, KV = config.head_size, config.n_head, config.n_kv_head
    slot = j // D
    kind = np.where(slot < H, 0, np.where(slot < H + KV, 1, 2))
    return kind, slot - np.array([0, H, H + KV])[kind], j % D


def rope_table(config: GPTConfig) -> WeightTable:
    """`rope(k, cos, sin)`: the rotary angle's cosine and sine of every position and head
    element, k = pos · head_size + element, float32 as transformers computes them
    (`rotary.cos_sin`). One key column: SQLite's tables are keyed by their first."""
    T, D = config.block_size, config.head_size

    def columns(p: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        cos, sin = cos_sin(config, np.arange(T))  # [T, D] each
        return {"k": np.arange(T * D, dtype=np.int32), "cos": cos.reshape(-1), "sin": sin.reshape(-1)}

    return WeightTable("rope", [("k", "int"), ("cos", "float"), ("sin", "float")], T * D, 2 * T * D, columns)


def folded_matrix(p: Mapping[str, np.ndarray], key: str,
                  norm: str | None = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """The matrix `key` as rows by output unit, with the layer norm `norm` (if any) folded in:

        LN(x)·W + b  =  r·(x·(g∘W) − μ·Σ(g∘W)) + (b + β·W)     μ = mean(x), r = 1/√(var(x)+ε)

    so a norm costs two numbers per position (μ, r), not a pass over the vector. Returns
    W' [out, in] in float32, as stored; the row sums of those stored values s [out] in
    float64 (None without a norm); the bias b' [out] in float64. Both layouts install from this."""
    weight = p[key + ".weight"].astype(np.float64)  # [in, out]
    bias = p[key + ".bias"].astype(np.float64)  # [out]
    if norm is None:
        return np.ascontiguousarray(weight.T, np.float32), None, bias
    gain, shift = p[norm + ".weight"].astype(np.float64), p[norm + ".bias"].astype(np.float64)  # [in]
    folded = np.ascontiguousarray((gain[:, None] * weight).T, np.float32)  # [out, in]
    return folded, folded.astype(np.float64).sum(axis=1), bias + shift @ weight


class Step(Protocol):
    """What a layout reads of the plan it serves (`plan.Plan`)."""

    config: GPTConfig
    d: Dialect
    first: str  # the step's first new position, a SQL expression
    batched: bool

    def keys(self, alias: str | None = None) -> str: ...

    def same_sequence(self, a: str, b: str) -> str: ...

    def same_position(self, a: str, b: str, offset: str = "") -> str: ...

    def kv_head(self, head: str) -> str: ...

    def weights(self, table: str) -> str: ...

    # The plan's long-row forms, the default of the layout hooks of the same names.
    def units(self, table: str, stats: str, extra: tuple[str, ...] = (), where: str = "") -> str: ...

    def rotary(self, units: str) -> str: ...

    def mlp_hidden(self, table: str, stats: str) -> str: ...

    def attention_scores(self, l: int) -> str: ...

    def loss_rows(self) -> str: ...

    def unembedding(self) -> str: ...


class Layout:
    """One way of storing vectors; subclasses answer every operation (module docstring)."""

    name = ""
    format_version = 0  # of an install; bump when the weight tables change: installs are redone
    batched = False  # has a batched step (sequences keyed by (seq, pos)), for table work
    head_unit_columns: tuple[str, ...] = ()  # columns of the QKV table that `heads` reads, after (keys, j)

    def __init__(self, step: Step) -> None:
        self.step = step
        self.config, self.d = step.config, step.d

    @classmethod
    def weight_tables(cls, config: GPTConfig) -> list[WeightTable]:
        """Every table an installed model has in this layout, in install order: the token
        embedding, the position embedding or the rotary angles, the unembedding if untied,
        the final norm, then per block its four matrices (norms folded into the first and
        third), each in the layout's form."""
        C, V, T, I, family = config.n_embd, config.vocab_size, config.block_size, config.n_inner, config.family
        tables = [cls.embedding_table("wte", "wte.weight", V, C)]
        tables.append(cls.embedding_table("wpe", "wpe.weight", T, C) if family.positions == "learned" else cls.rope_table(config))
        if not family.tied_unembedding:
            tables.append(cls.embedding_table("lm_head", "lm_head.weight", V, C))
        norm = family.final_norm
        tables.append(WeightTable(norm, cls.vector_schema("g", C) + cls.vector_schema("b", C), 1, 2 * C,
                                  lambda p: {"g": p[norm + ".weight"][None], "b": p[norm + ".bias"][None]}))
        (qkv, attn_proj), (fc, mlp_proj) = family.attention, family.mlp
        for i in range(config.n_layer):
            tables += [
                cls.normed_table(f"h{i}_{qkv.name}", qkv.key.format(i=i), C, qkv_width(config), qkv.norm.format(i=i),
                                 heads=config),
                cls.projection_table(f"h{i}_{attn_proj.name}", attn_proj.key.format(i=i), C, C),
                cls.normed_table(f"h{i}_{fc.name}", fc.key.format(i=i), C, fc_width(config), fc.norm.format(i=i)),
                cls.projection_table(f"h{i}_{mlp_proj.name}", mlp_proj.key.format(i=i), I, C),
            ]
        return tables

    @staticmethod
    def vector_schema(name: str, n: int) -> list[tuple[str, str]]:
        """The (column, kind) pairs of an n-element vector called `name` in a table."""
        raise NotImplementedError

    @staticmethod
    def rope_table(config: GPTConfig) -> WeightTable:
        """The rotary angles' table (rotary families): `rope_table`'s rows (k, cos, sin)."""
        return rope_table(config)

    @classmethod
    def embedding_table(cls, name: str, key: str, n: int, width: int) -> WeightTable:
        """Rows (j, w): the checkpoint's (n, width) matrix `key`, a row per index j."""
        return WeightTable(name, [("j", "int")] + cls.vector_schema("w", width), n, n * width,
                           lambda p: {"j": np.arange(n, dtype=np.int32), "w": p[key]})

    @staticmethod
    def normed_table(name: str, key: str, n_in: int, n_out: int, norm: str, heads: GPTConfig | None = None) -> WeightTable:
        """The matrix `key` after the norm `norm`, folded in, in the form the plan's `units`
        reads (rows j, w, s, b); with `heads` (the config), the QKV projection's."""
        raise NotImplementedError

    @staticmethod
    def projection_table(name: str, key: str, n_in: int, n_out: int) -> WeightTable:
        """The matrix `key` back into the residual stream, in the form `project` reads."""
        raise NotImplementedError

    def vector_columns(self, name: str, n: int) -> list[tuple[str, str]]:
        """The (column, kind) pairs of an n-element vector called `name` in a session table."""
        return self.vector_schema(name, n)

    def elementwise(self, vectors: list[str], fn: Callable[..., str], n: int) -> str:
        """A select list: `fn` of the elements of n-element `vectors` ('alias.name'), element by element."""
        raise NotImplementedError

    def dot(self, a: str, b: str, n: int) -> str:
        """The dot product of the n-element vectors `a` and `b` ('alias.name')."""
        raise NotImplementedError

    def norm_ctes(self, name: str, source: str, keys: str) -> str:
        """CTEs ending in `name`: the rows of `source` (a table or a subquery, aliased `s`) with
        columns `keys`, x (the vector), mu and r, the family's norm being (x − mu)·r: a layer
        norm's mean and 1/√(variance + ε), or RMSNorm's 0 and 1/√(mean(x²) + ε)."""
        raise NotImplementedError

    def units(self, table: str, stats: str, extra: tuple[str, ...] = (), where: str = "") -> str:
        """SELECT keys, ...: the weight table `table` (a norm folded in) applied to the rows of
        `stats` (from `norm_ctes`), in the form `heads`, `rotary` and `mlp_hidden` read. By
        default the plan's long rows (keys, j[, extra], y), `where` a condition on the
        weight rows m (`Plan.units`)."""
        return self.step.units(table, stats, extra, where)

    def rotary(self, units: str) -> str:
        """SELECT ...: the QKV projection's `units` with the query and key heads rotated by
        position, in the form `heads` reads (by default `Plan.rotary`'s long rows)."""
        return self.step.rotary(units)

    def mlp_hidden(self, table: str, stats: str, activation: Callable[[str], str]) -> str:
        """CTEs ending in `fc`: the MLP's hidden layer from the weight table `table` and the
        rows of `stats`, through `activation` (gated or not), in the form `project` takes (by
        default `Plan.mlp_hidden`, which gathers long rows with `hidden`)."""
        return self.step.mlp_hidden(table, stats)

    def attention(self, l: int) -> str:
        """CTEs ending in `attn`: layer l's causal self-attention of the step's new queries
        over the KV cache, in the form `project` takes (by default the plan's long rows of
        scores, `Plan.attention_scores`, then `attend`)."""
        return (f"-- each new query against every cached key of its head; later keys are masked out\n"
                f"  {self.step.attention_scores(l)},\n  {self.attend(l)}")

    def loss(self) -> str:
        """The loss's query (`Plan.loss`): by default over the logits as long rows (`Plan.loss_rows`)."""
        return self.step.loss_rows()

    def heads(self, units: str) -> str:
        """SELECT kind, hd, keys, vec: the KV cache's new rows from `units`, the QKV
        projection's long rows (keys, j, [head_unit_columns,] y), or for a rotary family
        what the layout's `rotary` made of them: first every query head's units, then every
        KV head's keys, then their values."""
        raise NotImplementedError

    def attend(self, l: int) -> str:
        """CTEs ending in `attn`: each new position's attention output in layer l, in the
        form `project` takes, from `peaks` (keys, hd, kpos, s, visible, m: the scores,
        whether the key is visible and each row's maximum over visible keys)."""
        raise NotImplementedError

    def hidden(self, units: str, activation: Callable[[str], str]) -> str:
        """SELECT ...: the MLP's hidden layer from `units` (long rows keys, j, y), activated,
        in the form `project` takes."""
        raise NotImplementedError

    def project(self, table: str, source: str, n_in: int, residual: str) -> str:
        """SELECT keys, x: the weight table `table` (n_in inputs) applied to `source`'s rows,
        plus the residual stream `residual` at the same position."""
        raise NotImplementedError

    def final_norm(self, stats: str, keys: list[str], norm: str) -> str:
        """SELECT keys, xn: the rows of `stats` (from `norm_ctes`) through the norm whose
        gain and bias are in the weight table `norm`."""
        raise NotImplementedError

    def value_tables(self, l: int) -> list[tuple[str, str]]:
        """(comment, SQL) of layer l's session tables beyond the KV cache."""
        return []

    def append_values(self, l: int) -> list[tuple[str, str]]:
        """(comment, SQL) of a step's statements that grow them."""
        return []

    def reset_values(self) -> list[tuple[str, str]]:
        """(comment, SQL) of statements emptying them for a new sequence."""
        return []
