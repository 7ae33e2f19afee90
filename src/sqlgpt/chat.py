"""Chat: a conversation rendered with the model's own chat template, its replies streamed.

An instruct model is trained on conversations written in one format, its chat template: a
Jinja program in tokenizer_config.json that turns the messages into the text the model
reads. `render` runs it as transformers' `apply_chat_template` does (the same sandboxed
Jinja environment, filters and globals), so the model sees exactly the string it saw in
training. A `Conversation` keeps the messages and one engine session: each turn renders the
whole conversation, and where the new ids extend the ids the session has read (the usual
case: the reply's tokens are what the template writes back), only the new ones are read —
the KV cache carries the rest. Otherwise the session starts over.

What it does not do: tools, documents or multimodal content, and `{% generation %}` masks
(the block is rendered as plain text, as transformers does outside training).
"""

from __future__ import annotations

import codecs
import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from .config import GPTConfig
from .engines.base import Engine, Session
from .errors import SqlgptError
from .sampling import SamplingParams, random_generator, sample
from .tokenizer import Tokenizer

ROLES = ("system", "user", "assistant")


class Model(Protocol):
    """What a conversation uses of a model: `GPT` is one (named here, not imported, since
    gpt.py imports this module)."""

    name: str
    engine: Engine
    config: GPTConfig
    tokenizer: Tokenizer

    def _read_prompt(self, session: Session, ids: list[int]) -> np.ndarray: ...


@functools.lru_cache(maxsize=8)
def _compile(template: str) -> Any:
    import jinja2
    from jinja2.ext import Extension, loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(Extension):
        """`{% generation %}...{% endgeneration %}`: the body, as it is (transformers marks it for training masks)."""

        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

        def _body(self, caller: Any) -> str:
            return caller()

    def raise_exception(message: str) -> None:
        raise SqlgptError(f"the chat template refused the conversation: {message}")

    def tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
               sort_keys: bool = False) -> str:
        # As transformers: Jinja's own tojson escapes HTML characters, which templates do not expect.
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[Generation, loopcontrols])
    environment.filters["tojson"] = tojson
    environment.globals["raise_exception"] = raise_exception
    environment.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        return environment.from_string(template)
    except jinja2.TemplateError as e:
        raise SqlgptError(f"the model's chat template does not compile: {e}") from None


def render(template: str, messages: Sequence[Mapping[str, str]], *, add_generation_prompt: bool = True,
           special_tokens: Mapping[str, str] | None = None) -> str:
    """The text the model reads for `messages`, as transformers' apply_chat_template(...,
    tokenize=False) renders it; `special_tokens` are the template's bos_token, eos_token, ..."""
    import jinja2

    checked = [_message(m) for m in messages]
    try:
        return _compile(template).render(messages=checked, tools=None, documents=None,
                                         add_generation_prompt=add_generation_prompt, **dict(special_tokens or {}))
    except jinja2.TemplateError as e:
        raise SqlgptError(f"the model's chat template failed: {e}") from None


def _message(message: Mapping[str, str]) -> dict[str, str]:
    if not (isinstance(message, Mapping) and message.get("role") in ROLES and isinstance(message.get("content"), str)):
        raise SqlgptError(f"a chat message is a {{'role': one of {', '.join(ROLES)}, 'content': text}}, got {message!r}")
    return {"role": message["role"], "content": message["content"]}


def template_ids(tokenizer: Tokenizer, messages: Sequence[Mapping[str, str]]) -> list[int]:
    """The ids of `messages` rendered with the tokenizer's chat template and the generation
    prompt (the model's turn next)."""
    t = tokenizer
    specials = {name: t.decode([i]) for name, i in (("bos_token", t.bos_id), ("eos_token", (t.eos_ids or (None,))[0]))
                if i is not None}
    text = render(t.chat_template, messages, add_generation_prompt=True, special_tokens=specials)
    return t.encode(text, allowed_special="all")  # the template writes the special tokens as text


class Conversation:
    """Messages and one engine session whose KV cache holds what the model has read of them.
    Use as a context manager (or call `close`) to end the session."""

    def __init__(self, gpt: Model, system: str | None = None) -> None:
        template = gpt.tokenizer.chat_template
        if template is None:
            raise SqlgptError(f"{gpt.name} has no chat template (tokenizer_config.json): it is not a chat model; "
                              "use generate")
        self.gpt, self.template = gpt, template
        self.messages: list[dict[str, str]] = [] if system is None else [{"role": "system", "content": system}]
        self.session = gpt.engine.session()
        self.fed: list[int] = []  # the ids the session has read, in order
        self.reused = 0  # ids of the latest turn the KV cache already held

    def prompt_ids(self) -> list[int]:
        """The ids of the conversation so far, rendered with the generation prompt."""
        return template_ids(self.gpt.tokenizer, self.messages)

    def send(self, content: str, *, max_new_tokens: int = 256, temperature: float = 0.7, top_k: int | None = None,
             top_p: float | None = None, seed: int | None = None) -> Iterator[str]:
        """Add a user message and stream the reply, piece by piece (whole characters); the
        reply joins the messages when it ends (at an end token or after max_new_tokens)."""
        self.messages.append(_message({"role": "user", "content": content}))
        ids = self.prompt_ids()
        room = self.gpt.config.block_size - len(ids)
        if room <= 0:
            self.messages.pop()
            raise SqlgptError(f"the conversation has outgrown the model's context window ({len(ids)} tokens of "
                              f"{self.gpt.config.block_size}): start a new one")
        params, rng = SamplingParams(temperature, top_k, top_p), random_generator(seed)
        logits = self._read(ids)  # [V]
        ends, vocab, limit = set(self.gpt.tokenizer.eos_ids), self.gpt.tokenizer.vocab_size, min(max_new_tokens, room)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        reply: list[str] = []
        try:
            for i in range(limit):
                token = sample(logits[:vocab], params, rng)
                if token in ends:  # not read now: the next turn's ids bring it, as the template writes it
                    break
                if piece := decoder.decode(self.gpt.tokenizer.token_bytes(token)):
                    reply.append(piece)
                    yield piece
                if i + 1 < limit:
                    logits = self.session.forward([token])[-1]  # [V]
                    self.fed.append(token)
            if tail := decoder.decode(b"", final=True):
                reply.append(tail)
                yield tail
        finally:
            self.messages.append({"role": "assistant", "content": "".join(reply)})

    def _read(self, ids: list[int]) -> np.ndarray:
        """Bring the session to `ids` and return the last position's logits: only the ids
        after what it has read, when `ids` extends that; else everything, from a fresh start."""
        n = len(self.fed)
        if n and len(ids) > n and ids[:n] == self.fed:
            self.reused = n
            new = ids[n:]
        else:
            self.reused = 0
            self.session.reset()
            new = ids
        self.fed = list(ids)
        return self.gpt._read_prompt(self.session, new)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Conversation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
