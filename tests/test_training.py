"""Training models (`sqlgpt train`, sqlgpt.train.model) and scoring splits (`sqlgpt score --split`).

The trained directory is checked against transformers: it loads there, and transformers, the
training model and sqlgpt's numpy engine compute the same logits. Runs are tiny (2 layers,
32 wide, windows of 16 tokens, a few steps) so each test takes a second or two.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import GPT2LMHeadModel

import sqlgpt
from sqlgpt import Tokenizer
from sqlgpt.cli import main
from sqlgpt.train.model import STATE_FILE, TrainingOptions, TrainingRun, learning_rate, split_text

from .conftest import make_checkpoint, write_byte_bpe

TINY = dict(layers=2, heads=2, embd=32, context=16, batch=4, steps=6, eval_every=3, eval_batches=2, threads=1)
TINY_ARGS = [arg for name, value in TINY.items() for arg in (f"--{name.replace('_', '-')}", str(value))]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def text() -> str:
    """About 3,000 characters of made-up sentences: learnable, and never the same twice."""
    rng = random.Random(0)
    words = "the cat dog sat ran on in a mat hat big red small house tree".split()
    return "".join(" ".join(rng.choice(words) for _ in range(rng.randint(3, 9))).capitalize() + ".\n"
                   for _ in range(90))


@pytest.fixture
def text_file(tmp_path, text) -> Path:
    path = tmp_path / "text.txt"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    """A byte-level BPE (256 bytes, a few merges, <|endoftext|>) made without sqlgpt."""
    directory = tmp_path_factory.mktemp("tokenizer")
    write_byte_bpe(directory)
    return directory


@pytest.fixture
def trained(tmp_path, text_file, tokenizer_dir) -> TrainingRun:
    """A tiny run, trained to the end, with its output in tmp_path / "model"."""
    run = TrainingRun.create(text_file, tmp_path / "model", TrainingOptions(**TINY), tokenizer_dir=tokenizer_dir)
    run.train(progress=False)
    return run


def test_split_text_holds_out_the_last_tenth():
    text = "".join(chr(ord("a") + i % 26) for i in range(1000))
    train, val = split_text(text)
    assert train + val == text and val == text[-100:]


def test_trained_directory_is_a_gpt2_that_transformers_and_the_numpy_engine_agree_on(trained, tokenizer_dir):
    out = trained.out_dir
    hf = GPT2LMHeadModel.from_pretrained(out).eval()
    ids = trained.tokenizer.encode("The red cat sat on a big mat.")[:16]
    with torch.no_grad():
        expected = hf(torch.tensor([ids])).logits[0].numpy()  # [T, V]
    gpt = sqlgpt.load(out, engine="numpy")
    assert np.abs(gpt.logits(ids) - expected).max() < 1e-4
    # The model that trained computes what transformers computes from the saved weights.
    trained.model.eval()
    with torch.no_grad():
        ours = trained.model.forward(torch.tensor([ids]))[0].numpy()
    assert np.abs(ours - expected).max() < 1e-4
    config = json.loads((out / "config.json").read_text())
    assert config["eos_token_id"] == trained.tokenizer.eot_id == gpt.tokenizer.eot_id
    assert all((out / name).read_bytes() == (tokenizer_dir / name).read_bytes() for name in ("vocab.json", "merges.txt"))


def test_training_loss_goes_down(shared_data, tmp_path):
    path = tmp_path / "shakespeare.txt"
    path.write_text((shared_data / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")[:20_000])
    options = TrainingOptions(**{**TINY, "steps": 30, "batch": 8, "lr": 1e-2, "warmup": 3, "eval_every": 30})
    result = TrainingRun.create(path, tmp_path / "model", options, vocab_size=300).train(progress=False)
    assert np.mean(result.losses[-5:]) < np.mean(result.losses[:5]) - 0.5
    # An untrained model scores about ln(vocab size) per token on held-out text.
    assert result.record["val_loss"]["nats_per_token"] < math.log(300) - 1.0


def test_resume_reproduces_the_uninterrupted_loss_curve(tmp_path, text_file, tokenizer_dir):
    options = TrainingOptions(**{**TINY, "steps": 8, "dropout": 0.2, "eval_every": 2, "save_every": 3})
    straight = TrainingRun.create(text_file, tmp_path / "straight", options, tokenizer_dir=tokenizer_dir).train()

    def ctrl_c_after_step_5(step: int, loss: float) -> None:
        if step == 5:
            signal.raise_signal(signal.SIGINT)

    first = TrainingRun.create(text_file, tmp_path / "resumed", options, tokenizer_dir=tokenizer_dir)
    stopped = first.train(on_step=ctrl_c_after_step_5)
    assert stopped.interrupted and stopped.steps == 5 and stopped.record["status"] == "interrupted"
    resumed = TrainingRun.resume(text_file, tmp_path / "resumed").train()
    assert not resumed.interrupted and resumed.steps == 8
    assert len(set(straight.losses)) == 8  # a curve, not a constant
    assert resumed.losses == straight.losses  # exactly, dropout included
    assert resumed.record["curve"] == straight.record["curve"]
    a, b = load_file(tmp_path / "straight" / "model.safetensors"), load_file(tmp_path / "resumed" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert len(resumed.record["commands"]) == 2


def test_keyboard_interrupt_from_on_step_stops_after_that_step_and_saves(tmp_path, text_file, tokenizer_dir):
    def interrupt(step: int, loss: float) -> None:
        raise KeyboardInterrupt

    run = TrainingRun.create(text_file, tmp_path / "model", TrainingOptions(**TINY), tokenizer_dir=tokenizer_dir)
    result = run.train(on_step=interrupt)
    assert result.interrupted and result.steps == 1 and len(result.losses) == 1
    assert torch.load(tmp_path / "model" / STATE_FILE, weights_only=True)["step"] == 1


def test_ctrl_c_saves_a_checkpoint_and_says_how_to_resume(capsys, monkeypatch, tmp_path, text_file, tokenizer_dir):
    train = TrainingRun.train

    def train_with_ctrl_c_after_step_2(self, **kwargs):
        return train(self, on_step=lambda step, loss: step == 2 and signal.raise_signal(signal.SIGINT))

    out = tmp_path / "model"
    argv = ["train", text_file, "--out", out, "--tokenizer", tokenizer_dir, *TINY_ARGS]
    with monkeypatch.context() as patch:
        patch.setattr(TrainingRun, "train", train_with_ctrl_c_after_step_2)
        code, _, err = run_cli(capsys, *argv)
    assert code == 130
    assert f"saved step 2 to {out}" in err and shlex.join(["sqlgpt", "train", str(text_file), "--out", str(out), "--resume"]) in err
    assert torch.load(out / STATE_FILE, weights_only=True)["step"] == 2
    assert json.loads((out / "training.json").read_text())["status"] == "interrupted"
    sqlgpt.load(out, engine="numpy")  # the checkpoint is a loadable model
    code, out_text, err = run_cli(capsys, "train", text_file, "--out", out, "--resume")
    assert code == 0, err
    record = json.loads((out / "training.json").read_text())
    assert record["status"] == "finished" and record["steps"] == TINY["steps"]


def test_training_record(capsys, tmp_path, text_file, text, tokenizer_dir):
    out = tmp_path / "model"
    argv = ["train", str(text_file), "--out", str(out), "--tokenizer", str(tokenizer_dir), *TINY_ARGS, "--lr", "0.002"]
    code, stdout, err = run_cli(capsys, *argv)
    assert code == 0, err
    record = json.loads((out / "training.json").read_text())
    assert record["commands"] == [shlex.join(["sqlgpt", *argv])]
    assert record["status"] == "finished" and record["steps"] == TINY["steps"] and record["seed"] == 1337
    assert record["tokens_seen"] == TINY["steps"] * TINY["batch"] * TINY["context"]
    assert record["hyperparameters"]["lr"] == 0.002 and record["torch_version"] == torch.__version__
    assert [point["step"] for point in record["curve"]] == [3, 6] and record["wall_time_s"] > 0
    val = record["val_loss"]
    assert val["chars"] == len(split_text(text)[1]) == record["data"]["val_chars"]
    assert val["nats_per_char"] == pytest.approx(val["nats_per_token"] * val["tokens"] / val["chars"])
    assert f"{val['nats_per_char']:.4f} nats/character" in stdout
    # The same figures as scoring the validation split afterwards.
    code, scored, _ = run_cli(capsys, "score", text_file, "--split", "val", "--model", out, "--engine", "numpy")
    assert code == 0
    assert f"{val['nats_per_token']:.4f} nats/token" in scored and f"{val['nats_per_char']:.4f} nats/character" in scored
    # The closing hint runs as printed, though the context (16 tokens) is shorter than the
    # 50 new tokens `generate` makes by default.
    hint = shlex.split(stdout.splitlines()[-1].removeprefix("try"))
    assert hint[:2] == ["sqlgpt", "generate"]
    code, generated, err = run_cli(capsys, *hint[1:], "--engine", "numpy")
    assert code == 0, err  # (not "exceeds the context window")
    assert generated.strip()


def test_force_replaces_only_the_runs_files(capsys, tmp_path, text_file, tokenizer_dir):
    """--force over an older run's files: the model, config, state and record are this run's
    (the very model the same run writes into an empty directory, which transformers loads and
    agrees with), and a file that is not the run's is kept."""
    out = tmp_path / "model"
    # A stale run of the same shape, so that a model left in place would still load.
    stale = make_checkpoint(tmp_path / "stale", seed=5, n_layer=TINY["layers"], n_head=TINY["heads"],
                            n_embd=TINY["embd"], n_positions=TINY["context"])
    out.mkdir()
    for name in ("model.safetensors", "config.json"):
        shutil.copy(stale / name, out / name)
    (out / "notes.txt").write_text("keep me")
    (out / "training.json").write_text('{"status": "stale"}')
    (out / STATE_FILE).write_bytes(b"stale")
    argv = ["train", str(text_file), "--out", str(out), "--tokenizer", str(tokenizer_dir), *TINY_ARGS, "--force"]
    code, _, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert (out / "notes.txt").read_text() == "keep me"

    fresh = TrainingRun.create(text_file, tmp_path / "fresh", TrainingOptions(**TINY), tokenizer_dir=tokenizer_dir)
    fresh.train(progress=False)
    ours, theirs = load_file(out / "model.safetensors"), load_file(tmp_path / "fresh" / "model.safetensors")
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    ids = Tokenizer.from_directory(tokenizer_dir).encode("The red cat sat on a big mat.")[:TINY["context"]]
    with torch.no_grad():
        logits = GPT2LMHeadModel.from_pretrained(out).eval()(torch.tensor([ids])).logits[0].numpy()  # [T, V]
        old = GPT2LMHeadModel.from_pretrained(stale).eval()(torch.tensor([ids])).logits[0].numpy()
    assert np.abs(sqlgpt.load(out, engine="numpy").logits(ids) - logits).max() < 1e-4
    assert np.abs(logits - old).max() > 0.1  # the stale model would have been told apart

    record = json.loads((out / "training.json").read_text())
    assert record["commands"] == [shlex.join(["sqlgpt", *argv])] and record["status"] == "finished"
    assert record["data"]["sha256"] == hashlib.sha256(text_file.read_bytes()).hexdigest()
    assert torch.load(out / STATE_FILE, weights_only=True)["step"] == TINY["steps"]


