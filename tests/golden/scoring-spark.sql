-- sqlgpt: tiny (0.0M parameters) on spark; weights in schema m_<schema>
-- dot products: Spark's vector_inner_product; a weight matrix is one ARRAY<ARRAY<FLOAT>> value; activations ARRAY<FLOAT>
-- $1 is the step's first new position; the token ids arrive as bound parameters.

-- ===== the logits of every new position =====

-- logits: the final hidden state · every token's unembedding
SELECT f.pos, e.j, vector_inner_product(e.w, f.xn) AS logit FROM m_<schema>.wte e, final f WHERE f.pos >= :p1;

-- ===== the loss =====

-- the loss: how surprised the model is by each next token, summed
WITH
  -- the positions whose next token is predicted, and that token
  scored AS (SELECT f.pos, f.xn, t.token AS target FROM final f JOIN tokens t ON t.pos = f.pos + 1
             WHERE f.pos >= :p1),
  -- the logits of each chunk of the vocabulary; its largest, and its sum of exp(logit - largest)
  chunks AS (SELECT s.pos, transform(c.w, (u_, n_) -> vector_inner_product(u_, s.xn)) AS l FROM scored s, m_<schema>.lm_chunks c),
  peaks AS (SELECT pos, l, array_max(l) AS top FROM chunks),
  parts AS (SELECT pos, top, vector_inner_product(transform(l, (u_, n_) -> CAST(exp(u_ - top) AS FLOAT)), array_repeat(CAST(1 AS FLOAT), size(transform(l, (u_, n_) -> CAST(exp(u_ - top) AS FLOAT))))) AS z, max(top) OVER (PARTITION BY pos) AS peak FROM peaks),
  lse AS (SELECT pos, ln(sum(z * exp(top - peak))) + max(peak) AS z FROM parts GROUP BY pos),
  target AS (SELECT s.pos, vector_inner_product(e.w, s.xn) AS logit FROM scored s JOIN m_<schema>.wte e ON e.j = s.target)
SELECT sum(s.z - t.logit) AS nll FROM lse s JOIN target t ON t.pos = s.pos;

-- ===== the top tokens =====

-- the 5 most likely next tokens
WITH
  l AS (SELECT j, logit FROM (SELECT f.pos, e.j, vector_inner_product(e.w, f.xn) AS logit FROM m_<schema>.wte e, final f WHERE f.pos = :p1) a WHERE j < 265)
SELECT token, p FROM (SELECT j AS token, p, rank FROM (SELECT * FROM (SELECT t.*, row_number() OVER (ORDER BY p DESC, j) AS rank FROM (SELECT j, exp(logit - m) / sum(exp(logit - m)) OVER () AS p FROM (SELECT *, max(logit) OVER () AS m FROM l) peaks) t) ranked WHERE rank <= 5) r) t ORDER BY rank;

-- ===== a new sequence on the same session =====

-- empty tokens
TRUNCATE TABLE tokens;

-- empty x0
TRUNCATE TABLE x0;

-- empty x1
TRUNCATE TABLE x1;

-- empty x2
TRUNCATE TABLE x2;

-- empty final
TRUNCATE TABLE final;

-- empty cache0
TRUNCATE TABLE cache0;

-- empty cache1
TRUNCATE TABLE cache1;

