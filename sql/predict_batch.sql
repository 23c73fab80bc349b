-- predict_batch.sql: ntk_predict_batch of regression, multi-output and
-- classification models, then the rules of its query: one read-only SELECT
-- of (id bigint, x double precision[]).
--
-- Values are compared with facts derived by hand (booleans) or rounded from
-- well-conditioned fits, so the output does not depend on the last bits of
-- BLAS or libm.  Model ids come from a sequence and are never printed;
-- created_at and metrics.fit_seconds are volatile and never printed either.
-- The file is self-contained: it fits the models it needs and drops them.

-- Setup: a training set and a test set ----------------------------------------

CREATE TABLE fit_train AS
SELECT i AS id,
       ARRAY[sin(i), cos(2 * i), (i % 7) / 7.0]::float8[] AS x,
       sin(i) * cos(2 * i) + (i % 7) / 7.0 AS y,
       ARRAY[sin(i), cos(2 * i) + 1]::float8[] AS yv,
       CASE WHEN sin(i) > 0.4 THEN 'up' WHEN sin(i) < -0.4 THEN 'down' ELSE 'flat' END AS label,
       i % 3 AS grp
FROM generate_series(1, 60) AS i;
CREATE TABLE fit_test (id bigint, x float8[]);
INSERT INTO fit_test VALUES
    (1, '{0.5,0.5,0.5}'), (2, '{-0.8,0.1,0.2}'), (3, '{0.9,-0.9,0}'), (4, NULL), (5, '{0,0,0}');

-- the models: regression, multi-output, classification
SELECT ntk_fit('reg', x, y, '{"ridge": 1e-3}') IS NOT NULL AS fitted FROM fit_train;
SELECT ntk_fit('multi', x, yv, '{"ridge": 1e-3, "kernel": "nngp", "activation": "erf", "depth": 2}') IS NOT NULL AS fitted
FROM fit_train;
SELECT ntk_fit_classifier('clf', x, label, '{"ridge": 1e-2}') IS NOT NULL AS fitted FROM fit_train;
SELECT id AS reg_id FROM ntk_models WHERE name = 'reg' \gset

-- ntk_predict_batch: same values, the NULL x row gives NULLs, label NULL for regression
SELECT id, round(prediction::numeric, 6) AS prediction, array_length(outputs, 1) AS n_outputs,
       label IS NULL AS no_label
FROM ntk_predict_batch('reg', 'SELECT id, x FROM fit_test') ORDER BY id;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE abs(b.prediction - ntk_predict('reg', t.x)) <= 1e-12 * abs(ntk_predict('reg', t.x))
                          AND b.outputs = ARRAY[b.prediction]) AS agree
FROM ntk_predict_batch('reg', 'SELECT id, x FROM fit_test') AS b
JOIN fit_test t ON t.id = b.id
WHERE t.x IS NOT NULL;
-- at the training points themselves, to the accuracy of the fit
SELECT count(*) AS rows,
       count(*) FILTER (WHERE abs(b.prediction - ntk_predict('reg', t.x)) <= 1e-6) AS agree
FROM ntk_predict_batch('reg', 'SELECT id::bigint, x FROM fit_train') AS b
JOIN fit_train t ON t.id = b.id;
SELECT id, round(prediction::numeric, 6) AS prediction, array_length(outputs, 1) AS n_outputs, label
FROM ntk_predict_batch('multi', 'SELECT id, x FROM fit_test WHERE id <= 2') ORDER BY id;
-- classification: the label is the predicted class
SELECT id, round(prediction::numeric, 4) AS prediction, label,
       label = ntk_predict_class('clf', x) AS same_class
FROM ntk_predict_batch('clf', 'SELECT id, x FROM fit_test WHERE x IS NOT NULL') JOIN fit_test USING (id)
ORDER BY id;

-- ntk_predict_batch: the query must be one read-only SELECT of (id, x)
SELECT * FROM ntk_predict_batch('reg', 'DELETE FROM fit_test RETURNING id, x');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
SELECT * FROM ntk_predict_batch('reg', 'UPDATE fit_test SET x = x RETURNING id, x');
SELECT * FROM ntk_predict_batch('reg', 'INSERT INTO fit_test VALUES (9, ''{1,2,3}'') RETURNING id, x');
\set VERBOSITY default
SELECT * FROM ntk_predict_batch('reg', 'WITH d AS (DELETE FROM fit_test RETURNING *) SELECT id, x FROM d');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ntk_predict_batch('reg', 'SELECT id, x FROM fit_test FOR UPDATE');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ntk_predict_batch('reg', 'SELECT id, x FROM fit_test FOR SHARE');
SELECT * FROM ntk_predict_batch('reg', 'TRUNCATE fit_test');
SELECT * FROM ntk_predict_batch('reg', 'SELECT id, x FROM fit_test; SELECT id, x FROM fit_test');
\echo :LAST_ERROR_SQLSTATE
-- functions called by the query cannot write either
SELECT * FROM ntk_predict_batch('reg', 'SELECT id, x FROM fit_test WHERE ntk_drop_model(''reg'')');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ntk_predict_batch('reg', 'SELECT nextval(''ntk_models_id_seq''), x FROM fit_test');
SELECT (SELECT count(*) FROM fit_test) AS rows_in_fit_test,
       (SELECT id = :reg_id FROM ntk_models WHERE name = 'reg') AS reg_unchanged;
-- columns
SELECT * FROM ntk_predict_batch('reg', 'SELECT id FROM fit_test');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ntk_predict_batch('reg', 'SELECT x, x FROM fit_test');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ntk_predict_batch('reg', 'SELECT id::text, x FROM fit_test');
SELECT * FROM ntk_predict_batch('reg', 'SELECT id, x::float4[] FROM fit_test');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ntk_predict_batch('reg', 'SELECT id, x[1] FROM fit_test');
SELECT * FROM ntk_predict_batch('reg', 'SELECT id, x FROM no_such_table');
\echo :LAST_ERROR_SQLSTATE
-- a bad row stops the batch
SELECT * FROM ntk_predict_batch('reg', 'SELECT id, x || 1.0::float8 FROM fit_test');
SELECT * FROM ntk_predict_batch('reg', 'SELECT id, CASE WHEN id = 2 THEN ''{1,NaN,0}'' ELSE x END FROM fit_test');

-- Clean up ---------------------------------------------------------------------------

SELECT count(*) FILTER (WHERE NOT ntk_drop_model(name)) AS not_dropped FROM ntk_models;
DROP TABLE fit_train, fit_test;
