-- sqlgpt: tiny (0.0M parameters) on duckdb; weights in schema m_<schema>
-- dot products: DuckDB's list_dot_product (sqlgpt's vdot kernel is off)
-- $1 is the step's first new position; the token ids arrive as bound parameters.

-- ===== inspecting session tables =====

-- the tokens so far
CREATE TEMP TABLE tokens (pos INTEGER, token INTEGER);

-- the residual stream entering layer 0
CREATE TEMP TABLE x0 (pos INTEGER, x FLOAT[]);

-- the residual stream entering layer 1
CREATE TEMP TABLE x1 (pos INTEGER, x FLOAT[]);

-- the residual stream after the last layer
CREATE TEMP TABLE x2 (pos INTEGER, x FLOAT[]);

-- the final norm's output
CREATE TEMP TABLE final (pos INTEGER, xn FLOAT[]);

-- layer 0 queries (kind 0), keys (1) and values (2): a row per head and position
CREATE TEMP TABLE cache0 (kind INTEGER, hd INTEGER, pos INTEGER, vec FLOAT[]);

-- layer 0 values, transposed: one row per channel, a vector over positions
CREATE TEMP TABLE vt0 AS
SELECT c, CAST([] AS FLOAT[]) AS vals FROM range(32) r(c);

-- layer 0 attention weights
CREATE TEMP TABLE attn0 (pos INTEGER, hd INTEGER, kpos INTEGER, p FLOAT);

-- layer 1 queries (kind 0), keys (1) and values (2): a row per head and position
CREATE TEMP TABLE cache1 (kind INTEGER, hd INTEGER, pos INTEGER, vec FLOAT[]);

-- layer 1 values, transposed: one row per channel, a vector over positions
CREATE TEMP TABLE vt1 AS
SELECT c, CAST([] AS FLOAT[]) AS vals FROM range(32) r(c);

-- layer 1 attention weights
CREATE TEMP TABLE attn1 (pos INTEGER, hd INTEGER, kpos INTEGER, p FLOAT);

-- ===== the inspecting forward pass =====

-- token embedding + position embedding: the residual stream x0
INSERT INTO x0 SELECT t.pos, CAST(list_transform(list_zip(e.w, p.w), lambda z: z[1] + z[2]) AS FLOAT[]) FROM tokens t JOIN m_<schema>.wte e ON e.j = t.token JOIN m_<schema>.wpe p ON p.j = t.pos WHERE t.pos >= $1;

-- layer 0: norm 1 and the QKV projection; cache each head's query, key and value
INSERT INTO cache0
WITH
  n AS (SELECT pos, x, list_avg(x) AS mu, 1.0 / sqrt(list_var_pop(x) + 1e-05) AS r FROM (SELECT * FROM x0 WHERE pos >= $1) s),
  units AS (SELECT n.pos, m.j, n.r * (list_dot_product(m.w, n.x) - n.mu * m.s) + m.b AS y FROM m_<schema>.h0_qkv m, n n)
SELECT slot // 4 AS kind, slot % 4 AS hd, pos, vec FROM (SELECT u.pos, u.j // 8 AS slot, list(CAST(u.y AS FLOAT) ORDER BY u.j) AS vec FROM units u GROUP BY u.pos, u.j // 8) g;

-- layer 0: append the new values to each channel's row
UPDATE vt0 SET vals = list_concat(vals, list_transform(n.rows, lambda r: r[vt0.c % 8 + 1])) FROM (SELECT hd, list(vec ORDER BY pos) AS rows FROM cache0 WHERE kind = 2 AND pos >= $1 GROUP BY hd) n WHERE n.hd = vt0.c // 8;

