"""The standalone script's own queries: the tokenizer and the detokenizer in SQL, the pick of
each next token, and the bookkeeping that runs a step per token inside the database's shell.

`script.py` assembles these with the model's step (`model.Plan`) into one file; this module
only writes SQL text, from a dialect's primitives (string functions, text and double types,
the pre-tokenizer's regex), never from the prompt: the prompt's one place is the literal the
dialect writes (`Dialect.literal`). The tables a script makes:

    vocab(id, hex, merge_rank)     every token's bytes as hex and its merge rank
    prompt(txt), nums(i)           the prompt, and the numbers 1.. up to the longest hex
    pieces(piece, hex)             the prompt's pre-tokens
    prompt_tokens(pos, token)      the prompt's ids, by byte pair encoding in a recursive CTE
                                   (or the dialect's own way, `Dialect.script_bpe`)
    step_start(pos), picked(k, token), draws(k, m)
                                   where a step starts, the tokens picked, sampling's draws
"""

from __future__ import annotations

from ....errors import SqlgptError
from ....tokenizer import Tokenizer
from ..dialects.base import Dialect
from .model import softmax, top_k
from .statement import Statement

STEP_START = "(SELECT pos FROM step_start)"  # the first position a step computes
LAST_POSITION = "(SELECT max(pos) FROM tokens)"  # the position whose logits pick the next token
TWO_TO_53 = 2**53  # NumPy's random() is an integer below 2**53 times 2**-53


def _vocabulary_rows(tokenizer: Tokenizer) -> list[str]:
    """(id, hex bytes, merge rank or NULL) for every token, special tokens included."""
    # The ranks are the tokenizer's own merge order (by bytes, as tiktoken merges); ids
    # below vocab_size that no token has are skipped.
    ranks = tokenizer.merge_ranks
    rows = []
    for token_id in range(tokenizer.vocab_size):
        try:
            data = tokenizer.token_bytes(token_id)
        except SqlgptError:
            continue
        rank = ranks.get(data) if len(data) > 1 else None  # pairs have two bytes or more
        rows.append(f"({token_id}, '{data.hex()}', {'NULL' if rank is None else rank})")
    return rows


def vocabulary(tokenizer: Tokenizer, dialect: Dialect) -> list[Statement]:
    """The tokenizer's tables: vocab(id, hex, merge_rank), every token's bytes as hex and its
    merge rank, and what the dialect's pre-tokenizer needs besides. No prompt, no model."""
    return [
        Statement("the vocabulary: every token's bytes (hex) and merge rank (lower merges first)",
                  dialect.script_table("vocab", f"id INTEGER{dialect.script_key}, hex {dialect.text_type} NOT NULL, "
                                                "merge_rank INTEGER")),
        *(Statement("", sql) for sql in dialect.values_sql("vocab", _vocabulary_rows(tokenizer))),
        *(Statement("tokens are looked up by their bytes", sql)
          for sql in dialect.script_index("vocab_hex", "vocab", "hex")),
        *(Statement(comment, sql) for comment, sql in dialect.class_tables()),
    ]


def encode(dialect: Dialect, prompt: str) -> list[Statement]:
    """Statements that encode `prompt` into prompt_tokens(pos, token) with the vocabulary's
    tables, creating prompt(txt), nums(i) and pieces(piece, hex) on the way."""
    return [
        Statement("the prompt: the script's one piece of user text",
                  f"{dialect.script_table_as('prompt')} SELECT {dialect.literal(prompt)} AS txt"),
        Statement("the numbers 1, 2, ...: as many as the longest hex string (a token or the prompt) has characters",
                  f"{dialect.script_table_as('nums')} {_numbers(dialect)}"),
        Statement("the pre-tokens: GPT-2's pattern splits the prompt into words, numbers, symbols and spaces",
                  dialect.script_table("pieces", f"piece INTEGER, hex {dialect.text_type}")),
        Statement(*dialect.pieces()),
        _bpe(dialect),
    ]