@pytest.mark.parametrize("case,extra,message", [
    ("missing", [], "no such file"),
    ("empty", [], "is empty"),
    ("tiny", [], "training needs at least 1000"),
    ("binary", [], "is not UTF-8"),
    ("text", ["--vocab-size", "200"], "--vocab-size must be at least 257"),
    ("text", ["--vocab-size", "100000"], "more than the training text allows"),
    ("text", ["--context", "5000"], "--context 5000 needs more than 5000 tokens in the training split"),
    ("text", ["--context", "100"], "--context 100 needs more than 100 tokens in the validation split"),
    ("text", ["--heads", "3"], "--heads (3) must divide --embd (32)"),
    ("text", ["--lr", "0"], "--lr must be > 0"),
    ("text", ["--dropout", "1"], "--dropout must be below 1"),
    ("text", ["--steps", "0"], "--steps must be an integer >= 1"),
    ("text", ["--device", "toaster"], "not a torch device"),
    ("text", ["--resume"], "has no training_state.pt"),
    ("busy", [], "exists and is not empty"),
])
def test_bad_input_is_one_line_and_exit_2_before_any_work(capsys, tmp_path, text, case, extra, message):
    data = tmp_path / "data.txt"
    contents = {"empty": b"", "tiny": b"too short", "binary": b"\xff\xfe" + b"\x00garbage" * 200}
    if case != "missing":
        data.write_bytes(contents.get(case, text.encode()))
    out = tmp_path / "out"
    if case == "busy":
        out.mkdir()
        (out / "something.txt").write_text("mine")
    tokenizer = [] if "--vocab-size" in extra else ["--vocab-size", "300"]
    code, _, err = run_cli(capsys, "train", data, "--out", out, *TINY_ARGS, *tokenizer, *extra)
    assert code == 2
    assert err.startswith("sqlgpt: error: ") and err.count("\n") == 1 and message in err, err
    assert not out.exists() or [p.name for p in out.iterdir()] == ["something.txt"]  # nothing written


