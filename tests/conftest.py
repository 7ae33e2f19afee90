"""Shared fixtures: random-weight GPT-2, Llama and Qwen2 checkpoints written by transformers itself.

Every weight is random (norm gains and biases included), so a wrong transpose or a skipped
bias cannot hide behind ones and zeros. The tokenizer files are a small byte-level
BPE vocabulary built here, so these fixtures need nothing from ../shared or the network.
It also loads the plugin tests/ci_skips.py: under CI=true a skipped test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# pytester is for tests/test_ci_skips.py, which checks the plugin.
pytest_plugins = ("pytester", "tests.ci_skips")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NO_SHARED = f"needs the project's shared data at {SHARED_DATA} (present in CI, not in a user's clone)"

# A few merges so the tiny tokenizer really is BPE, not just bytes.
TINY_MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "n"), ("Ġ", "s")]


def write_byte_bpe(directory: Path) -> int:
    """vocab.json + merges.txt: 256 byte tokens, TINY_MERGES, then <|endoftext|>. Returns its id."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode  # the reference table

    vocab = {ch: i for i, ch in enumerate(bytes_to_unicode().values())}
    for a, b in TINY_MERGES:
        vocab[a + b] = len(vocab)
    vocab["<|endoftext|>"] = eot = len(vocab)
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merges = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in TINY_MERGES)
    (directory / "merges.txt").write_text(merges, encoding="utf-8")
    return eot


def randomize(model, seed: int = 0, std: float = 0.08) -> None:
    """Every parameter random; layer-norm gains around 1 so activations stay sane."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator)
            if ".ln_" in name or name.startswith(("transformer.ln_f", "ln_f")):
                param.copy_(1.0 + 0.2 * noise if name.endswith("weight") else 0.1 * noise)
            else:
                param.copy_(std * noise)


def make_checkpoint(directory: Path, seed: int = 0, std: float = 0.08, gpt2_vocab: bool = False, **shape) -> Path:
    """save_pretrained a random GPT2LMHeadModel of `shape`, with the byte-level tokenizer or,
    if `gpt2_vocab`, GPT-2's own vocabulary from ../shared (the caller checks it exists)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    directory.mkdir(parents=True, exist_ok=True)
    if gpt2_vocab:
        shutil.copy(SHARED_DATA / "gpt2" / "encoder.json", directory / "vocab.json")
        shutil.copy(SHARED_DATA / "gpt2" / "vocab.bpe", directory / "merges.txt")
        eot = 50256
    else:
        eot = write_byte_bpe(directory)
    shape.setdefault("vocab_size", eot + 1)
    config = GPT2Config(bos_token_id=eot, eos_token_id=eot, **shape)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config)
    randomize(model, seed, std)
    model.save_pretrained(directory)
    return directory


# Llama / Qwen2 checkpoints: 4 query heads of 16 channels sharing 2 key/value heads. The
# llama3 rope_scaling is scaled to 64 positions so that its three cases all occur: with
# head size 16 the wavelengths are 2π·10000^(c/8), 6.3 (< 32/4: kept), 20 (between: smoothed),
# 63 and longer (> 32/1: slowed by the factor).
LLAMA_SHAPE = dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=2,
                   intermediate_size=80, vocab_size=300, max_position_embeddings=64)
