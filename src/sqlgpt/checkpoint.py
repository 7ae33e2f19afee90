"""Checkpoint files -> (GPTConfig, float32 arrays under one canonical naming).

The only module that reads checkpoint files. A checkpoint is a Hugging Face GPT-2 directory:
`config.json`, `model.safetensors` or `pytorch_model.bin`, and the tokenizer's `vocab.json` +
`merges.txt`. Reading is lazy: the config and tokenizer are cheap, the weights are read only
when `params()` is called, so an engine that already has the model installed never pays for
them. Resolving a model *name* to a directory is `models.py`'s job, not this module's.

Canonical names are transformers' GPT-2 names without the `transformer.` prefix, with
weights in transformers' Conv1D layout (in_features, out_features):

    wte.weight (V, C)   wpe.weight (T, C)   ln_f.weight/bias (C,)
    h.{i}.ln_1.weight/bias (C,)           h.{i}.ln_2.weight/bias (C,)
    h.{i}.attn.c_attn.weight (C, 3C)      h.{i}.attn.c_attn.bias (3C,)
    h.{i}.attn.c_proj.weight (C, C)       h.{i}.attn.c_proj.bias (C,)
    h.{i}.mlp.c_fc.weight (C, 4C)         h.{i}.mlp.c_fc.bias (4C,)
    h.{i}.mlp.c_proj.weight (4C, C)       h.{i}.mlp.c_proj.bias (C,)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np

from . import _torch_pickle
from .config import GPTConfig
from .errors import SqlgptError, first_line
from .tokenizer import Tokenizer

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias")  # causal-mask buffers, not weights


def expected_shapes(config: GPTConfig) -> dict[str, tuple[int, ...]]:
    """Every canonical parameter name with its shape."""
    C, V, T = config.n_embd, config.vocab_size, config.block_size
    shapes: dict[str, tuple[int, ...]] = {"wte.weight": (V, C), "wpe.weight": (T, C)}
    for i in range(config.n_layer):
        p = f"h.{i}."
        shapes |= {
            p + "ln_1.weight": (C,), p + "ln_1.bias": (C,),
            p + "attn.c_attn.weight": (C, 3 * C), p + "attn.c_attn.bias": (3 * C,),
            p + "attn.c_proj.weight": (C, C), p + "attn.c_proj.bias": (C,),
            p + "ln_2.weight": (C,), p + "ln_2.bias": (C,),
            p + "mlp.c_fc.weight": (C, 4 * C), p + "mlp.c_fc.bias": (4 * C,),
            p + "mlp.c_proj.weight": (4 * C, C), p + "mlp.c_proj.bias": (C,),
        }  # fmt: skip
    shapes |= {"ln_f.weight": (C,), "ln_f.bias": (C,)}
    return shapes


class Checkpoint:
    """A GPT-2 checkpoint directory, read lazily."""

    def __init__(self, directory: str | Path, name: str | None = None) -> None:
        self.directory = Path(directory)
        self.name = name or self.directory.name
        if not self.directory.is_dir():
            raise SqlgptError(f"model directory {str(self.directory)!r} does not exist")
        self.config = _read_config(self.directory / "config.json")
        self.weights_file = self._find_weights()
        self._tokenizer: Tokenizer | None = None

    def _find_weights(self) -> Path:
        for filename in WEIGHT_FILES:
            if (self.directory / filename).is_file():
                return self.directory / filename
        if any(self.directory.glob("*.index.json")):
            raise SqlgptError(f"{self.directory}: sharded checkpoints are not supported; save with a larger max_shard_size")
        raise SqlgptError(f"{self.directory} has no model.safetensors or pytorch_model.bin")

    @property
    def tokenizer(self) -> Tokenizer:
        """The model's BPE tokenizer, from vocab.json + merges.txt beside the weights."""
        if self._tokenizer is None:
            self._tokenizer = Tokenizer.from_directory(self.directory)
            if self._tokenizer.vocab_size > self.config.vocab_size:
                raise SqlgptError(
                    f"{self.directory}: tokenizer has {self._tokenizer.vocab_size} tokens but the model "
                    f"only {self.config.vocab_size}"
                )
        return self._tokenizer

    def source_key(self) -> str:
        """A cheap identity of the files (path, size, mtime): whether an installed copy is current."""
        parts = []
        for path in (self.directory / "config.json", self.weights_file):
            stat = path.stat()
            parts.append(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
        return "|".join(parts)

    def fingerprint(self) -> str:
        """SHA-256 over config.json and the weights file: identifies what was installed."""
        digest = hashlib.sha256()
        for path in (self.directory / "config.json", self.weights_file):
            digest.update(path.name.encode())
            with open(path, "rb") as f:
                while chunk := f.read(1 << 22):
                    digest.update(chunk)
        return digest.hexdigest()

    def params(self) -> Mapping[str, np.ndarray]:
        """All weights as C-contiguous float32 arrays under the canonical names.

        Every name and shape is checked first; from a safetensors file each array is then
        read only when asked for, and not kept, so installing a model table by table never
        holds all of it in memory. (`dict(checkpoint.params())` reads everything.)
        """
        shapes, load = _open_tensors(self.weights_file)
        return _Tensors(shapes, load, self.config, source=str(self.weights_file))


def _read_config(path: Path) -> GPTConfig:
    if not path.is_file():
        raise SqlgptError(f"{path.parent} has no config.json (is it a Hugging Face model directory?)")
    try:
        hf = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SqlgptError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(hf, dict):
        raise SqlgptError(f"{path} is not a JSON object")
    return GPTConfig.from_hf(hf)


def _open_tensors(path: Path) -> tuple[dict[str, tuple[int, ...]], Callable[[str], np.ndarray]]:
    """The file's tensor shapes by key, and a function reading one tensor."""
    if path.name.endswith(".safetensors"):
        from safetensors import SafetensorError, safe_open

        def fail(e: Exception) -> SqlgptError:
            return SqlgptError(f"{path} is not a readable safetensors file ({first_line(e)})")

        try:
            with safe_open(str(path), framework="numpy") as f:
                shapes = {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}
        except (SafetensorError, OSError, ValueError, TypeError) as e:
            raise fail(e) from None

        def load(key: str) -> np.ndarray:
            try:
                with safe_open(str(path), framework="numpy") as f:
                    return f.get_tensor(key)
            except (SafetensorError, OSError, ValueError, TypeError) as e:
                raise fail(e) from None

        return shapes, load
    try:
        tensors = _torch_pickle.load_state_dict(str(path))  # a pickle can only be read whole
    except Exception as e:  # a corrupt pickle can fail in many ways; all mean the same to a user
        raise SqlgptError(f"{path} is not a readable PyTorch checkpoint ({first_line(e)})") from None
    return {key: tuple(value.shape) for key, value in tensors.items()}, tensors.__getitem__


class _Tensors(Mapping[str, np.ndarray]):
    """Canonical name -> float32 array, checked up front, read from the file on access."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], load: Callable[[str], np.ndarray],
                 config: GPTConfig, source: str) -> None:
        self._load = load
        self._keys: dict[str, str] = {}  # canonical name -> key in the file
        lm_head = None
        for key in shapes:
            name = key.removeprefix("transformer.")
            if name.endswith(_IGNORED_SUFFIXES):
                continue
            if name == "lm_head.weight":
                lm_head = key
                continue
            self._keys[name] = key
        expected = expected_shapes(config)
        unexpected = sorted(set(self._keys) - set(expected))
        if unexpected:
            raise SqlgptError(f"{source}: unexpected tensor {unexpected[0]!r} (not a GPT-2 checkpoint?)")
        for name, shape in expected.items():
            if name not in self._keys:
                raise SqlgptError(f"{source}: missing tensor {name!r}")
            if shapes[self._keys[name]] != shape:
                raise SqlgptError(f"{source}: tensor {name!r} has shape {shapes[self._keys[name]]}, "
                                  f"config.json implies {shape}")
        if lm_head is not None and not np.array_equal(np.asarray(load(lm_head), np.float32), self["wte.weight"]):
            raise SqlgptError(f"{source}: lm_head.weight differs from wte.weight; only tied embeddings are supported")

    def __getitem__(self, name: str) -> np.ndarray:
        return np.ascontiguousarray(self._load(self._keys[name]), dtype=np.float32)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)