def _numbers(dialect: Dialect) -> str:
    """The query of nums(i): 1, 2, ... up to the length of the longest hex string."""
    top = (f"SELECT max(k) AS k FROM (SELECT max(length(hex)) AS k FROM vocab "
           f"UNION ALL SELECT length({dialect.utf8_hex('txt')}) FROM prompt) a")
    return dialect.script_numbers(top) or (
        f"WITH RECURSIVE\n  top AS MATERIALIZED ({top}),\n"
        f"  n(i) AS (SELECT 1 UNION ALL SELECT n.i + 1 FROM n, top WHERE n.i < top.k)\nSELECT i FROM n")


def _bpe(dialect: Dialect) -> Statement:
    """prompt_tokens(pos, token) from pieces: the dialect's own byte pair encoding, or the
    recursive CTE below."""
    create = dialect.script_table_as("prompt_tokens")
    if own := dialect.script_bpe():
        comment, query = own
        return Statement(comment, f"{create}\n{query}")
    comment = ("byte pair encoding: in each pre-token, merge the lowest-ranked pair of adjacent parts, again and again "
               "(a mask marks where parts start)")
    f = dialect.find

    def part_end(mask: str, start: str) -> str:
        """Where the part starting at byte `start` ends (the next part's start)."""
        after = f(f"substr({mask}, {start} + 1)", "'1'")
        return f"CASE WHEN {after} = 0 THEN length({mask}) + 1 ELSE {start} + {after} END"

    def best(h: str, mask: str) -> str:
        """The start of the right part of the lowest-ranked adjacent pair that is a token
        (the leftmost of equals), NULL when there is none: no more merges."""
        after = f(f"substr({mask}, n.i + 1)", "'1'")
        pairs = (f"SELECT n.i, n.i + {after} AS b FROM nums n "
                 f"WHERE n.i < length({mask}) AND substr({mask}, n.i, 1) = '1' AND {after} > 0")
        return (f"(SELECT q.b FROM ({pairs}) q JOIN vocab v ON v.hex = "
                f"substr({h}, 2 * q.i - 1, 2 * ({part_end(mask, 'q.b')} - q.i)) "
                f"WHERE v.merge_rank IS NOT NULL ORDER BY v.merge_rank, q.i LIMIT 1)")

    # Outer columns are qualified: inside best()'s subquery, `hex` and `b` name others.
    merged = "substr(r.mask, 1, r.b - 1) || '0' || substr(r.mask, r.b + 1)"
    return Statement(comment, f"""{create}
WITH RECURSIVE
  bpe(piece, h, mask, b) AS (
    SELECT p.piece, p.hex, p.mask, {best('p.hex', 'p.mask')}
    FROM (SELECT piece, hex, {dialect.ones(dialect.half('length(hex)'))} AS mask FROM pieces) p
    UNION ALL
    SELECT r.piece, r.h, {merged}, {best('r.h', f'({merged})')} FROM bpe r WHERE r.b IS NOT NULL),
  done AS (SELECT piece, h, mask FROM bpe WHERE b IS NULL)
SELECT CAST(row_number() OVER (ORDER BY d.piece, n.i) - 1 AS INTEGER) AS pos, v.id AS token
FROM done d JOIN nums n ON n.i <= length(d.mask) AND substr(d.mask, n.i, 1) = '1'
JOIN vocab v ON v.hex = substr(d.h, 2 * n.i - 1, 2 * ({part_end('d.mask', 'n.i')} - n.i))""")


