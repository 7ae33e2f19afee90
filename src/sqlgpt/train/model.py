"""Training a GPT-2 model on a text file, in PyTorch, into a Hugging Face GPT-2 directory.

What it does:
- Splits the file's text into training (the first 90% of its characters) and validation (the
  last 10%) with `split_text`, before tokenizing, so `sqlgpt score FILE --split val` scores
  exactly the text training held out.
- Gets a tokenizer: GPT-2 byte-level BPE read from a directory, or trained on the training
  split (`DEFAULT_VOCAB_SIZE` tokens unless told otherwise). Encodes each split once.
- Trains `TorchGPT`, GPT-2's architecture written out in one class: random windows of
  `context` + 1 tokens, AdamW (weight decay on matrices only), linear warm-up then cosine
  decay, gradient clipping, dropout; estimates the training and validation loss on fixed
  batches every `eval_every` steps.
- Writes the output directory as transformers' `save_pretrained` would (config.json,
  model.safetensors, vocab.json, merges.txt), so transformers and every sqlgpt engine load
  it, plus `training_state.pt` (optimizer, step, loss history) and `training.json` (what was
  run and how it went). Each file is replaced atomically, every `save_every` steps and at the
  end; Ctrl-C saves too. At the end the whole validation split is scored as `sqlgpt score
  --split val` does.
- Resumes a saved run exactly: the batches of step s come from a generator seeded by
  (seed, s) and dropout is reseeded the same way, so a run stopped and resumed has the very
  loss curve of one that never stopped (on the same device and thread count).

What it does not do: several devices, gradient accumulation, mixed precision, data larger
than memory, or datasets of many documents (the file is one stream of text).

PyTorch is imported only inside the functions that train, so importing this module (for
`split_text`, or the CLI's defaults) costs nothing and needs no torch: inference never
imports it. That is also why `TorchGPT` keeps its tensors in a dict instead of being an
`nn.Module`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import regex

from .. import __version__, load
from ..checkpoint import expected_shapes
from ..config import GPTConfig
from ..errors import SqlgptError, first_line
from ..tokenizer import GPT2_PATTERN, Tokenizer

if TYPE_CHECKING:
    import torch

DEFAULT_VOCAB_SIZE = 1024  # small data wants a small vocabulary: every token needs examples
MIN_CHARS = 1000  # below this the validation split is a sentence or two
BETAS = (0.9, 0.99)  # beta2 above GPT-2's 0.95 averages over more of the small batches
STATE_FILE = "training_state.pt"
RECORD_FILE = "training.json"
TOKENIZER_FILES = ("vocab.json", "merges.txt")
# What a run writes; --force replaces these and nothing else in the directory.
OUTPUT_FILES = ("config.json", "model.safetensors", *TOKENIZER_FILES, STATE_FILE, RECORD_FILE)
_STATE_FORMAT = 1
# Independent random streams, all derived from (seed, step, stream).
_BATCH_STREAM, _DROPOUT_STREAM, _EVAL_STREAM = 0, 1, 2


def split_text(text: str) -> tuple[str, str]:
    """(training text, validation text): the last tenth of the characters (rounded down) is
    validation. Characters, not tokens, so the split is the same whatever the tokenizer."""
    cut = len(text) - len(text) // 10
    return text[:cut], text[cut:]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """How to train, but for the data and the tokenizer. Names are `sqlgpt train`'s flags."""

    # The model's shape.
    layers: int = 4
    heads: int = 4
    embd: int = 256
    context: int = 256  # tokens per training window, and the model's context window
    # Optimisation.
    steps: int = 2000
    batch: int = 16  # windows per step
    lr: float = 1e-3  # peak learning rate, reached after `warmup` steps
    min_lr: float = 1e-4  # learning rate at the last step, after cosine decay
    warmup: int = 100
    weight_decay: float = 0.1  # on weight matrices and embeddings, not biases or gains
    dropout: float = 0.1
    grad_clip: float = 1.0  # largest gradient norm; 0 turns clipping off
    seed: int = 1337
    # Evaluation and checkpoints.
    eval_every: int = 100
    eval_batches: int = 20  # fixed batches per split for each loss estimate
    save_every: int = 500
    # Where it runs.
    device: str = "auto"  # "auto": cuda, else mps, else cpu
    threads: int | None = None  # torch CPU threads; None: all cores this process may use

    def __post_init__(self) -> None:
        counts = ("layers", "heads", "embd", "context", "steps", "batch", "eval_every", "eval_batches", "save_every")
        for name in counts:
            _require(name, getattr(self, name), int, minimum=1)
        for name in ("warmup", "seed"):
            _require(name, getattr(self, name), int, minimum=0)
        if self.threads is not None:
            _require("threads", self.threads, int, minimum=1)
        for name in ("lr", "min_lr", "weight_decay", "dropout", "grad_clip"):
            _require(name, getattr(self, name), float, minimum=0)
        if self.embd % self.heads:
            raise SqlgptError(f"--heads ({self.heads}) must divide --embd ({self.embd})")
        if not self.lr > 0:
            raise SqlgptError(f"--lr must be > 0, got {self.lr}")
        if self.min_lr > self.lr:
            raise SqlgptError(f"--min-lr ({self.min_lr}) must not exceed --lr ({self.lr})")
        if self.dropout >= 1:
            raise SqlgptError(f"--dropout must be below 1, got {self.dropout}")
        if not isinstance(self.device, str) or not self.device:
            raise SqlgptError(f"--device must name a torch device, got {self.device!r}")

    @property
    def tokens_per_step(self) -> int:
        return self.batch * self.context


