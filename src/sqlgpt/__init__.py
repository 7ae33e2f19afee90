"""sqlgpt: a GPT whose whole forward pass runs as SQL inside real databases.

    >>> import sqlgpt
    >>> gpt = sqlgpt.load()                             # the bundled "shakespeare" model
    >>> gpt = sqlgpt.load("gpt2")                       # a hub id or a local directory
    >>> gpt.next_token_probs("The capital of France is", k=5)
    >>> gpt.generate("Once upon a time", max_new_tokens=20, seed=0)
"""

from __future__ import annotations

import os
from typing import Any

from .config import GPTConfig
from .engines import DEFAULT_ENGINE, ENGINES, create_engine
from .errors import SqlgptError
from .gpt import GPT, Choice, Score
from .models import DEFAULT_MODEL, open_checkpoint
from .tokenizer import Tokenizer

__version__ = "0.1.0"


def load(model: str | os.PathLike[str] = DEFAULT_MODEL, engine: str = DEFAULT_ENGINE, **engine_options: Any) -> GPT:
    """Load a GPT-2 model onto an engine.

    model: "shakespeare" (the default, bundled in the package: no files, no network), a
        directory holding a Hugging Face GPT-2 checkpoint (config.json, model.safetensors or
        pytorch_model.bin, vocab.json, merges.txt), or a hub model id such as "gpt2",
        resolved through the Hugging Face cache.
    engine: one of `sqlgpt.ENGINES`.
    engine_options: passed to the engine (for SQL engines: which database to use).
    """
    checkpoint = open_checkpoint(model)
    tokenizer = checkpoint.tokenizer
    return GPT(create_engine(engine, checkpoint, **engine_options), tokenizer, name=checkpoint.name)


__all__ = ["ENGINES", "GPT", "Choice", "GPTConfig", "Score", "SqlgptError", "Tokenizer", "load", "__version__"]
