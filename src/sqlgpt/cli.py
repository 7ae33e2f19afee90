"""The `sqlgpt` command line: next-token tables, streaming generation, tokenizing, scoring,
training a tokenizer, training a model.

Every model subcommand takes --model and --engine. Errors are one line on stderr and exit code
2; --debug shows the traceback instead. This module only parses arguments and prints: the work
is done by the `GPT` facade (and `Tokenizer.train`, `sqlgpt.train.model`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from . import ENGINES, Tokenizer, load
from .engines import DEFAULT_ENGINE, SQL_ENGINES
from .engines.sql.engine import INSPECT_SCHEMA
from .engines.sql.script import DIALECTS as SCRIPT_DIALECTS, build_script, run_command
from .errors import SqlgptError
from .gpt import GPT
from .models import DEFAULT_MODEL, open_checkpoint
from .report import render_text, write_html
from .train.model import DEFAULT_VOCAB_SIZE, MIN_CHARS, TrainingOptions, TrainingRun, split_text

EXAMPLES = """\
examples: (with the bundled Shakespeare model unless --model says otherwise)
  sqlgpt generate "ROMEO:" -n 60 --seed 1                       # streams a continuation
  sqlgpt next "To be, or not to" -k 5                           # the next-token table
  sqlgpt generate "JULIET:" -n 40 --temperature 0               # greedy
  sqlgpt next "The capital of France is" -k 5 --model gpt2      # GPT-2 from the Hugging Face cache
  sqlgpt generate "Once upon a time" -n 40 --temperature 0.8 --top-p 0.95 --seed 1 --model gpt2
  sqlgpt tokenize "Hello, world!"
  sqlgpt choose "The capital of France is" " Paris" " London" " Rome"
  sqlgpt eval mmlu-test.csv --dev mmlu-dev.csv --shots 5 --model gpt2   # a benchmark's accuracy (sqlgpt eval --help)
  sqlgpt chat --model HuggingFaceTB/SmolLM2-135M-Instruct --system "Be brief."   # an instruct model
  sqlgpt sql | less                                    # the SQL of one forward step
  sqlgpt sql --keep "Hello" -d gpt.duckdb              # ...and keep its tables to query
  sqlgpt sql --prompt "Hello" -n 20 -t 0 --dialect sqlite -o gen.sql   # all of generate, as one SQL script
  sqlgpt explain "The cat sat on the" -o report.html   # see inside: attention, logit lens...
  sqlgpt score essay.txt --model ./my-gpt2-dir
  echo "some text" | sqlgpt score -
  sqlgpt train-tokenizer input.txt --vocab-size 4096 --out my-tokenizer
  sqlgpt train input.txt --out my-gpt                  # train a model (sqlgpt train --help)
  sqlgpt score input.txt --split val --model my-gpt    # its loss on the held-out last 10%
  sqlgpt score --table reviews --column body --key id -d data.duckdb   # every row, in the database
  sqlgpt next --table reviews --column body --key id -k 3 -d data.duckdb
  sqlgpt index --table docs --column body --key id -d data.duckdb       # BM25 tables beside docs
  sqlgpt ask "Who speaks of the king?" --table docs --column body --key id -d data.duckdb

