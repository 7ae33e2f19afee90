"""Benchmarks by token probability: a model's accuracy on multiple-choice items.

`evaluate` reads items from a CSV, JSONL or Parquet file, or from a table of the engine's
database, writes each item's prompt, and asks which answer the model finds most probable,
the way lm-evaluation-harness scores a `multiple_choice` task, so that the numbers compare
with published ones:

* Two layouts are recognised, by column names (any case): MMLU's and KMMLU's, `question`,
  `A`, `B`, `C`, `D` and `answer` (a letter, or 1-4 as KMMLU numbers them); and the generic
  one of Hugging Face's cais/mmlu, `question`, `choices` (a list, or its JSON text) and
  `answer` (an index from 0). `Category` or `subject` groups the items, if present.
* The prompt is the harness's: a description (MMLU: "The following are multiple choice
  questions (with answers) about {subject}."), k solved examples from a dev set, each
  followed by a blank line, then the question. With `continuation="letter"` (MMLU) the
  question lists its options as "A. ..." and ends in "Answer:", and the continuations are
  " A", " B", ...; with "text" (the cloze form) it is "Question: ...\\nAnswer:" and the
  continuations are " " + each option's text. Styles: "mmlu", "kmmlu" (the harness's
  KMMLU wording: no description, "정답："), "plain" (no description; in the cloze form the
  question alone is the prompt, the text an ending continues).
* An option's score is its continuation's log-likelihood after the prompt (the sum over its
  tokens), tokenized as the harness does (the prompt, then the rest of prompt + continuation).
  `acc` counts items whose best option is the answer; `acc_norm` divides each score by the
  option's length in UTF-8 bytes first (for letters the two agree). The standard error of
  a mean of n 0/1 scores is the sample standard deviation / √n, as the harness reports.
* Few-shot examples come from a dev file or table, or a named split of the items (a `split`
  column): the same k for every item of a category (from that category's dev items, as
  MMLU's dev split has 5 per subject), drawn with `random.Random(seed)` from the dev items
  sorted by question, so the prompts are the same on every run, engine and source order.
  (The harness's MMLU takes the first k of its dev file instead; other tasks draw per item.)

Every item's prompt is read once and its continuations after it (`Engine.nll_continuations`:
on DuckDB, PostgreSQL and Spark two batched steps for many items at once). Item text reaches
the database only as the token ids the engine loads; results go to a table only when the
items came from one, written whole in one transaction.

What it does not do: generation tasks (answers are never sampled), chat templates, or the
harness's per-task YAML; a prompt too long for the context window loses its beginning (the
harness cuts each continuation's window separately, which can differ by a token or so).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import random
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .batch import _chunks, identifier
from .config import GPTConfig
from .engines.base import Engine
from .errors import SqlgptError
from .progress import progress_bar
from .tokenizer import Tokenizer

FILE_KINDS = (".csv", ".jsonl", ".json", ".parquet")
LETTERS = string.ascii_uppercase
CONTINUATIONS = ("letter", "text")
DEFAULT_SEED = 1234  # the harness's few-shot seed
RESULT_COLUMNS = [("category", "text"), ("gold", "int"), ("pred", "int"), ("pred_norm", "int"),
                  ("acc", "int"), ("acc_norm", "int"), ("loglikelihoods", "text")]


class Model(Protocol):
    """What evaluation uses of a model: `GPT` is one (named here, not imported, since gpt.py
    imports this module)."""

    name: str
    engine: Engine
    config: GPTConfig
    tokenizer: Tokenizer

    def start_id(self) -> int: ...


@dataclasses.dataclass(frozen=True)
class Style:
    """How a benchmark words its prompt: the description before the examples ({subject}: the
    item's category, underscores as spaces), what ends a question that lists its options
    (`continuation="letter"`), and the question in the cloze form ("text"; {question}: its text)."""

    description: str
    description_without_subject: str
    answer: str
    cloze: str


STYLES = {
    "mmlu": Style("The following are multiple choice questions (with answers) about {subject}.\n\n",
                  "The following are multiple choice questions (with answers).\n\n", "Answer:",
                  "Question: {question}\nAnswer:"),
    # the harness's KMMLU: no description, and "정답：" (with a full-width colon)
    "kmmlu": Style("", "", "정답：", "{question}\n정답："),
    # the question is the text to continue (which ending comes next, as HellaSwag asks)
    "plain": Style("", "", "Answer:", "{question}"),
}


@dataclasses.dataclass(frozen=True)
class Item:
    """One multiple-choice question."""

    question: str
    choices: tuple[str, ...]
    answer: int  # index into choices
    category: str | None = None
    key: Any = None  # what identifies the item in a results table (the key column's value)
    split: str | None = None


@dataclasses.dataclass(frozen=True)
class Accuracy:
    """Accuracy over n items, with standard errors (NaN for a single item)."""

    n: int
    acc: float
    acc_stderr: float
    acc_norm: float
    acc_norm_stderr: float


@dataclasses.dataclass(frozen=True)
class ItemResult:
    """What the model made of one item."""

    key: Any
    category: str | None
    gold: int  # the answer's index
    loglikelihoods: list[float]  # each option's continuation, summed over its tokens (nats)
    lengths: list[int]  # each option's length in UTF-8 bytes, for acc_norm
    pred: int  # the most likely option
    pred_norm: int  # the most likely per byte

    @property
    def acc(self) -> int:
        return int(self.pred == self.gold)

    @property
    def acc_norm(self) -> int:
        return int(self.pred_norm == self.gold)


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """A benchmark's result: accuracy over all items and per category, and every item's scores."""

    source: str
    model: str
    engine: str
    shots: int
    continuation: str
    style: str
    seed: int
    overall: Accuracy
    categories: dict[str, Accuracy]  # by category name, sorted; empty if the items have none
    items: list[ItemResult]
    truncated: int = 0  # prompts that lost their beginning to fit the context window
    table: str | None = None  # the results table written, when the items came from a table

    def to_json(self) -> dict[str, Any]:
        """Plain data for `json.dumps` (NaN standard errors as null)."""
        def accuracy(a: Accuracy) -> dict[str, Any]:
            return {name: (None if isinstance(v, float) and math.isnan(v) else v)
                    for name, v in dataclasses.asdict(a).items()}

        return {"source": self.source, "model": self.model, "engine": self.engine, "shots": self.shots,
                "continuation": self.continuation, "style": self.style, "seed": self.seed,
                "truncated": self.truncated, "table": self.table, "overall": accuracy(self.overall),
                "categories": {name: accuracy(a) for name, a in self.categories.items()},
                "items": [{"key": r.key, "category": r.category, "gold": r.gold, "pred": r.pred,
                           "pred_norm": r.pred_norm, "loglikelihoods": r.loglikelihoods} for r in self.items]}


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """Items with their prompts and continuations, ready to score."""

    source: str
    items: list[Item]
    prompts: list[str]
    continuations: list[list[str]]  # each item's, with the leading space
    targets: list[list[str]]  # each item's options as acc_norm measures them (letters, or texts)
    table: str | None  # the items' table, if they came from one
    key_column: str | None  # its column identifying rows

    def show(self, index: int = 0) -> str:
        """Item `index`'s prompt as the model reads it, then its continuations."""
        shown = " | ".join(json.dumps(c, ensure_ascii=False) for c in self.continuations[index])
        return f"{self.prompts[index]}\n--- continuations scored after the prompt: {shown}"


def prepare(gpt: Model, source: str, *, dev: str | None = None, shots: int = 0, seed: int = DEFAULT_SEED,
            continuation: str = "letter", style: str = "mmlu", split: str | None = None, limit: int | None = None,
            key: str | None = None) -> Benchmark:
    """Read the items of `source` (a file, or a table of the engine's database) and write
    their prompts. See `GPT.evaluate` for the arguments."""
    if continuation not in CONTINUATIONS:
        raise SqlgptError(f"continuation must be one of {', '.join(CONTINUATIONS)}, got {continuation!r}")
    if style not in STYLES:
        raise SqlgptError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
    if not (isinstance(shots, int) and shots >= 0):
        raise SqlgptError(f"shots must be an integer >= 0, got {shots!r}")
    if limit is not None and not (isinstance(limit, int) and limit >= 1):
        raise SqlgptError(f"limit must be an integer >= 1, got {limit!r}")
    if shots and dev is None:
        raise SqlgptError("few-shot examples come from a dev set: give dev (a file, a table, or a split of the items)")
    name, table, columns, rows = _read_source(gpt, source)
    if key is not None and table is None:
        raise SqlgptError("key names the column identifying a table's rows in the results; items from a file have none")
    items, key_column = _items(name, columns, rows, table is not None, key)
    splits = {item.split for item in items}
    dev_items: list[Item] = []
    if dev is not None and dev in splits - {None}:  # a split of the same items
        dev_items = [item for item in items if item.split == dev]
        items = [item for item in items if item.split != dev]
    elif dev is not None:
        dev_name, _, dev_columns, dev_rows = _read_source(gpt, dev)
        dev_items, _ = _items(dev_name, dev_columns, dev_rows, False, None)
    if split is not None:
        if split not in splits:
            raise SqlgptError(f"{name} has no items of split {split!r}"
                              + (f" (its splits: {', '.join(sorted(s for s in splits if s))})" if splits - {None}
                                 else " (it has no split column)"))
        items = [item for item in items if item.split == split]
    if limit is not None:
        items = items[:limit]
    if not items:
        raise SqlgptError(f"{name} holds no items to evaluate")
    words = STYLES[style]
    candidates = _shot_candidates(dev_items, items, shots, seed, dev)
    prompts, continuations, targets = [], [], []
    for item in items:
        pool = candidates.get(item.category, [])
        chosen = [shot for shot in pool if (shot.question, shot.choices) != (item.question, item.choices)][:shots]
        examples = "".join(_question(shot, continuation, words) + " " + _targets(shot, continuation)[shot.answer] + "\n\n"
                           for shot in chosen)
        prompts.append(_description(item, words) + examples + _question(item, continuation, words))
        targets.append(_targets(item, continuation))
        continuations.append([" " + target for target in targets[-1]])
    return Benchmark(name, items, prompts, continuations, targets, table, key_column)


def evaluate(gpt: Model, source: str, *, dev: str | None = None, shots: int = 0, seed: int = DEFAULT_SEED,
             continuation: str = "letter", style: str = "mmlu", split: str | None = None, limit: int | None = None,
             key: str | None = None, into: str = "sqlgpt_eval", replace: bool = False,
             progress: bool = False) -> Evaluation:
    """Score every item of `source` and measure the model's accuracy. See `GPT.evaluate`."""
    benchmark = prepare(gpt, source, dev=dev, shots=shots, seed=seed, continuation=continuation, style=style,
                        split=split, limit=limit, key=key)
    tables = None
    if benchmark.table is not None:  # refuse an existing result table before the work, not after
        into = identifier(into, "result table", True)
        if into.lower() == benchmark.table.lower():
            raise SqlgptError("the result table must not be the table being read")
        if benchmark.key_column.lower() in {name for name, _ in RESULT_COLUMNS}:
            raise SqlgptError(f"the key column must not be called {benchmark.key_column}: the results have a column so named")
        tables = gpt.engine.tables()
        if tables.exists(into) and not replace:
            raise SqlgptError(f"table {into} already exists in {tables.database}; choose another name or replace it")
    requests, truncated = _requests(gpt, benchmark)
    loglikelihoods: list[list[float]] = [[] for _ in requests]
    bar = progress_bar(len(requests), f"evaluating {benchmark.source}", progress, unit="item")
    size = lambda i: len(requests[i][0]) + sum(len(c) + 1 for c in requests[i][1])  # noqa: E731  tokens it takes
    for chunk in _chunks(list(range(len(requests))), gpt.engine.batch_tokens, size):
        for i, nll in zip(chunk, gpt.engine.nll_continuations([requests[i] for i in chunk])):
            loglikelihoods[i] = [-value for value in nll]
        bar.update(len(chunk))
    bar.close()
    results = [_result(item, lls, targets) for item, lls, targets in zip(benchmark.items, loglikelihoods, benchmark.targets)]
    categories = sorted({r.category for r in results if r.category is not None})
    evaluation = Evaluation(
        source=benchmark.source, model=gpt.name, engine=gpt.engine.name, shots=shots, continuation=continuation,
        style=style, seed=seed, overall=_accuracy(results),
        categories={c: _accuracy([r for r in results if r.category == c]) for c in categories},
        items=results, truncated=truncated, table=into if tables is not None else None)
    if tables is not None:
        rows = [(r.key, r.category, r.gold, r.pred, r.pred_norm, r.acc, r.acc_norm, json.dumps(r.loglikelihoods))
                for r in results]
        tables.write(into, benchmark.table, benchmark.key_column, RESULT_COLUMNS, rows, replace)
    return evaluation


def summary_table(evaluation: Evaluation) -> str:
    """The accuracies as a text table: a row per category, then all items."""
    rows = [(name, a) for name, a in evaluation.categories.items()] + [("all", evaluation.overall)]
    width = max(8, *(len(name) for name, _ in rows))

    def cell(value: float, stderr: float) -> str:
        return f"{value:.4f} ± {stderr:.4f}" if not math.isnan(stderr) else f"{value:.4f}"

    lines = [f"{'category':<{width}}  {'n':>6}  {'acc':<17}  acc_norm"]
    lines += [f"{name:<{width}}  {a.n:>6}  {cell(a.acc, a.acc_stderr):<17}  {cell(a.acc_norm, a.acc_norm_stderr)}"
              for name, a in rows]
    return "\n".join(lines)


# -- reading items -------------------------------------------------------------------------------


def _read_source(gpt: Model, source: str) -> tuple[str, str | None, list[str], list[dict[str, Any]]]:
    """(name, table or None, column names, rows as dicts) of a file or a table."""
    if not isinstance(source, str) or not source:
        raise SqlgptError(f"give a file or a table to read items from, got {source!r}")
    path = Path(source)
    if path.suffix.lower() in FILE_KINDS or path.is_file():
        if not path.is_file():
            raise SqlgptError(f"no such file: {source}")
        columns, rows = _read_file(path)
        return source, None, columns, rows
    try:
        table = identifier(source, "table", True)
    except SqlgptError:
        raise SqlgptError(f"no such file, and not a table name: {source}") from None
    tables = gpt.engine.tables()
    if not tables.exists(table):
        raise SqlgptError(f"no file {source}, and no table {table} in {tables.database}")
    columns, rows = tables.read_all(table)
    return table, table, columns, [dict(zip(columns, row)) for row in rows]


def _read_file(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            data = pq.read_table(path)
            return data.column_names, data.to_pylist()
        text = path.read_text(encoding="utf-8-sig")  # (a byte-order mark, as spreadsheets write, is not a column name)
    except UnicodeDecodeError as e:
        raise SqlgptError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise SqlgptError(f"cannot read {path}: {e.strerror}") from None
    except Exception as e:  # pyarrow's errors: not a Parquet file, or a damaged one
        raise SqlgptError(f"cannot read {path} as Parquet: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines(keepends=True))
        try:
            rows = list(reader)
        except csv.Error as e:
            raise SqlgptError(f"{path} is not valid CSV: {e}") from None
        return list(reader.fieldnames or []), rows
    if suffix == ".json" and text.lstrip().startswith("["):  # one JSON array of objects
        try:
            objects = json.loads(text)
        except json.JSONDecodeError as e:
            raise SqlgptError(f"{path} is not valid JSON: {e.msg} at line {e.lineno}") from None
        numbered = list(enumerate(objects, 1))
        what = "item"
    else:  # JSON Lines: an object per line
        numbered = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    numbered.append((number, json.loads(line)))
                except json.JSONDecodeError as e:
                    raise SqlgptError(f"{path} line {number} is not valid JSON: {e.msg}") from None
        what = "line"
    columns: dict[str, None] = {}
    for number, row in numbered:
        if not isinstance(row, dict):
            raise SqlgptError(f"{path} {what} {number} is not a JSON object")
        columns.update(dict.fromkeys(row))
    return list(columns), [row for _, row in numbered]


def _items(name: str, columns: list[str], rows: list[dict[str, Any]], from_table: bool,
           key: str | None) -> tuple[list[Item], str | None]:
    """The items of rows in one of the two layouts (see the module docstring), and, for
    items from a table, the column identifying its rows (`key`, or the question column);
    items from a file are identified by their row number."""
    if not columns and not rows:
        raise SqlgptError(f"{name} is empty")
    lower = {}
    for column in columns:
        lower.setdefault(str(column).lower(), column)
    letters = all(c in lower for c in ("question", "a", "b", "c", "d", "answer"))
    if not letters and not all(c in lower for c in ("question", "choices", "answer")):
        raise SqlgptError(f"{name} has columns {', '.join(map(str, columns)) or '(none)'}; expected question, A, B, C, D "
                          "and answer (a letter or 1-4), or question, choices (a list) and answer (an index from 0), "
                          "each with an optional Category or subject")
    if not rows:
        raise SqlgptError(f"{name} holds no items")
    category = lower.get("category", lower.get("subject"))
    key_column = None
    if key is not None:
        if key.lower() not in lower:
            raise SqlgptError(f"{name} has no column {key} (its columns: {', '.join(map(str, columns))})")
        key_column = identifier(lower[key.lower()], "key column")
    elif from_table:
        key_column = identifier(lower["question"], "key column")
    items = []
    for number, row in enumerate(rows, 1):
        where = f"{name} row {number}"
        question = _text(row.get(lower["question"]), where, "the question")
        if letters:
            choices = tuple(_text(row.get(lower[c]), where, f"option {c.upper()}", empty=True) for c in "abcd")
            answer = _letter_answer(row.get(lower["answer"]), where)
        else:
            choices = _choice_list(row.get(lower["choices"]), where)
            answer = _index_answer(row.get(lower["answer"]), len(choices), where)
        group = row.get(category) if category else None
        items.append(Item(question, choices, answer, None if group is None else str(group),
                          row.get(key_column) if key_column else number,
                          None if row.get(lower.get("split")) is None else str(row.get(lower.get("split")))))
    if from_table:  # a table's rows have no order of their own: take them in the key's
        try:
            items.sort(key=lambda item: item.key)
        except TypeError:  # (keys that do not compare, NULLs among them: as read)
            pass
    return items, key_column


def _text(value: Any, where: str, what: str, empty: bool = False) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not (isinstance(value, float) and math.isnan(value)):
        value = str(value)  # a number read as a number (an option "42" in a Parquet or JSON file)
    if not isinstance(value, str) or not (empty or value.strip()):
        raise SqlgptError(f"{where}: {what} is missing")
    return value


def _whole_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _letter_answer(value: Any, where: str) -> int:
    """A letter A-D, or 1-4 (KMMLU), as an index 0-3."""
    if isinstance(value, str) and value.strip().upper() in ("A", "B", "C", "D"):
        return "ABCD".index(value.strip().upper())
    number = _whole_number(value)
    if number is not None and 1 <= number <= 4:
        return number - 1
    raise SqlgptError(f"{where}: answer {value!r} is not a letter A-D or a number 1-4")


def _index_answer(value: Any, n: int, where: str) -> int:
    number = _whole_number(value)
    if number is None or not 0 <= number < n:
        raise SqlgptError(f"{where}: answer {value!r} is not an index of its {n} choices (0-{n - 1})")
    return number


def _choice_list(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):  # a list in a CSV cell, as JSON
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise SqlgptError(f"{where}: choices is not a list (nor its JSON text)") from None
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not 2 <= len(value) <= len(LETTERS):
        raise SqlgptError(f"{where}: choices must be a list of 2 to {len(LETTERS)} options")
    return tuple(_text(choice, where, f"choice {i}", empty=True) for i, choice in enumerate(value))


# -- prompts -------------------------------------------------------------------------------------


def _description(item: Item, words: Style) -> str:
    if item.category is None:
        return words.description_without_subject
    return words.description.replace("{subject}", item.category.replace("_", " "))


def _question(item: Item, continuation: str, words: Style) -> str:
    """The item as the harness writes it before its answer (its doc_to_text)."""
    if continuation == "text":
        return words.cloze.replace("{question}", item.question.strip())
    options = "".join(f"{letter}. {choice}\n" for letter, choice in zip(LETTERS, item.choices))
    return f"{item.question.strip()}\n{options}{words.answer}"


def _targets(item: Item, continuation: str) -> list[str]:
    """The options as continuations are made of them (the harness's doc_to_choice)."""
    return list(item.choices) if continuation == "text" else list(LETTERS[: len(item.choices)])


def _shot_candidates(dev: list[Item], items: list[Item], shots: int, seed: int,
                     dev_name: str | None) -> dict[str | None, list[Item]]:
    """For each category of the items (None: items without one, or a dev set without
    categories), k + 1 dev items in a fixed order by `seed`: an item's shots are the first k
    that are not the item itself (as the harness draws k + 1 when dev and test overlap)."""
    if not shots:
        return {}
    if not dev:
        raise SqlgptError(f"the dev set {dev_name} holds no items")
    by_category: dict[str | None, list[Item]] = {}
    for item in dev:
        by_category.setdefault(item.category, []).append(item)
    categorised = any(category is not None for category in by_category)
    out = {}
    for category in sorted({item.category for item in items}, key=str):
        pool = by_category.get(category, []) if categorised and category is not None else dev
        of = f" of category {category}" if categorised and category is not None else ""
        if len(pool) < shots:
            raise SqlgptError(f"the dev set {dev_name} has {len(pool)} items{of}; {shots} shots need {shots}")
        # Drawn from the pool in an order of its own (not the file's or the table's), so that
        # the same dev items give the same shots from anywhere.
        pool = sorted(pool, key=lambda item: (item.question, item.choices, item.answer))
        out[category] = random.Random(seed).sample(pool, min(shots + 1, len(pool)))
    return out


# -- scoring -------------------------------------------------------------------------------------


def encode_pair(tokenizer: Tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """The token ids of a context and of a continuation after it, as the harness makes them:
    the context's trailing spaces move to the continuation, the context is encoded alone, and
    the continuation is what encoding both adds after the context's tokens."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole = tokenizer.encode(context + continuation)
    context_ids = tokenizer.encode(context)
    return context_ids, whole[len(context_ids):]


def _requests(gpt: Model, benchmark: Benchmark) -> tuple[list[tuple[list[int], list[list[int]]]], int]:
    """Each item's (context ids, continuation ids), the context cut from the left where it
    would not fit the context window with the longest continuation; and how many were cut."""
    window, requests, truncated = gpt.config.block_size, [], 0
    for number, (prompt, continuations) in enumerate(zip(benchmark.prompts, benchmark.continuations), 1):
        pairs = [encode_pair(gpt.tokenizer, prompt, c) for c in continuations]
        context = pairs[0][0] or [gpt.start_id()]  # (an empty prompt is read as the start token, as the harness does)
        tokens = [ids for _, ids in pairs]
        if not all(tokens):
            raise SqlgptError(f"{benchmark.source} item {number}: an option has no tokens after its prompt")
        room = window - max(map(len, tokens))
        if room < 1:
            raise SqlgptError(f"{benchmark.source} item {number}: an option is {max(map(len, tokens))} tokens, "
                              f"more than the context window of {window} leaves after a prompt")
        if len(context) > room:
            context, truncated = context[-room:], truncated + 1
        requests.append((context, tokens))
    return requests, truncated


def _result(item: Item, loglikelihoods: list[float], targets: list[str]) -> ItemResult:
    lengths = [len(t.encode("utf-8")) for t in targets]
    scores = np.asarray(loglikelihoods)
    with np.errstate(divide="ignore", invalid="ignore"):  # an empty option (0 bytes) never wins
        per_byte = np.where(np.asarray(lengths) > 0, scores / np.maximum(lengths, 1), -np.inf)
    return ItemResult(key=item.key, category=item.category, gold=item.answer, loglikelihoods=list(loglikelihoods),
                      lengths=lengths, pred=int(np.argmax(scores)), pred_norm=int(np.argmax(per_byte)))


def _mean_stderr(values: Sequence[int]) -> tuple[float, float]:
    """The mean, and its standard error: sample standard deviation / √n (NaN for one value)."""
    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    stderr = float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else math.nan
    return mean, stderr


def _accuracy(results: list[ItemResult]) -> Accuracy:
    acc, acc_stderr = _mean_stderr([r.acc for r in results])
    norm, norm_stderr = _mean_stderr([r.acc_norm for r in results])
    return Accuracy(n=len(results), acc=acc, acc_stderr=acc_stderr, acc_norm=norm, acc_norm_stderr=norm_stderr)
