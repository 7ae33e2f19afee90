-- sqlgpt: tiny (0.0M parameters) on spark; weights in schema m_<schema>
-- $1 is the step's first new position; the token ids arrive as bound parameters.

-- ===== inspecting session tables =====

-- the tokens so far
CREATE TABLE tokens (pos INT, token INT) USING parquet;

-- the residual stream entering layer 0
CREATE TABLE x0 (pos INT, x ARRAY<DOUBLE>) USING parquet;

-- the residual stream entering layer 1
CREATE TABLE x1 (pos INT, x ARRAY<DOUBLE>) USING parquet;

-- the residual stream after the last layer
CREATE TABLE x2 (pos INT, x ARRAY<DOUBLE>) USING parquet;

-- the final norm's output
CREATE TABLE final (pos INT, xn ARRAY<DOUBLE>) USING parquet;

-- layer 0 queries (kind 0), keys (1) and values (2): a row per head and position
CREATE TABLE cache0 (kind INT, hd INT, pos INT, vec ARRAY<DOUBLE>) USING parquet;

-- layer 0 values, transposed: one row per channel, a vector over positions
CREATE TEMPORARY VIEW vt0 AS SELECT r.c, transform(sort_array(collect_list(named_struct('k', k.pos, 'v', CAST(k.vec[r.c % 8] AS DOUBLE)))), e_ -> e_.v) AS vals FROM (SELECT CAST(id AS INT) AS c FROM range(32)) r JOIN cache0 k ON k.hd = CAST(r.c DIV 8 AS INT) WHERE k.kind = 2 GROUP BY r.c;

-- layer 0 attention weights
CREATE TABLE attn0 (pos INT, hd INT, kpos INT, p DOUBLE) USING parquet;

-- layer 1 queries (kind 0), keys (1) and values (2): a row per head and position
CREATE TABLE cache1 (kind INT, hd INT, pos INT, vec ARRAY<DOUBLE>) USING parquet;

-- layer 1 values, transposed: one row per channel, a vector over positions
CREATE TEMPORARY VIEW vt1 AS SELECT r.c, transform(sort_array(collect_list(named_struct('k', k.pos, 'v', CAST(k.vec[r.c % 8] AS DOUBLE)))), e_ -> e_.v) AS vals FROM (SELECT CAST(id AS INT) AS c FROM range(32)) r JOIN cache1 k ON k.hd = CAST(r.c DIV 8 AS INT) WHERE k.kind = 2 GROUP BY r.c;

-- layer 1 attention weights
CREATE TABLE attn1 (pos INT, hd INT, kpos INT, p DOUBLE) USING parquet;

-- ===== the inspecting forward pass =====

-- token embedding + position embedding: the residual stream x0
INSERT INTO x0 SELECT t.pos, transform(e.w, (v_, i_) -> v_ + p.w[i_]) FROM tokens t JOIN m_<schema>.wte e ON e.j = t.token JOIN m_<schema>.wpe p ON p.j = t.pos WHERE t.pos >= :p1;

