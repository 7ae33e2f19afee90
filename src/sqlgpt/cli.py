"""The `sqlgpt` command line: next-token tables, streaming generation, tokenizing, scoring.

Every subcommand takes --model and --engine. Errors are one line on stderr and exit code 2;
--debug shows the traceback instead. This module only parses arguments and prints: the work
is done by the `GPT` facade.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from . import ENGINES, Tokenizer, load
from .engines import DEFAULT_ENGINE
from .errors import SqlgptError
from .gpt import GPT
from .engines.sql.engine import INSPECT_SCHEMA
from .models import DEFAULT_MODEL, open_checkpoint

EXAMPLES = """\
examples:
  sqlgpt next "The capital of France is" -k 5
  sqlgpt generate "Once upon a time" -n 40 --temperature 0.8 --top-p 0.95 --seed 1
  sqlgpt generate "Q: 2+2?\\nA:" -n 20 --temperature 0          # greedy
  sqlgpt tokenize "Hello, world!"
  sqlgpt choose "The capital of France is" " Paris" " London" " Rome"
  sqlgpt sql | less                                    # the SQL of one forward step
  sqlgpt sql --keep "Hello" -d gpt.duckdb              # ...and keep its tables to query
  sqlgpt score essay.txt --model ./my-gpt2-dir
  echo "some text" | sqlgpt score -

models: a Hugging Face hub id (default "gpt2", taken from the local HF cache or downloaded
once) or a directory with config.json, model.safetensors or pytorch_model.bin, vocab.json
and merges.txt (what transformers' save_pretrained writes, plus the tokenizer files).
"""


def _common(parser: argparse.ArgumentParser, tokenizer_only: bool = False) -> None:
    parser.add_argument("--model", "-m", default=DEFAULT_MODEL, help=f"hub id or local directory (default: {DEFAULT_MODEL})")
    if not tokenizer_only:
        parser.add_argument("--engine", "-e", default=DEFAULT_ENGINE, choices=ENGINES, help=f"where the forward pass runs (default: {DEFAULT_ENGINE})")
        parser.add_argument("--database", "-d", default=None, metavar="PATH",
                            help="database holding installed models, for SQL engines (default: a file in the user "
                                 "cache directory; ':memory:' for a throwaway one)")
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
    nxt.add_argument("prompt", type=_text_argument, help="text to continue ('-' reads stdin; empty means <|endoftext|>)")
    nxt.add_argument("-k", type=int, default=10, help="how many candidates (default 10)")
    nxt.add_argument("--temperature", "-t", type=float, default=1.0, help="soften (>1) or sharpen (<1) the distribution")
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

    sql = sub.add_parser("sql", help="print the SQL of one forward step; keep its tables to explore",
                         description="Print the SQL statements that run the model: the session's tables, one forward "
                                     "step (embeddings, every layer, final norm) and the logits query. With --keep, run "
                                     "one step over PROMPT and keep its tables (residual streams, KV cache, attention "
                                     f"weights) in the schema {INSPECT_SCHEMA} of the database, to query afterwards.")
    sql.add_argument("--keep", metavar="PROMPT", type=_text_argument, default=None,
                     help="run one forward step over PROMPT and keep every intermediate table")
    _common(sql)

    sco = sub.add_parser("score", help="loss and perplexity of a text file",
                         description="How well the model predicts FILE: mean loss in nats per token, and perplexity.")
    sco.add_argument("file", help="UTF-8 text file ('-' reads stdin)")
    _common(sco)
    return parser


def _version() -> str:
    from . import __version__

    return __version__


def _load(args: argparse.Namespace, **options: object) -> GPT:
    if args.engine != "numpy":
        options["database"] = args.database
    elif args.database is not None:
        raise SqlgptError("--database is for SQL engines; the numpy engine keeps nothing")
    return load(args.model, engine=args.engine, **options)


def cmd_next(args: argparse.Namespace) -> None:
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


def cmd_tokenize(args: argparse.Namespace) -> None:
    tokenizer: Tokenizer = open_checkpoint(args.model).tokenizer
    ids = tokenizer.encode(args.text)
    print(f"{len(ids)} tokens")
    print(f"{'id':>7}  piece")
    for token in ids:
        piece = tokenizer.token_bytes(token).decode("utf-8", errors="backslashreplace")
        print(f"{token:>7}  {json.dumps(piece, ensure_ascii=False)}")


def cmd_score(args: argparse.Namespace) -> None:
    if args.file == "-":
        text = sys.stdin.read()
    else:
        path = Path(args.file)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SqlgptError(f"no such file: {args.file}") from None
        except UnicodeDecodeError as e:
            raise SqlgptError(f"{args.file} is not UTF-8 text ({e.reason} at byte {e.start})") from None
        except OSError as e:
            raise SqlgptError(f"cannot read {args.file}: {e.strerror}") from None
    with _load(args) as gpt:
        result = gpt.score(text, progress=sys.stderr.isatty())
    print(f"tokens      {result.n_tokens}")
    print(f"loss        {result.loss:.4f} nats/token")
    print(f"perplexity  {result.perplexity:.3f}")


def cmd_choose(args: argparse.Namespace) -> None:
    with _load(args) as gpt:
        choice = gpt.choose(args.question, args.options)
    width = max(12, *(len(json.dumps(o, ensure_ascii=False)) for o in args.options))
    print(f"  {'option':<{width}}  log-probability")
    for i, (option, logprob) in enumerate(zip(args.options, choice.logprobs)):
        mark = "*" if i == choice.index else " "
        print(f"{mark} {json.dumps(option, ensure_ascii=False):<{width}}  {logprob:15.4f}")


def cmd_sql(args: argparse.Namespace) -> None:
    if args.engine == "numpy":
        raise SqlgptError("the numpy engine runs no SQL; choose a SQL engine with --engine")
    with _load(args, inspect=args.keep is not None) as gpt:
        engine = gpt.engine
        compiler = engine.compiler
        print(f"-- sqlgpt: {gpt.name} ({gpt.config.n_params / 1e6:.1f}M parameters) on {engine.name}; "
              f"weights in schema {engine.schema}")
        print("-- $1 is the step's first new position; the token ids arrive as bound parameters.\n")
        sections = [("session tables (once per generation)", compiler.session_tables()),
                    ("each step: the new tokens", [compiler.load_tokens()]),
                    ("each step: the forward pass", engine.step),
                    ("each step: the logits", [compiler.logits(last_only=True)])]
        for title, statements in sections:
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


COMMANDS = {"next": cmd_next, "generate": cmd_generate, "tokenize": cmd_tokenize, "score": cmd_score, "sql": cmd_sql, "choose": cmd_choose}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
