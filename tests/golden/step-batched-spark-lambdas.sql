-- sqlgpt: tiny (0.0M parameters) on spark; weights in schema m_<schema>
-- dot products: aggregate(zip_with(...)) lambdas (Spark's vector functions came in 4.2.0); a weight matrix is one ARRAY<ARRAY<FLOAT>> value; activations ARRAY<DOUBLE>
-- $1 is the step's first new position; the token ids arrive as bound parameters.

-- ===== batched session tables (once per batch session) =====

-- the tokens so far
CREATE TABLE tokens (seq INT, pos INT, token INT, scored INT) USING parquet;

-- the residual stream entering layer 0
CREATE TABLE x0 (seq INT, pos INT, x ARRAY<DOUBLE>) USING parquet;

-- the residual stream entering layer 1
CREATE TABLE x1 (seq INT, pos INT, x ARRAY<DOUBLE>) USING parquet;

-- the residual stream after the last layer
CREATE TABLE x2 (seq INT, pos INT, x ARRAY<DOUBLE>) USING parquet;

-- the final norm's output
CREATE TABLE final (seq INT, pos INT, xn ARRAY<DOUBLE>) USING parquet;

-- layer 0 queries (kind 0), keys (1) and values (2): a row per head and position
CREATE TABLE cache0 (kind INT, hd INT, seq INT, pos INT, vec ARRAY<DOUBLE>) USING parquet;

-- layer 1 queries (kind 0), keys (1) and values (2): a row per head and position
CREATE TABLE cache1 (kind INT, hd INT, seq INT, pos INT, vec ARRAY<DOUBLE>) USING parquet;

-- ===== each batch: empty the tables =====

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

-- ===== each batch: the forward pass =====

-- token embedding + position embedding: the residual stream x0
INSERT INTO x0 SELECT t.seq, t.pos, transform(e.w, (v_, i_) -> v_ + p.w[i_]) FROM tokens t JOIN m_<schema>.wte e ON e.j = t.token JOIN m_<schema>.wpe p ON p.j = t.pos WHERE t.pos >= :p1;

-- layer 0: norm 1 and the QKV projection; cache each head's query, key and value
INSERT INTO cache0
WITH
  n AS (SELECT seq, pos, x, (aggregate(x, 0D, (s_, e_) -> s_ + e_) / size(x)) AS mu, 1.0 / sqrt((aggregate(x, 0D, (s_, e_) -> s_ + e_ * e_) / size(x) - pow((aggregate(x, 0D, (s_, e_) -> s_ + e_) / size(x)), 2)) + 1e-05) AS r FROM (SELECT * FROM x0 WHERE pos >= :p1) s),
  units AS (SELECT n.seq, n.pos, transform(m.w, (u_, n_) -> CAST(n.r * (aggregate(zip_with(u_, n.x, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) - n.mu * m.s[n_]) + m.b[n_] AS DOUBLE)) AS y FROM m_<schema>.h0_qkv m, n n)
SELECT CAST(slot DIV 4 AS INT) AS kind, slot % 4 AS hd, seq, pos, vec FROM (SELECT u.seq, u.pos, posexplode(transform(sequence(0, 11), k_ -> slice(u.y, k_ * 8 + 1, 8))) AS (slot, vec) FROM units u) g;

-- layer 0: causal self-attention, projection + residual, then the MLP + residual
INSERT INTO x1
WITH
  -- each sequence's keys (kind 1) per KV head, an array over positions; its values (2) a vector per channel
  kv AS (SELECT seq, kind, hd, CASE WHEN kind = 2 THEN transform(sequence(0, 7), c_ -> transform(vs, t_ -> t_[c_])) ELSE vs END AS vs
           FROM (SELECT seq, kind, hd, transform(sort_array(collect_list(named_struct('k', pos, 'v', vec))), e_ -> e_.v) AS vs FROM cache0 WHERE kind <> 0 GROUP BY seq, kind, hd) g),
  -- each new query · the keys up to its own position, scaled
  scores AS (SELECT q.seq, q.pos, q.hd, transform(slice(k.vs, 0 + 1, q.pos + 1), (u_, n_) -> aggregate(zip_with(q.vec, u_, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) * 0.35355339059327373) AS s, v.vs AS vt
           FROM cache0 q JOIN kv k ON k.kind = 1 AND k.hd = q.hd AND k.seq = q.seq
           JOIN kv v ON v.kind = 2 AND v.hd = k.hd AND v.seq = k.seq
           WHERE q.kind = 0 AND q.pos >= :p1),
  -- softmax, stable: exp of (score - the row's maximum)
  peaks AS (SELECT *, array_max(s) AS top FROM scores),
  weights AS (SELECT seq, pos, hd, vt, e, aggregate(e, 0D, (s_, e_) -> s_ + e_) AS z FROM (SELECT seq, pos, hd, vt, transform(s, (u_, n_) -> CAST(exp(u_ - top) AS DOUBLE)) AS e FROM peaks) p),
  -- each head's output: the weights · each channel's values; the heads side by side
  heads AS (SELECT w.seq, w.pos, w.hd, transform(w.vt, (u_, n_) -> CAST(aggregate(zip_with(w.e, slice(u_, 0 + 1, w.pos + 1), (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) / w.z AS DOUBLE)) AS y FROM weights w),
  attn AS (SELECT seq, pos, flatten(transform(sort_array(collect_list(named_struct('k', hd, 'v', y))), e_ -> e_.v)) AS y FROM heads GROUP BY seq, pos),
  -- output projection, plus the residual stream
  resid AS (SELECT a.seq, a.pos, transform(m.w, (u_, n_) -> CAST(aggregate(zip_with(u_, a.y, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) + m.b[n_] + x.x[n_] AS DOUBLE)) AS x FROM attn a JOIN x0 x ON x.pos = a.pos AND x.seq = a.seq CROSS JOIN m_<schema>.h0_attn_proj m),
  -- norm 2 and the MLP's first layer, then its activation on each unit
  n2 AS (SELECT seq, pos, x, (aggregate(x, 0D, (s_, e_) -> s_ + e_) / size(x)) AS mu, 1.0 / sqrt((aggregate(x, 0D, (s_, e_) -> s_ + e_ * e_) / size(x) - pow((aggregate(x, 0D, (s_, e_) -> s_ + e_) / size(x)), 2)) + 1e-05) AS r FROM resid s),
  pre AS (SELECT n.seq, n.pos, transform(m.w, (u_, n_) -> CAST(n.r * (aggregate(zip_with(u_, n.x, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) - n.mu * m.s[n_]) + m.b[n_] AS DOUBLE)) AS y, n.x AS resid FROM m_<schema>.h0_fc m, n2 n),
  fc AS (SELECT seq, pos, transform(y, (u_, n_) -> CAST(0.5 * u_ * (1 + tanh(0.7978845608028654 * (u_ + 0.044715 * u_ * u_ * u_))) AS DOUBLE)) AS y, resid FROM pre)
-- the MLP's projection, plus the residual stream: the next layer's input
SELECT a.seq, a.pos, transform(m.w, (u_, n_) -> CAST(aggregate(zip_with(u_, a.y, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) + m.b[n_] + a.resid[n_] AS DOUBLE)) AS x FROM fc a CROSS JOIN m_<schema>.h0_mlp_proj m;

-- layer 1: norm 1 and the QKV projection; cache each head's query, key and value
INSERT INTO cache1
WITH
  n AS (SELECT seq, pos, x, (aggregate(x, 0D, (s_, e_) -> s_ + e_) / size(x)) AS mu, 1.0 / sqrt((aggregate(x, 0D, (s_, e_) -> s_ + e_ * e_) / size(x) - pow((aggregate(x, 0D, (s_, e_) -> s_ + e_) / size(x)), 2)) + 1e-05) AS r FROM (SELECT * FROM x1 WHERE pos >= :p1) s),
  units AS (SELECT n.seq, n.pos, transform(m.w, (u_, n_) -> CAST(n.r * (aggregate(zip_with(u_, n.x, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) - n.mu * m.s[n_]) + m.b[n_] AS DOUBLE)) AS y FROM m_<schema>.h1_qkv m, n n)
SELECT CAST(slot DIV 4 AS INT) AS kind, slot % 4 AS hd, seq, pos, vec FROM (SELECT u.seq, u.pos, posexplode(transform(sequence(0, 11), k_ -> slice(u.y, k_ * 8 + 1, 8))) AS (slot, vec) FROM units u) g;

-- layer 1: causal self-attention, projection + residual, then the MLP + residual
INSERT INTO x2
WITH
  -- each sequence's keys (kind 1) per KV head, an array over positions; its values (2) a vector per channel
  kv AS (SELECT seq, kind, hd, CASE WHEN kind = 2 THEN transform(sequence(0, 7), c_ -> transform(vs, t_ -> t_[c_])) ELSE vs END AS vs
           FROM (SELECT seq, kind, hd, transform(sort_array(collect_list(named_struct('k', pos, 'v', vec))), e_ -> e_.v) AS vs FROM cache1 WHERE kind <> 0 GROUP BY seq, kind, hd) g),
  -- each new query · the keys up to its own position, scaled
  scores AS (SELECT q.seq, q.pos, q.hd, transform(slice(k.vs, 0 + 1, q.pos + 1), (u_, n_) -> aggregate(zip_with(q.vec, u_, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) * 0.35355339059327373) AS s, v.vs AS vt
           FROM cache1 q JOIN kv k ON k.kind = 1 AND k.hd = q.hd AND k.seq = q.seq
           JOIN kv v ON v.kind = 2 AND v.hd = k.hd AND v.seq = k.seq
           WHERE q.kind = 0 AND q.pos >= :p1),
  -- softmax, stable: exp of (score - the row's maximum)
  peaks AS (SELECT *, array_max(s) AS top FROM scores),
  weights AS (SELECT seq, pos, hd, vt, e, aggregate(e, 0D, (s_, e_) -> s_ + e_) AS z FROM (SELECT seq, pos, hd, vt, transform(s, (u_, n_) -> CAST(exp(u_ - top) AS DOUBLE)) AS e FROM peaks) p),
  -- each head's output: the weights · each channel's values; the heads side by side
  heads AS (SELECT w.seq, w.pos, w.hd, transform(w.vt, (u_, n_) -> CAST(aggregate(zip_with(w.e, slice(u_, 0 + 1, w.pos + 1), (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) / w.z AS DOUBLE)) AS y FROM weights w),
  attn AS (SELECT seq, pos, flatten(transform(sort_array(collect_list(named_struct('k', hd, 'v', y))), e_ -> e_.v)) AS y FROM heads GROUP BY seq, pos),
  -- output projection, plus the residual stream
  resid AS (SELECT a.seq, a.pos, transform(m.w, (u_, n_) -> CAST(aggregate(zip_with(u_, a.y, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) + m.b[n_] + x.x[n_] AS DOUBLE)) AS x FROM attn a JOIN x1 x ON x.pos = a.pos AND x.seq = a.seq CROSS JOIN m_<schema>.h1_attn_proj m),
  -- norm 2 and the MLP's first layer, then its activation on each unit
  n2 AS (SELECT seq, pos, x, (aggregate(x, 0D, (s_, e_) -> s_ + e_) / size(x)) AS mu, 1.0 / sqrt((aggregate(x, 0D, (s_, e_) -> s_ + e_ * e_) / size(x) - pow((aggregate(x, 0D, (s_, e_) -> s_ + e_) / size(x)), 2)) + 1e-05) AS r FROM resid s),
  pre AS (SELECT n.seq, n.pos, transform(m.w, (u_, n_) -> CAST(n.r * (aggregate(zip_with(u_, n.x, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) - n.mu * m.s[n_]) + m.b[n_] AS DOUBLE)) AS y, n.x AS resid FROM m_<schema>.h1_fc m, n2 n),
  fc AS (SELECT seq, pos, transform(y, (u_, n_) -> CAST(0.5 * u_ * (1 + tanh(0.7978845608028654 * (u_ + 0.044715 * u_ * u_ * u_))) AS DOUBLE)) AS y, resid FROM pre)
-- the MLP's projection, plus the residual stream: the next layer's input
SELECT a.seq, a.pos, transform(m.w, (u_, n_) -> CAST(aggregate(zip_with(u_, a.y, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) + m.b[n_] + a.resid[n_] AS DOUBLE)) AS x FROM fc a CROSS JOIN m_<schema>.h1_mlp_proj m;

-- final norm
INSERT INTO final
WITH
  n AS (SELECT seq, pos, x, (aggregate(x, 0D, (s_, e_) -> s_ + e_) / size(x)) AS mu, 1.0 / sqrt((aggregate(x, 0D, (s_, e_) -> s_ + e_ * e_) / size(x) - pow((aggregate(x, 0D, (s_, e_) -> s_ + e_) / size(x)), 2)) + 1e-05) AS r FROM (SELECT * FROM x2 WHERE pos >= :p1) s)
SELECT s.seq, s.pos, transform(s.x, (u_, n_) -> CAST((u_ - s.mu) * s.r * f.g[n_] + f.b[n_] AS DOUBLE)) AS xn FROM n s, m_<schema>.ln_f f;

-- ===== each batch: the loss of every sequence =====

-- the loss: how surprised the model is by each next token, summed
WITH
  -- the positions whose next token is predicted, and that token
  scored AS (SELECT f.seq, f.pos, f.xn, t.token AS target FROM final f JOIN tokens t ON t.pos = f.pos + 1 AND t.seq = f.seq
             WHERE f.pos >= :p1 AND t.scored = 1),
  -- the logits of each chunk of the vocabulary; its largest, and its sum of exp(logit - largest)
  chunks AS (SELECT s.seq, s.pos, transform(c.w, (u_, n_) -> aggregate(zip_with(u_, s.xn, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_)) AS l FROM scored s, m_<schema>.lm_chunks c),
  peaks AS (SELECT seq, pos, l, array_max(l) AS top FROM chunks),
  parts AS (SELECT seq, pos, top, aggregate(transform(l, (u_, n_) -> CAST(exp(u_ - top) AS DOUBLE)), 0D, (s_, e_) -> s_ + e_) AS z, max(top) OVER (PARTITION BY seq, pos) AS peak FROM peaks),
  lse AS (SELECT seq, pos, ln(sum(z * exp(top - peak))) + max(peak) AS z FROM parts GROUP BY seq, pos),
  target AS (SELECT s.seq, s.pos, aggregate(zip_with(e.w, s.xn, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) AS logit FROM scored s JOIN m_<schema>.wte e ON e.j = s.target)
SELECT s.seq, sum(s.z - t.logit) AS nll FROM lse s JOIN target t ON t.pos = s.pos AND t.seq = s.seq GROUP BY s.seq;

-- ===== each batch: the top tokens after every sequence =====

-- the 5 most likely next tokens after each sequence
WITH
  last AS (SELECT seq, max(pos) AS pos FROM tokens GROUP BY seq),
  l AS (SELECT f.seq, e.j, aggregate(zip_with(e.w, f.xn, (a_, b_) -> a_ * b_), 0D, (s_, e_) -> s_ + e_) AS logit FROM m_<schema>.wte e, final f
           JOIN last t ON t.seq = f.seq AND t.pos = f.pos WHERE e.j < 265)
SELECT seq, rank, token, p FROM (SELECT seq, j AS token, p, rank FROM (SELECT * FROM (SELECT t.*, row_number() OVER (PARTITION BY seq ORDER BY p DESC, j) AS rank FROM (SELECT seq, j, exp(logit - m) / sum(exp(logit - m)) OVER (PARTITION BY seq) AS p FROM (SELECT *, max(logit) OVER (PARTITION BY seq) AS m FROM l) peaks) t) ranked WHERE rank <= 5) r) t ORDER BY seq, rank;

