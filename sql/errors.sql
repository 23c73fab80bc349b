-- errors.sql: every error path of the fit and predict functions, with its
-- message and SQLSTATE; a failing fit leaves the stored models unchanged.
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

-- Every failing fit below uses the name of the existing model "reg": it must
-- survive unchanged.
SELECT id AS reg_id FROM ntk_models WHERE name = 'reg' \gset

-- options: unknown keys, wrong types, bad values
SELECT ntk_fit('reg', x, y, '{"depht": 2}') FROM fit_train;
SELECT ntk_fit('reg', x, y, '{"depth": "2"}') FROM fit_train;
SELECT ntk_fit('reg', x, y, '{"depth": 1.5}') FROM fit_train;
SELECT ntk_fit('reg', x, y, '{"ridge_absolute": 1}') FROM fit_train;
SELECT ntk_fit('reg', x, y, '{"standardize": "yes"}') FROM fit_train;
SELECT ntk_fit('reg', x, y, '{"activation": 1}') FROM fit_train;
SELECT ntk_fit('reg', x, y, '{"sigma_w": [1, 2]}') FROM fit_train;
SELECT ntk_fit('reg', x, y, '{"kernel": {"name": "ntk"}}') FROM fit_train;
SELECT ntk_fit('reg', x, y, '[1, 2]') FROM fit_train;
SELECT ntk_fit('reg', x, y, '{"depth": -1}') FROM fit_train;
SELECT ntk_fit('reg', x, y, '{"depth": 1001}') FROM fit_train;
SELECT ntk_fit('reg', x, y, '{"sigma_w": 0}') FROM fit_train;
SELECT ntk_fit('reg', x, y, '{"sigma_w": -1}') FROM fit_train;
SELECT ntk_fit('reg', x, y, '{"sigma_b": -0.1}') FROM fit_train;
SELECT ntk_fit('reg', x, y, '{"kernel": "rbf"}') FROM fit_train;
SELECT ntk_fit('reg', x, y, '{"activation": "tanh"}') FROM fit_train;
SELECT ntk_fit('reg', x, y, '{"ridge": -1e-6}') FROM fit_train;
SELECT ntk_fit('reg', x, y, '{"ridge": "big"}') FROM fit_train;
SELECT ntk_fit_classifier('reg', x, label, '{"kernel": "NTK"}') FROM fit_train;
SELECT ntk_fit('reg', x, yv, '{"depth": -1}') FROM fit_train;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS models, bool_and(id = :reg_id) FILTER (WHERE name = 'reg') AS reg_unchanged FROM ntk_models;

-- arrays: length, non-finite values, NULL elements, dimensions
SELECT ntk_fit('reg', x, y) FROM (VALUES (1, '{1,2,3}'::float8[], 1.0::float8), (2, '{1,2}', 2)) AS v(i, x, y);
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_fit('reg', x, y) FROM (VALUES (1, '{1,2}'::float8[], 1.0::float8), (2, '{1,NaN}', 2)) AS v(i, x, y);
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_fit('reg', x, y) FROM (VALUES (1, '{Infinity,2}'::float8[], 1.0::float8)) AS v(i, x, y);
SELECT ntk_fit('reg', x, y) FROM (VALUES (1, '{1,-Infinity}'::float8[], 1.0::float8)) AS v(i, x, y);
SELECT ntk_fit('reg', x, y) FROM (VALUES (1, '{1,2}'::float8[], 'NaN'::float8)) AS v(i, x, y);
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_fit('reg', x, y) FROM (VALUES (1, '{1,2}'::float8[], '-Infinity'::float8)) AS v(i, x, y);
SELECT ntk_fit('reg', x, y) FROM (VALUES (1, '{1,2}'::float8[], '{1,Infinity}'::float8[])) AS v(i, x, y);
SELECT ntk_fit('reg', x, y) FROM (VALUES (1, '{1,NULL}'::float8[], 1.0::float8)) AS v(i, x, y);
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_fit('reg', x, y) FROM (VALUES (1, '{1,2}'::float8[], '{1,NULL}'::float8[])) AS v(i, x, y);
SELECT ntk_fit_classifier('reg', x, y) FROM (VALUES (1, '{NULL,2}'::float8[], 'a')) AS v(i, x, y);
SELECT ntk_fit('reg', x, y) FROM (VALUES (1, '{{1,2},{3,4}}'::float8[], 1.0::float8)) AS v(i, x, y);
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_fit('reg', x, y) FROM (VALUES (1, '{1,2}'::float8[], '{{1,2}}'::float8[])) AS v(i, x, y);
SELECT ntk_fit('reg', x, y) FROM (VALUES (1, '{}'::float8[], 1.0::float8)) AS v(i, x, y);
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_fit('reg', x, y) FROM (VALUES (1, '{1,2}'::float8[], '{}'::float8[])) AS v(i, x, y);
SELECT ntk_fit('reg', x, y) FROM (VALUES (1, '{1,2}'::float8[], '{1,2}'::float8[]), (2, '{3,4}', '{1,2,3}')) AS v(i, x, y);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS models, bool_and(id = :reg_id) FILTER (WHERE name = 'reg') AS reg_unchanged FROM ntk_models;

