"""The standalone SQL script: prompt in, generated text out, all in the database's own shell.

`build_script` writes one file of SQL that runs in `duckdb`, `psql`, `sqlite3` or Spark's
`spark-sql` against a database where the model is already installed (for Spark: the folder
of sqlgpt's local Spark, its warehouse and metastore), and prints the text the model
generates after a prompt: the article "GPT in 500 lines of SQL", made exact and cached.
From text to text, every step is SQL:

1. the tokenizer's table: each token's bytes (as hex) and merge rank, created from VALUES;
2. GPT-2's pre-tokenizer: the database's own regex (DuckDB's RE2, PostgreSQL's AREs, Spark's
   Java regex), or a scan over the characters where there is none (SQLite). The pattern's
   classes (letters, numbers, white space) are written out as code-point ranges from the
   `regex` package that `sqlgpt.Tokenizer` uses, so every database splits exactly as it does;
3. byte pair encoding as a recursive CTE (in Spark, a bounded loop over arrays: see
   `dialects/spark.py`): each round merges, in every pre-token, the adjacent pair whose bytes
   have the lowest merge rank (the leftmost of equals), until none is a token;
4. the forward passes: the plan's own statements with the KV cache in session tables,
   defined once (PREPARE in PostgreSQL, views in DuckDB, SQLite and Spark) and run once per
   new token, unrolled; their position comes from the session's tables, in SQL;
5. each next token: greedy (argmax, ties to the lower id, as NumPy's argmax) or sampled as
   sqlgpt's NumPy sampler does with a seed. The seed's uniform draws are written into the
   script (they never depend on the model, one per token); the softmax at the temperature,
   the cumulative sum and the search for the draw's bucket run in SQL;
6. the detokenizer: the generated tokens' bytes, decoded from UTF-8 in SQL, each invalid
   sequence becoming U+FFFD as in Python's `errors="replace"`; the script prints the text.

What it does not do: install the model (the header says how), top-k, top-p or stop strings.
The header of each script lists where it can differ from `sqlgpt generate`. What differs
between databases (types, string functions, the pre-tokenizer, the shell's settings and
command line, where the script's tables live) is their dialects' (`dialects/<db>.py`); a
database whose dialect has no `run_hint` would have no script (today every one has).

This module assembles the file; the SQL it holds is written by the plan (`plan/text.py` for
the tokenizer, the pick and the bookkeeping, `plan/model.py` for the step) and the dialect.

The prompt is the one piece of user text in the script, and a file the user runs has only
one place for it: a string literal. Single quotes are doubled; control characters other than
newline and tab are written as chr() calls, so that no editor or newline translation can
change them; NUL is rejected (no database's text holds it). PostgreSQL's script turns
standard_conforming_strings on, so a backslash is an ordinary character there too; Spark's
writes a backslash and `$` as calls too (its literals read escapes, spark-sql `${name}`).
"""

from __future__ import annotations

import shlex
import textwrap

import numpy as np

from ...checkpoint import Checkpoint
from ...errors import SqlgptError
from ...sampling import random_generator
from ...tokenizer import GPT2_PATTERN, Tokenizer
from .databases import DATABASES, dialect_class, get_dialect
from .dialects.base import Dialect
from .install import CATALOGUE, schema_name
from .layouts import format_version
from .plan import Plan, Statement, text
from .plan.text import LAST_POSITION, STEP_START, TWO_TO_53

# The databases with a standalone script: those whose dialect says how its shell runs one.
DIALECTS = tuple(name for name in DATABASES if dialect_class(name).run_hint is not None)


def _dialect(name: str) -> Dialect:
    """The dialect of the database called `name`, if it has a standalone script."""
    if name not in DIALECTS:
        raise SqlgptError(f"no standalone script for {name!r}; choose one of: {', '.join(DIALECTS)}")
    return get_dialect(name)


