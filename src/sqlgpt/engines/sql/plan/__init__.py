"""The plan: every query a SQL engine runs, written once for every database and layout.

    statement.py   `Statement`: SQL text, a comment, and for an INSERT its target and query
    model.py       `Plan`: a session's tables, the forward step, logits, loss, softmax and
                   top-k, explain's measurements; the layout answers what depends on how a
                   vector is stored, the dialect each primitive

Nothing here connects to a database: callers run the statements (engine.py) or write them
into a file (script.py).
"""

from .model import Plan, softmax, top_k, top_probabilities
from .statement import Statement

__all__ = ["Plan", "Statement", "softmax", "top_k", "top_probabilities"]
