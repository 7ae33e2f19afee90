-- sqlgpt: tiny (0.0M parameters) on duckdb; weights in schema m_<schema>
-- dot products: vdot, sqlgpt's vector kernel (C, loaded on sqlgpt's own connections only; list_dot_product computes the same, more slowly)
-- $1 is the step's first new position; the token ids arrive as bound parameters.

-- ===== batched session tables (once per batch session) =====

-- the tokens so far
CREATE TEMP TABLE tokens (seq INTEGER, pos INTEGER, token INTEGER, scored INTEGER);

-- the residual stream entering layer 0
CREATE TEMP TABLE x0 (seq INTEGER, pos INTEGER, x FLOAT[]);

-- the residual stream entering layer 1
CREATE TEMP TABLE x1 (seq INTEGER, pos INTEGER, x FLOAT[]);

-- the residual stream after the last layer
CREATE TEMP TABLE x2 (seq INTEGER, pos INTEGER, x FLOAT[]);

-- the final norm's output
CREATE TEMP TABLE final (seq INTEGER, pos INTEGER, xn FLOAT[]);

-- layer 0 queries (kind 0), keys (1) and values (2): a row per head and position
CREATE TEMP TABLE cache0 (kind INTEGER, hd INTEGER, seq INTEGER, pos INTEGER, vec FLOAT[]);

-- layer 0 values, transposed: one row per channel, a vector over positions
CREATE TEMP VIEW vt0 AS SELECT k.seq, r.c, list(CAST(k.vec[r.c % 8 + 1] AS FLOAT) ORDER BY k.pos) AS vals FROM range(32) r(c) JOIN cache0 k ON k.hd = r.c // 8 WHERE k.kind = 2 GROUP BY k.seq, r.c;

-- layer 1 queries (kind 0), keys (1) and values (2): a row per head and position
CREATE TEMP TABLE cache1 (kind INTEGER, hd INTEGER, seq INTEGER, pos INTEGER, vec FLOAT[]);

-- layer 1 values, transposed: one row per channel, a vector over positions
CREATE TEMP VIEW vt1 AS SELECT k.seq, r.c, list(CAST(k.vec[r.c % 8 + 1] AS FLOAT) ORDER BY k.pos) AS vals FROM range(32) r(c) JOIN cache1 k ON k.hd = r.c // 8 WHERE k.kind = 2 GROUP BY k.seq, r.c;

-- ===== each batch: empty the tables =====

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

-- ===== each batch: the forward pass =====

-- token embedding + position embedding: the residual stream x0
INSERT INTO x0 SELECT t.seq, t.pos, CAST(list_transform(list_zip(e.w, p.w), lambda z: z[1] + z[2]) AS FLOAT[]) FROM tokens t JOIN m_<schema>.wte e ON e.j = t.token JOIN m_<schema>.wpe p ON p.j = t.pos WHERE t.pos >= $1;

-- layer 0: norm 1 and the QKV projection; cache each head's query, key and value
INSERT INTO cache0
WITH
  n AS (SELECT seq, pos, x, list_avg(x) AS mu, 1.0 / sqrt(list_var_pop(x) + 1e-05) AS r FROM (SELECT * FROM x0 WHERE pos >= $1) s),
  units AS (SELECT n.seq, n.pos, m.j, n.r * (vdot(m.w, n.x) - n.mu * m.s) + m.b AS y FROM m_<schema>.h0_qkv m, n n)
SELECT slot // 4 AS kind, slot % 4 AS hd, seq, pos, vec FROM (SELECT u.seq, u.pos, u.j // 8 AS slot, list(CAST(u.y AS FLOAT) ORDER BY u.j) AS vec FROM units u GROUP BY u.seq, u.pos, u.j // 8) g;