-- the model name: NULL, empty, varying inside a group; options varying
SELECT ntk_fit(NULL, x, y) FROM fit_train;
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_fit(CASE WHEN id < 30 THEN 'reg' END, x, y) FROM fit_train;
SELECT ntk_fit_classifier(NULL, x, label) FROM fit_train;
SELECT ntk_fit('', x, y) FROM fit_train;
SELECT ntk_fit(CASE WHEN id < 30 THEN 'reg' ELSE 'reg2' END, x, y ORDER BY id) FROM fit_train;
\echo :LAST_ERROR_SQLSTATE
SELECT grp, ntk_fit('reg' || (id % 2), x, y ORDER BY id) FROM fit_train GROUP BY grp;
SELECT ntk_fit('reg', x, y, jsonb_build_object('depth', 1 + id / 30) ORDER BY id) FROM fit_train;
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_fit('reg', x, y, CASE WHEN id < 30 THEN '{"depth": 2}'::jsonb END ORDER BY id) FROM fit_train;
SELECT count(*) AS models, bool_and(id = :reg_id) FILTER (WHERE name = 'reg') AS reg_unchanged FROM ntk_models;

-- a singular kernel matrix: duplicate rows without ridge
SELECT ntk_fit('reg', x, y, '{"ridge": 0, "ridge_absolute": true}')
FROM (VALUES ('{1,2}'::float8[], 1.0::float8), ('{0,1}', 2), ('{1,2}', 3)) AS v(x, y);
\echo :LAST_ERROR_SQLSTATE
-- a small ridge fixes it
SELECT ntk_fit('dup', x, y, '{"ridge": 1e-4}') IS NOT NULL AS fitted
FROM (VALUES ('{1,2}'::float8[], 1.0::float8), ('{0,1}', 2), ('{1,2}', 3)) AS v(x, y);
-- duplicates with different targets are averaged
SELECT round(ntk_predict('dup', '{1,2}')::numeric, 3) AS duplicate_mean;
SELECT ntk_drop_model('dup');
SELECT count(*) AS models, bool_and(id = :reg_id) FILTER (WHERE name = 'reg') AS reg_unchanged FROM ntk_models;

-- predict: missing model, wrong dimension, wrong kind of model
SELECT ntk_predict('missing', '{1,2,3}');
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_predict_vector('missing', '{1,2,3}');
SELECT ntk_predict_class('missing', '{1,2,3}');
SELECT * FROM ntk_predict_batch('missing', 'SELECT id, x FROM fit_test');
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_predict('reg', '{1,2}');
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_predict_vector('multi', '{1,2,3,4}');
SELECT ntk_predict_class('clf', '{1}');
SELECT ntk_predict('reg', '{1,NaN,3}');
SELECT ntk_predict('reg', '{1,NULL,3}');
SELECT ntk_predict('reg', '{{1,2,3}}');
SELECT ntk_predict('reg', '{}');
SELECT * FROM ntk_predict_batch('reg', 'SELECT 1::bigint, ''{1,2}''::float8[]');
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_predict('clf', '{1,2,3}');
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_predict('multi', '{1,2,3}');
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_predict_class('reg', '{1,2,3}');
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_predict_class('multi', '{1,2,3}');

-- Clean up ---------------------------------------------------------------------------

SELECT count(*) FILTER (WHERE NOT ntk_drop_model(name)) AS not_dropped FROM ntk_models;
DROP TABLE fit_train, fit_test;