def run_command(dialect: str, script: str) -> str:
    """The shell command that runs the script file `script` against a database DATABASE."""
    return _dialect(dialect).run_hint.replace("script.sql", shlex.quote(script))


def vocabulary_statements(tokenizer: Tokenizer, dialect: str) -> list[Statement]:
    """The tokenizer's tables in the database called `dialect` (see `plan.text.vocabulary`)."""
    return text.vocabulary(tokenizer, _dialect(dialect))


def encode_statements(dialect: str, prompt: str) -> list[Statement]:
    """Statements encoding `prompt` into prompt_tokens(pos, token) (see `plan.text.encode`)."""
    return text.encode(_dialect(dialect), prompt)


def decode_statement(dialect: str, eot: int | None) -> Statement:
    """The text of the tokens picked, `eot` left out (see `plan.text.decode`)."""
    return text.decode(_dialect(dialect), eot)


def build_script(checkpoint: Checkpoint, dialect: str, prompt: str, max_new_tokens: int, *,
                 temperature: float = 0.0, seed: int | None = None, model: str | None = None) -> str:
    """The SQL script that generates `max_new_tokens` tokens after `prompt` in `dialect`
    ('duckdb', 'postgres', 'sqlite' or 'spark') and prints them as text, as
    `GPT.generate(prompt, max_new_tokens, temperature=..., seed=...)` does.

    `temperature` 0 is greedy; above 0 the script samples with the draws of NumPy's
    generator seeded with `seed` (a fresh seed, written in the header, if None). `model` is
    how the header's install command names the model (default: its directory). Raises
    SqlgptError for a prompt with NUL or too long for the model, or a bad argument.
    """
    sql_dialect = _dialect(dialect)
    if not (isinstance(max_new_tokens, int) and max_new_tokens >= 0):
        raise SqlgptError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
    if not (isinstance(temperature, (int, float)) and np.isfinite(temperature) and temperature >= 0):
        raise SqlgptError(f"temperature must be a finite number >= 0, got {temperature!r}")
    config, tokenizer = checkpoint.config, checkpoint.tokenizer
    if tokenizer.pair_ranks is not None or tokenizer.patterns != (GPT2_PATTERN,):
        raise SqlgptError(f"the standalone script writes GPT-2's byte pair encoding in SQL, and {checkpoint.name}'s "
                          f"tokenizer is another kind (a tokenizer.json's): use `sqlgpt generate` for this model")
    eot = tokenizer.eot_id
    n_prompt = len(tokenizer.encode(prompt)) or 1  # an empty prompt is <|endoftext|>
    if not prompt and eot is None:
        raise SqlgptError("the prompt is empty and this vocabulary has no <|endoftext|> to start from")
    if n_prompt + max_new_tokens > config.block_size:
        raise SqlgptError(f"prompt ({n_prompt} tokens) + {max_new_tokens} new tokens exceeds the model's context "
                          f"window of {config.block_size} tokens")
    if temperature > 0 and seed is None:
        seed = int(np.random.SeedSequence().entropy % 2**32)

    schema = schema_name(checkpoint.fingerprint())
    stepper = Plan(config, sql_dialect, schema, first=STEP_START)
    logits = Plan(config, sql_dialect, schema, first=LAST_POSITION).logits(last_only=True).sql

    sections: list[tuple[str, list[Statement]]] = []
    sections.append(("the model must be installed", text.model_check(sql_dialect, CATALOGUE, schema,
                                                                     format_version(sql_dialect))))
    if workspace := sql_dialect.script_workspace():
        sections.append(("the script's own tables' place", [Statement(*pair) for pair in workspace]))
    sections.append(("the tokenizer's tables", text.vocabulary(tokenizer, sql_dialect)))
    sections.append(("the prompt's token ids, encoded in SQL", text.encode(sql_dialect, prompt)))
    draws = None
    if temperature > 0:
        rng = random_generator(seed)
        draws = [(k, int(rng.random() * TWO_TO_53)) for k in range(max_new_tokens)]
    sections.append(("the session: its tokens and KV cache", stepper.session_tables() + text.session(eot, draws, seed, sql_dialect)))

    pick = text.pick(sql_dialect, logits, tokenizer.vocab_size, eot, temperature)
    repeated = [(f"step_{i + 1:02d}", st) for i, st in enumerate(stepper.step())] + [("pick", pick)]
    once, each = [], []
    for name, statement in repeated:
        setup, run = sql_dialect.reusable(name, statement.sql, statement.target, statement.query)
        if setup is not None:
            once.append(Statement(f"{name}: {statement.comment}", setup))
        each.append(Statement("", run))
    title = f"each token's work, defined once: the forward step from position {STEP_START}, then the pick"
    sections.append((title, once))
    for k in range(max_new_tokens):
        token = [text.next_step(sql_dialect), *each, text.append_picked(eot)]
        sections.append((f"token {k + 1} of {max_new_tokens}", token))
    header = _header(sql_dialect, checkpoint, schema, model or str(checkpoint.directory), max_new_tokens, temperature, seed)
    preamble = sql_dialect.script_preamble()
    lines = [*header, "", *preamble, *([""] if preamble else [])]
    for title, statements in sections:
        lines.append(f"-- ===== {title} =====")
        for statement in statements:
            lines += [f"-- {line}" for line in statement.comment.splitlines()]
            lines.append(statement.sql + ";")
        lines.append("")
    lines += ["-- ===== the generated text ====="] + sql_dialect.script_before_output()
    decode = text.decode(sql_dialect, eot)
    lines += [f"-- {decode.comment}", decode.sql + ";", *sql_dialect.script_after_output(), ""]
    return "\n".join(lines)


