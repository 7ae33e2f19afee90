"""Checkpoint files -> (GPTConfig, float32 arrays under one canonical naming).

The only module that reads checkpoint files. A checkpoint is a Hugging Face model directory:
`config.json` (GPT-2, Llama or Qwen2: `config.py`), the weights in `model.safetensors`, in
shards listed by `model.safetensors.index.json`, or in `pytorch_model.bin`, and the
tokenizer's files. Reading is lazy: the config and tokenizer are cheap, the weights are read
only when `params()` is called, and then each array only when asked for, so an engine that
already has the model installed never pays for them. Half-precision weights (float16,
bfloat16) are widened to float32. Resolving a model *name* to a directory is `models.py`'s
job, not this module's.

Canonical names are transformers' GPT-2 names without the `transformer.` prefix, with
weights in transformers' Conv1D layout (in_features, out_features), for every family, so
that the engines know one naming. With Q = n_head · D and KV = n_kv_head · D (GPT-2: C each)
and I = n_inner (GPT-2: 4C):

    wte.weight (V, C)   wpe.weight (T, C) (learned positions only)   ln_f.weight/bias (C,)
    h.{i}.ln_1.weight/bias (C,)                 h.{i}.ln_2.weight/bias (C,)
    h.{i}.attn.c_attn.weight (C, Q + 2KV)       h.{i}.attn.c_attn.bias (Q + 2KV,)
    h.{i}.attn.c_proj.weight (Q, C)             h.{i}.attn.c_proj.bias (C,)
    h.{i}.mlp.c_fc.weight (C, I), or (C, 2I)    h.{i}.mlp.c_fc.bias (I,), or (2I,)
    h.{i}.mlp.c_proj.weight (I, C)              h.{i}.mlp.c_proj.bias (C,)
    lm_head.weight (V, C) (untied unembedding only)

A Llama / Qwen2 checkpoint (`model.` prefix dropped) maps into it: wte = embed_tokens;
ln_1 = input_layernorm, ln_2 = post_attention_layernorm, ln_f = norm, each with a bias of
zeros (RMSNorm has none; adding zeros is exact and keeps the engines uniform); c_attn =
[q_proj; k_proj; v_proj] transposed side by side, c_proj = o_proj transposed; c_fc =
[gate_proj; up_proj] transposed side by side (the gate's I units first), mlp.c_proj =
down_proj transposed; a bias a model lacks is zeros. A canonical tensor made of several is
read, from its parts, when it is asked for.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np

from . import _torch_pickle
from .config import GPTConfig
from .errors import SqlgptError, first_line
from .tokenizer import Tokenizer

SAFETENSORS_INDEX = "model.safetensors.index.json"
WEIGHT_FILES = ("model.safetensors", SAFETENSORS_INDEX, "pytorch_model.bin")  # the first one present is read
_IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias", "rotary_emb.inv_freq")  # buffers, not weights


def expected_shapes(config: GPTConfig) -> dict[str, tuple[int, ...]]:
    """Every canonical parameter name with its shape."""
    C, V, T, I = config.n_embd, config.vocab_size, config.block_size, config.n_inner
    family = config.family
    qkv = (config.n_head + 2 * config.n_kv_head) * config.head_size  # q, k and v units
    fc = 2 * I if family.gated_mlp else I  # a gated MLP's first matrix holds the gate and the up projection
    shapes: dict[str, tuple[int, ...]] = {"wte.weight": (V, C)}
    if family.positions == "learned":
        shapes["wpe.weight"] = (T, C)
    for i in range(config.n_layer):
        p = f"h.{i}."
        shapes |= {
            p + "ln_1.weight": (C,), p + "ln_1.bias": (C,),
            p + "attn.c_attn.weight": (C, qkv), p + "attn.c_attn.bias": (qkv,),
            p + "attn.c_proj.weight": (C, C), p + "attn.c_proj.bias": (C,),
            p + "ln_2.weight": (C,), p + "ln_2.bias": (C,),
            p + "mlp.c_fc.weight": (C, fc), p + "mlp.c_fc.bias": (fc,),
            p + "mlp.c_proj.weight": (I, C), p + "mlp.c_proj.bias": (C,),
        }  # fmt: skip
    shapes |= {"ln_f.weight": (C,), "ln_f.bias": (C,)}
    if not family.tied_unembedding:
        shapes["lm_head.weight"] = (V, C)
    return shapes


class Checkpoint:
    """A checkpoint directory, read lazily."""

    def __init__(self, directory: str | Path, name: str | None = None) -> None:
        self.directory = Path(directory)
        self.name = name or self.directory.name
        if not self.directory.is_dir():
            raise SqlgptError(f"model directory {str(self.directory)!r} does not exist")
        self.config = _read_config(self.directory / "config.json")
        self.weight_files = self._find_weights()
        self._tokenizer: Tokenizer | None = None

    def _find_weights(self) -> list[Path]:
        """The weights file, or a shard index followed by the shards it names."""
        for filename in WEIGHT_FILES:
            path = self.directory / filename
            if path.is_file():
                return [path, *_shards(path)] if filename == SAFETENSORS_INDEX else [path]
        if any(self.directory.glob("*.index.json")):
            raise SqlgptError(f"{self.directory}: sharded PyTorch checkpoints are not supported; "
                              f"save with safe_serialization or a larger max_shard_size")
        raise SqlgptError(f"{self.directory} has no model.safetensors, {SAFETENSORS_INDEX} or pytorch_model.bin")

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
        for path in (self.directory / "config.json", *self.weight_files):
            stat = path.stat()
            parts.append(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
        return "|".join(parts)

    def fingerprint(self) -> str:
        """SHA-256 over config.json and every weights file: identifies what was installed."""
        digest = hashlib.sha256()
        for path in (self.directory / "config.json", *self.weight_files):
            digest.update(path.name.encode())
            with open(path, "rb") as f:
                while chunk := f.read(1 << 22):
                    digest.update(chunk)
        return digest.hexdigest()

    def params(self) -> Mapping[str, np.ndarray]:
        """All weights as C-contiguous float32 arrays under the canonical names.

        Every name and shape is checked first; each array is then read only when asked for,
        and not kept (from a pickle, which can only be read whole, the file is read first),
        so installing a model table by table never holds all of it in memory.
        (`dict(checkpoint.params())` reads everything.)
        """
        shapes, load = _open_tensors(self.weight_files)
        return _Tensors(shapes, load, self.config, source=str(self.weight_files[0]))


def shard_names(index: Path) -> list[str]:
    """The shard files a safetensors index names, each once, in order."""
    weight_map = _read_json(index).get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map or not all(isinstance(v, str) for v in weight_map.values()):
        raise SqlgptError(f"{index} has no weight_map of tensor names to shard files")
    return list(dict.fromkeys(weight_map.values()))


def _shards(index: Path) -> list[Path]:
    shards = [index.parent / name for name in shard_names(index)]
    for shard in shards:
        if not shard.is_file():
            raise SqlgptError(f"{index} names the shard {shard.name}, which is missing")
    return shards


def _read_config(path: Path) -> GPTConfig:
    if not path.is_file():
        raise SqlgptError(f"{path.parent} has no config.json (is it a Hugging Face model directory?)")
    return GPTConfig.from_hf(_read_json(path))


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SqlgptError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise SqlgptError(f"{path} is not a JSON object")
    return value


def _open_tensors(files: list[Path]) -> tuple[dict[str, tuple[int, ...]], Callable[[str], np.ndarray]]:
    """The tensor shapes by key in the weights (a file, or an index and its shards), and a
    function reading one tensor."""
    if files[0].name == SAFETENSORS_INDEX:
        readers: dict[str, _Safetensors] = {}
        for shard in map(_Safetensors, files[1:]):
            for key in shard.shapes:
                if key in readers:
                    raise SqlgptError(f"{files[0]}: tensor {key!r} is in both {readers[key].path.name} and {shard.path.name}")
                readers[key] = shard
        return {key: reader.shapes[key] for key, reader in readers.items()}, lambda key: readers[key].load(key)
    path = files[0]
    if path.name.endswith(".safetensors"):
        reader = _Safetensors(path)
        return reader.shapes, reader.load
    try:
        tensors = _torch_pickle.load_state_dict(str(path))  # a pickle can only be read whole
    except Exception as e:  # a corrupt pickle can fail in many ways; all mean the same to a user
        raise SqlgptError(f"{path} is not a readable PyTorch checkpoint ({first_line(e)})") from None
    return {key: tuple(value.shape) for key, value in tensors.items()}, tensors.__getitem__


# safetensors dtypes as NumPy reads them; "BF16" has no NumPy dtype and is widened by hand.
_SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4",
                       "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


class _Safetensors:
    """One safetensors file, read without the safetensors package (whose NumPy loader cannot
    read bfloat16): an 8-byte little-endian header length, a JSON header giving each tensor's
    dtype, shape and data_offsets (begin, end) in the data that follows it, then the data.
    The header is read and checked at once; a tensor's bytes only when it is loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            size = path.stat().st_size
            with open(path, "rb") as f:
                (header_size,) = struct.unpack("<Q", f.read(8).ljust(8, b"\0"))
                if not 2 <= header_size <= size - 8:
                    raise ValueError("header length beyond the end of the file")
                header = json.loads(f.read(header_size))
        except (OSError, ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
            raise self.fail(e) from None
        if not isinstance(header, dict):
            raise self.fail("header is not a JSON object")
        header.pop("__metadata__", None)
        self.data_start = 8 + header_size
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.entries: dict[str, tuple[str, int, int]] = {}  # key -> (dtype, begin, end) in the file
        for key, entry in header.items():
            try:
                dtype, shape, (begin, end) = entry["dtype"], tuple(int(n) for n in entry["shape"]), entry["data_offsets"]
                itemsize = np.dtype(_SAFETENSORS_DTYPES[dtype]).itemsize
            except (KeyError, TypeError, ValueError):
                raise self.fail(f"tensor {key!r} has an unreadable entry {entry!r}") from None
            if end - begin != itemsize * int(np.prod(shape)) or begin < 0 or self.data_start + end > size:
                raise self.fail(f"tensor {key!r} lies outside the file (truncated?)")
            self.shapes[key] = shape
            self.entries[key] = (dtype, self.data_start + begin, self.data_start + end)

    def fail(self, why: object) -> SqlgptError:
        reason = first_line(why) if isinstance(why, Exception) else why
        return SqlgptError(f"{self.path} is not a readable safetensors file ({reason})")

    def load(self, key: str) -> np.ndarray:
        dtype, begin, end = self.entries[key]
        try:
            with open(self.path, "rb") as f:
                f.seek(begin)
                raw = f.read(end - begin)
        except OSError as e:
            raise self.fail(e) from None
        if len(raw) != end - begin:
            raise self.fail(f"tensor {key!r} lies outside the file (truncated?)")
        array = np.frombuffer(raw, dtype=_SAFETENSORS_DTYPES[dtype])
        if dtype == "BF16":  # bfloat16 is the top half of a float32
            array = (array.astype(np.uint32) << 16).view(np.float32)
        return array.reshape(self.shapes[key])


@dataclasses.dataclass(frozen=True)
class _Recipe:
    """How a canonical tensor is made from tensors of the file (by name, prefix dropped)."""

    parts: tuple[str, ...]
    make: Callable[[list[np.ndarray]], np.ndarray]


def _as_is(name: str) -> _Recipe:
    return _Recipe((name,), lambda arrays: arrays[0])


def _transposed(*names: str) -> _Recipe:
    """nn.Linear weights (out, in), side by side in Conv1D layout: (in, out₁ + out₂ + ...)."""
    return _Recipe(names, lambda arrays: np.concatenate([a.T for a in arrays], axis=1))


def _joined(*names: str) -> _Recipe:
    return _Recipe(names, lambda arrays: np.concatenate(arrays))


def _zeros(n: int) -> _Recipe:
    return _Recipe((), lambda arrays: np.zeros(n, np.float32))


def _gpt2_layout(config: GPTConfig) -> tuple[dict[str, _Recipe], dict[str, tuple[int, ...]]]:
    """GPT-2's file names are the canonical ones (the `transformer.` prefix dropped)."""
    shapes = expected_shapes(config)
    return {name: _as_is(name) for name in shapes}, shapes


def _llama_layout(config: GPTConfig) -> tuple[dict[str, _Recipe], dict[str, tuple[int, ...]]]:
    """Llama / Qwen2: each canonical tensor's recipe, and the shape of every tensor the file must hold."""
    C, V, I, D = config.n_embd, config.vocab_size, config.n_inner, config.head_size
    Q, KV = config.n_head * D, config.n_kv_head * D
    recipes = {"wte.weight": _as_is("embed_tokens.weight")}
    files: dict[str, tuple[int, ...]] = {"embed_tokens.weight": (V, C)}

    def norm(canonical: str, name: str) -> None:
        recipes[canonical + ".weight"], recipes[canonical + ".bias"] = _as_is(name), _zeros(C)
        files[name] = (C,)

    for i in range(config.n_layer):
        h, src = f"h.{i}.", f"layers.{i}."
        attn, mlp = src + "self_attn.", src + "mlp."
        norm(h + "ln_1", src + "input_layernorm.weight")
        qkv = {attn + "q_proj": Q, attn + "k_proj": KV, attn + "v_proj": KV}
        recipes[h + "attn.c_attn.weight"] = _transposed(*(name + ".weight" for name in qkv))
        files |= {name + ".weight": (units, C) for name, units in qkv.items()}
        if config.qkv_bias:
            recipes[h + "attn.c_attn.bias"] = _joined(*(name + ".bias" for name in qkv))
            files |= {name + ".bias": (units,) for name, units in qkv.items()}
        else:
            recipes[h + "attn.c_attn.bias"] = _zeros(Q + 2 * KV)
        recipes[h + "attn.c_proj.weight"] = _transposed(attn + "o_proj.weight")
        files[attn + "o_proj.weight"] = (C, Q)
        recipes[h + "attn.c_proj.bias"] = _as_is(attn + "o_proj.bias") if config.proj_bias else _zeros(C)
        if config.proj_bias:
            files[attn + "o_proj.bias"] = (C,)
        norm(h + "ln_2", src + "post_attention_layernorm.weight")
        recipes[h + "mlp.c_fc.weight"] = _transposed(mlp + "gate_proj.weight", mlp + "up_proj.weight")
        recipes[h + "mlp.c_proj.weight"] = _transposed(mlp + "down_proj.weight")
        files |= {mlp + "gate_proj.weight": (I, C), mlp + "up_proj.weight": (I, C), mlp + "down_proj.weight": (C, I)}
        if config.mlp_bias:
            recipes[h + "mlp.c_fc.bias"] = _joined(mlp + "gate_proj.bias", mlp + "up_proj.bias")
            recipes[h + "mlp.c_proj.bias"] = _as_is(mlp + "down_proj.bias")
            files |= {mlp + "gate_proj.bias": (I,), mlp + "up_proj.bias": (I,), mlp + "down_proj.bias": (C,)}
        else:
            recipes[h + "mlp.c_fc.bias"], recipes[h + "mlp.c_proj.bias"] = _zeros(2 * I), _zeros(C)
    norm("ln_f", "norm.weight")
    if not config.tie_word_embeddings:
        recipes["lm_head.weight"] = _as_is("lm_head.weight")
        files["lm_head.weight"] = (V, C)
    return {name: recipes[name] for name in expected_shapes(config)}, files


def _file_name(key: str, model_type: str) -> str:
    """A file's tensor key without the wrapper's prefix: GPT-2's `transformer.`, Llama's `model.`."""
    return key.removeprefix("transformer." if model_type == "gpt2" else "model.")


class _Tensors(Mapping[str, np.ndarray]):
    """Canonical name -> float32 array, checked up front, read from the file on access."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], load: Callable[[str], np.ndarray],
                 config: GPTConfig, source: str) -> None:
        self._load = load
        self._recipes, expected = (_gpt2_layout if config.model_type == "gpt2" else _llama_layout)(config)
        self._keys: dict[str, str] = {}  # name in the file, prefix dropped -> its key
        for key in shapes:
            name = _file_name(key, config.model_type)
            if not name.endswith(_IGNORED_SUFFIXES):
                self._keys[name] = key
        # A tied model's file may still hold the unembedding: it must then be the embedding.
        lm_head = self._keys.pop("lm_head.weight") if config.family.tied_unembedding and "lm_head.weight" in self._keys else None
        unexpected = sorted(set(self._keys) - set(expected))
        if unexpected:
            raise SqlgptError(f"{source}: unexpected tensor {unexpected[0]!r} (not a {config.model_type} checkpoint?)")
        for name, shape in expected.items():
            if name not in self._keys:
                raise SqlgptError(f"{source}: missing tensor {name!r}")
            if shapes[self._keys[name]] != shape:
                raise SqlgptError(f"{source}: tensor {name!r} has shape {shapes[self._keys[name]]}, "
                                  f"config.json implies {shape}")
        if lm_head is not None and not np.array_equal(np.asarray(load(lm_head), np.float32), self["wte.weight"]):
            raise SqlgptError(f"{source}: lm_head.weight differs from wte.weight, but config.json ties them")

    def __getitem__(self, name: str) -> np.ndarray:
        recipe = self._recipes[name]
        parts = [np.asarray(self._load(self._keys[part]), dtype=np.float32) for part in recipe.parts]
        return np.ascontiguousarray(recipe.make(parts), dtype=np.float32)

    def __iter__(self) -> Iterator[str]:
        return iter(self._recipes)

    def __len__(self) -> int:
        return len(self._recipes)
