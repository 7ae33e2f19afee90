-- sqlgpt: tiny (0.0M parameters) on spark; weights in schema m_<schema>
-- dot products: Spark's vector_inner_product; a weight matrix is one ARRAY<ARRAY<FLOAT>> value; activations ARRAY<FLOAT>
-- $1 is the step's first new position; the token ids arrive as bound parameters.

-- ===== inspecting session tables =====

-- the tokens so far
CREATE TABLE tokens (pos INT, token INT) USING parquet;

-- the residual stream entering layer 0
CREATE TABLE x0 (pos INT, x ARRAY<FLOAT>) USING parquet;

-- the residual stream entering layer 1
CREATE TABLE x1 (pos INT, x ARRAY<FLOAT>) USING parquet;

-- the residual stream after the last layer
CREATE TABLE x2 (pos INT, x ARRAY<FLOAT>) USING parquet;

-- the final norm's output
CREATE TABLE final (pos INT, xn ARRAY<FLOAT>) USING parquet;

-- layer 0 queries (kind 0), keys (1) and values (2): a row per head and position
CREATE TABLE cache0 (kind INT, hd INT, pos INT, vec ARRAY<FLOAT>) USING parquet;

-- layer 0 attention weights
CREATE TABLE attn0 (pos INT, hd INT, kpos INT, p DOUBLE) USING parquet;

-- layer 1 queries (kind 0), keys (1) and values (2): a row per head and position
CREATE TABLE cache1 (kind INT, hd INT, pos INT, vec ARRAY<FLOAT>) USING parquet;

-- layer 1 attention weights
CREATE TABLE attn1 (pos INT, hd INT, kpos INT, p DOUBLE) USING parquet;

-- ===== the inspecting forward pass =====

-- token embedding + position embedding: the residual stream x0
INSERT INTO x0 SELECT t.pos, transform(e.w, (v_, i_) -> v_ + p.w[i_]) FROM tokens t JOIN m_<schema>.wte e ON e.j = t.token JOIN m_<schema>.wpe p ON p.j = t.pos WHERE t.pos >= :p1;

-- layer 0: norm 1 and the QKV projection; cache each head's query, key and value
INSERT INTO cache0
WITH
  n AS (SELECT pos, x, (vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)) AS mu, 1.0 / sqrt((vector_inner_product(x, x) / size(x) - pow((vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)), 2)) + 1e-05) AS r FROM (SELECT * FROM x0 WHERE pos >= :p1) s),
  units AS (SELECT n.pos, transform(m.w, (u_, n_) -> CAST(n.r * (vector_inner_product(u_, n.x) - n.mu * m.s[n_]) + m.b[n_] AS FLOAT)) AS y FROM m_<schema>.h0_qkv m, n n)
SELECT CAST(slot DIV 4 AS INT) AS kind, slot % 4 AS hd, pos, vec FROM (SELECT u.pos, posexplode(transform(sequence(0, 11), k_ -> slice(u.y, k_ * 8 + 1, 8))) AS (slot, vec) FROM units u) g;