models: "shakespeare" (the default: a 7.8M-parameter GPT trained on Shakespeare, inside the
package, no network needed), a Hugging Face hub id such as "gpt2" (taken from the local HF
cache or downloaded once), or a directory with config.json, model.safetensors or
pytorch_model.bin, vocab.json and merges.txt (what transformers' save_pretrained or
`sqlgpt train` writes).
"""


def _common(parser: argparse.ArgumentParser, tokenizer_only: bool = False) -> None:
    parser.add_argument("--model", "-m", default=DEFAULT_MODEL, help=f"bundled model, hub id or local directory (default: {DEFAULT_MODEL}, bundled)")
    if not tokenizer_only:
        parser.add_argument("--engine", "-e", default=DEFAULT_ENGINE, choices=ENGINES, help=f"where the forward pass runs (default: {DEFAULT_ENGINE})")
        parser.add_argument("--database", "-d", default=None, metavar="PATH",
                            help="database holding installed models, for SQL engines (default: a file in the user "
                                 "cache directory; ':memory:' for a throwaway one)")
        parser.add_argument("--no-kernel", action="store_true",
                            help="duckdb engine: dot products by DuckDB's list_dot_product, not sqlgpt's vdot kernel "
                                 "(a C extension built on first use with the system's C compiler)")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")


def _text_argument(value: str) -> str:
    """'-' reads the text from standard input."""
    return sys.stdin.read() if value == "-" else value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sqlgpt",
        description="A GPT-2 whose forward pass runs as SQL inside databases (or NumPy, the reference).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sqlgpt {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    nxt = sub.add_parser("next", help="the most likely next tokens and their probabilities",
                         description="Show the k most likely next tokens after PROMPT (the model's raw answer).")
    nxt.add_argument("prompt", type=_text_argument, nargs="?",
                     help="text to continue ('-' reads stdin; empty means <|endoftext|>)")
    nxt.add_argument("-k", type=int, default=10, help="how many candidates (default 10)")
    nxt.add_argument("--temperature", "-t", type=float, default=1.0, help="soften (>1) or sharpen (<1) the distribution")
    nxt.add_argument("--table", help="instead of PROMPT: every row of this table of the --database (SQL engines), "
                                     "into a result table there: (key, rank, token, piece, probability)")
    nxt.add_argument("--column", help="with --table: the column holding the text")
    nxt.add_argument("--key", help="with --table: a column identifying rows, copied to the results (default: the text)")
    nxt.add_argument("--into", default="sqlgpt_next", help="with --table: the result table (default sqlgpt_next)")
    nxt.add_argument("--replace", action="store_true", help="with --table: replace the result table if it exists")
    _common(nxt)

    gen = sub.add_parser("generate", help="continue a prompt, streaming the text",
                         description="Sample a continuation of PROMPT token by token and print it as it comes.")
    gen.add_argument("prompt", type=_text_argument, help="text to continue ('-' reads stdin)")
    gen.add_argument("-n", "--max-new-tokens", type=int, default=50, help="tokens to generate (default 50)")
    gen.add_argument("--temperature", "-t", type=float, default=1.0, help="0 = greedy; higher = more random (default 1.0)")
    gen.add_argument("--top-k", type=int, default=None, help="sample only among the k most likely tokens")
    gen.add_argument("--top-p", type=float, default=None, help="sample only from the smallest set with this much probability")
    gen.add_argument("--seed", type=int, default=None, help="make sampling repeatable (same text on every engine)")
    gen.add_argument("--stop", action="append", default=None, help="stop before this string (repeatable)")
    _common(gen)

    cht = sub.add_parser("chat", help="talk with an instruct model, in its own chat template",
                         description="Chat with an instruct model (SmolLM2-Instruct, Qwen2.5-Instruct, Llama 3.2 Instruct, "
                                     "...): each line you type is a message, the reply streams back, and the KV cache "
                                     "carries the conversation from turn to turn. An empty line, end of input (Ctrl-D) "
                                     "or Ctrl-C ends it.",
                         epilog="example:\n  sqlgpt chat --model HuggingFaceTB/SmolLM2-135M-Instruct --system \"Be brief.\"",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    cht.add_argument("--system", help="a system message opening the conversation")
    cht.add_argument("-n", "--max-new-tokens", type=int, default=256, help="longest reply, in tokens (default 256)")
    cht.add_argument("--temperature", "-t", type=float, default=0.7, help="0 = greedy (default 0.7)")
    cht.add_argument("--top-k", type=int, default=None, help="sample only among the k most likely tokens")
    cht.add_argument("--top-p", type=float, default=None, help="sample only from the smallest set with this much probability")
    cht.add_argument("--seed", type=int, default=None, help="make the replies repeatable")
    _common(cht)

    tok = sub.add_parser("tokenize", help="show the token ids and pieces of a text",
                         description="Split TEXT into GPT-2 BPE tokens: id and the bytes each stands for.")
    tok.add_argument("text", type=_text_argument, help="text to tokenize ('-' reads stdin)")
    _common(tok, tokenizer_only=True)

    cho = sub.add_parser("choose", help="which option the model finds most probable (multiple choice)",
                         description="Score each OPTION as a continuation of QUESTION (the sum of its tokens' "
                                     "log-probabilities, as benchmark suites such as KMMLU do) and mark the best.")
    cho.add_argument("question", type=_text_argument, help="the question or context ('-' reads stdin)")
    cho.add_argument("options", nargs="+", help="the candidate answers (mind the leading space: ' Paris')")
    _common(cho)

    evl = sub.add_parser("eval", help="a benchmark: accuracy on multiple-choice items (MMLU, KMMLU, ...)",
                         description="Score every multiple-choice item of FILE_OR_TABLE as lm-evaluation-harness does: "
                                     "each option's log-likelihood as a continuation of the item's prompt; acc counts "
                                     "items whose most likely option is the answer, acc_norm the same per byte of "
                                     "option. Items: a CSV, JSONL or Parquet file, or a table of the --database, with "
                                     "columns question, A, B, C, D, answer (a letter or 1-4) or question, choices (a "
                                     "list), answer (an index from 0), and optionally Category or subject. Items from a "
                                     "table also go into a result table there, a row per item.",
                         epilog="examples:\n"
                                "  sqlgpt eval kmmlu-test.csv --style kmmlu --dev kmmlu-dev.csv --shots 5\n"
                                "  sqlgpt eval mmlu.jsonl --show-prompt          # the first prompt, nothing scored\n"
                                "  sqlgpt eval quiz -d data.duckdb --continuation text --json",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    evl.add_argument("source", metavar="FILE_OR_TABLE", help="a .csv, .jsonl or .parquet file, or a table of --database")
    evl.add_argument("--continuation", choices=("letter", "text"), default="letter",
                     help="score ' A'-style letters after a prompt listing the options (default), or each option's "
                          "text after 'Answer:' (the cloze form)")
    evl.add_argument("--style", choices=("mmlu", "kmmlu", "plain"), default="mmlu",
                     help="the prompt's wording: MMLU's (a description naming the subject, 'Answer:'; default), "
                          "KMMLU's (no description, '정답：'), or plain (no description; with --continuation text the "
                          "question alone is the prompt, e.g. a text whose next word is asked)")
    evl.add_argument("--shots", type=int, default=0, help="solved examples before each question (default 0)")
    evl.add_argument("--dev", metavar="FILE_OR_TABLE_OR_SPLIT",
                     help="where the examples come from: a file, a table, or a value of the items' split column")
    evl.add_argument("--seed", type=int, default=None, help="fixes which examples, in which order (default 1234)")
    evl.add_argument("--split", help="only the items whose split column holds this value")
    evl.add_argument("--limit", type=int, default=None, help="only the first N items")
    evl.add_argument("--show-prompt", action="store_true", help="print the first item's prompt and its continuations; "
                                                               "score nothing")
    evl.add_argument("--json", action="store_true", help="print the results as JSON (every item's log-likelihoods too)")
    evl.add_argument("--key", help="items from a table: the column identifying rows in the results (default: question)")
    evl.add_argument("--into", default="sqlgpt_eval", help="items from a table: the result table (default sqlgpt_eval)")
    evl.add_argument("--replace", action="store_true", help="items from a table: replace the result table if it exists")
    _common(evl)

    sql = sub.add_parser("sql", help="print the SQL of one forward step; keep its tables to explore",
                         description="Print the SQL statements that run the model: the session's tables, one forward "
                                     "step (embeddings, every layer, final norm) and the logits query. With --keep, run "
                                     "one step over PROMPT and keep its tables (residual streams, KV cache, attention "
                                     f"weights) in the schema {INSPECT_SCHEMA} of the database, to query afterwards.")
    sql.add_argument("--keep", metavar="PROMPT", type=_text_argument, default=None,
                     help="run one forward step over PROMPT and keep every intermediate table")
    script = sql.add_argument_group(
        "a standalone script", "With --prompt, write one SQL script that does all of `sqlgpt generate` in the "
        "database's own shell (duckdb, psql, sqlite3, spark-sql): tokenizer, forward passes with a KV cache, sampling and "
        "decoding. It runs against a database where the model is installed; its header says how to run it.")
    script.add_argument("--prompt", type=_text_argument, default=None, help="text to continue ('-' reads stdin)")
    script.add_argument("--dialect", choices=SCRIPT_DIALECTS, default=None,
                        help="the database the script is for (default: --engine's)")
    script.add_argument("-n", "--max-new-tokens", type=int, default=None, help="tokens to generate (default 50)")
    script.add_argument("--temperature", "-t", type=float, default=None, help="0 = greedy (default 1.0)")
    script.add_argument("--seed", type=int, default=None,
                        help="the sampler's seed, as `sqlgpt generate --seed` (default: a fresh one, in the header)")
    script.add_argument("-o", "--output", metavar="FILE", default=None, help="write the script to FILE (default: stdout)")
    _common(sql)

    sco = sub.add_parser("score", help="loss and perplexity of a text file, or of every row of a table",
                         description="How well the model predicts FILE: mean loss in nats per token and per "
                                     "character (which compares models with different tokenizers), and perplexity. "
                                     "With --table and --column, score the text of every row of a table in the "
                                     "--database instead, inside that database, into a new table there: "
                                     "(key, tokens, loss, perplexity) per row.")
    sco.add_argument("file", nargs="?", help="UTF-8 text file ('-' reads stdin)")
    sco.add_argument("--table", help="score every row of this table of the --database (SQL engines)")
    sco.add_argument("--column", help="with --table: the column holding the text")
    sco.add_argument("--key", help="with --table: a column identifying rows, copied to the results (default: the text)")
    sco.add_argument("--into", default="sqlgpt_scores", help="with --table: the result table (default sqlgpt_scores)")
    sco.add_argument("--replace", action="store_true", help="with --table: replace the result table if it exists")
    sco.add_argument("--split", choices=("all", "train", "val"), default="all",
                     help="score all of FILE (default), or the part `sqlgpt train` trains on (the first 90%% of "
                          "its characters) or holds out for validation (the last 10%%)")
    _common(sco)

    ttk = sub.add_parser("train-tokenizer", help="learn a new BPE vocabulary from a text file",
                         description="Learn a byte-level BPE vocabulary from FILE, the way GPT-2's was made. The text is "
                                     "split into words with GPT-2's pre-tokenizer; every word starts as its UTF-8 bytes "
                                     "(the first 256 tokens); then the most frequent pair of adjacent tokens, counted "
                                     "over all words, is merged into a new token, again and again, until the vocabulary "
                                     "has N tokens: 256 bytes + N-257 merges + <|endoftext|>. Frequent words end up as "
                                     "one token, rare ones as several. Writes vocab.json and merges.txt to DIR, which "
                                     "sqlgpt's Tokenizer.from_directory and Hugging Face tokenizers read.")
    ttk.add_argument("file", help="UTF-8 text file to learn from ('-' reads stdin)")
    ttk.add_argument("--vocab-size", type=int, required=True, metavar="N",
                     help="tokens in the vocabulary, bytes and <|endoftext|> included (at least 257)")
    ttk.add_argument("--out", required=True, metavar="DIR", help="directory to write vocab.json and merges.txt to")
    ttk.add_argument("--force", action="store_true",
                     help="write into DIR even if it is not empty (its vocab.json and merges.txt are replaced)")
    ttk.add_argument("--debug", action="store_true", help="show the full traceback on errors")

    exp = sub.add_parser("explain", help="look inside the model: attention, logit lens, temperature, embeddings",
                         description="Show what happens inside the model as it reads PROMPT: its tokens, every head's "
                                     "attention weights, the logit lens (what it would predict after each layer), the "
                                     "length of the residual stream, the next token at temperatures 0.5, 1 and 2, and "
                                     "each token's nearest tokens in the embedding matrix. The engine computes it all "
                                     "(SQL engines as SQL queries). With -o, write a self-contained HTML report to open "
                                     "in a browser; without, print a compact text version.")
    exp.add_argument("prompt", type=_text_argument, help="text to look at ('-' reads stdin; empty means <|endoftext|>)")
    exp.add_argument("-o", "--output", metavar="FILE", default=None, help="write the HTML report to FILE (e.g. report.html)")
    exp.add_argument("-k", "--top-k", type=int, default=5, help="candidates in each list (default 5)")
    exp.add_argument("--keep", action="store_true",
                     help=f"SQL engines: keep every measurement as tables in the schema {INSPECT_SCHEMA} to query")
    _common(exp)
    _add_retrieval_parsers(sub)
    srv = sub.add_parser("server", help="whether the private PostgreSQL runs, and stop it",
                         description="The private PostgreSQL that --engine postgres starts when no --database DSN is "
                                     "given (pgserver, under the user's cache directory). It stops when the last "
                                     "sqlgpt process using it ends, also after another was killed. Without options: "
                                     "whether it runs, and which processes use it.")
    srv.add_argument("--stop", action="store_true", help="stop it (refused while sqlgpt processes use it)")
    srv.add_argument("--force", action="store_true", help="with --stop: stop it even while processes use it")
    srv.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    _add_train_parser(sub)
    return parser


TRAIN_DESCRIPTION = """\
Train a GPT-2-architecture model from scratch on FILE, with PyTorch (pip install
'sqlgpt[train]'). Each step takes --batch random windows of --context tokens from the
training text and nudges the weights (AdamW) to predict each next token better. The
learning rate warms up linearly to --lr, then decays along a cosine to --min-lr. Every
--eval-every steps the loss on fixed training and validation batches is printed: when
validation stops improving while training still does, the model is memorising its text
(more --dropout, a smaller model or fewer steps help). Options left out take the defaults
below, or with --resume those of the saved run.
"""

TRAIN_EXAMPLES = """\
examples:
  sqlgpt train input.txt --out shakespeare                      # defaults: see above
  sqlgpt train input.txt --out tiny --layers 2 --embd 64 --steps 300 --eval-every 50
  sqlgpt train input.txt --out shakespeare --resume             # go on after Ctrl-C
  sqlgpt train input.txt --out shakespeare --resume --steps 4000   # train longer
  sqlgpt train essays.txt --out essays --tokenizer shakespeare  # reuse a vocabulary
  sqlgpt score input.txt --split val --model shakespeare --engine numpy
  sqlgpt generate "ROMEO:" --model shakespeare -n 100

