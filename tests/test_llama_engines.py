"""Llama and Qwen2 on every engine, through `sqlgpt.load`, against transformers.

Two random-weight checkpoints with the tokenizers of their families (tokenizer.json built
by Hugging Face tokenizers, see conftest): a Llama with grouped-query attention, llama3 rope
scaling and an untied unembedding, and a tied Qwen2 with its q/k/v biases. On each engine
(NumPy, DuckDB, SQLite, PostgreSQL with and without pgvector, Spark): the logits of every
position, read as a prompt and then token by token through the KV cache, within 1e-4 of
transformers; greedy decoding token for token as transformers' argmax; sampled text the
same on every engine for one seed; the loss `score` reports equal to transformers' on the
same ids; the batched table work (`nll_many`, `top_many`) equal to the one-by-one path;
explain in SQL equal to NumPy's; `score_table`, `next_table` and the commands equal to the
NumPy engine's.
The standalone script, which writes GPT-2's BPE in SQL, refuses these tokenizers in one line,
and runs a Llama whose vocabulary is GPT-2's kind.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import numpy as np
import pytest
import torch

import sqlgpt
from sqlgpt import SqlgptError
from sqlgpt.checkpoint import Checkpoint
from sqlgpt.engines.sql.script import build_script
from sqlgpt.explain import Explanation
from sqlgpt.tokenizer import Tokenizer

from .conftest import LLAMA3_ROPE_SCALING, make_llama_checkpoint, write_byte_bpe, write_hf_tokenizer

TOLERANCE = 1e-4
MODELS = {
    "llama3": dict(kind="llama", rope_scaling=LLAMA3_ROPE_SCALING),  # GQA 4/2, untied
    "qwen2": dict(kind="qwen2", tied=True),  # GQA 4/2, q/k/v biases
}
ENGINES = ["numpy", "duckdb", "sqlite", "postgres", "postgres-plain", "spark"]
# Spark spends a fraction of a second on every statement: it runs the Llama (the one with
# every feature: GQA, llama3 scaling, untied) with fewer steps; the same checks.
CASES = [(model, engine) for model in MODELS for engine in ENGINES if not (engine == "spark" and model != "llama3")]
NEW_TOKENS = {"spark": 3}
PROMPT = "First Citizen: we are accounted poor"
CORPUS = Path(__file__).with_name("multilingual_corpus.txt")  # the tokenizers' training text


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    """`get(model)`: a checkpoint whose vocabulary is its tokenizer's, with that tokenizer beside it."""
    made: dict[str, Path] = {}

    def get(model: str) -> Path:
        if model not in made:
            directory = tmp_path_factory.mktemp(model)
            write_hf_tokenizer(directory, model, CORPUS.read_text(encoding="utf-8").splitlines(keepends=True))
            vocab = Tokenizer.from_directory(directory).vocab_size
            made[model] = make_llama_checkpoint(directory, **MODELS[model], vocab_size=vocab)
        return made[model]

    return get


@pytest.fixture(scope="module")
def loaded(request, model_dirs, tmp_path_factory):
    """`get(model, engine)`: the model loaded on that engine, once per module."""
    models: dict[tuple[str, str], sqlgpt.GPT] = {}

    def get(model: str, engine: str) -> sqlgpt.GPT:
        if (model, engine) not in models:
            if engine == "numpy":
                options = {}
            elif engine == "postgres":
                options = {"database": request.getfixturevalue("pg_dsn")}
            elif engine == "postgres-plain":
                options = {"database": request.getfixturevalue("pg_plain_dsn"), "pgvector": False}
            elif engine == "spark":
                options = {"session": request.getfixturevalue("spark_session")}
            else:
                options = {"database": str(tmp_path_factory.mktemp(engine) / f"m.{engine}")}
            name = "postgres" if engine.startswith("postgres") else engine
            if name != "numpy":
                options["progress"] = False
            models[model, engine] = sqlgpt.load(model_dirs(model), engine=name, **options)
        return models[model, engine]

    yield get
    for model in models.values():
        model.close()


@pytest.fixture(scope="module")
def pg_plain_dsn(pg_dsn):
    """Another database on the test server, for installs without pgvector: the same model's
    real[] install in pg_dsn's database would replace its pgvector install there."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS sqlgpt_llama_plain")
        conn.execute("CREATE DATABASE sqlgpt_llama_plain")
    return make_conninfo(pg_dsn, dbname="sqlgpt_llama_plain")


@pytest.fixture(scope="module")
def reference(model_dirs, hf_causal_lm):
    """`get(model)`: transformers' model of that checkpoint."""
    return lambda model: hf_causal_lm(model_dirs(model))


def hf_logits(model, ids: list[int]) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].numpy()  # [n, V]