LLAMA3_ROPE_SCALING = {"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                       "original_max_position_embeddings": 32}


def make_llama_checkpoint(directory: Path, kind: str = "llama", *, tied: bool = False, bias: bool = False,
                          rope_scaling: dict | None = None, dtype: str = "float32", shard: bool = False,
                          seed: int = 0, std: float = 0.08, **shape) -> Path:
    """save_pretrained a random LlamaForCausalLM (kind "llama") or Qwen2ForCausalLM ("qwen2")
    of LLAMA_SHAPE updated by `shape`: `tied` embeddings, Llama's attention and MLP biases
    if `bias` (Qwen2 always has its q/k/v biases), saved in `dtype`, in shards if `shard`.
    No tokenizer files: tests of these run on token ids."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    directory.mkdir(parents=True, exist_ok=True)
    options = LLAMA_SHAPE | shape | {"tie_word_embeddings": tied}
    if rope_scaling is not None:
        options["rope_scaling"] = dict(rope_scaling)
    if kind == "llama":
        model_class, config = LlamaForCausalLM, LlamaConfig(attention_bias=bias, mlp_bias=bias, **options)
    elif kind == "qwen2":
        model_class, config = Qwen2ForCausalLM, Qwen2Config(**options)
    else:
        raise ValueError(f"kind {kind!r}")
    torch.manual_seed(seed)
    model = model_class(config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():  # a tied lm_head is embed_tokens: listed once
            noise = torch.randn(param.shape, generator=generator)
            param.copy_(1.0 + 0.2 * noise if name.endswith("norm.weight") else std * noise)
    model.to(getattr(torch, dtype)).save_pretrained(directory, max_shard_size="40KB" if shard else "1GB")
    return directory


@pytest.fixture(scope="session")
def hf_causal_lm():
    """Load a Llama / Qwen2 checkpoint directory with transformers in float32 (whatever the
    file's dtype) and eager attention, once per directory."""
    import torch
    from transformers import AutoModelForCausalLM

    cache: dict[Path, object] = {}

    def get(directory: Path):
        if directory not in cache:
            cache[directory] = AutoModelForCausalLM.from_pretrained(
                directory, dtype=torch.float32, attn_implementation="eager").eval()
        return cache[directory]

    return get


# Pre-tokenizer patterns as Llama 3's and Qwen2's tokenizer.json write them.
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
HF_STYLES = ("llama3", "qwen2", "smollm2")
CHAT_TEMPLATE = (
    "{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] }}<|eot_id|>{% endfor %}"
)


def write_hf_tokenizer(directory: Path, style: str, lines: list[str], merges: int = 300) -> Path:
    """A tokenizer.json of byte-level BPE in the way of one model family, trained by Hugging
    Face tokenizers' BpeTrainer on `lines` (`merges` merges at most), with its config files:

    - "llama3": Split(Llama 3's pattern) + ByteLevel without regex, ignore_merges, special
      tokens after the vocabulary as Llama 3 has them, a post-processor adding
      <|begin_of_text|>, tokenizer_config.json (bos, eos, chat template) and
      generation_config.json (a list of eos ids).
    - "qwen2": NFC, Split(Qwen2's pattern) + ByteLevel without regex, <|endoftext|>,
      <|im_start|>, <|im_end|>, the non-special <tool_call> matched before normalisation and
      "é!" after it, tokenizer_config.json with a null bos and an eos (no generation config).
    - "smollm2": Digits(individual) + ByteLevel with GPT-2's regex, its special tokens trained
      into the vocabulary (ids 0-2, as SmolLM2's), no config files.
    Deterministic; needs only tokenizers. Returns `directory`.
    """
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )

    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=style == "smollm2")
    if style == "smollm2":
        steps = [pre_tokenizers.Digits(individual_digits=True), byte_level]
    else:
        pattern = LLAMA3_PATTERN if style == "llama3" else QWEN2_PATTERN
        steps = [pre_tokenizers.Split(Regex(pattern), behavior="isolated"), byte_level]
    tokenizer = Tokenizer(models.BPE(ignore_merges=style == "llama3"))
    tokenizer.normalizer = normalizers.NFC() if style == "qwen2" else None
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(steps)
    tokenizer.decoder = decoders.ByteLevel()
    trained_specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] if style == "smollm2" else []
    trainer = trainers.BpeTrainer(
        vocab_size=256 + len(trained_specials) + merges, special_tokens=trained_specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tokenizer.train_from_iterator(lines, trainer=trainer)
    directory.mkdir(parents=True, exist_ok=True)
    if style == "llama3":
        specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"]
        tokenizer.add_special_tokens(specials)
        ids = {s: tokenizer.token_to_id(s) for s in specials}
        bos = ("<|begin_of_text|>", ids["<|begin_of_text|>"])
        tokenizer.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B:1",
                                          special_tokens=[bos]),
        ])
        config = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "chat_template": CHAT_TEMPLATE}
        generation = {"bos_token_id": ids["<|begin_of_text|>"], "eos_token_id": [ids["<|end_of_text|>"], ids["<|eot_id|>"]]}
        (directory / "generation_config.json").write_text(json.dumps(generation), encoding="utf-8")
        (directory / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    elif style == "qwen2":
        tokenizer.add_special_tokens(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
        tokenizer.add_tokens([AddedToken("<tool_call>", normalized=False, special=False),
                              AddedToken("\u00e9!", normalized=True, special=False)])
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
        config = {"bos_token": None, "eos_token": {"content": "<|im_end|>", "special": True},
                  "chat_template": "{{ messages[0]['content'] }}<|im_end|>"}
        (directory / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    tokenizer.save(str(directory / "tokenizer.json"))
    return directory


TINY_SHAPE = dict(n_layer=2, n_head=4, n_embd=32, n_positions=64)
GPT2_124M_SHAPE = dict(n_layer=12, n_head=12, n_embd=768, n_positions=1024, vocab_size=50257)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("tiny"), **TINY_SHAPE)


@pytest.fixture(scope="session")
def gpt2_124m_dir(tmp_path_factory) -> Path:
    """GPT-2 small's shape; GPT-2's real vocabulary when ../shared has it, else the byte one."""
    directory = tmp_path_factory.mktemp("gpt2-124m")
    return make_checkpoint(directory, seed=1, std=0.02, gpt2_vocab=SHARED_DATA.is_dir(), **GPT2_124M_SHAPE)


@pytest.fixture(scope="session")
def hf_model():
    """Load a checkpoint directory with transformers, once per directory."""
    from transformers import GPT2LMHeadModel

    cache: dict[Path, object] = {}

    def get(directory: Path):
        if directory not in cache:
            cache[directory] = GPT2LMHeadModel.from_pretrained(directory).eval()
        return cache[directory]

    return get


@pytest.fixture(scope="session")
def hf_tokenizer_dir(tmp_path_factory):
    """`get(style, corpus)`: write_hf_tokenizer's directory for a style ("llama3", "qwen2",
    "smollm2") trained on a corpus ("multilingual": tests/multilingual_corpus.txt, always
    here; "shakespeare": tinyshakespeare, skipping without ../shared), once per session."""
    cache: dict[tuple[str, str], Path] = {}

    def get(style: str, corpus: str = "multilingual") -> Path:
        if (style, corpus) not in cache:
            if corpus == "multilingual":
                path = Path(__file__).with_name("multilingual_corpus.txt")
            else:
                path = SHARED_DATA / "tinyshakespeare" / "input.txt"
                if not path.is_file():
                    pytest.skip(NO_SHARED)
            with open(path, encoding="utf-8", newline="") as f:
                lines = f.read().splitlines(keepends=True)
            cache[style, corpus] = write_hf_tokenizer(tmp_path_factory.mktemp(f"{style}-{corpus}"), style, lines)
        return cache[style, corpus]

    return get


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(NO_SHARED)
    return SHARED_DATA


@pytest.fixture(autouse=True, scope="session")
def private_cache_dir(tmp_path_factory):
    """Keep the default database (and any hub cache) out of the user's real cache directory."""
    cache = tmp_path_factory.mktemp("xdg-cache")
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


@pytest.fixture(scope="session")
def pg_dsn(tmp_path_factory) -> str:
    """A private PostgreSQL 16 + pgvector server (pgserver) for the whole test session."""
    pgserver = pytest.importorskip("pgserver", reason="the postgres tests need pgserver (pip install pgserver)")
    server = pgserver.get_server(tmp_path_factory.mktemp("pgdata"), cleanup_mode="stop")
    return server.get_uri()


def needs_spark() -> None:
    """Skip, saying why, where pyspark or a Java runtime for it is missing."""
    pytest.importorskip("pyspark", reason="the spark tests need pyspark: pip install 'sqlgpt[spark]'")
    from sqlgpt.engines.sql.drivers.spark import java_found

    if not java_found():
        pytest.skip("the spark tests need a Java 17+ runtime")


# `sqlgpt next` on Spark as a user runs it (no --database: sqlgpt starts Spark on its default
# local master, its warehouse and metastore in the cache folder), then, in the same process, a
# query that Spark refuses.
NEXT_THEN_FAIL = """
import sys
import sqlgpt
from sqlgpt.cli import main

code = main(["next", "the cat", "--model", sys.argv[1], "--engine", "spark", "-k", "3"])
with sqlgpt.load(sys.argv[1], engine="spark", progress=False) as gpt:
    try:  # a query Spark refuses: its JVM logs it; sqlgpt's caller sees only the exception
        gpt.engine.conn.execute("SELECT no_such_function(1)")
    except Exception as e:
        print("refused:", str(e).splitlines()[0])
sys.exit(code)
"""


@pytest.fixture(scope="session")
def spark_started_by_sqlgpt(tiny_dir, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """(the finished process, its Spark folder): NEXT_THEN_FAIL run in a process of its own
    with a fresh cache directory, so that Spark is started by sqlgpt, as for a user. Its
    folder (`$XDG_CACHE_HOME/sqlgpt/spark`) then holds the tiny model, installed by
    `sqlgpt next`: the Spark script's DATABASE (test_script.py). The process has ended by
    then, as it must: a Derby metastore serves one process at a time, and this process may
    run the suite's shared Spark already (one per process)."""
    needs_spark()
    cache = tmp_path_factory.mktemp("spark-cache")
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    done = subprocess.run([sys.executable, "-c", NEXT_THEN_FAIL, str(tiny_dir)], env=env, capture_output=True,
                          text=True, timeout=600)
    return done, cache / "sqlgpt" / "spark"


@pytest.fixture(scope="session")
def spark_session(tmp_path_factory, tiny_dir):
    """One local SparkSession for the whole test session (a JVM takes seconds to start), its
    warehouse and metastore in a temporary directory. An engine on the tiny model stays open
    all along, so that its weights stay in Spark's cache from test to test: the last engine on
    a model to close uncaches it, and caching it again costs the next test seconds."""
    needs_spark()
    import sqlgpt
    from sqlgpt.engines.sql.drivers import spark

    session = spark.local_session("local[2]", tmp_path_factory.mktemp("spark"))
    keeps_tiny_cached = sqlgpt.load(tiny_dir, engine="spark", session=session, progress=False)
    yield session
    keeps_tiny_cached.close()
    session.stop()