DIR gets config.json, model.safetensors, vocab.json and merges.txt: a Hugging Face GPT-2
directory (--model DIR in every sqlgpt command; GPT2LMHeadModel.from_pretrained(DIR) in
transformers); training_state.pt (optimizer, step, losses: what --resume reads); and
training.json (the command, settings, loss curve, final losses in nats per token and per
character, wall time). They are written every --save-every steps and at the end; Ctrl-C
saves and stops (twice: stops at once). The last 10% of FILE's characters are held out for
validation, as `sqlgpt score --split val` scores them. Batches and dropout are seeded by
(--seed, step), so a resumed run follows the loss curve of one that never stopped (on the
same device and --threads).
"""


# `sqlgpt train`'s TrainingOptions flags by help group: (field, metavar, what it does). Each
# flag's type and default come from TrainingOptions; left out, a flag is None, which means
# the default for a new run and the saved value for --resume.
TRAIN_OPTIONS = {
    "model shape (about 12 x layers x embd^2 weights, plus vocab x embd)": [
        ("layers", "N", "transformer blocks"),
        ("heads", "N", "attention heads per block; must divide --embd"),
        ("embd", "N", "width of every token's vector"),
        ("context", "N", "tokens per training window, and the model's context window"),
    ],
    "optimisation": [
        ("steps", "N", "optimizer steps, each on --batch x --context tokens"),
        ("batch", "N", "windows per step"),
        ("lr", "X", "peak learning rate"),
        ("min_lr", "X", "learning rate at the last step"),
        ("warmup", "N", "steps of linear warm-up from 0 to --lr"),
        ("weight_decay", "X", "AdamW weight decay of the weight matrices"),
        ("dropout", "P", "fraction of activations zeroed in training, against memorising"),
        ("grad_clip", "X", "largest gradient norm, taming rare huge steps; 0 = off"),
        ("seed", "N", "seeds the initial weights, the batches and dropout"),
    ],
    "evaluation, checkpoints, hardware": [
        ("eval_every", "N", "estimate training and validation loss every N steps"),
        ("eval_batches", "N", "batches per estimate: more is steadier and slower"),
        ("save_every", "N", "write a checkpoint every N steps"),
        ("device", "NAME", "torch device: cpu, cuda, mps (default: a GPU if PyTorch has one, else cpu)"),
        ("threads", "N", "CPU threads for PyTorch (default: all cores)"),
    ],
}


def _add_train_parser(sub: argparse._SubParsersAction) -> None:
    trn = sub.add_parser(
        "train", help="train a GPT-2 model on a text file (needs PyTorch)",
        description=TRAIN_DESCRIPTION,
        epilog=TRAIN_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    trn.add_argument("file", help=f"UTF-8 text file to learn from (at least {MIN_CHARS:,} characters)")
    trn.add_argument("--out", "-o", required=True, metavar="DIR", help="directory for the model and its training files")
    vocab = trn.add_mutually_exclusive_group()
    vocab.add_argument("--tokenizer", metavar="DIR",
                       help="use the vocab.json + merges.txt in DIR (a model's, or sqlgpt train-tokenizer's)")
    vocab.add_argument("--vocab-size", type=int, metavar="N",
                       help=f"train a BPE vocabulary of N tokens on the training text (default {DEFAULT_VOCAB_SIZE}: "
                            "small data wants few tokens, each seen often)")
    defaults = TrainingOptions()
    for title, options in TRAIN_OPTIONS.items():
        group = trn.add_argument_group(title)
        for name, metavar, text in options:
            default = getattr(defaults, name)
            if isinstance(default, (int, float)):  # the others say their default in words
                text += f" (default {default:g})"
            group.add_argument("--" + name.replace("_", "-"), type=int if name == "threads" else type(default),
                               metavar=metavar, help=text)
    again = trn.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the run saved in DIR on the same FILE (raise --steps to train longer)")
    again.add_argument("--force", action="store_true",
                       help="train into a non-empty DIR, replacing its model and training files")
    trn.add_argument("--debug", action="store_true", help="show the full traceback on errors")


def _version() -> str:
    from . import __version__

    return __version__


def _load(args: argparse.Namespace, **options: object) -> GPT:
    if args.engine in SQL_ENGINES:
        options["database"] = args.database
    elif args.database is not None:
        raise SqlgptError("--database is for SQL engines; the numpy engine keeps nothing")
    if args.no_kernel:
        if args.engine != "duckdb":
            raise SqlgptError("--no-kernel is for the duckdb engine, whose dot products it chooses")
        options["vector_kernel"] = False
    return load(args.model, engine=args.engine, **options)


def cmd_next(args: argparse.Namespace) -> None:
    if args.table is not None:
        _table_arguments(args, "PROMPT")
        if args.temperature != 1.0:
            raise SqlgptError("--table ranks next tokens at temperature 1; it takes no --temperature")
        with _load(args) as gpt:
            into = gpt.next_table(args.table, args.column, k=args.k, key=args.key, into=args.into,
                                  replace=args.replace, progress=sys.stderr.isatty())
        print(f"wrote the {args.k} most likely next tokens of each row of {args.table} into {into}")
        return
    if args.prompt is None:
        raise SqlgptError("give a PROMPT (or --table and --column)")
    with _load(args) as gpt:
        rows = gpt.next_token_probs(args.prompt, k=args.k, temperature=args.temperature)
    width = max(12, *(len(json.dumps(token, ensure_ascii=False)) for token, _ in rows))
    print(f"{'token':<{width}}  probability")
    for token, prob in rows:
        print(f"{json.dumps(token, ensure_ascii=False):<{width}}  {prob:11.6f}")


def cmd_generate(args: argparse.Namespace) -> None:
    with _load(args) as gpt:
        pieces = gpt.stream(args.prompt, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                            top_k=args.top_k, top_p=args.top_p, seed=args.seed, stop=args.stop)
        for piece in pieces:
            sys.stdout.write(piece)
            sys.stdout.flush()
    sys.stdout.write("\n")


def cmd_chat(args: argparse.Namespace) -> None:
    with _load(args) as gpt, gpt.conversation(system=args.system) as conversation:
        interactive = sys.stdin.isatty()
        while True:
            try:
                line = input("you> " if interactive else "")
            except (EOFError, KeyboardInterrupt):  # Ctrl-D or Ctrl-C at the prompt: the end, not an error
                sys.stdout.write("\n")
                break
            if not line.strip():
                break
            seed = None if args.seed is None else args.seed + len(conversation.messages)  # one per turn
            reply = conversation.send(line, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                                      top_k=args.top_k, top_p=args.top_p, seed=seed)
            try:
                for piece in reply:
                    sys.stdout.write(piece)
                    sys.stdout.flush()
            except KeyboardInterrupt:  # Ctrl-C during a reply cuts it short; the conversation goes on
                reply.close()
            sys.stdout.write("\n")
            sys.stdout.flush()


def cmd_tokenize(args: argparse.Namespace) -> None:
    tokenizer: Tokenizer = open_checkpoint(args.model).tokenizer
    ids = tokenizer.encode(args.text)
    print(f"{len(ids)} tokens")
    print(f"{'id':>7}  piece")
    for token in ids:
        piece = tokenizer.token_bytes(token).decode("utf-8", errors="backslashreplace")
        print(f"{token:>7}  {json.dumps(piece, ensure_ascii=False)}")


def _read_text_file(name: str) -> str:
    """A UTF-8 text file's contents ('-' reads stdin), or a one-line SqlgptError."""
    if name == "-":
        return sys.stdin.read()
    try:
        return Path(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SqlgptError(f"no such file: {name}") from None
    except UnicodeDecodeError as e:
        raise SqlgptError(f"{name} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise SqlgptError(f"cannot read {name}: {e.strerror}") from None


def cmd_score(args: argparse.Namespace) -> None:
    if args.table is not None:
        return cmd_score_table(args)
    if args.file is None:
        raise SqlgptError("give a FILE to score (or --table and --column)")
    text = _read_text_file(args.file)
    if args.split != "all":
        train, val = split_text(text)
        text = val if args.split == "val" else train
    with _load(args) as gpt:
        result = gpt.score(text, progress=sys.stderr.isatty())
    print(f"tokens      {result.n_tokens}")
    print(f"characters  {result.n_chars}")
    print(f"loss        {result.loss:.4f} nats/token")
    print(f"            {result.nats_per_char:.4f} nats/character")
    print(f"perplexity  {result.perplexity:.3f}")


def _table_arguments(args: argparse.Namespace, positional: str) -> None:
    if args.column is None:
        raise SqlgptError("--table needs --column: the column holding the text")
    if getattr(args, positional.lower()) is not None:
        raise SqlgptError(f"--table reads its texts from the table; it takes no {positional}")


def cmd_score_table(args: argparse.Namespace) -> None:
    _table_arguments(args, "FILE")
    if args.split != "all":
        raise SqlgptError("--table scores a table; it takes no --split")
    with _load(args) as gpt:
        result = gpt.score_table(args.table, args.column, key=args.key, into=args.into, replace=args.replace,
                                 progress=sys.stderr.isatty())
    print(f"scored {result.rows} rows of {args.table} into {result.table}")
    print(f"tokens      {result.n_tokens}")
    print(f"loss        {result.loss:.4f} nats/token over all rows")
    print(f"perplexity  {result.perplexity:.3f}")


def cmd_choose(args: argparse.Namespace) -> None:
    with _load(args) as gpt:
        choice = gpt.choose(args.question, args.options)
    width = max(12, *(len(json.dumps(o, ensure_ascii=False)) for o in args.options))
    print(f"  {'option':<{width}}  log-probability")
    for i, (option, logprob) in enumerate(zip(args.options, choice.logprobs)):
        mark = "*" if i == choice.index else " "
        print(f"{mark} {json.dumps(option, ensure_ascii=False):<{width}}  {logprob:15.4f}")


def cmd_eval(args: argparse.Namespace) -> None:
    from .evaluate import DEFAULT_SEED, prepare, summary_table

    options = dict(dev=args.dev, shots=args.shots, seed=DEFAULT_SEED if args.seed is None else args.seed,
                   continuation=args.continuation, style=args.style, split=args.split, limit=args.limit, key=args.key)
    with _load(args) as gpt:
        if args.show_prompt:
            print(prepare(gpt, args.source, **options).show())
            return
        result = gpt.evaluate(args.source, into=args.into, replace=args.replace, progress=sys.stderr.isatty(), **options)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=1, default=str))  # (keys of any column type)
        return
    print(f"{result.source}: {result.overall.n} items, {result.shots}-shot, {result.continuation} continuations, "
          f"{result.style} prompts; {result.model} on {result.engine}")
    print(summary_table(result))
    if result.truncated:
        print(f"({result.truncated} prompts were cut from the left to fit the context window)")
    if result.table:
        print(f"wrote a row per item into {result.table}")