-- layer 0: norm 1 and the QKV projection; cache each head's query, key and value
INSERT INTO cache0
WITH
  n AS (SELECT pos, x, (aggregate(x, 0D, (s_, e_) -> s_ + e_) / size(x)) AS mu, 1.0 / sqrt((aggregate(x, 0D, (s_, e_) -> s_ + e_ * e_) / size(x) - pow((aggregate(x, 0D, (s_, e_) -> s_ + e_) / size(x)), 2)) + 1e-05) AS r FROM (SELECT * FROM x0 WHERE pos >= :p1) s),
  units AS (SELECT n.pos, m.j, n.r * (aggregate(zip_with(m.w, n.x, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) - n.mu * m.s) + m.b AS y FROM m_<schema>.h0_qkv m, n n)
SELECT CAST(slot DIV 4 AS INT) AS kind, slot % 4 AS hd, pos, vec FROM (SELECT u.pos, CAST(u.j DIV 8 AS INT) AS slot, transform(sort_array(collect_list(named_struct('k', u.j, 'v', CAST(u.y AS DOUBLE)))), e_ -> e_.v) AS vec FROM units u GROUP BY u.pos, CAST(u.j DIV 8 AS INT)) g;

-- layer 0: causal self-attention, projection + residual, then the MLP + residual
INSERT INTO x1
WITH
  -- each new query against every cached key of its head; later keys are masked out
  scores AS (SELECT q.pos, q.hd, k.pos AS kpos, aggregate(zip_with(q.vec, k.vec, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) * 0.35355339059327373 AS s, k.pos <= q.pos AS visible
             FROM cache0 q JOIN cache0 k ON k.hd = q.hd AND k.kind = 1
             WHERE q.kind = 0 AND q.pos >= :p1),
  peaks AS (SELECT s.*, r.m FROM scores s JOIN (SELECT pos, hd, max(CASE WHEN visible THEN s END) AS m
             FROM scores GROUP BY pos, hd) r ON r.pos = s.pos AND r.hd = s.hd),
  -- softmax, stable: exp of (score - the row's maximum); masked keys weigh 0
  weights AS (SELECT pos, hd, transform(sort_array(collect_list(named_struct('k', kpos, 'v', CAST(CASE WHEN visible THEN exp(s - m) ELSE 0 END AS DOUBLE)))), e_ -> e_.v) AS e, sum(CASE WHEN visible THEN exp(s - m) ELSE 0 END) AS z FROM peaks GROUP BY pos, hd),
  -- each output channel: the softmax weights · that channel's values over positions
  attn AS (SELECT p.pos, transform(sort_array(collect_list(named_struct('k', vt.c, 'v', CAST(aggregate(zip_with(p.e, vt.vals, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) / p.z AS DOUBLE)))), e_ -> e_.v) AS y
           FROM vt0 vt JOIN weights p ON p.hd = CAST(vt.c DIV 8 AS INT) GROUP BY p.pos),
  -- output projection, plus the residual stream
  resid AS (SELECT a.pos, transform(sort_array(collect_list(named_struct('k', a.j, 'v', a.v + x.x[a.j]))), e_ -> e_.v) AS x FROM (SELECT a.pos, m.j, aggregate(zip_with(m.w, a.y, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) + m.b AS v FROM m_<schema>.h0_attn_proj m, attn a) a JOIN x0 x ON x.pos = a.pos GROUP BY a.pos),
  -- norm 2 and the MLP's first layer, then its activation on each unit
  n2 AS (SELECT pos, x, (aggregate(x, 0D, (s_, e_) -> s_ + e_) / size(x)) AS mu, 1.0 / sqrt((aggregate(x, 0D, (s_, e_) -> s_ + e_ * e_) / size(x) - pow((aggregate(x, 0D, (s_, e_) -> s_ + e_) / size(x)), 2)) + 1e-05) AS r FROM resid s),
  pre AS (SELECT n.pos, m.j, n.r * (aggregate(zip_with(m.w, n.x, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) - n.mu * m.s) + m.b AS y FROM m_<schema>.h0_fc m, n2 n),
  fc AS (SELECT u.pos, transform(sort_array(collect_list(named_struct('k', u.j, 'v', CAST(0.5 * u.y * (1 + tanh(0.7978845608028654 * (u.y + 0.044715 * u.y * u.y * u.y))) AS DOUBLE)))), e_ -> e_.v) AS y FROM pre u GROUP BY u.pos)
-- the MLP's projection, plus the residual stream: the next layer's input
SELECT a.pos, transform(sort_array(collect_list(named_struct('k', a.j, 'v', a.v + x.x[a.j]))), e_ -> e_.v) AS x FROM (SELECT a.pos, m.j, aggregate(zip_with(m.w, a.y, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) + m.b AS v FROM m_<schema>.h0_mlp_proj m, fc a) a JOIN resid x ON x.pos = a.pos GROUP BY a.pos;

-- layer 0: record the attention weights (for inspection only)
INSERT INTO attn0 WITH scores AS (SELECT q.pos, q.hd, k.pos AS kpos, aggregate(zip_with(q.vec, k.vec, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) * 0.35355339059327373 AS s, k.pos <= q.pos AS visible
             FROM cache0 q JOIN cache0 k ON k.hd = q.hd AND k.kind = 1
             WHERE q.kind = 0 AND q.pos >= :p1),
  peaks AS (SELECT s.*, r.m FROM scores s JOIN (SELECT pos, hd, max(CASE WHEN visible THEN s END) AS m
             FROM scores GROUP BY pos, hd) r ON r.pos = s.pos AND r.hd = s.hd)
SELECT pos, hd, kpos, CASE WHEN visible THEN exp(s - m) ELSE 0 END / sum(CASE WHEN visible THEN exp(s - m) ELSE 0 END) OVER (PARTITION BY pos, hd) FROM peaks WHERE visible;

-- layer 1: norm 1 and the QKV projection; cache each head's query, key and value
INSERT INTO cache1
WITH
  n AS (SELECT pos, x, (aggregate(x, 0D, (s_, e_) -> s_ + e_) / size(x)) AS mu, 1.0 / sqrt((aggregate(x, 0D, (s_, e_) -> s_ + e_ * e_) / size(x) - pow((aggregate(x, 0D, (s_, e_) -> s_ + e_) / size(x)), 2)) + 1e-05) AS r FROM (SELECT * FROM x1 WHERE pos >= :p1) s),
  units AS (SELECT n.pos, m.j, n.r * (aggregate(zip_with(m.w, n.x, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) - n.mu * m.s) + m.b AS y FROM m_<schema>.h1_qkv m, n n)
SELECT CAST(slot DIV 4 AS INT) AS kind, slot % 4 AS hd, pos, vec FROM (SELECT u.pos, CAST(u.j DIV 8 AS INT) AS slot, transform(sort_array(collect_list(named_struct('k', u.j, 'v', CAST(u.y AS DOUBLE)))), e_ -> e_.v) AS vec FROM units u GROUP BY u.pos, CAST(u.j DIV 8 AS INT)) g;

-- layer 1: causal self-attention, projection + residual, then the MLP + residual
INSERT INTO x2
WITH
  -- each new query against every cached key of its head; later keys are masked out
  scores AS (SELECT q.pos, q.hd, k.pos AS kpos, aggregate(zip_with(q.vec, k.vec, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) * 0.35355339059327373 AS s, k.pos <= q.pos AS visible
             FROM cache1 q JOIN cache1 k ON k.hd = q.hd AND k.kind = 1
             WHERE q.kind = 0 AND q.pos >= :p1),
  peaks AS (SELECT s.*, r.m FROM scores s JOIN (SELECT pos, hd, max(CASE WHEN visible THEN s END) AS m
             FROM scores GROUP BY pos, hd) r ON r.pos = s.pos AND r.hd = s.hd),
  -- softmax, stable: exp of (score - the row's maximum); masked keys weigh 0
  weights AS (SELECT pos, hd, transform(sort_array(collect_list(named_struct('k', kpos, 'v', CAST(CASE WHEN visible THEN exp(s - m) ELSE 0 END AS DOUBLE)))), e_ -> e_.v) AS e, sum(CASE WHEN visible THEN exp(s - m) ELSE 0 END) AS z FROM peaks GROUP BY pos, hd),
  -- each output channel: the softmax weights · that channel's values over positions
  attn AS (SELECT p.pos, transform(sort_array(collect_list(named_struct('k', vt.c, 'v', CAST(aggregate(zip_with(p.e, vt.vals, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) / p.z AS DOUBLE)))), e_ -> e_.v) AS y
           FROM vt1 vt JOIN weights p ON p.hd = CAST(vt.c DIV 8 AS INT) GROUP BY p.pos),
  -- output projection, plus the residual stream
  resid AS (SELECT a.pos, transform(sort_array(collect_list(named_struct('k', a.j, 'v', a.v + x.x[a.j]))), e_ -> e_.v) AS x FROM (SELECT a.pos, m.j, aggregate(zip_with(m.w, a.y, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) + m.b AS v FROM m_<schema>.h1_attn_proj m, attn a) a JOIN x1 x ON x.pos = a.pos GROUP BY a.pos),
  -- norm 2 and the MLP's first layer, then its activation on each unit
  n2 AS (SELECT pos, x, (aggregate(x, 0D, (s_, e_) -> s_ + e_) / size(x)) AS mu, 1.0 / sqrt((aggregate(x, 0D, (s_, e_) -> s_ + e_ * e_) / size(x) - pow((aggregate(x, 0D, (s_, e_) -> s_ + e_) / size(x)), 2)) + 1e-05) AS r FROM resid s),
  pre AS (SELECT n.pos, m.j, n.r * (aggregate(zip_with(m.w, n.x, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) - n.mu * m.s) + m.b AS y FROM m_<schema>.h1_fc m, n2 n),
  fc AS (SELECT u.pos, transform(sort_array(collect_list(named_struct('k', u.j, 'v', CAST(0.5 * u.y * (1 + tanh(0.7978845608028654 * (u.y + 0.044715 * u.y * u.y * u.y))) AS DOUBLE)))), e_ -> e_.v) AS y FROM pre u GROUP BY u.pos)
-- the MLP's projection, plus the residual stream: the next layer's input
SELECT a.pos, transform(sort_array(collect_list(named_struct('k', a.j, 'v', a.v + x.x[a.j]))), e_ -> e_.v) AS x FROM (SELECT a.pos, m.j, aggregate(zip_with(m.w, a.y, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) + m.b AS v FROM m_<schema>.h1_mlp_proj m, fc a) a JOIN resid x ON x.pos = a.pos GROUP BY a.pos;

-- layer 1: record the attention weights (for inspection only)
INSERT INTO attn1 WITH scores AS (SELECT q.pos, q.hd, k.pos AS kpos, aggregate(zip_with(q.vec, k.vec, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) * 0.35355339059327373 AS s, k.pos <= q.pos AS visible
             FROM cache1 q JOIN cache1 k ON k.hd = q.hd AND k.kind = 1
             WHERE q.kind = 0 AND q.pos >= :p1),
  peaks AS (SELECT s.*, r.m FROM scores s JOIN (SELECT pos, hd, max(CASE WHEN visible THEN s END) AS m
             FROM scores GROUP BY pos, hd) r ON r.pos = s.pos AND r.hd = s.hd)
SELECT pos, hd, kpos, CASE WHEN visible THEN exp(s - m) ELSE 0 END / sum(CASE WHEN visible THEN exp(s - m) ELSE 0 END) OVER (PARTITION BY pos, hd) FROM peaks WHERE visible;

-- final norm
INSERT INTO final
WITH
  n AS (SELECT pos, x, (aggregate(x, 0D, (s_, e_) -> s_ + e_) / size(x)) AS mu, 1.0 / sqrt((aggregate(x, 0D, (s_, e_) -> s_ + e_ * e_) / size(x) - pow((aggregate(x, 0D, (s_, e_) -> s_ + e_) / size(x)), 2)) + 1e-05) AS r FROM (SELECT * FROM x2 WHERE pos >= :p1) s)
SELECT s.pos, transform(s.xc, (v_, i_) -> v_ * s.r * f.g[i_] + f.b[i_]) AS xn FROM (SELECT pos, transform(x, (v_, i_) -> v_ - mu) AS xc, r FROM n) s, m_<schema>.ln_f f;

-- ===== the measurements =====

-- the length of every residual stream at every position
CREATE TABLE norms USING parquet AS
SELECT 0 AS layer, s.pos, sqrt(aggregate(zip_with(s.x, s.x, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_)) AS norm FROM x0 s UNION ALL SELECT 1 AS layer, s.pos, sqrt(aggregate(zip_with(s.x, s.x, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_)) AS norm FROM x1 s UNION ALL SELECT 2 AS layer, s.pos, sqrt(aggregate(zip_with(s.x, s.x, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_)) AS norm FROM x2 s;

-- the logit lens: every block's output read as if it were the last
CREATE TABLE lens USING parquet AS
WITH
  n AS (SELECT layer, pos, x, (aggregate(x, 0D, (s_, e_) -> s_ + e_) / size(x)) AS mu, 1.0 / sqrt((aggregate(x, 0D, (s_, e_) -> s_ + e_ * e_) / size(x) - pow((aggregate(x, 0D, (s_, e_) -> s_ + e_) / size(x)), 2)) + 1e-05) AS r FROM (SELECT 1 AS layer, s.* FROM x1 s UNION ALL SELECT 2 AS layer, s.* FROM x2 s) s),
  normed AS (SELECT s.layer, s.pos, transform(s.xc, (v_, i_) -> v_ * s.r * f.g[i_] + f.b[i_]) AS xn FROM (SELECT layer, pos, transform(x, (v_, i_) -> v_ - mu) AS xc, r FROM n) s, m_<schema>.ln_f f),
  logits AS (SELECT n.layer, n.pos, e.j, aggregate(zip_with(e.w, n.xn, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) AS score FROM m_<schema>.wte e, normed n WHERE e.j < 265)
SELECT layer, pos, j AS token, p, rank FROM (SELECT * FROM (SELECT t.*, row_number() OVER (PARTITION BY layer, pos ORDER BY p DESC, j) AS rank FROM (SELECT layer, pos, j, exp(score - m) / sum(exp(score - m)) OVER (PARTITION BY layer, pos) AS p FROM (SELECT *, max(score) OVER (PARTITION BY layer, pos) AS m FROM logits) peaks) t) ranked WHERE rank <= 5) r;

-- the next token after the prompt at each temperature
CREATE TABLE next_token USING parquet AS
WITH
  logits AS (SELECT t.temperature, e.j, aggregate(zip_with(e.w, f.xn, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) / t.temperature AS score
             FROM m_<schema>.wte e, final f, (SELECT CAST(0.5 AS DOUBLE) AS temperature UNION ALL SELECT CAST(1.0 AS DOUBLE) AS temperature UNION ALL SELECT CAST(2.0 AS DOUBLE) AS temperature) t WHERE f.pos = (SELECT max(pos) FROM final) AND e.j < 265)
SELECT temperature, j AS token, p, rank FROM (SELECT * FROM (SELECT t.*, row_number() OVER (PARTITION BY temperature ORDER BY p DESC, j) AS rank FROM (SELECT temperature, j, exp(score - m) / sum(exp(score - m)) OVER (PARTITION BY temperature) AS p FROM (SELECT *, max(score) OVER (PARTITION BY temperature) AS m FROM logits) peaks) t) ranked WHERE rank <= 5) r;

-- each prompt token's nearest tokens in the embedding matrix
CREATE TABLE neighbours USING parquet AS
SELECT pos, token, similarity, rank FROM (SELECT * FROM (SELECT t.*, row_number() OVER (PARTITION BY pos ORDER BY similarity DESC NULLS LAST, token) AS rank FROM (SELECT t.pos, e.j AS token, aggregate(zip_with(e.w, s.w, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) / NULLIF(sqrt(aggregate(zip_with(e.w, e.w, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_)) * sqrt(aggregate(zip_with(s.w, s.w, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_)), 0) AS similarity FROM tokens t JOIN m_<schema>.wte s ON s.j = t.token, m_<schema>.wte e WHERE e.j <> t.token AND e.j < 265) t) ranked WHERE rank <= 5) n;