-- layer 0: causal self-attention, projection + residual, then the MLP + residual
INSERT INTO x1
WITH
  -- each new query against every cached key of its head; later keys are masked out
  scores AS (SELECT q.pos, q.hd, k.pos AS kpos, list_dot_product(q.vec, k.vec) * 0.35355339059327373 AS s, k.pos <= q.pos AS visible
             FROM cache0 q JOIN cache0 k ON k.hd = q.hd AND k.kind = 1
             WHERE q.kind = 0 AND q.pos >= $1),
  peaks AS (SELECT s.*, r.m FROM scores s JOIN (SELECT pos, hd, max(CASE WHEN visible THEN s END) AS m
             FROM scores GROUP BY pos, hd) r ON r.pos = s.pos AND r.hd = s.hd),
  -- softmax, stable: exp of (score - the row's maximum); masked keys weigh 0
  weights AS (SELECT pos, hd, list(CAST(CASE WHEN visible THEN exp(s - m) ELSE 0 END AS FLOAT) ORDER BY kpos) AS e, sum(CASE WHEN visible THEN exp(s - m) ELSE 0 END) AS z FROM peaks GROUP BY pos, hd),
  -- each output channel: the softmax weights · that channel's values over positions
  attn AS (SELECT p.pos, list(CAST(list_dot_product(p.e, vt.vals) / p.z AS FLOAT) ORDER BY vt.c) AS y
           FROM vt0 vt JOIN weights p ON p.hd = vt.c // 8 GROUP BY p.pos),
  -- output projection, plus the residual stream
  resid AS (SELECT a.pos, list(a.v ORDER BY a.j) AS x FROM (SELECT a.pos, m.j, list_dot_product(m.w, a.y) + m.b + a.resid[m.j + 1] AS v FROM m_<schema>.h0_attn_proj m, (SELECT s.*, r.x AS resid FROM attn s JOIN x0 r ON r.pos = s.pos) a) a GROUP BY a.pos),
  -- norm 2 and the MLP's first layer, then its activation on each unit
  n2 AS (SELECT pos, x, list_avg(x) AS mu, 1.0 / sqrt(list_var_pop(x) + 1e-05) AS r FROM resid s),
  pre AS (SELECT n.pos, m.j, n.r * (list_dot_product(m.w, n.x) - n.mu * m.s) + m.b AS y FROM m_<schema>.h0_fc m, n2 n),
  fc AS (SELECT u.pos, list(CAST(0.5 * u.y * (1 + tanh(0.7978845608028654 * (u.y + 0.044715 * u.y * u.y * u.y))) AS FLOAT) ORDER BY u.j) AS y FROM pre u GROUP BY u.pos)
-- the MLP's projection, plus the residual stream: the next layer's input
SELECT a.pos, list(a.v ORDER BY a.j) AS x FROM (SELECT a.pos, m.j, list_dot_product(m.w, a.y) + m.b + a.resid[m.j + 1] AS v FROM m_<schema>.h0_mlp_proj m, (SELECT s.*, r.x AS resid FROM fc s JOIN resid r ON r.pos = s.pos) a) a GROUP BY a.pos;

-- layer 0: record the attention weights (for inspection only)
INSERT INTO attn0 WITH scores AS (SELECT q.pos, q.hd, k.pos AS kpos, list_dot_product(q.vec, k.vec) * 0.35355339059327373 AS s, k.pos <= q.pos AS visible
             FROM cache0 q JOIN cache0 k ON k.hd = q.hd AND k.kind = 1
             WHERE q.kind = 0 AND q.pos >= $1),
  peaks AS (SELECT s.*, r.m FROM scores s JOIN (SELECT pos, hd, max(CASE WHEN visible THEN s END) AS m
             FROM scores GROUP BY pos, hd) r ON r.pos = s.pos AND r.hd = s.hd)
SELECT pos, hd, kpos, CASE WHEN visible THEN exp(s - m) ELSE 0 END / sum(CASE WHEN visible THEN exp(s - m) ELSE 0 END) OVER (PARTITION BY pos, hd) FROM peaks WHERE visible;

-- layer 1: norm 1 and the QKV projection; cache each head's query, key and value
INSERT INTO cache1
WITH
  n AS (SELECT pos, x, list_avg(x) AS mu, 1.0 / sqrt(list_var_pop(x) + 1e-05) AS r FROM (SELECT * FROM x1 WHERE pos >= $1) s),
  units AS (SELECT n.pos, m.j, n.r * (list_dot_product(m.w, n.x) - n.mu * m.s) + m.b AS y FROM m_<schema>.h1_qkv m, n n)
SELECT slot // 4 AS kind, slot % 4 AS hd, pos, vec FROM (SELECT u.pos, u.j // 8 AS slot, list(CAST(u.y AS FLOAT) ORDER BY u.j) AS vec FROM units u GROUP BY u.pos, u.j // 8) g;

-- layer 1: append the new values to each channel's row
UPDATE vt1 SET vals = list_concat(vals, list_transform(n.rows, lambda r: r[vt1.c % 8 + 1])) FROM (SELECT hd, list(vec ORDER BY pos) AS rows FROM cache1 WHERE kind = 2 AND pos >= $1 GROUP BY hd) n WHERE n.hd = vt1.c // 8;

-- layer 1: causal self-attention, projection + residual, then the MLP + residual
INSERT INTO x2
WITH
  -- each new query against every cached key of its head; later keys are masked out
  scores AS (SELECT q.pos, q.hd, k.pos AS kpos, list_dot_product(q.vec, k.vec) * 0.35355339059327373 AS s, k.pos <= q.pos AS visible
             FROM cache1 q JOIN cache1 k ON k.hd = q.hd AND k.kind = 1
             WHERE q.kind = 0 AND q.pos >= $1),
  peaks AS (SELECT s.*, r.m FROM scores s JOIN (SELECT pos, hd, max(CASE WHEN visible THEN s END) AS m
             FROM scores GROUP BY pos, hd) r ON r.pos = s.pos AND r.hd = s.hd),
  -- softmax, stable: exp of (score - the row's maximum); masked keys weigh 0
  weights AS (SELECT pos, hd, list(CAST(CASE WHEN visible THEN exp(s - m) ELSE 0 END AS FLOAT) ORDER BY kpos) AS e, sum(CASE WHEN visible THEN exp(s - m) ELSE 0 END) AS z FROM peaks GROUP BY pos, hd),
  -- each output channel: the softmax weights · that channel's values over positions
  attn AS (SELECT p.pos, list(CAST(list_dot_product(p.e, vt.vals) / p.z AS FLOAT) ORDER BY vt.c) AS y
           FROM vt1 vt JOIN weights p ON p.hd = vt.c // 8 GROUP BY p.pos),
  -- output projection, plus the residual stream
  resid AS (SELECT a.pos, list(a.v ORDER BY a.j) AS x FROM (SELECT a.pos, m.j, list_dot_product(m.w, a.y) + m.b + a.resid[m.j + 1] AS v FROM m_<schema>.h1_attn_proj m, (SELECT s.*, r.x AS resid FROM attn s JOIN x1 r ON r.pos = s.pos) a) a GROUP BY a.pos),
  -- norm 2 and the MLP's first layer, then its activation on each unit
  n2 AS (SELECT pos, x, list_avg(x) AS mu, 1.0 / sqrt(list_var_pop(x) + 1e-05) AS r FROM resid s),
  pre AS (SELECT n.pos, m.j, n.r * (list_dot_product(m.w, n.x) - n.mu * m.s) + m.b AS y FROM m_<schema>.h1_fc m, n2 n),
  fc AS (SELECT u.pos, list(CAST(0.5 * u.y * (1 + tanh(0.7978845608028654 * (u.y + 0.044715 * u.y * u.y * u.y))) AS FLOAT) ORDER BY u.j) AS y FROM pre u GROUP BY u.pos)
-- the MLP's projection, plus the residual stream: the next layer's input
SELECT a.pos, list(a.v ORDER BY a.j) AS x FROM (SELECT a.pos, m.j, list_dot_product(m.w, a.y) + m.b + a.resid[m.j + 1] AS v FROM m_<schema>.h1_mlp_proj m, (SELECT s.*, r.x AS resid FROM fc s JOIN resid r ON r.pos = s.pos) a) a GROUP BY a.pos;

-- layer 1: record the attention weights (for inspection only)
INSERT INTO attn1 WITH scores AS (SELECT q.pos, q.hd, k.pos AS kpos, list_dot_product(q.vec, k.vec) * 0.35355339059327373 AS s, k.pos <= q.pos AS visible
             FROM cache1 q JOIN cache1 k ON k.hd = q.hd AND k.kind = 1
             WHERE q.kind = 0 AND q.pos >= $1),
  peaks AS (SELECT s.*, r.m FROM scores s JOIN (SELECT pos, hd, max(CASE WHEN visible THEN s END) AS m
             FROM scores GROUP BY pos, hd) r ON r.pos = s.pos AND r.hd = s.hd)
SELECT pos, hd, kpos, CASE WHEN visible THEN exp(s - m) ELSE 0 END / sum(CASE WHEN visible THEN exp(s - m) ELSE 0 END) OVER (PARTITION BY pos, hd) FROM peaks WHERE visible;

-- final norm
INSERT INTO final
WITH
  n AS (SELECT pos, x, list_avg(x) AS mu, 1.0 / sqrt(list_var_pop(x) + 1e-05) AS r FROM (SELECT * FROM x2 WHERE pos >= $1) s)
SELECT s.pos, CAST(list_transform(list_zip(s.xc, f.g, f.b), lambda z: z[1] * s.r * z[2] + z[3]) AS FLOAT[]) AS xn FROM (SELECT pos, CAST(list_transform(x, lambda v: v - mu) AS FLOAT[]) AS xc, r FROM n) s, m_<schema>.ln_f f;

-- ===== the measurements =====

-- the length of every residual stream at every position
CREATE TEMP TABLE norms AS
SELECT 0 AS layer, s.pos, sqrt(list_dot_product(s.x, s.x)) AS norm FROM x0 s UNION ALL SELECT 1 AS layer, s.pos, sqrt(list_dot_product(s.x, s.x)) AS norm FROM x1 s UNION ALL SELECT 2 AS layer, s.pos, sqrt(list_dot_product(s.x, s.x)) AS norm FROM x2 s;

-- the logit lens: every block's output read as if it were the last
CREATE TEMP TABLE lens AS
WITH
  n AS (SELECT layer, pos, x, list_avg(x) AS mu, 1.0 / sqrt(list_var_pop(x) + 1e-05) AS r FROM (SELECT 1 AS layer, s.* FROM x1 s UNION ALL SELECT 2 AS layer, s.* FROM x2 s) s),
  normed AS (SELECT s.layer, s.pos, CAST(list_transform(list_zip(s.xc, f.g, f.b), lambda z: z[1] * s.r * z[2] + z[3]) AS FLOAT[]) AS xn FROM (SELECT layer, pos, CAST(list_transform(x, lambda v: v - mu) AS FLOAT[]) AS xc, r FROM n) s, m_<schema>.ln_f f),
  logits AS (SELECT n.layer, n.pos, e.j, list_dot_product(e.w, n.xn) AS score FROM m_<schema>.wte e, normed n WHERE e.j < 265)
SELECT layer, pos, j AS token, p, rank FROM (SELECT * FROM (SELECT t.*, row_number() OVER (PARTITION BY layer, pos ORDER BY p DESC, j) AS rank FROM (SELECT layer, pos, j, exp(score - m) / sum(exp(score - m)) OVER (PARTITION BY layer, pos) AS p FROM (SELECT *, max(score) OVER (PARTITION BY layer, pos) AS m FROM logits) peaks) t) ranked WHERE rank <= 5) r;

-- the next token after the prompt at each temperature
CREATE TEMP TABLE next_token AS
WITH
  logits AS (SELECT t.temperature, e.j, list_dot_product(e.w, f.xn) / t.temperature AS score
             FROM m_<schema>.wte e, final f, (SELECT CAST(0.5 AS DOUBLE PRECISION) AS temperature UNION ALL SELECT CAST(1.0 AS DOUBLE PRECISION) AS temperature UNION ALL SELECT CAST(2.0 AS DOUBLE PRECISION) AS temperature) t WHERE f.pos = (SELECT max(pos) FROM final) AND e.j < 265)
SELECT temperature, j AS token, p, rank FROM (SELECT * FROM (SELECT t.*, row_number() OVER (PARTITION BY temperature ORDER BY p DESC, j) AS rank FROM (SELECT temperature, j, exp(score - m) / sum(exp(score - m)) OVER (PARTITION BY temperature) AS p FROM (SELECT *, max(score) OVER (PARTITION BY temperature) AS m FROM logits) peaks) t) ranked WHERE rank <= 5) r;

-- each prompt token's nearest tokens in the embedding matrix
CREATE TEMP TABLE neighbours AS
SELECT pos, token, similarity, rank FROM (SELECT * FROM (SELECT t.*, row_number() OVER (PARTITION BY pos ORDER BY similarity DESC NULLS LAST, token) AS rank FROM (SELECT t.pos, e.j AS token, list_dot_product(e.w, s.w) / NULLIF(sqrt(list_dot_product(e.w, e.w)) * sqrt(list_dot_product(s.w, s.w)), 0) AS similarity FROM tokens t JOIN m_<schema>.wte s ON s.j = t.token, m_<schema>.wte e WHERE e.j <> t.token AND e.j < 265) t) ranked WHERE rank <= 5) n;