def decode(dialect: Dialect, eot: int | None) -> Statement:
    """The text of the tokens in picked(k, token) in order of k, `eot` left out: their bytes
    decoded from UTF-8, each invalid sequence as U+FFFD (Python's errors="replace": a
    maximal valid prefix of a sequence, or one bad byte); a NUL byte also becomes U+FFFD."""
    f, ch = dialect.find, dialect.char
    digit = lambda i: f"({f(repr('0123456789abcdef'), f'substr(v.hex, 2 * n.i - {1 - i}, 1)')} - 1)"  # noqa: E731
    stop = "" if eot is None else f" WHERE g.token <> {eot}"
    cont = lambda b: f"coalesce({b} BETWEEN 128 AND 191, FALSE)"  # noqa: E731
    second = ("coalesce(b1 BETWEEN (CASE b0 WHEN 224 THEN 160 WHEN 240 THEN 144 ELSE 128 END) "
              "AND (CASE b0 WHEN 237 THEN 159 WHEN 244 THEN 143 ELSE 191 END), FALSE)")
    # The text: the pieces a walk reaches from the first byte, each a width ahead of the last.
    walk, text = dialect.script_walk() or (
        f"""  walk(o, txt) AS (SELECT 1, CAST('' AS {dialect.text_type})
                   UNION ALL SELECT w.o + c.width, w.txt || c.piece FROM walk w JOIN chars c ON c.o = w.o)""",
        "SELECT txt FROM walk ORDER BY o DESC LIMIT 1")
    code = ("CASE need WHEN 1 THEN (b0 - 192) * 64 + b1 - 128 WHEN 2 THEN (b0 - 224) * 4096 + (b1 - 128) * 64 + b2 - 128 "
            "ELSE (b0 - 240) * 262144 + (b1 - 128) * 4096 + (b2 - 128) * 64 + b3 - 128 END")
    return Statement("the generated text: the tokens' bytes, decoded from UTF-8 (U+FFFD for invalid bytes)", f"""WITH RECURSIVE
  bytes AS (SELECT row_number() OVER (ORDER BY g.k, n.i) AS o, {digit(0)} * 16 + {digit(1)} AS b
            FROM picked g JOIN vocab v ON v.id = g.token JOIN nums n ON n.i <= {dialect.half('length(v.hex)')}{stop}),
  ahead AS (SELECT o, b AS b0, lead(b, 1) OVER (ORDER BY o) AS b1, lead(b, 2) OVER (ORDER BY o) AS b2,
                   lead(b, 3) OVER (ORDER BY o) AS b3 FROM bytes),
  -- need: continuation bytes the first byte announces (-1: it cannot start a character);
  -- ok: how many of the next bytes continue it validly (the second byte's range depends on the first)
  seq AS (SELECT o, b0, b1, b2, b3,
                 CASE WHEN b0 < 128 THEN 0 WHEN b0 BETWEEN 194 AND 223 THEN 1 WHEN b0 BETWEEN 224 AND 239 THEN 2
                      WHEN b0 BETWEEN 240 AND 244 THEN 3 ELSE -1 END AS need,
                 CASE WHEN NOT {second} THEN 0 WHEN NOT {cont('b2')} THEN 1 WHEN NOT {cont('b3')} THEN 2 ELSE 3 END AS ok
          FROM ahead),
  chars AS (SELECT o, CASE WHEN need >= 0 AND ok >= need THEN need + 1 WHEN need < 0 THEN 1 ELSE ok + 1 END AS width,
                   CASE WHEN need = 0 AND b0 > 0 THEN {ch('b0')} WHEN need > 0 AND ok >= need THEN {ch(code)}
                        ELSE {ch('65533')} END AS piece FROM seq),
{walk}
{text}""")


def _exact_double(dialect: Dialect, x: float) -> str:
    """SQL for the double `x`, exactly: a ratio of integers that doubles represent exactly
    (a decimal literal would be parsed by each database's own rounding)."""
    numerator, denominator = x.as_integer_ratio()
    parts = [f"CAST({numerator} AS {dialect.double_type})"]
    while denominator > 1:  # powers of two, at most 2**62 each: every division is exact
        step = min(denominator, 2**62)
        parts.append(f"CAST({step} AS {dialect.double_type})")
        denominator //= step
    return "(" + " / ".join(parts) + ")"