-- layer 0: causal self-attention, projection + residual, then the MLP + residual
INSERT INTO x1
WITH
  -- each sequence's keys (kind 1) per KV head, an array over positions; its values (2) a vector per channel
  kv AS (SELECT kind, hd, CASE WHEN kind = 2 THEN transform(sequence(0, 7), c_ -> transform(vs, t_ -> t_[c_])) ELSE vs END AS vs
           FROM (SELECT kind, hd, transform(sort_array(collect_list(named_struct('k', pos, 'v', vec))), e_ -> e_.v) AS vs FROM cache0 WHERE kind <> 0 GROUP BY kind, hd) g),
  -- each new query · the keys up to its own position, scaled
  scores AS (SELECT q.pos, q.hd, transform(slice(k.vs, 0 + 1, q.pos + 1), (u_, n_) -> vector_inner_product(q.vec, u_) * 0.35355339059327373) AS s, v.vs AS vt
           FROM cache0 q JOIN kv k ON k.kind = 1 AND k.hd = q.hd
           JOIN kv v ON v.kind = 2 AND v.hd = k.hd
           WHERE q.kind = 0 AND q.pos >= :p1),
  -- softmax, stable: exp of (score - the row's maximum)
  peaks AS (SELECT *, array_max(s) AS top FROM scores),
  weights AS (SELECT pos, hd, vt, e, vector_inner_product(e, array_repeat(CAST(1 AS FLOAT), size(e))) AS z FROM (SELECT pos, hd, vt, transform(s, (u_, n_) -> CAST(exp(u_ - top) AS FLOAT)) AS e FROM peaks) p),
  -- each head's output: the weights · each channel's values; the heads side by side
  heads AS (SELECT w.pos, w.hd, transform(w.vt, (u_, n_) -> CAST(vector_inner_product(w.e, slice(u_, 0 + 1, w.pos + 1)) / w.z AS FLOAT)) AS y FROM weights w),
  attn AS (SELECT pos, flatten(transform(sort_array(collect_list(named_struct('k', hd, 'v', y))), e_ -> e_.v)) AS y FROM heads GROUP BY pos),
  -- output projection, plus the residual stream
  resid AS (SELECT a.pos, transform(m.w, (u_, n_) -> CAST(vector_inner_product(u_, a.y) + m.b[n_] + x.x[n_] AS FLOAT)) AS x FROM attn a JOIN x0 x ON x.pos = a.pos CROSS JOIN m_<schema>.h0_attn_proj m),
  -- norm 2 and the MLP's first layer, then its activation on each unit
  n2 AS (SELECT pos, x, (vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)) AS mu, 1.0 / sqrt((vector_inner_product(x, x) / size(x) - pow((vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)), 2)) + 1e-05) AS r FROM resid s),
  pre AS (SELECT n.pos, transform(m.w, (u_, n_) -> CAST(n.r * (vector_inner_product(u_, n.x) - n.mu * m.s[n_]) + m.b[n_] AS FLOAT)) AS y, n.x AS resid FROM m_<schema>.h0_fc m, n2 n),
  fc AS (SELECT pos, transform(y, (u_, n_) -> CAST(0.5 * u_ * (1 + tanh(0.7978845608028654 * (u_ + 0.044715 * u_ * u_ * u_))) AS FLOAT)) AS y, resid FROM pre)
-- the MLP's projection, plus the residual stream: the next layer's input
SELECT a.pos, transform(m.w, (u_, n_) -> CAST(vector_inner_product(u_, a.y) + m.b[n_] + a.resid[n_] AS FLOAT)) AS x FROM fc a CROSS JOIN m_<schema>.h0_mlp_proj m;

-- layer 0: record the attention weights (for inspection only)
INSERT INTO attn0 WITH scores AS (SELECT q.pos, q.hd, k.pos AS kpos, vector_inner_product(q.vec, k.vec) * 0.35355339059327373 AS s, k.pos <= q.pos AS visible
             FROM cache0 q JOIN cache0 k ON k.hd = q.hd AND k.kind = 1
             WHERE q.kind = 0 AND q.pos >= :p1),
  peaks AS (SELECT s.*, r.m FROM scores s JOIN (SELECT pos, hd, max(CASE WHEN visible THEN s END) AS m
             FROM scores GROUP BY pos, hd) r ON r.pos = s.pos AND r.hd = s.hd)
SELECT pos, hd, kpos, CASE WHEN visible THEN exp(s - m) ELSE 0 END / sum(CASE WHEN visible THEN exp(s - m) ELSE 0 END) OVER (PARTITION BY pos, hd) FROM peaks WHERE visible;

-- layer 1: norm 1 and the QKV projection; cache each head's query, key and value
INSERT INTO cache1
WITH
  n AS (SELECT pos, x, (vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)) AS mu, 1.0 / sqrt((vector_inner_product(x, x) / size(x) - pow((vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)), 2)) + 1e-05) AS r FROM (SELECT * FROM x1 WHERE pos >= :p1) s),
  units AS (SELECT n.pos, transform(m.w, (u_, n_) -> CAST(n.r * (vector_inner_product(u_, n.x) - n.mu * m.s[n_]) + m.b[n_] AS FLOAT)) AS y FROM m_<schema>.h1_qkv m, n n)
SELECT CAST(slot DIV 4 AS INT) AS kind, slot % 4 AS hd, pos, vec FROM (SELECT u.pos, posexplode(transform(sequence(0, 11), k_ -> slice(u.y, k_ * 8 + 1, 8))) AS (slot, vec) FROM units u) g;

