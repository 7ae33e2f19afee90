-- sqlgpt: tiny (0.0M parameters) on sqlite; weights in schema m_<schema>
-- $1 is the step's first new position; the token ids arrive as bound parameters.

-- ===== the logits of every new position =====

-- logits: the final hidden state · every token's unembedding
SELECT f.pos, e.j, (e.w0 * f.xn0 + e.w1 * f.xn1 + e.w2 * f.xn2 + e.w3 * f.xn3 + e.w4 * f.xn4 + e.w5 * f.xn5 + e.w6 * f.xn6 + e.w7 * f.xn7 + e.w8 * f.xn8 + e.w9 * f.xn9 + e.w10 * f.xn10 + e.w11 * f.xn11 + e.w12 * f.xn12 + e.w13 * f.xn13 + e.w14 * f.xn14 + e.w15 * f.xn15 + e.w16 * f.xn16 + e.w17 * f.xn17 + e.w18 * f.xn18 + e.w19 * f.xn19 + e.w20 * f.xn20 + e.w21 * f.xn21 + e.w22 * f.xn22 + e.w23 * f.xn23 + e.w24 * f.xn24 + e.w25 * f.xn25 + e.w26 * f.xn26 + e.w27 * f.xn27 + e.w28 * f.xn28 + e.w29 * f.xn29 + e.w30 * f.xn30 + e.w31 * f.xn31) AS logit FROM m_<schema>__wte e, final f WHERE f.pos >= ?1;

-- ===== the loss =====

-- the loss: how surprised the model is by each next token, summed
WITH
  l AS MATERIALIZED (SELECT f.pos, e.j, (e.w0 * f.xn0 + e.w1 * f.xn1 + e.w2 * f.xn2 + e.w3 * f.xn3 + e.w4 * f.xn4 + e.w5 * f.xn5 + e.w6 * f.xn6 + e.w7 * f.xn7 + e.w8 * f.xn8 + e.w9 * f.xn9 + e.w10 * f.xn10 + e.w11 * f.xn11 + e.w12 * f.xn12 + e.w13 * f.xn13 + e.w14 * f.xn14 + e.w15 * f.xn15 + e.w16 * f.xn16 + e.w17 * f.xn17 + e.w18 * f.xn18 + e.w19 * f.xn19 + e.w20 * f.xn20 + e.w21 * f.xn21 + e.w22 * f.xn22 + e.w23 * f.xn23 + e.w24 * f.xn24 + e.w25 * f.xn25 + e.w26 * f.xn26 + e.w27 * f.xn27 + e.w28 * f.xn28 + e.w29 * f.xn29 + e.w30 * f.xn30 + e.w31 * f.xn31) AS logit FROM m_<schema>__wte e, final f WHERE f.pos >= ?1),
  peak AS MATERIALIZED (SELECT pos, max(logit) AS top FROM l GROUP BY pos),
  lse AS MATERIALIZED (SELECT l.pos, ln(sum(exp(l.logit - p.top))) + p.top AS z FROM l JOIN peak p ON p.pos = l.pos
             GROUP BY l.pos, p.top)
SELECT sum(s.z - l.logit) AS nll FROM lse s JOIN tokens t ON t.pos = s.pos + 1
  JOIN l ON l.pos = s.pos AND l.j = t.token;

-- ===== the top tokens =====

-- the 5 most likely next tokens
WITH
  l AS MATERIALIZED (SELECT j, logit FROM (SELECT f.pos, e.j, (e.w0 * f.xn0 + e.w1 * f.xn1 + e.w2 * f.xn2 + e.w3 * f.xn3 + e.w4 * f.xn4 + e.w5 * f.xn5 + e.w6 * f.xn6 + e.w7 * f.xn7 + e.w8 * f.xn8 + e.w9 * f.xn9 + e.w10 * f.xn10 + e.w11 * f.xn11 + e.w12 * f.xn12 + e.w13 * f.xn13 + e.w14 * f.xn14 + e.w15 * f.xn15 + e.w16 * f.xn16 + e.w17 * f.xn17 + e.w18 * f.xn18 + e.w19 * f.xn19 + e.w20 * f.xn20 + e.w21 * f.xn21 + e.w22 * f.xn22 + e.w23 * f.xn23 + e.w24 * f.xn24 + e.w25 * f.xn25 + e.w26 * f.xn26 + e.w27 * f.xn27 + e.w28 * f.xn28 + e.w29 * f.xn29 + e.w30 * f.xn30 + e.w31 * f.xn31) AS logit FROM m_<schema>__wte e, final f WHERE f.pos = ?1) a WHERE j < 265)
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