def session(eot: int | None, draws: list[tuple[int, int]] | None, seed: int | None, dialect: Dialect) -> list[Statement]:
    """The script's own session tables, after the step's: the prompt's tokens (an empty
    prompt is `eot`), where a step starts, the tokens picked, and sampling's `draws`
    (k, m), the k-th token's uniform draw being m·2^-53 (None when greedy), from `seed`."""
    out = [Statement("the prompt's tokens", "INSERT INTO tokens SELECT pos, token FROM prompt_tokens")]
    if eot is not None:
        out.append(Statement("an empty prompt is <|endoftext|>",
                             f"INSERT INTO tokens SELECT 0, {eot} WHERE NOT EXISTS (SELECT 1 FROM tokens)"))
    out += [
        Statement("where the next step starts: the first position not yet in the residual stream",
                  dialect.script_table("step_start", "pos INTEGER")),
        Statement("", "INSERT INTO step_start VALUES (0)"),
        Statement("the tokens picked, one per step", dialect.script_table("picked", "k INTEGER, token INTEGER")),
    ]
    if draws is not None:
        out.append(Statement(f"NumPy's uniform draws for seed {seed}, one per token, as integers times 2**-53",
                             dialect.script_table("draws", "k INTEGER, m BIGINT")))
        out += [Statement("", sql) for sql in dialect.values_sql("draws", [f"({k}, {m})" for k, m in draws])]
    return out


def next_step(dialect: Dialect) -> Statement:
    """Where the next step starts: after every position the residual stream has."""
    return Statement("", dialect.script_set("step_start", "pos", "(SELECT count(*) FROM x0)"))


def append_picked(eot: int | None) -> Statement:
    """The token just picked, appended to the tokens (unless it is `eot`: the text has ended)."""
    return Statement("", "INSERT INTO tokens SELECT (SELECT count(*) FROM tokens), token FROM picked "
                     f"WHERE k = (SELECT count(*) - 1 FROM picked){'' if eot is None else f' AND token <> {eot}'}")


def model_check(dialect: Dialect, catalogue: str, schema: str, format_version: int) -> list[Statement]:
    """Statements stopping the script unless the model is installed in `schema` in this layout."""
    message = f"model {schema} is not installed in this database (in this layout): see the header of this script"
    check = f"SELECT count(*) FROM {catalogue} WHERE schema_name = '{schema}' AND format_version = {format_version}"
    return [Statement("", sql) for sql in dialect.model_check(check, message)]


def pick(dialect: Dialect, logits: str, vocab_size: int, eot: int | None, temperature: float) -> Statement:
    """INSERT INTO picked (k, token): the next token from the last position's logits (the
    query `logits`: rows j, logit), unless <|endoftext|> was picked already. Greedy: the
    plan's top-k, the first by logit and then id (NumPy's argmax). Sampled: the plan's
    softmax of logit / temperature, normalised once more as sqlgpt's sampler does, its
    cumulative sum, and the first token whose sum passes the step's draw times the total."""
    step = "(SELECT count(*) FROM picked)"
    not_stopped = "" if eot is None else f" AND NOT EXISTS (SELECT 1 FROM picked WHERE token = {eot})"
    if temperature == 0:
        best = top_k(f"(SELECT j, logit FROM ({logits}) a WHERE j < {vocab_size})", [], 1, "logit DESC, j")
        return Statement.insert("the next token, greedily: the highest logit, the lower id of equals (NumPy's argmax)",
                                "picked", f"SELECT {step}, l.j FROM ({best}) l WHERE TRUE{not_stopped}", separator="\n")
    d, m, last = dialect.double_type, dialect.materialized, vocab_size - 1
    return Statement.insert(
        f"the next token, sampled at temperature {temperature!r} as sqlgpt's sampler: softmax, cumulative sum, and "
        f"the first token whose sum passes the step's draw times the total", "picked", f"""WITH
  l AS {m}(SELECT j, CAST({dialect.as_float32('logit')} AS {d}) / {_exact_double(dialect, temperature)} AS z FROM ({logits}) a WHERE j < {vocab_size}),
  p AS {m}({softmax('l', [], 'z')}),
  q AS {m}(SELECT j, p / (SELECT sum(p) FROM p) AS q FROM p),
  cum AS {m}(SELECT j, sum(q) OVER (ORDER BY j ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS c FROM q),
  x AS (SELECT CAST(m AS {d}) / CAST({TWO_TO_53} AS {d}) * (SELECT c FROM cum WHERE j = {last}) AS x
        FROM draws WHERE k = {step})
SELECT {step}, coalesce((SELECT min(cum.j) FROM cum, x WHERE cum.c > x.x), {last})
WHERE TRUE{not_stopped}""", separator="\n")