def cmd_sql(args: argparse.Namespace) -> None:
    if args.prompt is not None:
        return cmd_sql_script(args)
    script_only = {"--dialect": args.dialect, "-n": args.max_new_tokens, "--temperature": args.temperature,
                   "--seed": args.seed, "-o": args.output}
    given = [flag for flag, value in script_only.items() if value is not None]
    if given:
        raise SqlgptError(f"{', '.join(given)}: only with --prompt, which writes a standalone script")
    if args.engine not in SQL_ENGINES:
        raise SqlgptError("the numpy engine runs no SQL; choose a SQL engine with --engine")
    with _load(args, inspect=args.keep is not None) as gpt:
        engine = gpt.engine
        print(f"-- sqlgpt: {gpt.name} ({gpt.config.n_params / 1e6:.1f}M parameters) on {engine.name}; "
              f"weights in schema {engine.schema}")
        for note in engine.dialect.header_notes():
            print(f"-- {note}")
        print("-- $1 is the step's first new position; the token ids arrive as bound parameters.\n")
        for title, statements in engine.describe():
            print(f"-- ===== {title} =====\n")
            for statement in statements:
                print(f"-- {statement.comment}\n{statement.sql};\n")
        if args.keep is not None:
            ids = gpt.encode_prompt(args.keep)
            with engine.session() as session:
                session.forward(ids, all_logits=True)
                kept = session.keep()
            print(f"-- kept {len(kept)} tables of one step over {len(ids)} tokens in {engine.database}:")
            for name in kept:
                print(f"--   {name}")