@pytest.mark.parametrize("extra,message", [
    (["--layers", "3"], "--layers 3 differs from the run"),
    (["--lr", "0.5"], "--lr 0.5 differs from the run"),
    (["--vocab-size", "300"], "--vocab-size 300 differs from the run"),
    (["--steps", "6"], "has done 6 steps already"),
    (["--other-data"], "is not the file the run"),
    (["--other-tokenizer"], "is not the one the run"),
])
def test_resume_refuses_a_different_run(capsys, tmp_path, trained, text_file, extra, message):
    if extra == ["--other-data"]:
        text_file = tmp_path / "other.txt"
        text_file.write_text(trained.train_split.text + trained.val_split.text + "!")
        extra = []
    elif extra == ["--other-tokenizer"]:
        other = tmp_path / "other-tokenizer"
        other.mkdir()
        sqlgpt.Tokenizer.train(trained.train_split.text, 270).save(other)
        extra = ["--tokenizer", str(other)]
    before = (trained.out_dir / STATE_FILE).read_bytes()
    capsys.readouterr()  # forget the fixture's training log
    code, _, err = run_cli(capsys, "train", text_file, "--out", trained.out_dir, "--resume", "--steps", "7", *extra)
    assert code == 2
    assert err.startswith("sqlgpt: error: ") and err.count("\n") == 1 and message in err, err
    assert (trained.out_dir / STATE_FILE).read_bytes() == before


