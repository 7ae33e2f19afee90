"""The facade users hold: text in, text or probabilities out.

`GPT` ties a tokenizer to an engine and does what every engine shares: validating input,
conditioning an empty prompt on <|endoftext|>, sampling (in Python, seeded, so all engines
give the same text), streaming whole characters, stop strings, and scoring text by its
log-probability. Engines only ever see token ids.
"""

from __future__ import annotations

import codecs
import dataclasses
import math
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np

from .batch import TableScore, next_table, score_table
from .chat import Conversation
from .config import GPTConfig
from .engines.base import Engine, Session
from .errors import SqlgptError
from .evaluate import DEFAULT_SEED, Evaluation, evaluate
from .explain import TEMPERATURES, Explanation
from .progress import progress_bar
from .retrieval import Answer, IndexReport, Passage, ask, index_table, retrieve
from .sampling import SamplingParams, probabilities, random_generator, sample
from .tokenizer import Tokenizer
from .windows import score_windows


@dataclasses.dataclass(frozen=True)
class Score:
    """How well the model predicts a text: mean negative log-likelihood per token, and per
    character, which unlike per token compares models with different tokenizers."""

    loss: float  # nats per token
    perplexity: float  # exp(loss)
    n_tokens: int  # tokens predicted
    n_chars: int = 0  # characters of the scored text

    @property
    def total_nats(self) -> float:
        """Negative log-likelihood of the whole text."""
        return self.loss * self.n_tokens

    @property
    def nats_per_char(self) -> float:
        """Total nats / characters of the text (NaN if the character count is unknown)."""
        return self.total_nats / self.n_chars if self.n_chars else math.nan


@dataclasses.dataclass(frozen=True)
class Choice:
    """The answer to a multiple-choice question: which option, and every option's score."""

    index: int  # of the most probable option
    option: str
    logprobs: list[float]  # total log-probability (nats) of each option's tokens