def cmd_sql_script(args: argparse.Namespace) -> None:
    if args.keep is not None:
        raise SqlgptError("--keep runs a step in a database and --prompt writes a script: give one of them")
    dialect = args.dialect or args.engine
    if dialect not in SCRIPT_DIALECTS:
        raise SqlgptError(f"a script is for {', '.join(SCRIPT_DIALECTS)}: choose one with --dialect")
    if args.database is not None:
        raise SqlgptError(f"--prompt writes a script and opens no database; install the model in yours with "
                          f"`sqlgpt next x --model {args.model} --engine {dialect} -d DATABASE`")
    script = build_script(open_checkpoint(args.model), dialect, args.prompt,
                          50 if args.max_new_tokens is None else args.max_new_tokens,
                          temperature=1.0 if args.temperature is None else args.temperature, seed=args.seed,
                          model=args.model)
    if args.output is None:
        sys.stdout.write(script)
        return
    try:
        Path(args.output).write_text(script, encoding="utf-8", newline="\n")
    except OSError as e:
        raise SqlgptError(f"cannot write {args.output}: {e.strerror}") from None
    print(f"wrote {args.output}; run it with: {run_command(dialect, args.output)}")


def cmd_explain(args: argparse.Namespace) -> None:
    with _load(args) as gpt:
        explanation = gpt.explain(args.prompt, top_k=args.top_k, keep=args.keep)
    if args.output is None:
        print(render_text(explanation))
        return
    try:
        path = write_html(explanation, args.output)
    except OSError as e:
        raise SqlgptError(f"cannot write {args.output}: {e.strerror}") from None
    print(f"wrote {path}: open it in a browser")
    if explanation.tables:
        print(f"kept {len(explanation.tables)} tables in {gpt.engine.database}: {', '.join(explanation.tables)}")