# Options a resumed run may change; the others define the run and must stay as saved.
_RESUME_MAY_CHANGE = frozenset({"steps", "eval_every", "save_every", "device", "threads"})


def _require(name: str, value: object, kind: type, minimum: float) -> None:
    # bool is an int to Python, never a sensible count or rate here.
    ok = isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool)
    if not (ok and value >= minimum and math.isfinite(value)):
        what = "an integer" if kind is int else "a number"
        raise SqlgptError(f"{_flag(name)} must be {what} >= {minimum:g}, got {value!r}")


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise SqlgptError("training needs PyTorch: pip install 'sqlgpt[train]'") from None
    return torch


class TorchGPT:
    """GPT-2 in PyTorch, for training: the whole forward pass in `forward`.

    The tensors live in `params` under checkpoint.py's canonical names (transformers' GPT-2
    names without `transformer.`) and in its Conv1D layout, (in_features, out_features), so
    `x @ weight + bias`; saving the model is writing the dict. The unembedding is tied to
    `wte.weight`, GELU is the tanh approximation, layer norm uses the config's epsilon.
    Dropout, in training, zeroes activations of the embeddings and of each residual branch.

    Shapes: B = batch, T = positions, C = n_embd, H = n_head, D = C // H, V = vocab size.
    """

    def __init__(self, config: GPTConfig, params: Mapping[str, torch.Tensor], dropout: float = 0.0) -> None:
        shapes = expected_shapes(config)
        for name, shape in shapes.items():
            if name not in params or tuple(params[name].shape) != shape:
                raise SqlgptError(f"model weights lack {name!r} of shape {shape}")
        self.config = config
        # In checkpoint.py's order, whatever the source's: the optimizer's saved state is
        # matched to the parameters by position.
        self.params = {name: params[name] for name in shapes}
        self.dropout = dropout
        self.training = True  # dropout on; `eval()` turns it off

    @classmethod
    def initialized(cls, config: GPTConfig, seed: int, dropout: float = 0.0, device: str = "cpu") -> TorchGPT:
        """Fresh weights, initialised as GPT-2 (and nanoGPT) do."""
        torch = _import_torch()
        generator = torch.Generator().manual_seed(seed)
        # Each block adds two projections to the residual stream; shrinking them by
        # sqrt(2 * n_layer) keeps its variance from growing with depth (GPT-2 paper, 2.3).
        residual_std = 0.02 / math.sqrt(2 * config.n_layer)
        params = {}
        for name, shape in expected_shapes(config).items():
            if name.endswith("bias"):
                value = torch.zeros(shape)
            elif ".ln_" in name or name.startswith("ln_f"):
                value = torch.ones(shape)
            else:
                std = residual_std if name.endswith("c_proj.weight") else 0.02
                value = torch.randn(shape, generator=generator) * std
            params[name] = value.to(device).requires_grad_()
        return cls(config, params, dropout)

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def train(self) -> None:
        self.training = True

    def eval(self) -> None:
        self.training = False

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits [B, T, V] of every position for token ids [B, T]."""
        from torch.nn import functional as F

        cfg, p = self.config, self.params
        B, T = ids.shape
        C, H = cfg.n_embd, cfg.n_head
        eps = cfg.layer_norm_epsilon
        x = F.embedding(ids, p["wte.weight"]) + p["wpe.weight"][:T]  # [B, T, C]
        x = F.dropout(x, self.dropout, self.training)
        for i in range(cfg.n_layer):
            h = f"h.{i}."
            a = F.layer_norm(x, (C,), p[h + "ln_1.weight"], p[h + "ln_1.bias"], eps)  # [B, T, C]
            qkv = a @ p[h + "attn.c_attn.weight"] + p[h + "attn.c_attn.bias"]  # [B, T, 3C]
            q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in qkv.split(C, dim=-1))  # 3 × [B, H, T, D]
            # No dropout on the attention weights (GPT-2 has it): with it PyTorch falls back
            # from its fused attention kernel to one materialising [B, H, T, T], which on a
            # CPU costs a quarter of the step time.
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [B, H, T, D]
            a = a.transpose(1, 2).reshape(B, T, C)  # [B, T, C]: the heads side by side again
            a = a @ p[h + "attn.c_proj.weight"] + p[h + "attn.c_proj.bias"]  # [B, T, C]
            x = x + F.dropout(a, self.dropout, self.training)
            m = F.layer_norm(x, (C,), p[h + "ln_2.weight"], p[h + "ln_2.bias"], eps)  # [B, T, C]
            m = F.gelu(m @ p[h + "mlp.c_fc.weight"] + p[h + "mlp.c_fc.bias"], approximate="tanh")  # [B, T, 4C]
            m = m @ p[h + "mlp.c_proj.weight"] + p[h + "mlp.c_proj.bias"]  # [B, T, C]
            x = x + F.dropout(m, self.dropout, self.training)
        x = F.layer_norm(x, (C,), p["ln_f.weight"], p["ln_f.bias"], eps)  # [B, T, C]
        return x @ p["wte.weight"].T  # [B, T, V]

    def loss(self, ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy (nats/token) of predicting `targets` [B, T] from `ids` [B, T]."""
        from torch.nn import functional as F

        logits = self.forward(ids)  # [B, T, V]
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())

    @property
    def device(self) -> torch.device:
        return self.params["wte.weight"].device