-- layer 1: causal self-attention, projection + residual, then the MLP + residual
INSERT INTO x2
WITH
  -- each sequence's keys (kind 1) per KV head, an array over positions; its values (2) a vector per channel
  kv AS (SELECT kind, hd, CASE WHEN kind = 2 THEN transform(sequence(0, 7), c_ -> transform(vs, t_ -> t_[c_])) ELSE vs END AS vs
           FROM (SELECT kind, hd, transform(sort_array(collect_list(named_struct('k', pos, 'v', vec))), e_ -> e_.v) AS vs FROM cache1 WHERE kind <> 0 GROUP BY kind, hd) g),
  -- each new query · the keys up to its own position, scaled
  scores AS (SELECT q.pos, q.hd, transform(slice(k.vs, 0 + 1, q.pos + 1), (u_, n_) -> vector_inner_product(q.vec, u_) * 0.35355339059327373) AS s, v.vs AS vt
           FROM cache1 q JOIN kv k ON k.kind = 1 AND k.hd = q.hd
           JOIN kv v ON v.kind = 2 AND v.hd = k.hd
           WHERE q.kind = 0 AND q.pos >= :p1),
  -- softmax, stable: exp of (score - the row's maximum)
  peaks AS (SELECT *, array_max(s) AS top FROM scores),
  weights AS (SELECT pos, hd, vt, e, vector_inner_product(e, array_repeat(CAST(1 AS FLOAT), size(e))) AS z FROM (SELECT pos, hd, vt, transform(s, (u_, n_) -> CAST(exp(u_ - top) AS FLOAT)) AS e FROM peaks) p),
  -- each head's output: the weights · each channel's values; the heads side by side
  heads AS (SELECT w.pos, w.hd, transform(w.vt, (u_, n_) -> CAST(vector_inner_product(w.e, slice(u_, 0 + 1, w.pos + 1)) / w.z AS FLOAT)) AS y FROM weights w),
  attn AS (SELECT pos, flatten(transform(sort_array(collect_list(named_struct('k', hd, 'v', y))), e_ -> e_.v)) AS y FROM heads GROUP BY pos),
  -- output projection, plus the residual stream
  resid AS (SELECT a.pos, transform(m.w, (u_, n_) -> CAST(vector_inner_product(u_, a.y) + m.b[n_] + x.x[n_] AS FLOAT)) AS x FROM attn a JOIN x1 x ON x.pos = a.pos CROSS JOIN m_<schema>.h1_attn_proj m),
  -- norm 2 and the MLP's first layer, then its activation on each unit
  n2 AS (SELECT pos, x, (vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)) AS mu, 1.0 / sqrt((vector_inner_product(x, x) / size(x) - pow((vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)), 2)) + 1e-05) AS r FROM resid s),
  pre AS (SELECT n.pos, transform(m.w, (u_, n_) -> CAST(n.r * (vector_inner_product(u_, n.x) - n.mu * m.s[n_]) + m.b[n_] AS FLOAT)) AS y, n.x AS resid FROM m_<schema>.h1_fc m, n2 n),
  fc AS (SELECT pos, transform(y, (u_, n_) -> CAST(0.5 * u_ * (1 + tanh(0.7978845608028654 * (u_ + 0.044715 * u_ * u_ * u_))) AS FLOAT)) AS y, resid FROM pre)
-- the MLP's projection, plus the residual stream: the next layer's input
SELECT a.pos, transform(m.w, (u_, n_) -> CAST(vector_inner_product(u_, a.y) + m.b[n_] + a.resid[n_] AS FLOAT)) AS x FROM fc a CROSS JOIN m_<schema>.h1_mlp_proj m;

-- layer 1: record the attention weights (for inspection only)
INSERT INTO attn1 WITH scores AS (SELECT q.pos, q.hd, k.pos AS kpos, vector_inner_product(q.vec, k.vec) * 0.35355339059327373 AS s, k.pos <= q.pos AS visible
             FROM cache1 q JOIN cache1 k ON k.hd = q.hd AND k.kind = 1
             WHERE q.kind = 0 AND q.pos >= :p1),
  peaks AS (SELECT s.*, r.m FROM scores s JOIN (SELECT pos, hd, max(CASE WHEN visible THEN s END) AS m
             FROM scores GROUP BY pos, hd) r ON r.pos = s.pos AND r.hd = s.hd)
SELECT pos, hd, kpos, CASE WHEN visible THEN exp(s - m) ELSE 0 END / sum(CASE WHEN visible THEN exp(s - m) ELSE 0 END) OVER (PARTITION BY pos, hd) FROM peaks WHERE visible;

