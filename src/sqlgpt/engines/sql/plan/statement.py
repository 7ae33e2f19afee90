"""A statement of the plan: SQL text with a comment saying what it computes, a value callers compose."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Statement:
    """One SQL statement, with a comment saying what it computes. An INSERT of a query's
    rows also carries its parts, `target` and `query`, for callers that run the query
    another way (the standalone script makes views of them): no one parses `sql` back."""

    comment: str
    sql: str
    target: str | None = None  # the table an INSERT writes
    query: str | None = None  # the query whose rows it writes

    @classmethod
    def insert(cls, comment: str, target: str, query: str, separator: str = " ") -> Statement:
        """INSERT INTO `target` the rows of `query`."""
        return cls(comment, f"INSERT INTO {target}{separator}{query}", target, query)