@pytest.mark.parametrize(("model", "engine"), CASES)
def test_logits_through_the_cache_match_transformers(model, engine, loaded, reference):
    gpt = loaded(model, engine)
    ids = gpt.encode_prompt(PROMPT)
    assert ids[0] == gpt.tokenizer.bos_id or not gpt.tokenizer.adds_bos
    with gpt.session() as session:
        first = len(ids) - NEW_TOKENS.get(engine, len(ids) - 5)  # a prompt, then token by token
        ours = np.concatenate([session.forward(ids[:first], all_logits=True)]
                              + [session.forward([token], all_logits=True) for token in ids[first:]])
    theirs = hf_logits(reference(model), ids)
    assert np.abs(ours - theirs).max() <= TOLERANCE
    assert np.abs(theirs).max() > 0.3  # not vacuous


@pytest.mark.parametrize(("model", "engine"), CASES)
def test_greedy_is_transformers_argmax(model, engine, loaded, reference):
    gpt = loaded(model, engine)
    ids = gpt.encode_prompt(PROMPT)
    n = NEW_TOKENS.get(engine, 8)
    ours = gpt.generate_ids(ids, max_new_tokens=n, temperature=0)
    expected, context = [], list(ids)
    for _ in range(n):
        token = int(np.argmax(hf_logits(reference(model), context)[-1, : gpt.tokenizer.vocab_size]))
        if token in gpt.tokenizer.eos_ids:
            break
        expected.append(token)
        context.append(token)
    assert ours == expected


@pytest.mark.parametrize(("model", "engine"), [case for case in CASES if case[1] != "numpy"])
def test_a_seed_gives_the_same_text_on_every_engine(model, engine, loaded):
    n = NEW_TOKENS.get(engine, 10)
    text = loaded(model, engine).generate(PROMPT, max_new_tokens=n, temperature=1.0, seed=7)
    assert text == loaded(model, "numpy").generate(PROMPT, max_new_tokens=n, temperature=1.0, seed=7)


@pytest.mark.parametrize(("model", "engine"), CASES)
def test_score_is_transformers_loss(model, engine, loaded, reference):
    gpt = loaded(model, engine)
    text = "Before we proceed any further, hear me speak."
    ids = gpt.score_ids(text)
    assert ids[0] == gpt.start_id()
    with torch.no_grad():
        loss = reference(model)(torch.tensor([ids]), labels=torch.tensor([ids])).loss.item()
    assert gpt.score(text).loss == pytest.approx(loss, abs=1e-5)


@pytest.mark.parametrize(("model", "engine"), [case for case in CASES if case[1] in ("duckdb", "postgres", "spark")])
def test_batched_passes_equal_the_one_by_one_path(model, engine, loaded):
    gpt = loaded(model, engine)
    windows = [(gpt.encode_prompt(PROMPT), 2), (gpt.encode_prompt("Speak, speak."), 1)]
    batched = gpt.engine.nll_many(windows)
    contexts = [ids for ids, _ in windows]
    vocab = gpt.tokenizer.vocab_size
    tops = gpt.engine.top_many(contexts, 3, vocab)
    with gpt.session() as session:
        for (ids, first), nll, top in zip(windows, batched, tops):
            session.reset()
            assert nll == pytest.approx(session.forward_nll(ids, first), abs=1e-6)
            session.reset()
            single = session.forward_top(ids, 3, vocab)
            assert [j for j, _ in top] == [j for j, _ in single]
            assert np.allclose([p for _, p in top], [p for _, p in single], atol=1e-7)


@pytest.mark.parametrize(("model", "engine"), [("llama3", "duckdb"), ("llama3", "sqlite"), ("qwen2", "duckdb")])
def test_explain_in_sql_is_numpys(model, engine, loaded):
    ours, reference = (loaded(model, e).explain(PROMPT, top_k=4) for e in (engine, "numpy"))
    assert isinstance(ours, Explanation) and ours.tokens == reference.tokens
    assert np.abs(ours.attention - reference.attention).max() <= TOLERANCE  # [L, H, T, T], per query head
    assert ours.attention.shape[1] == loaded(model, engine).config.n_head
    assert np.allclose(ours.norms, reference.norms, rtol=1e-5, atol=1e-5)
    pairs = [(a, b) for x, y in zip(ours.lens, reference.lens) for a, b in zip(x, y)]
    pairs += list(zip(ours.next_tokens.values(), reference.next_tokens.values())) + list(zip(ours.neighbours,
                                                                                             reference.neighbours))
    for a, b in pairs:
        assert [c.id for c in a] == [c.id for c in b]
        assert np.allclose([c.value for c in a], [c.value for c in b], atol=1e-5)


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_the_standalone_script_runs_the_family_with_a_gpt2_vocabulary(engine, tmp_path):
    """The script's forward pass is the plan's, so a Llama whose tokenizer is GPT-2's kind
    (vocab.json, merges.txt) runs in it: greedy and sampled text as the NumPy engine's."""
    eot = write_byte_bpe(tmp_path)
    make_llama_checkpoint(tmp_path, **MODELS["llama3"], vocab_size=eot + 1, bos_token_id=eot, eos_token_id=eot)
    reference = sqlgpt.load(tmp_path, engine="numpy")
    database = str(tmp_path / f"m.{engine}")
    sqlgpt.load(tmp_path, engine=engine, database=database, progress=False).close()
    for prompt, temperature, seed in [(PROMPT, 0.0, None), ("Speak", 1.3, 5)]:
        expected = reference.generate(prompt, max_new_tokens=8, temperature=temperature, seed=seed)
        script = build_script(Checkpoint(tmp_path), engine, prompt, 8, temperature=temperature, seed=seed)
        if engine == "duckdb":
            with duckdb.connect(database) as conn:
                got = conn.execute(script).fetchone()[0]
        else:  # as a program would: executescript, which returns no rows, then the last query
            body, query = script.rsplit("-- ===== the generated text =====", 1)
            with sqlite3.connect(database) as conn:
                conn.executescript(body)
                got = conn.execute(query).fetchone()[0]
        assert len(expected) >= 4 and got == expected


