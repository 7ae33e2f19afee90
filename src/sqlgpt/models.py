"""Resolving what the user typed as `--model` to a checkpoint directory.

A model bundled inside the package ("shakespeare", the default: a small GPT trained by
`sqlgpt train` on tinyshakespeare, its training record is training.json beside it) needs no files and no network.
A path to a directory is used as it is. Anything else is a Hugging Face hub model id
("gpt2", "openai-community/gpt2-medium"), fetched through `huggingface_hub` into its usual
cache, as transformers does: the cache is tried first, so a model downloaded once works
offline; `HF_HUB_OFFLINE=1` forbids the network altogether. This module downloads; it does
not parse files (`checkpoint.py` does).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .checkpoint import SAFETENSORS_INDEX, WEIGHT_FILES, Checkpoint, shard_names
from .errors import SqlgptError

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
BUNDLED_MODELS = ("shakespeare",)
DEFAULT_MODEL = "shakespeare"
# Beside config.json and the weights, the files a model has of these: GPT-2's tokenizer is
# vocab.json + merges.txt, Llama 3.2's only tokenizer.json, Qwen2.5's and SmolLM2's both.
_OPTIONAL_HUB_FILES = ("vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json",
                       "special_tokens_map.json", "generation_config.json")


def open_checkpoint(model: str | os.PathLike[str]) -> Checkpoint:
    """The checkpoint that `model` names: a local directory or a hub model id."""
    text = os.fspath(model)
    if not text.strip():
        raise SqlgptError("model name is empty")
    path = Path(text).expanduser()
    if path.is_dir():
        return Checkpoint(path)
    if text in BUNDLED_MODELS:
        if not (BUNDLED_DIR / text / "config.json").is_file():
            raise SqlgptError(f"the bundled model {text!r} is missing from this installation ({BUNDLED_DIR / text}); "
                              f"reinstall sqlgpt, or pass --model gpt2 or a model directory")
        return Checkpoint(BUNDLED_DIR / text, name=text)
    if path.exists() or _looks_like_path(text):
        raise SqlgptError(f"model {text!r} is not a directory (expected config.json, model.safetensors, vocab.json, merges.txt)")
    return Checkpoint(_fetch_from_hub(text), name=text)


def _looks_like_path(text: str) -> bool:
    return text.startswith((".", "~", os.sep)) or text.count("/") > 1 or "\\" in text


def _fetch_from_hub(repo_id: str) -> Path:
    try:
        from huggingface_hub import (
            _CACHED_NO_EXIST,
            hf_hub_download,
            try_to_load_from_cache,
        )
        from huggingface_hub.errors import (
            EntryNotFoundError,
            HfHubHTTPError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
        )
    except ImportError:  # pragma: no cover - a declared dependency
        raise SqlgptError("huggingface_hub is not installed; pass a local model directory instead") from None

    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}

    def fetch(filename: str) -> Path:
        try:  # the cache first: no network, no waiting
            return Path(hf_hub_download(repo_id, filename, local_files_only=True))
        except LocalEntryNotFoundError:
            if offline:
                raise
        hub_logger = logging.getLogger("huggingface_hub")
        level = hub_logger.level
        hub_logger.setLevel(logging.ERROR)  # its retry warnings would bury our one-line error
        try:
            return Path(hf_hub_download(repo_id, filename))
        finally:
            hub_logger.setLevel(level)

    def fetch_weights() -> Path:
        """The first of WEIGHT_FILES the model has (and an index's shards); its directory."""
        for filename in WEIGHT_FILES:
            try:
                path = fetch(filename)
            except EntryNotFoundError:  # not in the repository or, offline, not in the cache
                if filename == WEIGHT_FILES[-1]:
                    raise
                continue
            if filename == SAFETENSORS_INDEX:
                for shard in shard_names(path):
                    fetch(shard)
            return path.parent
        raise AssertionError("unreachable")

    try:
        fetch("config.json")
        for filename in _OPTIONAL_HUB_FILES:
            if try_to_load_from_cache(repo_id, filename) is _CACHED_NO_EXIST:
                continue  # the hub said before that the model has none: no request each time
            try:
                fetch(filename)
            except EntryNotFoundError:
                pass
        return fetch_weights()
    except RepositoryNotFoundError:
        raise SqlgptError(f"no model {repo_id!r} on the Hugging Face hub (and no local directory of that name)") from None
    except (LocalEntryNotFoundError, OSError, HfHubHTTPError) as e:
        how = "HF_HUB_OFFLINE is set" if offline else "the hub could not be reached"
        raise SqlgptError(
            f"model {repo_id!r} is not in the Hugging Face cache and {how}; download it once with network "
            f"access (or set HF_HOME to a cache that has it), or pass a local model directory"
        ) from e