def _header(sql_dialect: Dialect, checkpoint: Checkpoint, schema: str, model: str, n: int, temperature: float,
            seed: int | None) -> list[str]:
    """The script's opening comment: what it does, how to run it, where it can differ."""
    sampled = [] if temperature == 0 else ["--seed", str(seed)]
    same = shlex.join(["sqlgpt", "generate", "PROMPT", "-n", str(n), "--temperature", repr(temperature), *sampled,
                       "--model", model])
    install = shlex.join(["sqlgpt", "next", "x", "--model", model, "--engine", sql_dialect.name,
                          *sql_dialect.install_options])
    how = "greedily" if temperature == 0 else f"sampled at temperature {temperature!r} with seed {seed}"
    differences = ["A NUL character in the generated text is printed as U+FFFD: no database's text holds NUL.",
                   *sql_dialect.script_differences]
    if temperature > 0:
        differences.append("Softmax and cumulative sums add up in the database's order, not NumPy's: a different "
                           "token only where a draw falls within rounding error (~1e-15) of a bucket's edge.")
    wrap = lambda text, **indents: textwrap.wrap(text, 96, break_on_hyphens=False, **indents)  # noqa: E731
    lines = [
        *wrap(f"sqlgpt: GPT in SQL, exact and cached. {checkpoint.name} ({checkpoint.config.n_params / 1e6:.1f}M "
              f"parameters) continues the prompt below by up to {n} tokens, {how}, all in {sql_dialect.name}: the "
              f"tokenizer, the forward passes with a KV cache, each next token, and the text, which it prints: "
              f"the text of"),
        f"    {same}",
        "Run it with",
        f"    {sql_dialect.run_hint}",
        *wrap(f"where {sql_dialect.run_database} (schema {schema}), installed there once with"),
        f"    {install}",
        "Token ids and text are exactly sqlgpt's, except:",
        *(line for difference in differences for line in wrap(difference, initial_indent="* ", subsequent_indent="  ")),
    ]
    # Comments end at a line break: nothing from the user's arguments may start a new line.
    return ["-- " + "".join(c if c.isprintable() else "?" for c in line) for line in lines]


__all__ = ["DIALECTS", "build_script", "decode_statement", "encode_statements", "run_command", "vocabulary_statements"]