def test_the_standalone_script_refuses_these_tokenizers(model_dirs):
    with pytest.raises(SqlgptError, match="sqlgpt generate") as info:
        build_script(Checkpoint(model_dirs("llama3")), "duckdb", "hello", 3)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_table_work_is_the_numpy_engines(engine, model_dirs, loaded, tmp_path):
    """`score_table` and `next_table` on a Llama: each row's loss and next tokens as the NumPy
    engine's `score` and logits give them (which the tests above hold to
    transformers), a row longer than the context window included."""
    reference = loaded("llama3", "numpy")
    rows = [PROMPT, "Speak, speak.", "", None, "We are accounted poor citizens " * 4]
    assert len(reference.prompt_ids(rows[-1])) > reference.config.block_size
    database = tmp_path / f"docs.{engine}"
    connect = (lambda: duckdb.connect(str(database))) if engine == "duckdb" else (lambda: sqlite3.connect(database))
    conn = connect()
    conn.execute("CREATE TABLE docs (id INTEGER, body TEXT)")
    conn.executemany("INSERT INTO docs VALUES (?, ?)", list(enumerate(rows)))
    conn.commit()
    conn.close()
    with sqlgpt.load(model_dirs("llama3"), engine=engine, database=str(database), progress=False) as gpt:
        gpt.score_table("docs", "body", key="id")
        gpt.next_table("docs", "body", key="id", k=3)
    conn = connect()
    scores = {row[0]: row[1:] for row in conn.execute("SELECT id, tokens, loss FROM sqlgpt_scores").fetchall()}
    ranked = conn.execute("SELECT id, token, probability FROM sqlgpt_next ORDER BY id, rank").fetchall()
    conn.close()
    for i, text in enumerate(rows):
        if text is None:
            assert not [r for r in ranked if r[0] == i]
            continue
        ids = reference.prompt_ids(text)
        window = reference.config.block_size
        if len(ids) > window:  # the last window, after the beginning-of-text token
            ids = ids[:1] + ids[len(ids) - window + 1 :]
        logits = reference.logits(ids)[-1, : reference.tokenizer.vocab_size].astype(np.float64)  # [V]
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        expected = np.argsort(-probs, kind="stable")[:3]
        mine = [(token, p) for j, token, p in ranked if j == i]
        assert [token for token, _ in mine] == expected.tolist()
        assert np.allclose([p for _, p in mine], probs[expected], atol=1e-6)
        if text:
            score = reference.score(text)
            assert scores[i][0] == score.n_tokens and abs(scores[i][1] - score.loss) <= 1e-5


def test_the_commands_take_these_models(model_dirs, loaded, tmp_path, capsys):
    """`sqlgpt next / generate / score / choose / tokenize` on a Qwen2 directory (tokenizer.json,
    biases, tied) on DuckDB print what the API gives on the NumPy engine."""
    from sqlgpt.cli import main

    directory, reference = str(model_dirs("qwen2")), loaded("qwen2", "numpy")
    common = ["--model", directory, "--engine", "duckdb", "--database", str(tmp_path / "m.duckdb")]

    def run(*argv: str) -> str:
        assert main([*argv, *(common if argv[0] != "tokenize" else common[:2])]) == 0
        return capsys.readouterr().out

    lines = run("next", PROMPT, "-k", "3").splitlines()
    expected = reference.next_token_probs(PROMPT, k=3)
    assert [float(line.split()[-1]) for line in lines[1:]] == pytest.approx([p for _, p in expected], abs=1e-6)
    assert run("generate", PROMPT, "-n", "8", "--seed", "3") == reference.generate(PROMPT, max_new_tokens=8, seed=3) + "\n"
    text = tmp_path / "text.txt"
    text.write_text("Speak, speak. We are accounted poor citizens.", encoding="utf-8")
    assert f"{reference.score(text.read_text(encoding='utf-8')).loss:.4f}" in run("score", str(text))
    rows = run("choose", "First Citizen:", " we", " speak", " poor").splitlines()[1:]
    assert rows[reference.choose("First Citizen:", [" we", " speak", " poor"]).index].startswith("*")
    ids = reference.tokenizer.encode(PROMPT)
    assert [int(line.split()[0]) for line in run("tokenize", PROMPT).splitlines()[2:]] == ids