def test_training_without_torch_is_one_clear_error(capsys, monkeypatch, tmp_path, text_file):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    code, _, err = run_cli(capsys, "train", text_file, "--out", tmp_path / "model")
    assert code == 2 and err == "sqlgpt: error: training needs PyTorch: pip install 'sqlgpt[train]'\n"


def test_learning_rate_warms_up_then_decays_to_min_lr():
    options = TrainingOptions(steps=111, warmup=10, lr=1e-3, min_lr=1e-4)  # decays over steps 10..110
    assert learning_rate(0, options) == pytest.approx(1e-4)  # 1/10 of the way up
    assert learning_rate(9, options) == pytest.approx(1e-3)
    assert learning_rate(60, options) == pytest.approx(5.5e-4)  # halfway down the cosine
    assert learning_rate(110, options) == pytest.approx(1e-4)  # the last step
    rates = [learning_rate(step, options) for step in range(111)]
    assert all(a > b for a, b in zip(rates[10:], rates[11:]))  # steps 9 and 10 both sit at the peak


def torch_schedule(steps: int, warmup: int, lr: float, min_lr: float) -> list[float]:
    """The learning rate of each step by PyTorch's own schedulers: LinearLR from lr / warmup
    up to lr over the warm-up steps, then CosineAnnealingLR from lr to min_lr at the last step."""
    from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR

    rates = []
    for schedule, n in ((lambda o: LinearLR(o, 1 / warmup, 1.0, total_iters=warmup - 1), warmup),
                        (lambda o: CosineAnnealingLR(o, T_max=steps - 1 - warmup, eta_min=min_lr), steps - warmup)):
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
        scheduler = schedule(optimizer)
        for _ in range(n):
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
    return rates


def test_the_run_follows_the_warmup_and_cosine_schedule(capsys, tmp_path, text_file, tokenizer_dir):
    """--warmup, --lr and --min-lr: the rate the optimizer really stepped with, at every step
    and in both parameter groups, is PyTorch's linear warm-up then cosine decay to --min-lr."""
    steps, warmup, lr, min_lr = 10, 3, 0.01, 0.002
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    used: list[list[float]] = []
    hook = register_optimizer_step_pre_hook(
        lambda optimizer, args, kwargs: used.append([group["lr"] for group in optimizer.param_groups]))
    try:
        code, _, err = run_cli(capsys, "train", text_file, "--out", tmp_path / "model", "--tokenizer", tokenizer_dir,
                               *TINY_ARGS, "--steps", steps, "--warmup", warmup, "--lr", lr, "--min-lr", min_lr)
    finally:
        hook.remove()
    assert code == 0, err
    expected = torch_schedule(steps, warmup, lr, min_lr)
    assert expected[0] == pytest.approx(lr / warmup) and expected[warmup - 1] == pytest.approx(lr)
    assert expected[-1] == pytest.approx(min_lr)
    assert len(used) == steps and all(len(set(rates)) == 1 for rates in used)  # one rate for both groups
    assert [rates[0] for rates in used] == pytest.approx(expected, rel=1e-9)


