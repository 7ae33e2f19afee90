"""The SQL of retrieval: a BM25 index of a table's text column as three tables beside it, and
Okapi BM25 scores of a question's words computed from them.

For the column `body` of the table `docs`, the index is

    sqlgpt_bm25_docs_body_rows(row_key, text_hash, words)   each indexed row: its key, a hash
                                                            of its text, its number of words
    sqlgpt_bm25_docs_body_postings(row_key, term, tf)       each word of each row, how often
    sqlgpt_bm25_docs_body_terms(term, df)                   each word, how many rows hold it

The key keeps the type it has in `docs`. The question's words arrive as rows of a table the
caller fills with bound values (`QUESTION`: term, n — how often the question says it); the
scores are rank_bm25's `BM25Okapi`: idf = ln((N − df + 0.5) / (df + 0.5)), a negative idf
replaced by epsilon times the mean idf of all the index's words. This module writes SQL text
only: which rows changed, and the words themselves, are the caller's (`sqlgpt.retrieval`).
"""

from __future__ import annotations

import dataclasses
import math

from ..dialects.base import Dialect

PREFIX = "sqlgpt_bm25_"
QUESTION = "sqlgpt_bm25_question"  # the question's words: (term, n), a session's table


@dataclasses.dataclass(frozen=True)
class IndexTables:
    """The names of the index of `column` of `table`."""

    rows: str
    postings: str
    terms: str

    @classmethod
    def of(cls, table: str, column: str) -> IndexTables:
        """The index's tables, beside `table` (in its schema), named after it and `column`."""
        schema, dot, name = table.rpartition(".")
        stem = f"{schema}{dot}{PREFIX}{name}_{column}"
        return cls(rows=f"{stem}_rows", postings=f"{stem}_postings", terms=f"{stem}_terms")

    def all(self) -> list[str]:
        return [self.rows, self.postings, self.terms]


def create(dialect: Dialect, tables: IndexTables, source: str, key: str) -> list[str]:
    """Statements creating the index's empty tables (`row_key` typed as `key` is in `source`)."""
    text, integer = dialect.result_type("text"), dialect.result_type("int")

    def empty(columns: str, keyed: bool) -> str:
        return f"SELECT {f'{key} AS row_key, ' if keyed else ''}{columns} FROM {source} WHERE 1 = 0"

    return [
        dialect.create_table_as_sql(tables.rows, empty(f"CAST(NULL AS {text}) AS text_hash, "
                                                       f"CAST(NULL AS {integer}) AS words", True)),
        dialect.create_table_as_sql(tables.postings, empty(f"CAST(NULL AS {text}) AS term, "
                                                           f"CAST(NULL AS {integer}) AS tf", True)),
        dialect.create_table_as_sql(tables.terms, empty(f"CAST(NULL AS {text}) AS term, "
                                                        f"CAST(NULL AS {integer}) AS df", False)),
    ]


def read_hashes(tables: IndexTables) -> str:
    """Every indexed row's (row_key, text_hash)."""
    return f"SELECT row_key, text_hash FROM {tables.rows}"


def count_rows(tables: IndexTables) -> str:
    """How many rows the index holds."""
    return f"SELECT count(*) FROM {tables.rows}"


def count_terms(dialect: Dialect, tables: IndexTables) -> list[str]:
    """Statements refilling the terms table from the postings: each word's document frequency."""
    return dialect.replace_contents_sql(tables.terms, f"SELECT term, CAST(count(*) AS {dialect.result_type('int')}) AS df "
                                                      f"FROM {tables.postings} GROUP BY term")


def question_table(dialect: Dialect) -> list[str]:
    """Statements making the (empty) session table of the question's words."""
    return [dialect.drop_table_sql(QUESTION),
            dialect.temp_table_def(QUESTION, [("term", "text"), ("n", "int")])]


def _double(dialect: Dialect, x: float) -> str:
    """The finite float `x` as a double (its shortest repr reads back as the same double)."""
    assert math.isfinite(x)
    return f"CAST({x!r} AS {dialect.result_type('double')})"


def scores(dialect: Dialect, tables: IndexTables, k: int, k1: float, b: float, epsilon: float) -> str:
    """The `k` best rows for the question's words, (row_key, score) by score then key:
    BM25Okapi's score, the sum over the question's words (each as often as it says it) of
    idf · tf · (k1 + 1) / (tf + k1 · (1 − b + b · words / mean words)). Rows holding none
    of the words have no score and are not returned."""
    d = dialect.result_type("double")
    k1_, b_, eps = (_double(dialect, v) for v in (k1, b, epsilon))
    return f"""WITH
  stats AS (SELECT CAST(count(*) AS {d}) AS n_rows, avg(CAST(words AS {d})) AS mean_words FROM {tables.rows}),
  idf AS (SELECT t.term, ln(s.n_rows - t.df + 0.5) - ln(t.df + 0.5) AS idf FROM {tables.terms} t, stats s),
  mean_idf AS (SELECT sum(idf) / count(*) AS m FROM idf),
  asked AS (SELECT q.term, q.n, CASE WHEN i.idf < 0 THEN {eps} * m.m ELSE i.idf END AS idf
            FROM {QUESTION} q JOIN idf i ON i.term = q.term CROSS JOIN mean_idf m)
SELECT r.row_key, sum(a.n * a.idf * (p.tf * ({k1_} + 1)) / (p.tf + {k1_} * (1 - {b_} + {b_} * r.words / s.mean_words)))
       AS score
FROM asked a JOIN {tables.postings} p ON p.term = a.term JOIN {tables.rows} r ON r.row_key = p.row_key CROSS JOIN stats s
GROUP BY r.row_key ORDER BY score DESC, r.row_key LIMIT {int(k)}"""


def texts(dialect: Dialect, source: str, key: str, column: str, n: int) -> str:
    """(key, text) of the rows of `source` whose `key` is one of `n` bound parameters."""
    return f"SELECT {key}, {column} FROM {source} WHERE {key} IN ({', '.join([dialect.placeholder] * n)})"
