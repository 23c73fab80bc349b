-- packed.sql: exact fits with the kernel matrix and its factor kept as their
-- lower triangle (ntk.exact_storage = packed, and "auto" when the full
-- matrix does not fit ntk.max_memory) store the same models as with the full
-- matrix, and the memory guard refuses what needs the full matrix.
--
-- The stored coefficients are decoded from ntk_model_data (little-endian
-- float8) and compared normwise: max |full - packed| / max |full| < 1e-10.
-- Sizes cover n = 1, odd and even orders, below and above the blocks of the
-- packed Gram (256 columns) and Cholesky (512).

SET client_min_messages = warning;

CREATE TABLE pk AS
SELECT i AS id,
       ARRAY[sin(i * 0.37), cos(i * 0.71), sin(i * 1.3)]::float8[] AS x,
       sin(i * 0.3) + 0.1 * cos(i * 0.05) AS y,
       ARRAY[sin(i * 0.3), cos(i * 0.2)]::float8[] AS y2,
       (ARRAY['a', 'b', 'c'])[1 + i % 3] AS lab
FROM generate_series(1, 700) i;

-- the doubles of a stored part, in order
CREATE FUNCTION pk_part(model text, p text) RETURNS float8[] LANGUAGE sql AS $$
  WITH b AS (
    SELECT string_agg(d.data, ''::bytea ORDER BY d.chunk) AS b
    FROM ntk_model_data d JOIN ntk_models m ON m.id = d.model_id
    WHERE m.name = model AND d.part = p),
  f AS (
    SELECT i, get_byte(b, 8 * i + 7) >> 7 AS s,
           ((get_byte(b, 8 * i + 7) & 127) << 4) | (get_byte(b, 8 * i + 6) >> 4) AS e,
           (get_byte(b, 8 * i + 6) & 15) * 2.0::float8 ^ 48
           + get_byte(b, 8 * i + 5) * 2.0::float8 ^ 40 + get_byte(b, 8 * i + 4) * 2.0::float8 ^ 32
           + get_byte(b, 8 * i + 3) * 2.0::float8 ^ 24 + get_byte(b, 8 * i + 2) * 2.0::float8 ^ 16
           + get_byte(b, 8 * i + 1) * 2.0::float8 ^ 8 + get_byte(b, 8 * i) AS m
    FROM b, generate_series(0, length(b) / 8 - 1) i)
  SELECT array_agg((CASE WHEN s = 1 THEN -1.0::float8 ELSE 1.0::float8 END) *
                   CASE WHEN e = 0 THEN m * 2.0::float8 ^ -1074
                        ELSE (1.0::float8 + m * 2.0::float8 ^ -52) * 2.0::float8 ^ (e - 1023) END
                   ORDER BY i)
  FROM f $$;

-- max |a - b| / max |a| of two parts
CREATE FUNCTION pk_reldiff(a float8[], b float8[]) RETURNS float8 LANGUAGE sql AS $$
  SELECT CASE WHEN cardinality(a) IS DISTINCT FROM cardinality(b) THEN 'Infinity'::float8
              ELSE max(abs(u - v)) / max(abs(u)) END
  FROM unnest(a, b) AS t(u, v) $$;