@dataclasses.dataclass(frozen=True)
class _Split:
    """One split of the data: its text and the text's token ids."""

    text: str
    ids: np.ndarray  # [n] token ids

    def offsets(self, rng: np.random.Generator, shape: int | tuple[int, ...], context: int) -> np.ndarray:
        """Random starts of windows of `context` + 1 tokens."""
        return rng.integers(0, len(self.ids) - context, size=shape)

    def windows(self, offsets: np.ndarray, context: int, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets, each [len(offsets), context], of the windows at `offsets`."""
        torch = _import_torch()
        rows = self.ids[offsets[:, None] + np.arange(context + 1)].astype(np.int64)  # [B, context + 1]
        rows = torch.from_numpy(rows).to(device)
        return rows[:, :-1], rows[:, 1:]  # each target is the token after its input


@dataclasses.dataclass(frozen=True)
class TrainingResult:
    """How a call to `TrainingRun.train` ended."""

    out_dir: Path
    steps: int  # optimizer steps done, counting those of the runs this one resumed
    interrupted: bool  # stopped by Ctrl-C before the last step; `TrainingRun.resume` goes on
    losses: list[float]  # the training loss of every step, nats per token
    record: dict[str, Any]  # what training.json holds


class TrainingRun:
    """One model's training, set up and checked; `train()` runs it.

    Make one with `create` (a new run into an empty directory) or `resume` (a saved run). Both
    check every input and raise SqlgptError before any training starts.
    """

    def __init__(self, *, data_file: Path, data_sha256: str, train: _Split, val: _Split, out_dir: Path,
                 options: TrainingOptions, tokenizer: Tokenizer, tokenizer_info: dict[str, Any],
                 model: TorchGPT, command: str | None, write_tokenizer: Callable[[Path], None] | None = None,
                 state: Mapping[str, Any] | None = None) -> None:
        self.data_file, self.data_sha256 = data_file, data_sha256
        self.train_split, self.val_split = train, val
        self.out_dir = out_dir
        self.options = options
        self.tokenizer, self.tokenizer_info = tokenizer, tokenizer_info
        self.model = model
        self.config = model.config
        self._write_tokenizer = write_tokenizer  # a new run writes its tokenizer first; None once written
        state = state or {}
        self.commands = [*state.get("commands", []), command or "sqlgpt.train.model (Python API)"]
        self.step: int = state.get("step", 0)
        self.losses: list[float] = list(state.get("losses", []))
        self.evals: list[dict[str, float]] = list(state.get("evals", []))
        self._elapsed_before = state.get("elapsed_s", 0.0)  # seconds spent by earlier train() calls and runs
        self._optimizer_state = state.get("optimizer")
        self._optimizer: torch.optim.AdamW | None = None  # made by the first train() call

    # -- setting up --------------------------------------------------------------------------

    @classmethod
    def create(cls, data_file: str | os.PathLike[str], out_dir: str | os.PathLike[str],
               options: TrainingOptions = TrainingOptions(), *, tokenizer_dir: str | os.PathLike[str] | None = None,
               vocab_size: int | None = None, force: bool = False, command: str | None = None,
               progress: bool | None = None) -> TrainingRun:
        """A new run training on `data_file` into `out_dir`, which must be empty or absent
        (with `force`, the files a run writes are replaced and others left alone).

        The tokenizer is read from `tokenizer_dir`, or else trained on the training split
        with `vocab_size` tokens (default DEFAULT_VOCAB_SIZE), <|endoftext|> included, with a
        progress bar if `progress` (default: when stderr is a terminal). `command` is recorded
        in training.json.
        """
        device = _resolve_device(options.device)  # first: it says so if PyTorch is missing
        data_file, out_dir = Path(data_file), Path(out_dir)
        text, data_sha256 = _read_text(data_file)
        if out_dir.exists() and not out_dir.is_dir():
            raise SqlgptError(f"--out {out_dir} is a file, not a directory")
        if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
            raise SqlgptError(f"{out_dir} exists and is not empty: choose a new --out, --resume the run in it, "
                              "or --force to replace its model files")
        if tokenizer_dir is not None and vocab_size is not None:
            raise SqlgptError("give --tokenizer or --vocab-size, not both")
        train_text, val_text = split_text(text)
        if tokenizer_dir is not None:
            tokenizer = Tokenizer.from_directory(tokenizer_dir)
            files = _tokenizer_files(Path(tokenizer_dir))
            info = {"source": str(tokenizer_dir), "vocab_size": None}

            def write_tokenizer(directory: Path) -> None:
                for name, data in files.items():
                    (directory / name).write_bytes(data)
        else:
            vocab_size = DEFAULT_VOCAB_SIZE if vocab_size is None else vocab_size
            _check_vocab_size(vocab_size, train_text)
            tokenizer = Tokenizer.train(train_text, vocab_size, progress=sys.stderr.isatty() if progress is None else progress)
            info = {"source": "trained on the training split", "vocab_size": vocab_size}
            write_tokenizer = tokenizer.save
        if tokenizer.eot_id is None:
            raise SqlgptError(f"the tokenizer in {tokenizer_dir} has no <|endoftext|> token, which sqlgpt's "
                              "models need (scoring and empty prompts start from it)")
        config = _model_config(options, tokenizer)
        train, val = _encode(tokenizer, train_text, val_text, options.context)
        model = TorchGPT.initialized(config, options.seed, options.dropout, device)
        return cls(data_file=data_file, data_sha256=data_sha256, train=train, val=val, out_dir=out_dir,
                   options=options, tokenizer=tokenizer, tokenizer_info=info, model=model, command=command,
                   write_tokenizer=write_tokenizer)

    @classmethod
    def resume(cls, data_file: str | os.PathLike[str], out_dir: str | os.PathLike[str],
               changes: Mapping[str, Any] | None = None, *, tokenizer_dir: str | os.PathLike[str] | None = None,
               vocab_size: int | None = None, command: str | None = None) -> TrainingRun:
        """The run saved in `out_dir`, to go on training on the same `data_file`.

        It keeps the saved options; `changes` (TrainingOptions field -> value) may raise
        `steps` (the cosine schedule then stretches to the new end) or change eval_every,
        save_every, device and threads. Any other option, a different data file or tokenizer,
        must equal the saved one: SqlgptError otherwise.
        """
        torch = _import_torch()
        data_file, out_dir = Path(data_file), Path(out_dir)
        state = _load_state(out_dir, torch)
        saved = TrainingOptions(**state["options"])
        changes = dict(changes or {})
        for name, value in changes.items():
            if not hasattr(saved, name):
                raise SqlgptError(f"unknown training option {name!r}")
            if name not in _RESUME_MAY_CHANGE and value != getattr(saved, name):
                raise SqlgptError(f"{_flag(name)} {value} differs from the run in {out_dir} ({getattr(saved, name)}); "
                                  "--resume continues that run as it was set up")
        options = dataclasses.replace(saved, **changes)
        if options.steps <= state["step"]:
            raise SqlgptError(f"the run in {out_dir} has done {state['step']} steps already; "
                              f"give --steps above {state['step']} to train on")
        device = _resolve_device(options.device)
        text, data_sha256 = _read_text(data_file)
        if data_sha256 != state["data"]["sha256"]:
            raise SqlgptError(f"{data_file} is not the file the run in {out_dir} trained on "
                              f"({state['data']['file']}, sha256 {state['data']['sha256'][:12]}...)")
        info = state["tokenizer"]
        if _digest(_tokenizer_files(out_dir)) != info["sha256"]:
            raise SqlgptError(f"the tokenizer files in {out_dir} changed since the run saved; cannot resume")
        if tokenizer_dir is not None and _digest(_tokenizer_files(Path(tokenizer_dir))) != info["sha256"]:
            raise SqlgptError(f"the tokenizer in {tokenizer_dir} is not the one the run in {out_dir} uses")
        if vocab_size is not None and vocab_size != info["vocab_size"]:
            raise SqlgptError(f"--vocab-size {vocab_size} differs from the run in {out_dir} "
                              f"({info['vocab_size'] or 'a given tokenizer'})")
        weights = out_dir / "model.safetensors"
        if not weights.is_file() or _file_sha256(weights) != state["model_sha256"]:
            raise SqlgptError(f"{weights} is not the model {STATE_FILE} was saved with "
                              "(the last save was cut short, or the file was replaced); cannot resume")
        tokenizer = Tokenizer.from_directory(out_dir)
        config = _model_config(options, tokenizer)
        if config.to_hf() != state["config"]:
            raise SqlgptError(f"{out_dir}: the saved model's shape does not match its options; cannot resume")
        train, val = _encode(tokenizer, *split_text(text), options.context)
        model = TorchGPT(config, _load_weights(weights, torch, device), options.dropout)
        return cls(data_file=data_file, data_sha256=data_sha256, train=train, val=val, out_dir=out_dir,
                   options=options, tokenizer=tokenizer, tokenizer_info=info, model=model, command=command,
                   state=state)

    # -- training ----------------------------------------------------------------------------

    def train(self, *, progress: bool | None = None,
              on_step: Callable[[int, float], None] | None = None) -> TrainingResult:
        """Train up to `options.steps`, saving every `save_every` steps and at the end.

        progress: show a progress bar on stderr (default: when stderr is a terminal); the
            loss estimates of every `eval_every` steps are printed to stderr either way.
        on_step: called with (steps done, that step's loss) after every step; raising
            KeyboardInterrupt from it stops training as Ctrl-C does.

        Ctrl-C stops after the current step and saves; a second Ctrl-C stops at once without
        saving. The result says whether training was interrupted.
        """
        torch = _import_torch()
        from tqdm import tqdm

        o = self.options
        threads = o.threads or _available_cores()
        torch.set_num_threads(threads)
        if progress is None:
            progress = sys.stderr.isatty()
        if self._write_tokenizer is not None:
            self._prepare_output()
        optimizer = self._optimizer = self._optimizer or self._new_optimizer(torch)
        started, step_seconds, steps_here, tokens_per_s = time.perf_counter(), 0.0, 0, 0.0
        # A short bar leaves room for the time left and the figures after it.
        bar = tqdm(total=o.steps, initial=self.step, unit="step", desc="training", disable=not progress,
                   file=sys.stderr, dynamic_ncols=True, leave=False, bar_format="{l_bar}{bar:20}{r_bar}")
        with _StopRequest() as stop:
            while self.step < o.steps and not stop.requested:
                t0 = time.perf_counter()
                loss = self._train_step(optimizer, torch)
                step_seconds += time.perf_counter() - t0
                steps_here += 1
                self.losses.append(loss)
                self.step += 1
                tokens_per_s = o.tokens_per_step * steps_here / step_seconds
                if self.step % o.eval_every == 0 or self.step == o.steps:
                    tqdm.write(self._evaluate(torch, tokens_per_s), file=sys.stderr)
                if self.step % o.save_every == 0 and self.step < o.steps:
                    self._save(optimizer, torch, started, tokens_per_s, threads, status="training")
                val = f" val {self.evals[-1]['val']:.3f}" if self.evals else ""
                bar.set_postfix_str(f"loss {loss:.3f}{val} {tokens_per_s:,.0f} tok/s", refresh=False)
                bar.update(1)
                if on_step is not None:
                    try:
                        on_step(self.step, loss)
                    except KeyboardInterrupt:
                        stop.requested = True
        bar.close()
        finished = self.step >= o.steps
        status = "finished" if finished else "interrupted"
        record = self._save(optimizer, torch, started, tokens_per_s, threads, status=status)
        self._elapsed_before += time.perf_counter() - started
        if finished:
            # Scored from the saved files by the reference engine: exactly `sqlgpt score
            # --split val --engine numpy`, and a check that the directory loads.
            tqdm.write("scoring the whole validation split with the numpy engine...", file=sys.stderr)
            with load(self.out_dir, engine="numpy") as gpt:
                score = gpt.score(self.val_split.text, progress)
            record["val_loss"] = {"nats_per_token": score.loss, "nats_per_char": score.nats_per_char,
                                  "tokens": score.n_tokens, "chars": score.n_chars,
                                  "measured_on": "the whole validation split, as `sqlgpt score FILE --split val`"}
            _write_atomically(self.out_dir / RECORD_FILE, _json_bytes(record))
        return TrainingResult(self.out_dir, self.step, not finished, list(self.losses), record)

    def _new_optimizer(self, torch: Any) -> torch.optim.AdamW:
        # Decay only matrices (and embeddings): shrinking biases and layer-norm gains toward
        # zero regularises nothing useful, as in nanoGPT.
        params = self.model.parameters()
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": self.options.weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        optimizer = torch.optim.AdamW(groups, lr=self.options.lr, betas=BETAS)
        if self._optimizer_state is not None:
            optimizer.load_state_dict(self._optimizer_state)
        return optimizer

    def _train_step(self, optimizer: torch.optim.Optimizer, torch: Any) -> float:
        o, step = self.options, self.step
        # Batches and dropout masks depend only on (seed, step): a resumed run sees the same.
        offsets = self.train_split.offsets(np.random.default_rng([o.seed, step, _BATCH_STREAM]), o.batch, o.context)
        x, y = self.train_split.windows(offsets, o.context, self.model.device)
        torch.manual_seed(int(np.random.SeedSequence([o.seed, step, _DROPOUT_STREAM]).generate_state(1)[0]))
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, o)
        loss = self.model.loss(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if o.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), o.grad_clip)
        optimizer.step()
        return loss.item()

    def _evaluate(self, torch: Any, tokens_per_s: float) -> str:
        """Estimate both splits' loss on fixed batches (the same at every evaluation); a line
        saying how it stands."""
        o = self.options
        rng = np.random.default_rng([o.seed, 0, _EVAL_STREAM])
        losses = {}
        self.model.eval()
        with torch.no_grad():
            for name, split in (("train", self.train_split), ("val", self.val_split)):
                batches = split.offsets(rng, (o.eval_batches, o.batch), o.context)
                losses[name] = float(np.mean([self.model.loss(*split.windows(b, o.context, self.model.device)).item()
                                              for b in batches]))
        self.model.train()
        self.evals.append({"step": self.step, **losses})
        per_char = losses["val"] * len(self.val_split.ids) / len(self.val_split.text)
        return (f"step {self.step}/{o.steps}: train {losses['train']:.4f}, val {losses['val']:.4f} nats/token "
                f"(val {per_char:.4f} nats/char), {tokens_per_s:,.0f} tokens/s")

    # -- saving ------------------------------------------------------------------------------

    def _prepare_output(self) -> None:
        """A new run's directory: only our files replaced, the tokenizer and config written."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name in OUTPUT_FILES:
            (self.out_dir / name).unlink(missing_ok=True)
        self._write_tokenizer(self.out_dir)
        self._write_tokenizer = None
        self.tokenizer_info["sha256"] = _digest(_tokenizer_files(self.out_dir))
        eot = self.tokenizer.eot_id
        hf_config = {**self.config.to_hf(), "bos_token_id": eot, "eos_token_id": eot}
        _write_atomically(self.out_dir / "config.json", _json_bytes(hf_config))

    def _save(self, optimizer: torch.optim.Optimizer, torch: Any, started: float, tokens_per_s: float,
              threads: int, status: str) -> dict[str, Any]:
        """Write the model, the training state and the record, each file atomically; the
        record written is returned."""
        from safetensors.torch import save as safetensors_bytes

        tensors = {"transformer." + name: t.detach().cpu().contiguous() for name, t in self.model.params.items()}
        model_bytes = safetensors_bytes(tensors, metadata={"format": "pt"})
        _write_atomically(self.out_dir / "model.safetensors", model_bytes)
        elapsed = self._elapsed_before + time.perf_counter() - started
        state = {
            "format": _STATE_FORMAT, "step": self.step, "options": dataclasses.asdict(self.options),
            "config": self.config.to_hf(), "data": self._data_info(), "tokenizer": self.tokenizer_info,
            "model_sha256": hashlib.sha256(model_bytes).hexdigest(), "commands": self.commands,
            "losses": self.losses, "evals": self.evals, "elapsed_s": elapsed, "optimizer": optimizer.state_dict(),
        }
        buffer = io.BytesIO()
        torch.save(state, buffer)
        _write_atomically(self.out_dir / STATE_FILE, buffer.getvalue())
        record = self._record(status, elapsed, tokens_per_s, threads, torch.__version__)
        _write_atomically(self.out_dir / RECORD_FILE, _json_bytes(record))
        return record

    def _data_info(self) -> dict[str, Any]:
        return {"file": str(self.data_file), "sha256": self.data_sha256,
                "chars": len(self.train_split.text) + len(self.val_split.text),
                "train_chars": len(self.train_split.text), "val_chars": len(self.val_split.text),
                "train_tokens": len(self.train_split.ids), "val_tokens": len(self.val_split.ids)}

    def _record(self, status: str, elapsed: float, tokens_per_s: float, threads: int, torch_version: str) -> dict[str, Any]:
        """training.json: what was run and how it went."""
        o = self.options
        losses = {}
        if self.evals:
            measured_on = f"{o.eval_batches} fixed batches of {o.batch} windows of {o.context} tokens, at step {self.evals[-1]['step']}"
            for name, split in (("train", self.train_split), ("val", self.val_split)):
                loss = self.evals[-1][name]
                losses[f"{name}_loss"] = {"nats_per_token": loss, "nats_per_char": loss * len(split.ids) / len(split.text),
                                          "measured_on": measured_on}
        return {
            "status": status, "commands": self.commands, "seed": o.seed, "steps": self.step, "target_steps": o.steps,
            "tokens_seen": self.step * o.tokens_per_step, "wall_time_s": round(elapsed, 3),
            "tokens_per_s": round(tokens_per_s, 1), **losses,
            "hyperparameters": {**dataclasses.asdict(o), "betas": list(BETAS), "threads": threads,
                                "device": str(self.model.device)},
            "model": {**self.config.to_hf(), "n_params": self.config.n_params},
            "tokenizer": {**self.tokenizer_info, "vocab_size": self.tokenizer.vocab_size},
            "data": self._data_info(), "curve": self.evals,
            "torch_version": torch_version, "sqlgpt_version": __version__,
        }


def learning_rate(step: int, options: TrainingOptions) -> float:
    """Linear warm-up to `lr` over `warmup` steps, then cosine decay to `min_lr` at the last step."""
    if step < options.warmup:
        return options.lr * (step + 1) / options.warmup
    done = (step - options.warmup) / max(1, options.steps - 1 - options.warmup)
    return options.min_lr + 0.5 * (1 + math.cos(math.pi * min(1.0, done))) * (options.lr - options.min_lr)


class _StopRequest:
    """Ctrl-C while training: the first asks to stop after the current step (a step half
    applied must never be saved), a second stops at once. Signals reach only the main
    thread, so elsewhere this does nothing."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> _StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGINT) or signal.default_int_handler
            signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)
        print("\nstopping after this step to save (Ctrl-C again to stop at once, unsaved)", file=sys.stderr)

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


# -- checks and files ---------------------------------------------------------------------------


def _read_text(path: Path) -> tuple[str, str]:
    """The file's text and the SHA-256 of its bytes."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SqlgptError(f"no such file: {path}") from None
    except OSError as e:
        raise SqlgptError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SqlgptError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not text.strip():
        raise SqlgptError(f"{path} is empty: nothing to train on")
    if len(text) < MIN_CHARS:
        raise SqlgptError(f"{path} has only {len(text)} characters; training needs at least {MIN_CHARS} "
                          "(the last 10% is held out for validation)")
    return text, hashlib.sha256(data).hexdigest()


def _check_vocab_size(vocab_size: int, text: str) -> None:
    """Refuse sizes BPE cannot reach before spending time on training."""
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size < 257:
        raise SqlgptError(f"--vocab-size must be at least 257 (256 bytes + <|endoftext|>), got {vocab_size!r}")
    # A merge joins two adjacent tokens inside a pre-token, so a distinct pre-token of n
    # bytes allows at most n - 1 merges (fewer where they repeat).
    most = 257 + sum(len(word.encode("utf-8")) - 1 for word in set(regex.findall(GPT2_PATTERN, text)))
    if vocab_size > most:
        raise SqlgptError(f"--vocab-size {vocab_size} is more than the training text allows (at most {most} tokens)")


def _model_config(options: TrainingOptions, tokenizer: Tokenizer) -> GPTConfig:
    return GPTConfig(vocab_size=tokenizer.vocab_size, block_size=options.context, n_layer=options.layers,
                     n_head=options.heads, n_embd=options.embd)


def _encode(tokenizer: Tokenizer, train_text: str, val_text: str, context: int) -> tuple[_Split, _Split]:
    """Both splits encoded once; each must hold more tokens than a window's inputs."""
    dtype = np.uint16 if tokenizer.vocab_size <= 1 << 16 else np.int32
    splits = []
    for name, text in (("training", train_text), ("validation", val_text)):
        ids = np.asarray(tokenizer.encode(text), dtype=dtype)
        if len(ids) <= context:
            raise SqlgptError(f"--context {context} needs more than {context} tokens in the {name} split, which "
                              f"has {len(ids)}: use a smaller --context or more text")
        splits.append(_Split(text, ids))
    return splits[0], splits[1]


def _resolve_device(name: str) -> str:
    torch = _import_torch()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    try:
        kind = torch.device(name).type
    except (RuntimeError, ValueError):
        raise SqlgptError(f"--device {name!r} is not a torch device (try cpu, cuda, cuda:1 or mps)") from None
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not available.get(kind, False):
        raise SqlgptError(f"--device {name}: this PyTorch has no {kind} device available")
    return name


def _available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _tokenizer_files(directory: Path) -> dict[str, bytes]:
    """A tokenizer directory's vocab.json and merges.txt (OpenAI's encoder.json and vocab.bpe
    under those names), by the rule `Tokenizer.from_directory` follows."""
    for names in (TOKENIZER_FILES, ("encoder.json", "vocab.bpe")):
        if any((directory / name).exists() for name in names):
            try:
                return {ours: (directory / name).read_bytes() for ours, name in zip(TOKENIZER_FILES, names)}
            except OSError as e:
                raise SqlgptError(f"cannot read the tokenizer in {directory}: {e.strerror or e}") from None
    raise SqlgptError(f"no tokenizer in {directory}: expected vocab.json and merges.txt")


def _digest(files: Mapping[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name, data in sorted(files.items()):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _load_state(out_dir: Path, torch: Any) -> dict[str, Any]:
    path = out_dir / STATE_FILE
    if not path.is_file():
        raise SqlgptError(f"{out_dir} has no {STATE_FILE} to resume from (is it a `sqlgpt train` output directory?)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a damaged pickle fails in many ways; all mean the same here
        raise SqlgptError(f"{path} is not a readable training state ({first_line(e)})") from None
    if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
        raise SqlgptError(f"{path} is not a training state this version of sqlgpt can resume")
    return state


def _load_weights(path: Path, torch: Any, device: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    return {name.removeprefix("transformer."): t.to(device).requires_grad_() for name, t in tensors.items()}


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` by `data` all at once: a reader (or a crash) sees the old file or the new."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