-- layer 0: causal self-attention, projection + residual, then the MLP + residual
INSERT INTO x1
WITH
  -- each new query against every cached key of its head; later keys are masked out
  scores AS (SELECT q.seq, q.pos, q.hd, k.pos AS kpos, vdot(q.vec, k.vec) * 0.35355339059327373 AS s, k.pos <= q.pos AS visible
             FROM cache0 q JOIN cache0 k ON k.hd = q.hd AND k.kind = 1 AND k.seq = q.seq
             WHERE q.kind = 0 AND q.pos >= $1),
  peaks AS (SELECT s.*, r.m FROM scores s JOIN (SELECT seq, pos, hd, max(CASE WHEN visible THEN s END) AS m
             FROM scores GROUP BY seq, pos, hd) r ON r.pos = s.pos AND r.seq = s.seq AND r.hd = s.hd),
  -- softmax, stable: exp of (score - the row's maximum); masked keys weigh 0
  weights AS (SELECT seq, pos, hd, list(CAST(CASE WHEN visible THEN exp(s - m) ELSE 0 END AS FLOAT) ORDER BY kpos) AS e, sum(CASE WHEN visible THEN exp(s - m) ELSE 0 END) AS z FROM peaks GROUP BY seq, pos, hd),
  -- each output channel: the softmax weights · that channel's values over positions
  attn AS (SELECT p.seq, p.pos, list(CAST(vdot(p.e, vt.vals) / p.z AS FLOAT) ORDER BY vt.c) AS y
           FROM vt0 vt JOIN weights p ON p.hd = vt.c // 8 AND p.seq = vt.seq GROUP BY p.seq, p.pos),
  -- output projection, plus the residual stream
  resid AS (SELECT a.seq, a.pos, list(a.v ORDER BY a.j) AS x FROM (SELECT a.seq, a.pos, m.j, vdot(m.w, a.y) + m.b + a.resid[m.j + 1] AS v FROM m_<schema>.h0_attn_proj m, (SELECT s.*, r.x AS resid FROM attn s JOIN x0 r ON r.pos = s.pos AND r.seq = s.seq) a) a GROUP BY a.seq, a.pos),
  -- norm 2 and the MLP's first layer, then its activation on each unit
  n2 AS (SELECT seq, pos, x, list_avg(x) AS mu, 1.0 / sqrt(list_var_pop(x) + 1e-05) AS r FROM resid s),
  pre AS (SELECT n.seq, n.pos, m.j, n.r * (vdot(m.w, n.x) - n.mu * m.s) + m.b AS y FROM m_<schema>.h0_fc m, n2 n),
  fc AS (SELECT u.seq, u.pos, list(CAST(0.5 * u.y * (1 + tanh(0.7978845608028654 * (u.y + 0.044715 * u.y * u.y * u.y))) AS FLOAT) ORDER BY u.j) AS y FROM pre u GROUP BY u.seq, u.pos)
-- the MLP's projection, plus the residual stream: the next layer's input
SELECT a.seq, a.pos, list(a.v ORDER BY a.j) AS x FROM (SELECT a.seq, a.pos, m.j, vdot(m.w, a.y) + m.b + a.resid[m.j + 1] AS v FROM m_<schema>.h0_mlp_proj m, (SELECT s.*, r.x AS resid FROM fc s JOIN resid r ON r.pos = s.pos AND r.seq = s.seq) a) a GROUP BY a.seq, a.pos;

-- layer 1: norm 1 and the QKV projection; cache each head's query, key and value
INSERT INTO cache1
WITH
  n AS (SELECT seq, pos, x, list_avg(x) AS mu, 1.0 / sqrt(list_var_pop(x) + 1e-05) AS r FROM (SELECT * FROM x1 WHERE pos >= $1) s),
  units AS (SELECT n.seq, n.pos, m.j, n.r * (vdot(m.w, n.x) - n.mu * m.s) + m.b AS y FROM m_<schema>.h1_qkv m, n n)
SELECT slot // 4 AS kind, slot % 4 AS hd, seq, pos, vec FROM (SELECT u.seq, u.pos, u.j // 8 AS slot, list(CAST(u.y AS FLOAT) ORDER BY u.j) AS vec FROM units u GROUP BY u.seq, u.pos, u.j // 8) g;

-- layer 1: causal self-attention, projection + residual, then the MLP + residual
INSERT INTO x2
WITH
  -- each new query against every cached key of its head; later keys are masked out
  scores AS (SELECT q.seq, q.pos, q.hd, k.pos AS kpos, vdot(q.vec, k.vec) * 0.35355339059327373 AS s, k.pos <= q.pos AS visible
             FROM cache1 q JOIN cache1 k ON k.hd = q.hd AND k.kind = 1 AND k.seq = q.seq
             WHERE q.kind = 0 AND q.pos >= $1),
  peaks AS (SELECT s.*, r.m FROM scores s JOIN (SELECT seq, pos, hd, max(CASE WHEN visible THEN s END) AS m
             FROM scores GROUP BY seq, pos, hd) r ON r.pos = s.pos AND r.seq = s.seq AND r.hd = s.hd),
  -- softmax, stable: exp of (score - the row's maximum); masked keys weigh 0
  weights AS (SELECT seq, pos, hd, list(CAST(CASE WHEN visible THEN exp(s - m) ELSE 0 END AS FLOAT) ORDER BY kpos) AS e, sum(CASE WHEN visible THEN exp(s - m) ELSE 0 END) AS z FROM peaks GROUP BY seq, pos, hd),
  -- each output channel: the softmax weights · that channel's values over positions
  attn AS (SELECT p.seq, p.pos, list(CAST(vdot(p.e, vt.vals) / p.z AS FLOAT) ORDER BY vt.c) AS y
           FROM vt1 vt JOIN weights p ON p.hd = vt.c // 8 AND p.seq = vt.seq GROUP BY p.seq, p.pos),
  -- output projection, plus the residual stream
  resid AS (SELECT a.seq, a.pos, list(a.v ORDER BY a.j) AS x FROM (SELECT a.seq, a.pos, m.j, vdot(m.w, a.y) + m.b + a.resid[m.j + 1] AS v FROM m_<schema>.h1_attn_proj m, (SELECT s.*, r.x AS resid FROM attn s JOIN x1 r ON r.pos = s.pos AND r.seq = s.seq) a) a GROUP BY a.seq, a.pos),
  -- norm 2 and the MLP's first layer, then its activation on each unit
  n2 AS (SELECT seq, pos, x, list_avg(x) AS mu, 1.0 / sqrt(list_var_pop(x) + 1e-05) AS r FROM resid s),
  pre AS (SELECT n.seq, n.pos, m.j, n.r * (vdot(m.w, n.x) - n.mu * m.s) + m.b AS y FROM m_<schema>.h1_fc m, n2 n),
  fc AS (SELECT u.seq, u.pos, list(CAST(0.5 * u.y * (1 + tanh(0.7978845608028654 * (u.y + 0.044715 * u.y * u.y * u.y))) AS FLOAT) ORDER BY u.j) AS y FROM pre u GROUP BY u.seq, u.pos)
-- the MLP's projection, plus the residual stream: the next layer's input
SELECT a.seq, a.pos, list(a.v ORDER BY a.j) AS x FROM (SELECT a.seq, a.pos, m.j, vdot(m.w, a.y) + m.b + a.resid[m.j + 1] AS v FROM m_<schema>.h1_mlp_proj m, (SELECT s.*, r.x AS resid FROM fc s JOIN resid r ON r.pos = s.pos AND r.seq = s.seq) a) a GROUP BY a.seq, a.pos;

-- final norm
INSERT INTO final
WITH
  n AS (SELECT seq, pos, x, list_avg(x) AS mu, 1.0 / sqrt(list_var_pop(x) + 1e-05) AS r FROM (SELECT * FROM x2 WHERE pos >= $1) s)
SELECT s.seq, s.pos, CAST(list_transform(list_zip(s.xc, f.g, f.b), lambda z: z[1] * s.r * z[2] + z[3]) AS FLOAT[]) AS xn FROM (SELECT seq, pos, CAST(list_transform(x, lambda v: v - mu) AS FLOAT[]) AS xc, r FROM n) s, m_<schema>.ln_f f;

-- ===== each batch: the loss of every sequence =====

-- the loss: how surprised the model is by each next token, summed
WITH
  l AS (SELECT f.seq, f.pos, e.j, vdot(e.w, f.xn) AS logit FROM m_<schema>.wte e, final f JOIN tokens t ON t.pos = f.pos + 1 AND t.seq = f.seq WHERE t.scored = 1 AND f.pos >= $1),
  peak AS (SELECT seq, pos, max(logit) AS top FROM l GROUP BY seq, pos),
  lse AS (SELECT l.seq, l.pos, ln(sum(exp(l.logit - p.top))) + p.top AS z FROM l JOIN peak p ON p.pos = l.pos AND p.seq = l.seq
             GROUP BY l.seq, l.pos, p.top)
SELECT s.seq, sum(s.z - l.logit) AS nll FROM lse s JOIN tokens t ON t.pos = s.pos + 1 AND t.seq = s.seq
  JOIN l ON l.pos = s.pos AND l.seq = s.seq AND l.j = t.token GROUP BY s.seq;

-- ===== each batch: the top tokens after every sequence =====

-- the 5 most likely next tokens after each sequence
WITH
  last AS (SELECT seq, max(pos) AS pos FROM tokens GROUP BY seq),
  l AS (SELECT f.seq, e.j, vdot(e.w, f.xn) AS logit FROM m_<schema>.wte e, final f
           JOIN last t ON t.seq = f.seq AND t.pos = f.pos WHERE e.j < 265)
SELECT seq, rank, token, p FROM (SELECT seq, j AS token, p, rank FROM (SELECT * FROM (SELECT t.*, row_number() OVER (PARTITION BY seq ORDER BY p DESC, j) AS rank FROM (SELECT seq, j, exp(logit - m) / sum(exp(logit - m)) OVER (PARTITION BY seq) AS p FROM (SELECT *, max(logit) OVER (PARTITION BY seq) AS m FROM l) peaks) t) ranked WHERE rank <= 5) r) t ORDER BY seq, rank;