def cmd_train_tokenizer(args: argparse.Namespace) -> None:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SqlgptError(f"--out {out} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()) and not args.force:
        raise SqlgptError(f"--out {out} is not empty; pass --force to replace its vocab.json and merges.txt")
    text = _read_text_file(args.file)
    start = time.perf_counter()
    tokenizer = Tokenizer.train(text, args.vocab_size, progress=sys.stderr.isatty())
    seconds = time.perf_counter() - start
    _save_atomically(tokenizer, out)
    merges = tokenizer.vocab_size - 256 - len(tokenizer.special_tokens)
    print(f"trained {tokenizer.vocab_size} tokens ({merges} merges) in {seconds:.1f} s: {out}")


def _save_atomically(tokenizer: Tokenizer, out: Path) -> None:
    """Save into a fresh directory beside `out`, then move it into place, so that an error or
    Ctrl-C leaves no half-written file behind."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as e:
        raise SqlgptError(f"cannot write to {out.parent}: {e.strerror}") from None
    try:
        # A subdirectory, because mkdtemp's is private (0700) and `out` should get the usual mode.
        saved = staging / "tokenizer"
        tokenizer.save(saved)
        if out.is_dir() and any(out.iterdir()):  # --force: replace just our files, each whole
            for name in ("vocab.json", "merges.txt"):
                os.replace(saved / name, out / name)
        else:  # missing or empty: the whole directory in one step
            os.replace(saved, out)
    except OSError as e:
        raise SqlgptError(f"cannot write the tokenizer to {out}: {e.strerror}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def cmd_train(args: argparse.Namespace) -> None:
    given = {field.name: getattr(args, field.name) for field in dataclasses.fields(TrainingOptions)
             if getattr(args, field.name) is not None}
    command = shlex.join(["sqlgpt", *args.argv])
    if args.resume:
        run = TrainingRun.resume(args.file, args.out, given, tokenizer_dir=args.tokenizer,
                                 vocab_size=args.vocab_size, command=command)
    else:
        run = TrainingRun.create(args.file, args.out, TrainingOptions(**given), tokenizer_dir=args.tokenizer,
                                 vocab_size=args.vocab_size, force=args.force, command=command)
    result = run.train()
    if result.interrupted:
        print(f"sqlgpt: saved step {result.steps} to {args.out}; go on with: "
              f"{shlex.join(['sqlgpt', 'train', args.file, '--out', args.out, '--resume'])}", file=sys.stderr)
        raise KeyboardInterrupt
    record, val = result.record, result.record["val_loss"]
    wall = time.strftime("%H:%M:%S", time.gmtime(record["wall_time_s"]))
    print(f"trained     {record['steps']} steps, {record['tokens_seen']:,} tokens in {wall} "
          f"({record['tokens_per_s']:,.0f} tokens/s)")
    print(f"validation  {val['nats_per_token']:.4f} nats/token, {val['nats_per_char']:.4f} nats/character")
    print(f"model       {args.out} (details in {Path(args.out) / 'training.json'})")
    # A hint that runs as printed: no more new tokens than the model's context window holds.
    trained = open_checkpoint(args.out)
    prompt = "Once upon a time"
    new_tokens = max(1, min(50, trained.config.block_size - len(trained.tokenizer.encode(prompt))))
    print(f"try         {shlex.join(['sqlgpt', 'generate', prompt, '-n', str(new_tokens), '--model', args.out])}")


# -- retrieval: index, retrieve, ask ----------------------------------------------------------


def _add_retrieval_parsers(sub: argparse._SubParsersAction) -> None:
    def table_options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--table", required=True, help="the table of the --database holding the text")
        parser.add_argument("--column", required=True, help="the column holding the text")
        parser.add_argument("--key", help="a column identifying rows (default: the text itself)")

    def bm25_options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("-k", type=int, default=3, help="how many rows to retrieve (default 3)")
        parser.add_argument("--k1", type=float, default=1.5, help="BM25's term-frequency saturation (default 1.5)")
        parser.add_argument("--b", type=float, default=0.75, help="BM25's length normalisation, 0 to 1 (default 0.75)")

    idx = sub.add_parser("index", help="build a BM25 index of a table's text column, as tables in its database",
                         description="Index the words of every row of --column in --table as BM25 tables beside it "
                                     "(sqlgpt_bm25_TABLE_COLUMN_rows, _postings, _terms). Run it again after the table "
                                     "changes: only rows added, changed or deleted since are touched, in one "
                                     "transaction.",
                         epilog="example:\n  sqlgpt index --table docs --column body --key id -d data.duckdb",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    table_options(idx)
    _common(idx)

    ret = sub.add_parser("retrieve", help="the rows of a table that best match a question (BM25, in SQL)",
                         description="Rank the rows of --table by Okapi BM25 against QUESTION, computed in SQL from "
                                     "the index `sqlgpt index` built; print key, score and text, best first.",
                         epilog="example:\n  sqlgpt retrieve \"who is the king?\" --table docs --column body --key id "
                                "-d data.duckdb",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    ret.add_argument("question", type=_text_argument, help="the question ('-' reads stdin)")
    table_options(ret)
    bm25_options(ret)
    _common(ret)

    ask = sub.add_parser("ask", help="answer a question from a table: retrieve rows, then generate",
                         description="Retrieve the rows that best match QUESTION (as `sqlgpt retrieve`), put them in "
                                     "the prompt (the model's chat template when it has one), cut passages from the "
                                     "lowest-ranked up until it fits the context window, and stream the answer; then "
                                     "list the rows it used.",
                         epilog="example:\n  sqlgpt ask \"Who speaks of the king?\" --table docs --column body --key id "
                                "-d data.duckdb -n 40 --seed 1",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    ask.add_argument("question", type=_text_argument, help="the question ('-' reads stdin)")
    table_options(ask)
    bm25_options(ask)
    ask.add_argument("-n", "--max-new-tokens", type=int, default=64, help="longest answer, in tokens (default 64)")
    ask.add_argument("--temperature", "-t", type=float, default=1.0, help="0 = greedy (default 1.0)")
    ask.add_argument("--top-k", type=int, default=None, help="sample only among the k most likely tokens")
    ask.add_argument("--top-p", type=float, default=None, help="sample only from the smallest set with this much probability")
    ask.add_argument("--seed", type=int, default=None, help="make sampling repeatable")
    ask.add_argument("--show-prompt", action="store_true", help="print the prompt the model reads first (to stderr)")
    _common(ask)


def cmd_index(args: argparse.Namespace) -> None:
    with _load(args) as gpt:
        report = gpt.index(args.table, args.column, key=args.key, progress=sys.stderr.isatty())
    print(f"indexed {report.rows} rows of {args.table}.{args.column} into {', '.join(report.tables)}")
    print(f"touched {report.touched} rows: {report.added} added, {report.changed} changed, {report.deleted} deleted")


def cmd_retrieve(args: argparse.Namespace) -> None:
    with _load(args) as gpt:
        passages = gpt.retrieve(args.question, args.table, args.column, args.k, key=args.key, k1=args.k1, b=args.b)
    if not passages:
        print("no row shares a word with the question", file=sys.stderr)
    for passage in passages:
        text = passage.text if len(passage.text) <= 200 else passage.text[:199] + "…"
        print(f"{json.dumps(passage.key, ensure_ascii=False, default=str)}\t{passage.score:.6f}\t"
              f"{json.dumps(text, ensure_ascii=False)}")


def cmd_ask(args: argparse.Namespace) -> None:
    with _load(args) as gpt:
        answer = gpt.ask(args.question, args.table, args.column, args.k, key=args.key, max_new_tokens=args.max_new_tokens,
                         temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                         k1=args.k1, b=args.b)
        if args.show_prompt:
            print(answer.prompt, file=sys.stderr)
        for note in answer.notes:
            print(f"sqlgpt: {note}", file=sys.stderr)
        if not answer.passages:
            print("sqlgpt: no row shares a word with the question: answering without passages", file=sys.stderr)
        for piece in answer:
            sys.stdout.write(piece)
            sys.stdout.flush()
    sys.stdout.write("\n")
    keys = ", ".join(json.dumps(key, ensure_ascii=False, default=str) for key in answer.keys)
    print(f"(from rows {keys} of {args.table})" if keys else "(from no rows)")


def cmd_server(args: argparse.Namespace) -> None:
    from .engines.sql.drivers import private_server

    if args.stop:
        stopped = private_server.stop(force=args.force)
        print("stopped the private PostgreSQL" if stopped else "the private PostgreSQL is not running")
        return
    if args.force:
        raise SqlgptError("--force goes with --stop")
    now = private_server.status()
    if not now.running:
        print(f"the private PostgreSQL is not running (data in {now.directory})")
        return
    users = ", ".join(map(str, now.users)) or "none"
    print(f"the private PostgreSQL is running: process {now.pid}, data in {now.directory}")
    print(f"connection  {now.uri}")
    print(f"used by     {users}")


COMMANDS = {"next": cmd_next, "generate": cmd_generate, "tokenize": cmd_tokenize, "score": cmd_score, "sql": cmd_sql, "choose": cmd_choose, "explain": cmd_explain,
            "train-tokenizer": cmd_train_tokenizer, "train": cmd_train, "chat": cmd_chat,
            "index": cmd_index, "retrieve": cmd_retrieve, "ask": cmd_ask, "server": cmd_server}

COMMANDS["eval"] = cmd_eval


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # `sqlgpt train` records its command line
    try:
        COMMANDS[args.command](args)
    except SqlgptError as e:
        if args.debug:
            traceback.print_exc()
        print(f"sqlgpt: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nsqlgpt: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `sqlgpt generate ... | head`
        return 0
    except Exception as e:  # a bug: still one line unless --debug
        if args.debug:
            traceback.print_exc()
        print(f"sqlgpt: internal error: {type(e).__name__}: {e} (run with --debug for the traceback)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