-- SQLSTATE and hint of a statement's error
CREATE FUNCTION pk_error(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  st text;
  h text;
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, h = PG_EXCEPTION_HINT;
  RETURN st || ': ' || h;
END $$;

-- The decoder against a stored model whose coefficient is known: one point,
-- absolute ridge 1/2, K(x,x) = 1/2 (relu, depth 1): alpha = y.
SELECT ntk_fit('one', '{1,0}', 3.0, '{"depth": 1, "ridge": 0.5, "ridge_absolute": true}') IS NOT NULL AS fitted;
SELECT pk_part('one', 'alpha') AS alpha, pk_part('one', 'x') AS x;

-- Regression, full against packed --------------------------------------------------

CREATE TABLE pk_result (n int, what text, reldiff float8, storage text, same_parts bool);
CREATE FUNCTION pk_compare(n int, what text, fit text) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  SET ntk.exact_storage = full;
  EXECUTE format(fit, 'pk_full', n);
  SET ntk.exact_storage = packed;
  EXECUTE format(fit, 'pk_packed', n);
  RESET ntk.exact_storage;
  INSERT INTO pk_result
  SELECT n, what,
         (SELECT max(pk_reldiff(pk_part('pk_full', p), pk_part('pk_packed', p)))
          FROM (SELECT DISTINCT part FROM ntk_model_data d JOIN ntk_models m ON m.id = d.model_id
                WHERE m.name = 'pk_full' AND part <> 'x') parts(p)),
         (SELECT string_agg(name || ' ' || (metrics->>'kernel_storage'), ', ' ORDER BY name)
          FROM ntk_models WHERE name IN ('pk_full', 'pk_packed')),
         (SELECT array_agg(ARRAY[part, length(data)::text] ORDER BY part, chunk)
          FROM ntk_model_data d JOIN ntk_models m ON m.id = d.model_id WHERE m.name = 'pk_full')
         IS NOT DISTINCT FROM
         (SELECT array_agg(ARRAY[part, length(data)::text] ORDER BY part, chunk)
          FROM ntk_model_data d JOIN ntk_models m ON m.id = d.model_id WHERE m.name = 'pk_packed')
         AND pk_part('pk_full', 'x') = pk_part('pk_packed', 'x');
  PERFORM ntk_drop_model('pk_full');
  PERFORM ntk_drop_model('pk_packed');
  RETURN 1;
END $$;

SELECT sum(pk_compare(n, 'scalar',
                  'SELECT ntk_fit(%L, x, y, ''{"ridge": 1e-3}'') FROM pk WHERE id <= %s')) AS fits_compared
FROM unnest(ARRAY[1, 2, 7, 8, 255, 256, 257, 600, 601]) n;
SELECT sum(pk_compare(n, 'two outputs, standardize',
                  'SELECT ntk_fit(%L, x, y2, ''{"ridge": 1e-2, "standardize": true, "depth": 2}'') FROM pk WHERE id <= %s')) AS fits_compared
FROM unnest(ARRAY[2, 300, 513]) n;
SELECT sum(pk_compare(n, 'classifier',
                  'SELECT ntk_fit_classifier(%L, x, lab, ''{"ridge": 1e-3, "activation": "erf"}'') FROM pk WHERE id <= %s')) AS fits_compared
FROM unnest(ARRAY[3, 301]) n;
SELECT sum(pk_compare(n, 'variance (the factor unpacked)',
                  'SELECT ntk_fit(%L, x, y, ''{"ridge": 1e-2, "variance": true}'') FROM pk WHERE id <= %s')) AS fits_compared
FROM unnest(ARRAY[1, 8, 299]) n;
SELECT n, what, reldiff < 1e-10 AS equal, storage, same_parts FROM pk_result ORDER BY what, n;

-- a model fitted on the packed path predicts as the full one does
SET ntk.exact_storage = packed;
SELECT ntk_fit('pk_p', x, y, '{"ridge": 1e-3}') IS NOT NULL AS fitted FROM pk WHERE id <= 400;
SET ntk.exact_storage = full;
SELECT ntk_fit('pk_f', x, y, '{"ridge": 1e-3}') IS NOT NULL AS fitted FROM pk WHERE id <= 400;
RESET ntk.exact_storage;
SELECT max(abs(ntk_predict('pk_p', x) - ntk_predict('pk_f', x))) /
       max(abs(ntk_predict('pk_f', x))) < 1e-10 AS same_predictions
FROM pk;

-- The memory guard ---------------------------------------------------------------

-- 600 rows of 3 features: the full matrix needs about 3 MB, its lower
-- triangle 1.6 MB.  With 2 MB allowed, "auto" takes the triangle.
SET ntk.max_memory = '2MB';
SELECT ntk_fit('pk_auto', x, y, '{"ridge": 1e-3}') IS NOT NULL AS fitted FROM pk WHERE id <= 600;
SELECT metrics->>'kernel_storage' AS storage FROM ntk_models WHERE name = 'pk_auto';
RESET ntk.max_memory;
SELECT ntk_fit('pk_auto_full', x, y, '{"ridge": 1e-3}') IS NOT NULL AS fitted FROM pk WHERE id <= 600;
SELECT name, metrics->>'kernel_storage' AS storage FROM ntk_models WHERE name LIKE 'pk_auto%' ORDER BY name;
SELECT pk_reldiff(pk_part('pk_auto_full', 'alpha'), pk_part('pk_auto', 'alpha')) < 1e-10 AS equal;

-- what needs the full matrix is refused, and the hint says what fits instead
SET ntk.max_memory = '2MB';
SELECT pk_error($$SELECT ntk_fit('pk_r', x, y, '{"variance": true}') FROM pk WHERE id <= 600$$) AS variance;
SELECT pk_error($$SELECT ntk_fit('pk_r', x, y, '{"t": 10}') FROM pk WHERE id <= 600$$) AS t;
SELECT pk_error($$SELECT ntk_fit('pk_r', x, y, '{"ridge": "auto"}') FROM pk WHERE id <= 600$$) AS selection;
SELECT pk_error($$SELECT ntk_fit('pk_r', x, y, '{"depth": [1, 2]}') FROM pk WHERE id <= 600$$) AS depth_selection;
-- forcing the full matrix: refused, the hint names the most rows that fit
SET ntk.exact_storage = full;
SELECT pk_error($$SELECT ntk_fit('pk_r', x, y) FROM pk WHERE id <= 600$$) AS full_storage;
RESET ntk.exact_storage;
-- too big even as a triangle
SET ntk.max_memory = '1MB';
SELECT pk_error($$SELECT ntk_fit('pk_r', x, y) FROM pk WHERE id <= 600$$) AS triangle;
\set VERBOSITY default
SELECT ntk_fit('pk_r', x, y, '{"t": 10}') FROM pk WHERE id <= 600;
RESET ntk.max_memory;
SELECT count(*) AS refused_models_stored FROM ntk_models WHERE name = 'pk_r';

-- the setting
SET ntk.exact_storage = triangle;
SHOW ntk.exact_storage;

RESET client_min_messages;
DROP FUNCTION pk_compare, pk_error, pk_reldiff, pk_part;
DROP TABLE pk, pk_result;
SELECT ntk_drop_model(name) FROM ntk_models WHERE name IN ('one', 'pk_p', 'pk_f', 'pk_auto', 'pk_auto_full') ORDER BY name;