-- final norm
INSERT INTO final
WITH
  n AS (SELECT pos, x, (vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)) AS mu, 1.0 / sqrt((vector_inner_product(x, x) / size(x) - pow((vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)), 2)) + 1e-05) AS r FROM (SELECT * FROM x2 WHERE pos >= :p1) s)
SELECT s.pos, transform(s.x, (u_, n_) -> CAST((u_ - s.mu) * s.r * f.g[n_] + f.b[n_] AS FLOAT)) AS xn FROM n s, m_<schema>.ln_f f;

-- ===== the measurements =====

-- the length of every residual stream at every position
CREATE TABLE norms USING parquet AS
SELECT 0 AS layer, s.pos, sqrt(vector_inner_product(s.x, s.x)) AS norm FROM x0 s UNION ALL SELECT 1 AS layer, s.pos, sqrt(vector_inner_product(s.x, s.x)) AS norm FROM x1 s UNION ALL SELECT 2 AS layer, s.pos, sqrt(vector_inner_product(s.x, s.x)) AS norm FROM x2 s;

-- the logit lens: every block's output read as if it were the last
CREATE TABLE lens USING parquet AS
WITH
  n AS (SELECT layer, pos, x, (vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)) AS mu, 1.0 / sqrt((vector_inner_product(x, x) / size(x) - pow((vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)), 2)) + 1e-05) AS r FROM (SELECT 1 AS layer, s.* FROM x1 s UNION ALL SELECT 2 AS layer, s.* FROM x2 s) s),
  normed AS (SELECT s.layer, s.pos, transform(s.x, (u_, n_) -> CAST((u_ - s.mu) * s.r * f.g[n_] + f.b[n_] AS FLOAT)) AS xn FROM n s, m_<schema>.ln_f f),
  logits AS (SELECT n.layer, n.pos, e.j, vector_inner_product(e.w, n.xn) AS score FROM m_<schema>.wte e, normed n WHERE e.j < 265)
SELECT layer, pos, j AS token, p, rank FROM (SELECT * FROM (SELECT t.*, row_number() OVER (PARTITION BY layer, pos ORDER BY p DESC, j) AS rank FROM (SELECT layer, pos, j, exp(score - m) / sum(exp(score - m)) OVER (PARTITION BY layer, pos) AS p FROM (SELECT *, max(score) OVER (PARTITION BY layer, pos) AS m FROM logits) peaks) t) ranked WHERE rank <= 5) r;

-- the next token after the prompt at each temperature
CREATE TABLE next_token USING parquet AS
WITH
  logits AS (SELECT t.temperature, e.j, vector_inner_product(e.w, f.xn) / t.temperature AS score
             FROM m_<schema>.wte e, final f, (SELECT CAST(0.5 AS DOUBLE) AS temperature UNION ALL SELECT CAST(1.0 AS DOUBLE) AS temperature UNION ALL SELECT CAST(2.0 AS DOUBLE) AS temperature) t WHERE f.pos = (SELECT max(pos) FROM final) AND e.j < 265)
SELECT temperature, j AS token, p, rank FROM (SELECT * FROM (SELECT t.*, row_number() OVER (PARTITION BY temperature ORDER BY p DESC, j) AS rank FROM (SELECT temperature, j, exp(score - m) / sum(exp(score - m)) OVER (PARTITION BY temperature) AS p FROM (SELECT *, max(score) OVER (PARTITION BY temperature) AS m FROM logits) peaks) t) ranked WHERE rank <= 5) r;

-- each prompt token's nearest tokens in the embedding matrix
CREATE TABLE neighbours USING parquet AS
SELECT pos, token, similarity, rank FROM (SELECT * FROM (SELECT t.*, row_number() OVER (PARTITION BY pos ORDER BY similarity DESC NULLS LAST, token) AS rank FROM (SELECT t.pos, e.j AS token, vector_inner_product(e.w, s.w) / NULLIF(sqrt(vector_inner_product(e.w, e.w)) * sqrt(vector_inner_product(s.w, s.w)), 0) AS similarity FROM tokens t JOIN m_<schema>.wte s ON s.j = t.token, m_<schema>.wte e WHERE e.j <> t.token AND e.j < 265) t) ranked WHERE rank <= 5) n;

