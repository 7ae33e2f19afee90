-- sqlgpt: tiny (0.0M parameters) on duckdb; weights in schema m_<schema>
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

-- the final layer norm's output
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

-- layer 0: layer norm 1 and the QKV projection; cache each head's query, key and value
INSERT INTO cache0
SELECT slot // 4 AS kind, slot % 4 AS hd, seq, pos, y AS vec FROM (
  SELECT u.seq, u.pos, u.j // 8 AS slot, list(CAST(u.pre AS FLOAT) ORDER BY u.j) AS y FROM (SELECT n.seq, n.pos, m.j, n.r * (list_dot_product(m.w, n.x) - n.mu * m.s) + m.b AS pre FROM m_<schema>.h0_qkv m, (SELECT seq, pos, x, list_avg(x) AS mu, 1.0 / sqrt(list_var_pop(x) + 1e-05) AS r FROM x0 WHERE pos >= $1) n) u GROUP BY u.seq, u.pos, u.j // 8
) y;

-- layer 0: causal self-attention, projection + residual, then the MLP + residual
INSERT INTO x1
WITH
  -- each new query against every cached key of its head; later keys are masked out
  scores AS (SELECT q.seq, q.pos, q.hd, k.pos AS kpos, list_dot_product(q.vec, k.vec) * 0.35355339059327373 AS s, k.pos <= q.pos AS visible
             FROM cache0 q JOIN cache0 k ON k.hd = q.hd AND k.kind = 1 AND k.seq = q.seq
             WHERE q.kind = 0 AND q.pos >= $1),
  peaks AS (SELECT s.*, r.m FROM scores s JOIN (SELECT seq, pos, hd, max(CASE WHEN visible THEN s END) AS m
             FROM scores GROUP BY seq, pos, hd) r ON r.pos = s.pos AND r.seq = s.seq AND r.hd = s.hd),
  -- softmax, stable: exp of (score - the row's maximum); masked keys weigh 0
  weights AS (SELECT seq, pos, hd, list(CAST(CASE WHEN visible THEN exp(s - m) ELSE 0 END AS FLOAT) ORDER BY kpos) AS e, sum(CASE WHEN visible THEN exp(s - m) ELSE 0 END) AS z FROM peaks GROUP BY seq, pos, hd),
  -- each output channel: the softmax weights · that channel's values over positions
  attn AS (SELECT p.seq, p.pos, list(CAST(list_dot_product(p.e, vt.vals) / p.z AS FLOAT) ORDER BY vt.c) AS y
           FROM vt0 vt JOIN weights p ON p.hd = vt.c // 8 AND p.seq = vt.seq GROUP BY p.seq, p.pos),
  -- output projection, plus the residual stream (each unit's dot product first, as in normed_matvec)
  resid AS (SELECT a.seq, a.pos, list(a.v + x.x[a.j + 1] ORDER BY a.j) AS x
            FROM (SELECT a.seq, a.pos, m.j, list_dot_product(m.w, a.y) + m.b AS v FROM m_<schema>.h0_attn_proj m, attn a) a
            JOIN x0 x ON x.pos = a.pos AND x.seq = a.seq GROUP BY a.seq, a.pos),
  -- layer norm 2 and the MLP's first layer, with GELU (tanh form, as GPT-2)
  fc AS (SELECT u.seq, u.pos, list(CAST(0.5 * u.pre * (1 + tanh(0.7978845608028654 * (u.pre + 0.044715 * u.pre * u.pre * u.pre))) AS FLOAT) ORDER BY u.j) AS y FROM (SELECT n.seq, n.pos, m.j, n.r * (list_dot_product(m.w, n.x) - n.mu * m.s) + m.b AS pre FROM m_<schema>.h0_fc m, (SELECT seq, pos, x, list_avg(x) AS mu, 1.0 / sqrt(list_var_pop(x) + 1e-05) AS r FROM resid WHERE pos >= $1) n) u GROUP BY u.seq, u.pos)
-- the MLP's projection, plus the residual stream: the next layer's input
SELECT f.seq, f.pos, list(f.v + r.x[f.j + 1] ORDER BY f.j)
FROM (SELECT f.seq, f.pos, m.j, list_dot_product(m.w, f.y) + m.b AS v FROM m_<schema>.h0_mlp_proj m, fc f) f
JOIN resid r ON r.pos = f.pos AND r.seq = f.seq GROUP BY f.seq, f.pos;

-- layer 1: layer norm 1 and the QKV projection; cache each head's query, key and value
INSERT INTO cache1
SELECT slot // 4 AS kind, slot % 4 AS hd, seq, pos, y AS vec FROM (
  SELECT u.seq, u.pos, u.j // 8 AS slot, list(CAST(u.pre AS FLOAT) ORDER BY u.j) AS y FROM (SELECT n.seq, n.pos, m.j, n.r * (list_dot_product(m.w, n.x) - n.mu * m.s) + m.b AS pre FROM m_<schema>.h1_qkv m, (SELECT seq, pos, x, list_avg(x) AS mu, 1.0 / sqrt(list_var_pop(x) + 1e-05) AS r FROM x1 WHERE pos >= $1) n) u GROUP BY u.seq, u.pos, u.j // 8
) y;

-- layer 1: causal self-attention, projection + residual, then the MLP + residual
INSERT INTO x2
WITH
  -- each new query against every cached key of its head; later keys are masked out
  scores AS (SELECT q.seq, q.pos, q.hd, k.pos AS kpos, list_dot_product(q.vec, k.vec) * 0.35355339059327373 AS s, k.pos <= q.pos AS visible
             FROM cache1 q JOIN cache1 k ON k.hd = q.hd AND k.kind = 1 AND k.seq = q.seq
             WHERE q.kind = 0 AND q.pos >= $1),
  peaks AS (SELECT s.*, r.m FROM scores s JOIN (SELECT seq, pos, hd, max(CASE WHEN visible THEN s END) AS m
             FROM scores GROUP BY seq, pos, hd) r ON r.pos = s.pos AND r.seq = s.seq AND r.hd = s.hd),
  -- softmax, stable: exp of (score - the row's maximum); masked keys weigh 0
  weights AS (SELECT seq, pos, hd, list(CAST(CASE WHEN visible THEN exp(s - m) ELSE 0 END AS FLOAT) ORDER BY kpos) AS e, sum(CASE WHEN visible THEN exp(s - m) ELSE 0 END) AS z FROM peaks GROUP BY seq, pos, hd),
  -- each output channel: the softmax weights · that channel's values over positions
  attn AS (SELECT p.seq, p.pos, list(CAST(list_dot_product(p.e, vt.vals) / p.z AS FLOAT) ORDER BY vt.c) AS y
           FROM vt1 vt JOIN weights p ON p.hd = vt.c // 8 AND p.seq = vt.seq GROUP BY p.seq, p.pos),
  -- output projection, plus the residual stream (each unit's dot product first, as in normed_matvec)
  resid AS (SELECT a.seq, a.pos, list(a.v + x.x[a.j + 1] ORDER BY a.j) AS x
            FROM (SELECT a.seq, a.pos, m.j, list_dot_product(m.w, a.y) + m.b AS v FROM m_<schema>.h1_attn_proj m, attn a) a
            JOIN x1 x ON x.pos = a.pos AND x.seq = a.seq GROUP BY a.seq, a.pos),
  -- layer norm 2 and the MLP's first layer, with GELU (tanh form, as GPT-2)
  fc AS (SELECT u.seq, u.pos, list(CAST(0.5 * u.pre * (1 + tanh(0.7978845608028654 * (u.pre + 0.044715 * u.pre * u.pre * u.pre))) AS FLOAT) ORDER BY u.j) AS y FROM (SELECT n.seq, n.pos, m.j, n.r * (list_dot_product(m.w, n.x) - n.mu * m.s) + m.b AS pre FROM m_<schema>.h1_fc m, (SELECT seq, pos, x, list_avg(x) AS mu, 1.0 / sqrt(list_var_pop(x) + 1e-05) AS r FROM resid WHERE pos >= $1) n) u GROUP BY u.seq, u.pos)
-- the MLP's projection, plus the residual stream: the next layer's input
SELECT f.seq, f.pos, list(f.v + r.x[f.j + 1] ORDER BY f.j)
FROM (SELECT f.seq, f.pos, m.j, list_dot_product(m.w, f.y) + m.b AS v FROM m_<schema>.h1_mlp_proj m, fc f) f
JOIN resid r ON r.pos = f.pos AND r.seq = f.seq GROUP BY f.seq, f.pos;

-- final layer norm
INSERT INTO final SELECT s.seq, s.pos, CAST(list_transform(list_zip(s.xc, n.g, n.b), lambda z: z[1] * s.r * z[2] + z[3]) AS FLOAT[]) AS xn FROM (SELECT seq, pos, CAST(list_transform(x, lambda v: v - mu) AS FLOAT[]) AS xc, r FROM (SELECT seq, pos, x, list_avg(x) AS mu, 1.0 / sqrt(list_var_pop(x) + 1e-05) AS r FROM x2 WHERE pos >= $1) n) s, m_<schema>.ln_f n;

-- ===== each batch: the loss of every sequence =====

-- the loss: how surprised the model is by each next token, summed
WITH
  l AS (SELECT f.seq, f.pos, e.j, list_dot_product(e.w, f.xn) AS logit FROM m_<schema>.wte e, final f JOIN tokens t ON t.pos = f.pos + 1 AND t.seq = f.seq WHERE t.scored = 1 AND f.pos >= $1),
  peak AS (SELECT seq, pos, max(logit) AS top FROM l GROUP BY seq, pos),
  lse AS (SELECT l.seq, l.pos, ln(sum(exp(l.logit - p.top))) + p.top AS z FROM l JOIN peak p ON p.pos = l.pos AND p.seq = l.seq
             GROUP BY l.seq, l.pos, p.top)
SELECT s.seq, sum(s.z - l.logit) AS nll FROM lse s JOIN tokens t ON t.pos = s.pos + 1 AND t.seq = s.seq
  JOIN l ON l.pos = s.pos AND l.seq = s.seq AND l.j = t.token GROUP BY s.seq;

-- ===== each batch: the top tokens after every sequence =====

-- the 5 most likely next tokens after each sequence
WITH
  last AS (SELECT seq, max(pos) AS pos FROM tokens GROUP BY seq),
  l AS (SELECT f.seq, e.j, list_dot_product(e.w, f.xn) AS logit FROM m_<schema>.wte e, final f
           JOIN last t ON t.seq = f.seq AND t.pos = f.pos WHERE e.j < 265),
  peak AS (SELECT seq, max(logit) AS top FROM l GROUP BY seq),
  total AS (SELECT l.seq, sum(exp(l.logit - p.top)) AS z FROM l JOIN peak p ON p.seq = l.seq GROUP BY l.seq),
  ranked AS (SELECT l.seq, l.j, exp(l.logit - p.top) / s.z AS p, row_number() OVER (PARTITION BY l.seq ORDER BY exp(l.logit - p.top) DESC, l.j) AS r
                FROM l JOIN peak p ON p.seq = l.seq JOIN total s ON s.seq = l.seq)
SELECT seq, r, j, p FROM ranked WHERE r <= 5 ORDER BY seq, r;