def test_save_every_checkpoints_and_resuming_one_continues_exactly(capsys, monkeypatch, tmp_path, text_file,
                                                                   tokenizer_dir):
    """--steps 6 --save-every 2 saves a resumable checkpoint after steps 2 and 4 (seen on disk
    as the run goes) and at the end; --resume from either mid checkpoint ends with the very
    losses and weights of the run that never stopped."""
    out = tmp_path / "model"
    on_disk: dict[int, int | None] = {}
    train = TrainingRun.train

    def watch(step: int, loss: float) -> None:
        """After each step: the step of the saved state, and a copy of the directory."""
        state = out / STATE_FILE
        on_disk[step] = torch.load(state, weights_only=True)["step"] if state.exists() else None
        if state.exists():
            assert hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest() == \
                torch.load(state, weights_only=True)["model_sha256"]  # the model saved with that state
        shutil.copytree(out, tmp_path / f"after-{step}")

    with monkeypatch.context() as patch:
        patch.setattr(TrainingRun, "train", lambda self, **kwargs: train(self, on_step=watch))
        code, _, err = run_cli(capsys, "train", text_file, "--out", out, "--tokenizer", tokenizer_dir, *TINY_ARGS,
                               "--steps", 6, "--save-every", 2)
    assert code == 0, err
    assert on_disk == {1: None, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4}  # step 6's save comes after its step's callback
    final = torch.load(out / STATE_FILE, weights_only=True)
    assert final["step"] == 6 and len(set(final["losses"])) == 6
    weights = load_file(out / "model.safetensors")

    for step in (2, 4):
        directory = tmp_path / f"after-{step}"
        assert json.loads((directory / "training.json").read_text())["status"] == "training"
        code, _, err = run_cli(capsys, "train", text_file, "--out", directory, "--resume")
        assert code == 0, err
        resumed = torch.load(directory / STATE_FILE, weights_only=True)
        assert resumed["step"] == 6 and resumed["losses"] == final["losses"], step  # exactly, dropout included
        again = load_file(directory / "model.safetensors")
        assert again.keys() == weights.keys() and all(torch.equal(again[k], weights[k]) for k in weights), step


def test_score_split_val_scores_exactly_the_last_tenth(capsys, tmp_path, tiny_dir, hf_model):
    text = "".join(f"line {i}: the cat sat on the mat\n" for i in range(10))
    assert len(text) % 10 == 0
    val = text[-len(text) // 10:]
    path = tmp_path / "text.txt"
    path.write_text(text)
    tokenizer = sqlgpt.Tokenizer.from_directory(tiny_dir)
    ids = torch.tensor([[tokenizer.eot_id] + tokenizer.encode(val)])  # scoring starts from <|endoftext|>
    assert ids.shape[1] <= hf_model(tiny_dir).config.n_positions  # one window: transformers' loss is the reference
    with torch.no_grad():
        expected = hf_model(tiny_dir)(ids, labels=ids).loss.item()  # nats/token
    code, out, err = run_cli(capsys, "score", path, "--split", "val", "--model", tiny_dir, "--engine", "numpy")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"tokens      {ids.shape[1] - 1}" and lines[1] == f"characters  {len(val)}"
    assert float(lines[2].split()[1]) == pytest.approx(expected, abs=1e-4)
    assert float(lines[3].split()[0]) == pytest.approx(expected * (ids.shape[1] - 1) / len(val), abs=1e-4)


def test_score_split_train_scores_the_first_nine_tenths(capsys, tmp_path, tiny_dir):
    text = "".join(f"line {i}: the cat sat on the mat\n" for i in range(10))
    path = tmp_path / "text.txt"
    path.write_text(text)
    train = text[: len(text) * 9 // 10]
    code, out, err = run_cli(capsys, "score", path, "--split", "train", "--model", tiny_dir, "--engine", "numpy")
    assert code == 0, err
    n_tokens = len(sqlgpt.Tokenizer.from_directory(tiny_dir).encode(train))
    assert out.splitlines()[:2] == [f"tokens      {n_tokens}", f"characters  {len(train)}"]


def test_inference_never_imports_torch(tmp_path, tiny_dir):
    path = tmp_path / "text.txt"
    path.write_text("the cat sat on the mat\n" * 20)
    script = (f"import sys, sqlgpt.cli; code = sqlgpt.cli.main(['score', {str(path)!r}, '--split', 'val', "
              f"'--model', {str(tiny_dir)!r}, '--engine', 'numpy']); "
              "assert code == 0 and 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
