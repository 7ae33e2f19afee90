-- sqlgpt: tiny (0.0M parameters) on duckdb; weights in schema m_<schema>
-- dot products: vdot, sqlgpt's vector kernel (C, loaded on sqlgpt's own connections only; list_dot_product computes the same, more slowly)
-- $1 is the step's first new position; the token ids arrive as bound parameters.

-- ===== the logits of every new position =====

-- logits: the final hidden state · every token's unembedding
SELECT f.pos, e.j, vdot(e.w, f.xn) AS logit FROM m_<schema>.wte e, final f WHERE f.pos >= $1;

-- ===== the loss =====

-- the loss: how surprised the model is by each next token, summed
WITH
  l AS (SELECT f.pos, e.j, vdot(e.w, f.xn) AS logit FROM m_<schema>.wte e, final f WHERE f.pos >= $1),
  peak AS (SELECT pos, max(logit) AS top FROM l GROUP BY pos),
  lse AS (SELECT l.pos, ln(sum(exp(l.logit - p.top))) + p.top AS z FROM l JOIN peak p ON p.pos = l.pos
             GROUP BY l.pos, p.top)
SELECT sum(s.z - l.logit) AS nll FROM lse s JOIN tokens t ON t.pos = s.pos + 1
  JOIN l ON l.pos = s.pos AND l.j = t.token;

-- ===== the top tokens =====

-- the 5 most likely next tokens
WITH
  l AS (SELECT j, logit FROM (SELECT f.pos, e.j, vdot(e.w, f.xn) AS logit FROM m_<schema>.wte e, final f WHERE f.pos = $1) a WHERE j < 265)
SELECT token, p FROM (SELECT j AS token, p, rank FROM (SELECT * FROM (SELECT t.*, row_number() OVER (ORDER BY p DESC, j) AS rank FROM (SELECT j, exp(logit - m) / sum(exp(logit - m)) OVER () AS p FROM (SELECT *, max(logit) OVER () AS m FROM l) peaks) t) ranked WHERE rank <= 5) r) t ORDER BY rank;

-- ===== a new sequence on the same session =====

-- empty tokens
DELETE FROM tokens;

-- empty x0
DELETE FROM x0;

-- empty x1
DELETE FROM x1;

-- empty x2
DELETE FROM x2;

-- empty final
DELETE FROM final;

-- empty cache0
DELETE FROM cache0;

-- empty cache1
DELETE FROM cache1;

-- empty vt0
UPDATE vt0 SET vals = CAST([] AS FLOAT[]);

-- empty vt1
UPDATE vt1 SET vals = CAST([] AS FLOAT[]);