class GPT:
    """A GPT-2 model on an engine. Make one with `sqlgpt.load`."""

    def __init__(self, engine: Engine, tokenizer: Tokenizer, name: str = "model", progress: bool | None = None) -> None:
        self.engine = engine
        self.tokenizer = tokenizer
        self.name = name
        # Progress bars (on stderr) for prompts an engine reads slowly; default: when a terminal.
        self.progress = sys.stderr.isatty() if progress is None else progress

    @property
    def config(self) -> GPTConfig:
        return self.engine.config

    def __repr__(self) -> str:
        return f"GPT({self.name!r}, engine={self.engine.name!r}, {self.config.n_params / 1e6:.1f}M parameters)"

    # -- logits and probabilities ------------------------------------------------------------

    def logits(self, ids: Sequence[int]) -> np.ndarray:
        """Logits for every position: float32 array of shape (len(ids), vocab_size)."""
        ids = list(ids)
        if not ids:
            raise SqlgptError("logits needs at least one token id")
        with self.engine.session() as session:
            return session.forward(ids, all_logits=True)

    def encode_prompt(self, prompt: str, *, allowed_special: str | Iterable[str] = ()) -> list[int]:
        """`prompt_ids`, checked to fit the context window."""
        ids = self.prompt_ids(prompt, allowed_special=allowed_special)
        if len(ids) > self.config.block_size:
            raise SqlgptError(
                f"prompt is {len(ids)} tokens but the model's context window is {self.config.block_size} tokens"
            )
        return ids

    def prompt_ids(self, prompt: str, *, allowed_special: str | Iterable[str] = ()) -> list[int]:
        """Prompt token ids, as transformers' tokenizer gives them with its special tokens:
        after the beginning-of-text token where the tokenizer adds one (Llama 3); an empty
        prompt is the start token alone (`start_id`: GPT-2's <|endoftext|>, as its sampling
        does). Special tokens in the text count only where `allowed_special` allows them."""
        if not isinstance(prompt, str):
            raise SqlgptError(f"prompt must be a string, got {type(prompt).__name__}")
        ids = self.tokenizer.encode(prompt, allowed_special=allowed_special)
        if self.tokenizer.adds_bos and self.tokenizer.bos_id is not None:
            ids = [self.tokenizer.bos_id] + ids
        return ids or [self.start_id()]

    def next_token_probs(self, prompt: str, k: int = 10, temperature: float = 1.0) -> list[tuple[str, float]]:
        """The k most likely next tokens after `prompt`, as (decoded token, probability)."""
        if not (isinstance(k, int) and k >= 1):
            raise SqlgptError(f"k must be an integer >= 1, got {k!r}")
        params = SamplingParams(temperature=temperature)
        ids = self.encode_prompt(prompt)
        with self.engine.session() as session:
            logits = self._read_prompt(session, ids)  # [V]
        probs = probabilities(logits[: self.tokenizer.vocab_size], params.temperature)
        top = np.argsort(-probs, kind="stable")[:k]
        return [(self.tokenizer.decode([int(i)]), float(probs[i])) for i in top]

    def explain(self, prompt: str, *, top_k: int = 5, keep: bool = False) -> Explanation:
        """A look inside the model reading `prompt`: attention weights, residual stream norms,
        the logit lens, the next token at temperatures 0.5, 1 and 2, and each token's nearest
        neighbours in the embedding matrix, each with its `top_k` best candidates.

        The engine in use computes it all (SQL engines in SQL). With `keep` (SQL engines only),
        the numbers stay in the database's schema sqlgpt_inspect for querying: norms, lens,
        next_token and neighbours (see sqlgpt/engines/sql/explain.py), beside the forward
        pass's own tables tokens, x0..xL, final, cache{l}, vt{l} and attn{l}(pos, hd, kpos, p);
        `Explanation.tables` names them.
        """
        if not (isinstance(top_k, int) and top_k >= 1):
            raise SqlgptError(f"top_k must be an integer >= 1, got {top_k!r}")
        ids = self.encode_prompt(prompt)
        vocab = self.tokenizer.vocab_size
        inspection = self.engine.explain(ids, top_k=min(top_k, vocab - 1), vocab_size=vocab,
                                         temperatures=TEMPERATURES, keep=keep)
        return Explanation.build(self.tokenizer, ids, inspection, model=self.name, engine=self.engine.name, prompt=prompt)

    # -- generation --------------------------------------------------------------------------

    def stream(
        self,
        prompt: str,
        max_new_tokens: int = 50,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop: str | Iterable[str] | None = None,
    ) -> Iterator[str]:
        """Yield the continuation of `prompt` piece by piece, each piece whole characters.

        Stops after `max_new_tokens`, at an end token of the model (GPT-2's <|endoftext|>; the
        `eos_token_id`s of its generation config), or before the first `stop` string (which
        is not included).
        """
        params = SamplingParams(temperature, top_k, top_p)
        stops = _stop_strings(stop)
        ids = self.encode_prompt(prompt)
        self._check_room(len(ids), max_new_tokens)
        text = _StopFilter(stops)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        tokens = self._sample_ids(ids, max_new_tokens, params, seed)
        try:
            for token in tokens:
                piece = text.push(decoder.decode(self.tokenizer.token_bytes(token)))
                if piece:
                    yield piece
                if text.stopped:
                    return
        finally:
            tokens.close()  # ends the engine session (drops its KV cache) now, not at garbage collection
        piece = text.push(decoder.decode(b"", final=True)) + text.flush()
        if piece:
            yield piece

    def generate_ids(
        self,
        ids: Sequence[int],
        max_new_tokens: int = 50,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> list[int]:
        """Token ids sampled after the prompt `ids` (which must be non-empty); ends before an
        end token (see `stream`) or after `max_new_tokens`. Token-level twin of `generate`."""
        ids = [int(i) for i in ids]
        if not ids:
            raise SqlgptError("generate_ids needs at least one prompt token id")
        self._check_room(len(ids), max_new_tokens)
        return list(self._sample_ids(ids, max_new_tokens, SamplingParams(temperature, top_k, top_p), seed))

    def _sample_ids(self, ids: list[int], max_new_tokens: int, params: SamplingParams, seed: int | None) -> Iterator[int]:
        rng = random_generator(seed)
        ends = set(self.tokenizer.eos_ids)
        with self.engine.session() as session:
            if max_new_tokens == 0:
                return
            logits = self._read_prompt(session, ids)  # [V]
            for i in range(max_new_tokens):
                token = sample(logits[: self.tokenizer.vocab_size], params, rng)
                if token in ends:
                    return
                yield token
                if i + 1 < max_new_tokens:
                    logits = session.forward([token])[-1]  # [V]

    def _read_prompt(self, session: Session, ids: list[int]) -> np.ndarray:
        """Run the prompt through `session`; the last position's logits. Engines that read
        long prompts slowly take them in chunks, with a progress bar when enabled."""
        chunk = self.engine.prompt_chunk or len(ids)
        if len(ids) <= chunk:
            return session.forward(ids)[-1]
        bar = progress_bar(len(ids), "reading the prompt", self.progress)
        for start in range(0, len(ids), chunk):
            logits = session.forward(ids[start : start + chunk])[-1]
            bar.update(min(chunk, len(ids) - start))
        bar.close()
        return logits

    def _check_room(self, n_prompt: int, max_new_tokens: int) -> None:
        if not (isinstance(max_new_tokens, int) and max_new_tokens >= 0):
            raise SqlgptError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
        if n_prompt + max_new_tokens > self.config.block_size:
            raise SqlgptError(
                f"prompt ({n_prompt} tokens) + max_new_tokens ({max_new_tokens}) exceeds the model's "
                f"context window of {self.config.block_size} tokens"
            )

    def generate(
        self,
        prompt: str,
        max_new_tokens: int = 50,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop: str | Iterable[str] | None = None,
    ) -> str:
        """The continuation of `prompt` (without the prompt). See `stream` for the arguments."""
        return "".join(self.stream(prompt, max_new_tokens, temperature, top_k, top_p, seed, stop))

    # -- chat --------------------------------------------------------------------------------

    def conversation(self, system: str | None = None) -> Conversation:
        """A chat with an instruct model, in its own chat template, the KV cache kept across
        turns: `with gpt.conversation() as chat: for piece in chat.send("Hi!"): ...`."""
        return Conversation(self, system)

    def chat(self, messages: Sequence[Mapping[str, str]], max_new_tokens: int = 256, temperature: float = 0.7,
             top_k: int | None = None, top_p: float | None = None, seed: int | None = None) -> str:
        """The assistant's reply to `messages` ({"role": "system"/"user"/"assistant",
        "content": text}, the last one the user's), rendered with the model's chat template
        as transformers renders it, ending at the model's end-of-turn token."""
        messages = list(messages)
        if not messages or not isinstance(messages[-1], Mapping) or messages[-1].get("role") != "user":
            raise SqlgptError("chat needs messages ending with the user's")
        with Conversation(self) as conversation:
            conversation.messages = [dict(m) for m in messages[:-1]]
            return "".join(conversation.send(messages[-1]["content"], max_new_tokens=max_new_tokens,
                                             temperature=temperature, top_k=top_k, top_p=top_p, seed=seed))

    # -- scoring -----------------------------------------------------------------------------

    def score(self, text: str, progress: bool = False) -> Score:
        """Mean loss (nats/token) and perplexity of `text`, conditioned on <|endoftext|>.

        Texts longer than the context window are scored in overlapping windows (stride of
        half a window), each token predicted once with as much context as fits, as in
        transformers' perplexity guide.
        """
        with self.engine.session() as session:
            return self.score_on(session, text, progress)

    def score_on(self, session: Session, text: str, progress: bool = False) -> Score:
        """`score`, on a session the caller holds (reset before each window), so that many
        texts can be scored without setting up a session for each."""
        ids = self.score_ids(text)
        total = 0.0
        bar = progress_bar(len(ids) - 1, "scoring", progress)
        for chunk, first_new in score_windows(ids, self.config.block_size):
            session.reset()
            total += session.forward_nll(chunk, first_new)
            bar.update(len(chunk) - first_new)
        bar.close()
        return self.score_of(text, len(ids) - 1, total)

    def score_ids(self, text: str) -> list[int]:
        """The ids `score` reads: the start token (`start_id`, context only), then the text's tokens."""
        if not isinstance(text, str) or not text:
            raise SqlgptError("nothing to score: the text is empty")
        return [self.start_id()] + self.tokenizer.encode(text)

    @staticmethod
    def score_of(text: str, n_tokens: int, nll: float) -> Score:
        """The `Score` of `text`, whose `n_tokens` predicted tokens cost `nll` nats in all."""
        loss = nll / n_tokens
        return Score(loss=float(loss), perplexity=float(math.exp(loss)), n_tokens=n_tokens, n_chars=len(text))

    def score_table(self, table: str, column: str, *, key: str | None = None, into: str = "sqlgpt_scores",
                    replace: bool = False, progress: bool | None = None) -> TableScore:
        """Score the text in `column` of every row of `table`, inside the engine's database,
        into a new table `into` there: (key, tokens, loss, perplexity), one row per row.

        Each row's loss is what `score` gives for its text. `key` names a column identifying
        rows (default: the text column itself). An existing `into` is an error unless
        `replace`. Needs a SQL engine; the table must be in the database it was loaded with.
        """
        return score_table(self, table, column, key=key, into=into, replace=replace,
                           progress=self.progress if progress is None else progress)

    def next_table(self, table: str, column: str, *, k: int = 5, key: str | None = None, into: str = "sqlgpt_next",
                   replace: bool = False, progress: bool | None = None) -> str:
        """The `k` most likely next tokens after the text in `column` of every row of
        `table`, computed inside the engine's database, into a new table `into` there:
        (key, rank, token, piece, probability), k rows per row (none for NULL text). A text
        longer than the context window is read from its last window; an empty one means
        <|endoftext|>. Returns the result table's name. See `score_table` for the rest.
        """
        return next_table(self, table, column, k=k, key=key, into=into, replace=replace,
                          progress=self.progress if progress is None else progress)

    # -- retrieval ---------------------------------------------------------------------------

    def index(self, table: str, column: str, *, key: str | None = None, progress: bool | None = None) -> IndexReport:
        """Build, or bring up to date, a BM25 index of the text in `column` of `table` as
        tables in the engine's database (only rows added, changed or deleted since are
        touched, in one transaction). `key` identifies rows (default: the column itself)."""
        return index_table(self.engine, table, column, key, self.progress if progress is None else progress)

    def retrieve(self, question: str, table: str, column: str, k: int = 3, *, key: str | None = None,
                 k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25) -> list[Passage]:
        """The `k` rows of `table` that best match `question` by Okapi BM25, computed in SQL
        from the index `index` built: (key, score, text), best first."""
        return retrieve(self.engine, question, table, column, k, key, k1=k1, b=b, epsilon=epsilon)

    def ask(self, question: str, table: str, column: str, k: int = 3, *, key: str | None = None,
            max_new_tokens: int = 64, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
            seed: int | None = None, k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25) -> Answer:
        """The model's answer to `question` from the `k` rows `retrieve` finds, in the
        model's chat template when it has one: iterate over it to stream the answer, or read
        `.text`; `.keys` are the rows it used, `.notes` what was cut to fit the context."""
        return ask(self, question, table, column, k, key, max_new_tokens=max_new_tokens, temperature=temperature,
                   top_k=top_k, top_p=top_p, seed=seed, k1=k1, b=b, epsilon=epsilon)

    def choose(self, question: str, options: Sequence[str]) -> Choice:
        """The option the model finds most probable after `question`, as multiple-choice
        benchmarks (KMMLU, MMLU) score a model: each option's log-probability is the sum over
        its tokens, conditioned on the question and the option's earlier tokens."""
        options = list(options)
        if not options or not all(isinstance(o, str) and o for o in options):
            raise SqlgptError("choose needs at least one option, each a non-empty string")
        context = self.encode_prompt(question)
        logprobs = []
        for option in options:
            continuation = self.tokenizer.encode(option)
            ids = context + continuation
            if len(ids) > self.config.block_size:
                raise SqlgptError(f"question + option is {len(ids)} tokens; the context window is "
                                  f"{self.config.block_size}")
            logits = self.logits(ids)[len(context) - 1 : -1].astype(np.float64)  # [n_option, V]
            logits -= logits.max(-1, keepdims=True)
            logits -= np.log(np.exp(logits).sum(-1, keepdims=True))
            logprobs.append(float(logits[np.arange(len(continuation)), continuation].sum()))
        best = int(np.argmax(logprobs))
        return Choice(index=best, option=options[best], logprobs=logprobs)

    def evaluate(self, source: str, *, dev: str | None = None, shots: int = 0, seed: int = DEFAULT_SEED,
                 continuation: str = "letter", style: str = "mmlu", split: str | None = None, limit: int | None = None,
                 key: str | None = None, into: str = "sqlgpt_eval", replace: bool = False,
                 progress: bool | None = None) -> Evaluation:
        """The model's accuracy on the multiple-choice items of `source` — a CSV, JSONL or
        Parquet file, or a table of the engine's database — scored as lm-evaluation-harness
        scores them (see `sqlgpt.evaluate`): `acc`, `acc_norm` and their standard errors,
        overall and per category, and every item's log-likelihoods.

        `continuation`: "letter" (the options listed, " A"-style answers) or "text" (each
        option's text after "Answer:"). `style`: "mmlu", "kmmlu" or "plain" wording. `shots` solved
        examples from `dev` (a file, a table, or a value of the items' `split` column), the
        same for every item of a category, in an order fixed by `seed`. `split`: only the
        items of that split; `limit`: only the first n. Items from a table also go, one row
        each, into the new table `into` there (key, category, gold, pred, pred_norm, acc,
        acc_norm, loglikelihoods), `key` naming the column that identifies rows (default: the
        question); an existing `into` is an error unless `replace`.
        """
        return evaluate(self, source, dev=dev, shots=shots, seed=seed, continuation=continuation, style=style,
                        split=split, limit=limit, key=key, into=into, replace=replace,
                        progress=self.progress if progress is None else progress)

    # -- lifecycle ---------------------------------------------------------------------------

    def session(self) -> Session:
        """A raw engine session (KV cache) for callers who drive token ids themselves."""
        return self.engine.session()

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> "GPT":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start_id(self) -> int:
        """The token a text is read after when nothing precedes it: an empty prompt, and what
        `score` conditions on. The beginning-of-text token where the tokenizer adds one
        (Llama 3's <|begin_of_text|>), else <|endoftext|> (GPT-2, Qwen2), else the
        tokenizer's bos; a one-line error if it has none of them."""
        t = self.tokenizer
        for candidate in (t.bos_id if t.adds_bos else None, t.eot_id, t.bos_id):
            if candidate is not None:
                return candidate
        raise SqlgptError("this tokenizer has no <|endoftext|> or beginning-of-text token to condition on; "
                          "give a non-empty text")


def _stop_strings(stop: str | Iterable[str] | None) -> list[str]:
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else list(stop)
    if not all(isinstance(s, str) and s for s in stops):
        raise SqlgptError("stop strings must be non-empty strings")
    return stops


class _StopFilter:
    """Holds back text that might be the start of a stop string; cuts at the first stop."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = stops
        self.held = ""
        self.stopped = False

    def push(self, text: str) -> str:
        if self.stopped:
            return ""
        self.held += text
        if not self.stops:
            out, self.held = self.held, ""
            return out
        cut = min((i for i in (self.held.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            out, self.held = self.held[:cut], ""
            return out
        keep = max((k for s in self.stops for k in range(1, len(s)) if self.held.endswith(s[:k])), default=0)
        out, self.held = self.held[: len(self.held) - keep], self.held[len(self.held) - keep :]
        return out

    def flush(self) -> str:
        out, self.held = ("" if self.stopped else self.held), ""
        return out

