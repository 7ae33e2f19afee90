"""`GPT.explain`: every measurement checked against transformers or the model's own output.

    attention      rows sum to 1, nothing above the diagonal, and equal to transformers'
                   output_attentions (eager attention) within 1e-4
    logit lens     each block's hidden state through ln_f and the unembedding, as computed
                   with torch; its last layer is exactly what `next_token_probs` says
    norms          the lengths of transformers' hidden states (the last block's output
                   taken as it enters ln_f)
    temperatures   equal to `next_token_probs` at each temperature
    neighbours     cosine similarity over the embedding matrix, the token itself excluded
    keep           SQL engines leave queryable tables in sqlgpt_inspect; NumPy refuses

for the NumPy and DuckDB engines, and against NumPy's on PostgreSQL, SQLite and Spark, all on
the tiny random-weight checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sqlgpt
from sqlgpt import SqlgptError
from sqlgpt.explain import TEMPERATURES, Explanation

PROMPT = "the cat sat on the mat"
TOLERANCE = 1e-4


def explain(directory: Path, engine: str, **options) -> Explanation:
    if engine != "numpy":
        if "session" not in options:  # Spark's is the shared SparkSession
            options.setdefault("database", ":memory:")
        options["progress"] = False
    with sqlgpt.load(directory, engine=engine, **options) as gpt:
        return gpt.explain(PROMPT, top_k=5)


@pytest.fixture(scope="module", params=["numpy", "duckdb"])
def explained(request, tiny_dir) -> Explanation:
    return explain(tiny_dir, request.param)


@pytest.fixture(scope="module")
def reference(tiny_dir):
    """transformers' model, PROMPT's ids, its outputs with attentions and hidden states, and
    the residual stream after every block (transformers' last hidden state is after ln_f)."""
    import torch
    from transformers import GPT2LMHeadModel

    model = GPT2LMHeadModel.from_pretrained(tiny_dir, attn_implementation="eager").eval()
    ids = sqlgpt.load(tiny_dir, engine="numpy").encode_prompt(PROMPT)
    entering_ln_f = []
    hook = model.transformer.ln_f.register_forward_hook(lambda module, args, output: entering_ln_f.append(args[0]))
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    hook.remove()
    streams = list(out.hidden_states[:-1]) + entering_ln_f  # L+1 × [1, T, C]
    return model, ids, out, np.stack([h[0].numpy() for h in streams])  # [L+1, T, C]


def test_tokens_are_the_prompts(explained, tiny_dir):
    gpt = sqlgpt.load(tiny_dir, engine="numpy")
    assert [i for i, _ in explained.tokens] == gpt.encode_prompt(PROMPT)
    assert "".join(piece for _, piece in explained.tokens) == PROMPT


def test_attention_rows_sum_to_one_and_never_look_ahead(explained, tiny_dir):
    cfg = sqlgpt.load(tiny_dir, engine="numpy").config
    T = len(explained.tokens)
    assert explained.attention.shape == (cfg.n_layer, cfg.n_head, T, T)
    assert np.abs(explained.attention.sum(-1) - 1).max() <= 1e-5
    assert np.all(np.triu(explained.attention, k=1) == 0)


def test_attention_matches_transformers(explained, reference):
    _, _, out, _ = reference
    theirs = np.stack([a[0].numpy() for a in out.attentions])  # [L, H, T, T]
    assert np.abs(explained.attention - theirs).max() <= TOLERANCE


def test_norms_are_the_residual_streams_lengths(explained, reference):
    *_, streams = reference
    assert np.allclose(explained.norms, np.linalg.norm(streams, axis=-1), rtol=1e-5, atol=1e-5)


def test_logit_lens_is_each_block_through_the_final_norm(explained, reference):
    import torch

    model, *_, streams = reference
    for layer, stream in enumerate(streams[1:]):  # [T, C]
        with torch.no_grad():
            logits = model.lm_head(model.transformer.ln_f(torch.from_numpy(stream)))  # [T, V]
            probs = torch.softmax(logits.double(), -1).numpy()  # [T, V]
        for pos, candidates in enumerate(explained.lens[layer]):
            ids = [c.id for c in candidates]
            assert ids == list(np.argsort(-probs[pos], kind="stable")[:5])
            assert np.allclose([c.value for c in candidates], probs[pos, ids], atol=1e-6)


def test_the_lens_last_layer_and_temperatures_are_next_token_probs(explained, tiny_dir):
    with sqlgpt.load(tiny_dir, engine="numpy") as gpt:
        for temperature in TEMPERATURES:
            expected = gpt.next_token_probs(PROMPT, k=5, temperature=temperature)
            candidates = explained.next_tokens[temperature]
            assert [gpt.tokenizer.decode([c.id]) for c in candidates] == [piece for piece, _ in expected]
            assert np.allclose([c.value for c in candidates], [p for _, p in expected], atol=1e-6)
            if temperature == 1.0:
                last = explained.lens[-1][-1]
                assert [c.id for c in last] == [c.id for c in candidates]
                assert np.allclose([c.value for c in last], [p for _, p in expected], atol=1e-6)


def test_neighbours_are_the_most_cosine_similar_other_tokens(explained, reference):
    model, ids, *_ = reference
    wte = model.transformer.wte.weight.detach().numpy().astype(np.float64)  # [V, C]
    unit = wte / np.linalg.norm(wte, axis=-1, keepdims=True)
    for token, candidates in zip(ids, explained.neighbours):
        similarity = unit @ unit[token]  # [V]
        similarity[token] = -np.inf
        expected = np.argsort(-similarity, kind="stable")[:5]
        assert [c.id for c in candidates] == list(expected)
        assert np.allclose([c.value for c in candidates], similarity[expected], atol=1e-5)


def test_every_field_agrees_between_engines(tiny_dir):
    numpy, duckdb = explain(tiny_dir, "numpy"), explain(tiny_dir, "duckdb")
    assert_same(duckdb, numpy)


def assert_same(ours: Explanation, reference: Explanation) -> None:
    assert ours.tokens == reference.tokens
    assert np.abs(ours.attention - reference.attention).max() <= TOLERANCE
    assert np.allclose(ours.norms, reference.norms, rtol=1e-5, atol=1e-5)
    pairs = [(a, b) for x, y in zip(ours.lens, reference.lens) for a, b in zip(x, y)]
    pairs += list(zip(ours.next_tokens.values(), reference.next_tokens.values()))
    pairs += list(zip(ours.neighbours, reference.neighbours))
    for a, b in pairs:
        assert [c.id for c in a] == [c.id for c in b]
        assert np.allclose([c.value for c in a], [c.value for c in b], atol=1e-5)


def test_keep_leaves_the_measurements_as_tables(tiny_dir, tmp_path):
    import duckdb

    database = tmp_path / "explain.duckdb"
    with sqlgpt.load(tiny_dir, engine="duckdb", database=str(database), progress=False) as gpt:
        explanation = gpt.explain(PROMPT, top_k=3, keep=True)
        assert gpt.logits([1, 2, 3]).shape[0] == 3  # the engine still works afterwards
    names = {"lens", "norms", "next_token", "neighbours", "attn0", "attn1", "x0", "x2", "tokens"}
    assert {f"sqlgpt_inspect.{n}" for n in names} <= set(explanation.tables)
    L, T = len(explanation.lens), len(explanation.tokens)
    with duckdb.connect(str(database), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM sqlgpt_inspect.lens").fetchall() == [(L * T * 3,)]
        assert db.execute("SELECT count(*) FROM sqlgpt_inspect.norms").fetchall() == [((L + 1) * T,)]
        rows = db.execute("SELECT temperature, token, p FROM sqlgpt_inspect.next_token WHERE rank = 1 "
                          "ORDER BY temperature").fetchall()
        assert [(t, c.id) for t, (c, *_) in explanation.next_tokens.items()] == [(t, token) for t, token, _ in rows]
        top = db.execute("SELECT token FROM sqlgpt_inspect.neighbours WHERE pos = 0 ORDER BY rank").fetchall()
        assert [token for (token,) in top] == [c.id for c in explanation.neighbours[0]]


def test_numpy_has_nothing_to_keep_and_top_k_is_checked(tiny_dir):
    with sqlgpt.load(tiny_dir, engine="numpy") as gpt:
        with pytest.raises(SqlgptError, match="SQL engine"):
            gpt.explain(PROMPT, keep=True)
        with pytest.raises(SqlgptError, match="top_k"):
            gpt.explain(PROMPT, top_k=0)
        huge = gpt.explain("hi", top_k=10_000)  # more candidates than the vocabulary: all of it
        assert len(huge.neighbours[0]) == gpt.tokenizer.vocab_size - 1
        assert len(huge.lens[0][0]) == gpt.tokenizer.vocab_size - 1


def test_postgres_explains_in_sql(tiny_dir, pg_dsn):
    ours = explain(tiny_dir, "postgres", database=pg_dsn)
    assert_same(ours, explain(tiny_dir, "numpy"))


def test_sqlite_explains_in_sql(tiny_dir):
    """The wide layout's vectors are rows of columns: the same plan measures them."""
    ours = explain(tiny_dir, "sqlite")
    assert_same(ours, explain(tiny_dir, "numpy"))


def test_spark_explains_in_sql(tiny_dir, spark_session):
    ours = explain(tiny_dir, "spark", session=spark_session)
    assert_same(ours, explain(tiny_dir, "numpy"))
