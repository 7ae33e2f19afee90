-- sqlgpt: tiny (0.0M parameters) on spark; weights in schema m_<schema>
-- dot products: Spark's vector_inner_product; a weight matrix is one ARRAY<ARRAY<FLOAT>> value; activations ARRAY<FLOAT>
-- $1 is the step's first new position; the token ids arrive as bound parameters.

-- ===== session tables (once per generation) =====

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

-- layer 1 queries (kind 0), keys (1) and values (2): a row per head and position
CREATE TABLE cache1 (kind INT, hd INT, pos INT, vec ARRAY<FLOAT>) USING parquet;

-- ===== each step: the new tokens =====

-- the new tokens, from bound parameters
INSERT INTO tokens SELECT CAST(:first AS INT) + CAST(i AS INT), CAST(t AS INT) FROM (SELECT posexplode(CAST(:ids AS ARRAY<INT>)) AS (i, t));

-- ===== each step: the forward pass =====

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

-- final norm
INSERT INTO final
WITH
  n AS (SELECT pos, x, (vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)) AS mu, 1.0 / sqrt((vector_inner_product(x, x) / size(x) - pow((vector_inner_product(x, array_repeat(CAST(1 AS FLOAT), size(x))) / size(x)), 2)) + 1e-05) AS r FROM (SELECT * FROM x2 WHERE pos >= :p1) s)
SELECT s.pos, transform(s.x, (u_, n_) -> CAST((u_ - s.mu) * s.r * f.g[n_] + f.b[n_] AS FLOAT)) AS xn FROM n s, m_<schema>.ln_f f;

-- ===== each step: the logits =====

-- logits: the final hidden state · every token's unembedding
SELECT f.pos, e.j, vector_inner_product(e.w, f.xn) AS logit FROM m_<schema>.wte e, final f WHERE f.pos = :p1;

