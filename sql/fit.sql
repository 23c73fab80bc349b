-- fit.sql: ntk_fit, ntk_fit_classifier, the ntk_models table and the predict
-- functions, end to end, then every error path with its message.
--
-- Values are compared with facts derived by hand (booleans) or rounded from
-- well-conditioned fits, so the output does not depend on the last bits of
-- BLAS or libm.  Model ids come from a sequence and are never printed;
-- created_at and metrics.fit_seconds are volatile and never printed either.

-- One training point ------------------------------------------------------------

-- With one point x and an absolute ridge lambda, alpha = y / (K(x,x) + lambda),
-- so predict(z) = K(z,x) y / (K(x,x) + lambda).  x = [1,0], relu, depth 1:
-- K(x,x) = 1/2, and with lambda = 1/2, predict(x) = y / 2 and, for the
-- orthogonal z = [0,1] with K(z,x) = 1/(4 pi), predict(z) = y / (4 pi).
SELECT ntk_fit('one', '{1,0}', 3.0, '{"depth": 1, "ridge": 0.5, "ridge_absolute": true}') IS NOT NULL AS fitted;
SELECT ntk_predict('one', '{1,0}') AS at_x,
       abs(ntk_predict('one', '{0,1}') - 3 / (4 * pi())) < 1e-15 AS orthogonal,
       ntk_predict_vector('one', '{1,0}') AS vector;
SELECT task, kernel, activation, depth, sigma_w, sigma_b, ridge, n_train, n_features,
       n_outputs, classes, metrics->'n_rows' AS n_rows, metrics->'n_skipped' AS n_skipped,
       metrics->'ridge_absolute_value' AS lambda, metrics->'mean_diag' AS mean_diag,
       metrics->'train_rmse' AS train_rmse
FROM ntk_models WHERE name = 'one';

-- The same through the relative ridge: lambda = ridge * mean(diag K) = 1 * 1/2.
SELECT ntk_fit('one', '{1,0}', 3.0, '{"depth": 1, "ridge": 1}') IS NOT NULL AS refitted;
SELECT ntk_predict('one', '{1,0}') AS at_x, metrics->'ridge_absolute_value' AS lambda,
       (SELECT count(*) FROM ntk_models WHERE name = 'one') AS rows_named_one
FROM ntk_models WHERE name = 'one';

-- Two training points ----------------------------------------------------------

-- (K + lambda I) alpha = y solved by Cramer's rule with K from ntk_kernel /
-- nngp_kernel, lambda = ridge * (K11 + K22) / 2: the fit uses the kernel, the
-- parameters and the relative ridge the options ask for.
CREATE TABLE fit_pair (id int, x float8[], y float8);
INSERT INTO fit_pair VALUES (1, '{1,2,-1}', 0.5), (2, '{0.3,-1,2}', -2);
CREATE TABLE fit_pair_cases (c int, opts jsonb, act text, depth int, sw float8, sb float8, ridge float8, nngp boolean);
INSERT INTO fit_pair_cases VALUES
    (1, '{"ridge": 0.1}', 'relu', 3, 1, 0, 0.1, false),
    (2, '{"ridge": 0.1, "kernel": "nngp"}', 'relu', 3, 1, 0, 0.1, true),
    (3, '{"ridge": 0.01, "activation": "erf", "depth": 2, "sigma_w": 1.5, "sigma_b": 0.2}', 'erf', 2, 1.5, 0.2, 0.01, false),
    (4, '{"ridge": 0.2, "activation": "erf", "kernel": "nngp", "depth": 4, "sigma_b": 1}', 'erf', 4, 1, 1, 0.2, true),
    (5, '{"ridge": 0.05, "depth": 0, "sigma_w": 2, "sigma_b": 0.5}', 'relu', 0, 2, 0.5, 0.05, false);
SELECT c, ntk_fit('pair' || c, x, y, opts) IS NOT NULL AS fitted
FROM fit_pair, fit_pair_cases GROUP BY c ORDER BY c;
WITH k AS (
    SELECT (SELECT x FROM fit_pair WHERE id = 1) AS x1, (SELECT x FROM fit_pair WHERE id = 2) AS x2,
           0.5::float8 AS y1, -2::float8 AS y2, '{-0.5,1.5,0.25}'::float8[] AS z, *
    FROM fit_pair_cases
), g AS (
    SELECT c, z, y1, y2, ridge,
           CASE WHEN nngp THEN nngp_kernel(x1, x1, depth, act, sw, sb) ELSE ntk_kernel(x1, x1, depth, act, sw, sb) END AS k11,
           CASE WHEN nngp THEN nngp_kernel(x1, x2, depth, act, sw, sb) ELSE ntk_kernel(x1, x2, depth, act, sw, sb) END AS k12,
           CASE WHEN nngp THEN nngp_kernel(x2, x2, depth, act, sw, sb) ELSE ntk_kernel(x2, x2, depth, act, sw, sb) END AS k22,
           CASE WHEN nngp THEN nngp_kernel(z, x1, depth, act, sw, sb) ELSE ntk_kernel(z, x1, depth, act, sw, sb) END AS kz1,
           CASE WHEN nngp THEN nngp_kernel(z, x2, depth, act, sw, sb) ELSE ntk_kernel(z, x2, depth, act, sw, sb) END AS kz2
    FROM k
), s AS (
    SELECT c, z, kz1, kz2, k11 + l AS a11, k12, k22 + l AS a22, y1, y2, l
    FROM g, LATERAL (SELECT ridge * (k11 + k22) / 2 AS l) r
), a AS (
    SELECT c, z, kz1, kz2, l,
           (a22 * y1 - k12 * y2) / (a11 * a22 - k12 * k12) AS alpha1,
           (a11 * y2 - k12 * y1) / (a11 * a22 - k12 * k12) AS alpha2
    FROM s
)
SELECT c,
       abs(ntk_predict('pair' || c, z) - (kz1 * alpha1 + kz2 * alpha2))
         < 1e-12 * greatest(1, abs(kz1 * alpha1 + kz2 * alpha2)) AS prediction_ok,
       abs((m.metrics->>'ridge_absolute_value')::float8 - l) < 1e-15 * greatest(1, l) AS lambda_ok
FROM a JOIN ntk_models m ON m.name = 'pair' || c
ORDER BY c;
SELECT ntk_drop_model('pair' || c) FROM fit_pair_cases ORDER BY c;
DROP TABLE fit_pair, fit_pair_cases;

-- A training set ------------------------------------------------------------------

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

-- regression with the default kernel (ntk, relu, depth 3)
SELECT ntk_fit('reg', x, y, '{"ridge": 1e-3}') IS NOT NULL AS fitted FROM fit_train;
SELECT name, owner = current_user AS owned, created_at <= now() AS created, task, kernel,
       activation, depth, sigma_w, sigma_b, ridge, n_train, n_features, n_outputs, classes
FROM ntk_models WHERE name = 'reg';
SELECT options FROM ntk_models WHERE name = 'reg';
SELECT array_agg(k ORDER BY k) AS metric_keys FROM ntk_models, jsonb_object_keys(metrics) AS k WHERE name = 'reg';
SELECT array_agg(k ORDER BY k) AS phase_keys FROM ntk_models, jsonb_object_keys(metrics->'phase_seconds') AS k WHERE name = 'reg';
SELECT metrics->'n_rows' AS n_rows, metrics->'n_skipped' AS n_skipped,
       (metrics->>'train_rmse')::float8 BETWEEN 1e-6 AND 1e-2 AS train_rmse_small,
       (metrics->>'fit_seconds')::float8 >= 0 AS fit_seconds,
       abs((metrics->>'ridge_absolute_value')::float8 - 1e-3 * (metrics->>'mean_diag')::float8)
         < 1e-18 AS relative_ridge
FROM ntk_models WHERE name = 'reg';
-- the fit nearly interpolates: the training residuals are small and their
-- root mean square is metrics.train_rmse
SELECT max(abs(ntk_predict('reg', x) - y)) < 0.05 AS interpolates,
       abs(sqrt(avg((ntk_predict('reg', x) - y) ^ 2))
           - (SELECT (metrics->>'train_rmse')::float8 FROM ntk_models WHERE name = 'reg')) < 1e-9 AS rmse_matches
FROM fit_train;
SELECT id, round(ntk_predict('reg', x)::numeric, 6) AS prediction FROM fit_test ORDER BY id;
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
-- ntk_predict_vector of a single-output model has one element
SELECT ntk_predict_vector('reg', '{0.5,0.5,0.5}') = ARRAY[ntk_predict('reg', '{0.5,0.5,0.5}')] AS vector_ok;
-- STRICT
SELECT ntk_predict('reg', NULL) IS NULL AS x_null, ntk_predict(NULL, '{1,2,3}') IS NULL AS model_null,
       ntk_predict_vector('reg', NULL) IS NULL AS vector_null, ntk_predict_class(NULL, '{1}') IS NULL AS class_null;

-- NULL rows are skipped and counted; the fit equals the fit without them
SELECT ntk_fit('reg_nulls', x, y, '{"ridge": 1e-3}') IS NOT NULL AS fitted
FROM (SELECT id, x, y FROM fit_train
      UNION ALL SELECT 100, NULL, 1
      UNION ALL SELECT 101, '{1,2,3}', NULL
      UNION ALL SELECT 102, NULL, NULL) s;
SELECT n_train, metrics->'n_skipped' AS n_skipped, metrics->'n_rows' AS n_rows
FROM ntk_models WHERE name = 'reg_nulls';
SELECT max(abs(ntk_predict('reg_nulls', x) - ntk_predict('reg', x))) < 1e-9 AS same_as_reg FROM fit_test;

-- standardize: a constant feature is only centered
SELECT ntk_fit('reg_std', x || 5.0::float8, y, '{"ridge": 1e-3, "standardize": true}') IS NOT NULL AS fitted
FROM fit_train;
SELECT n_features, options->'standardize' AS standardize FROM ntk_models WHERE name = 'reg_std';
SELECT round(ntk_predict('reg_std', '{0.5,0.5,0.5,5}')::numeric, 6) AS at_constant,
       ntk_predict('reg_std', '{0.5,0.5,0.5,5}') <> ntk_predict('reg_std', '{0.5,0.5,0.5,6}') AS centered_only;
-- scaling every feature by a constant does not change a standardized model
SELECT ntk_fit('reg_std10', array[10 * x[1], 10 * x[2], 10 * x[3], 5.0], y, '{"ridge": 1e-3, "standardize": true}') IS NOT NULL AS fitted
FROM fit_train;
SELECT abs(ntk_predict('reg_std10', '{5,5,5,5}') - ntk_predict('reg_std', '{0.5,0.5,0.5,5}')) < 1e-9 AS scale_invariant;

-- multi-output regression
SELECT ntk_fit('multi', x, yv, '{"ridge": 1e-3, "kernel": "nngp", "activation": "erf", "depth": 2}') IS NOT NULL AS fitted
FROM fit_train;
SELECT task, kernel, activation, depth, n_outputs, classes FROM ntk_models WHERE name = 'multi';
SELECT id, (SELECT array_agg(round(v::numeric, 6)) FROM unnest(ntk_predict_vector('multi', x)) AS v) AS outputs
FROM fit_test ORDER BY id;
-- each output equals a single-output fit of that column
SELECT ntk_fit('multi_1', x, yv[1], '{"ridge": 1e-3, "kernel": "nngp", "activation": "erf", "depth": 2}') IS NOT NULL AS fitted
FROM fit_train;
SELECT max(abs((ntk_predict_vector('multi', x))[1] - ntk_predict('multi_1', x))) < 1e-10 AS first_output FROM fit_test;
SELECT id, round(prediction::numeric, 6) AS prediction, array_length(outputs, 1) AS n_outputs, label
FROM ntk_predict_batch('multi', 'SELECT id, x FROM fit_test WHERE id <= 2') ORDER BY id;

-- classification: classes sorted, scores are one-hot regressions
SELECT ntk_fit_classifier('clf', x, label, '{"ridge": 1e-2}') IS NOT NULL AS fitted FROM fit_train;
SELECT task, n_outputs, classes, metrics->'train_accuracy' AS train_accuracy
FROM ntk_models WHERE name = 'clf';
SELECT label, count(*) AS n, count(*) FILTER (WHERE ntk_predict_class('clf', x) = label) AS right
FROM fit_train GROUP BY label ORDER BY label;
SELECT id, ntk_predict_class('clf', x) AS class,
       (SELECT array_agg(round(v::numeric, 4)) FROM unnest(ntk_predict_vector('clf', x)) AS v) AS scores
FROM fit_test ORDER BY id;
-- the class scores sum to the prediction of a model fitted on the constant 1
SELECT ntk_fit('ones', x, 1.0, '{"ridge": 1e-2}') IS NOT NULL AS fitted FROM fit_train;
SELECT max(abs((SELECT sum(v) FROM unnest(ntk_predict_vector('clf', x)) AS v) - ntk_predict('ones', x))) < 1e-10 AS scores_sum
FROM fit_test;
-- the score of class "up" equals a regression on the indicator of "up" (3rd class)
SELECT ntk_fit('is_up', x, (label = 'up')::int::float8, '{"ridge": 1e-2}') IS NOT NULL AS fitted FROM fit_train;
SELECT max(abs((ntk_predict_vector('clf', x))[3] - ntk_predict('is_up', x))) < 1e-10 AS indicator FROM fit_test;
SELECT id, round(prediction::numeric, 4) AS prediction, label,
       label = ntk_predict_class('clf', x) AS same_class
FROM ntk_predict_batch('clf', 'SELECT id, x FROM fit_test WHERE x IS NOT NULL') JOIN fit_test USING (id)
ORDER BY id;

-- GROUP BY: one model per group, each the fit of its own rows
SELECT grp, ntk_fit('reg_g' || grp, x, y, '{"ridge": 1e-3}') IS NOT NULL AS fitted
FROM fit_train GROUP BY grp ORDER BY grp;
SELECT name, n_train FROM ntk_models WHERE name LIKE 'reg\_g%' ORDER BY name;
SELECT ntk_fit('alone1', x, y, '{"ridge": 1e-3}') IS NOT NULL AS fitted FROM fit_train WHERE grp = 1;
SELECT max(abs(ntk_predict('reg_g1', x) - ntk_predict('alone1', x))) < 1e-10 AS group_1_alone,
       max(abs(ntk_predict('reg_g1', x) - ntk_predict('reg_g2', x))) > 1e-3 AS groups_differ
FROM fit_test;
-- options may differ between groups
SELECT grp, ntk_fit('reg_d' || grp, x, y, jsonb_build_object('depth', grp, 'ridge', 1e-3)) IS NOT NULL AS fitted
FROM fit_train GROUP BY grp ORDER BY grp;
SELECT name, depth, options->'depth' AS option_depth FROM ntk_models WHERE name LIKE 'reg\_d%' ORDER BY name;

-- refitting a name replaces the model
SELECT id AS reg_old_id FROM ntk_models WHERE name = 'reg' \gset
SELECT ntk_fit('reg', x, -y, '{"ridge": 1e-3}') IS NOT NULL AS refitted FROM fit_train;
SELECT count(*) AS rows_named_reg, bool_and(id <> :reg_old_id) AS new_id FROM ntk_models WHERE name = 'reg';
SELECT count(*) AS old_data FROM ntk_model_data WHERE model_id = :reg_old_id;
SELECT abs(ntk_predict('reg', '{0.5,0.5,0.5}') + ntk_predict('reg_nulls', '{0.5,0.5,0.5}')) < 1e-9 AS negated;

-- no rows: NULL, nothing stored
SELECT count(*) AS models_before FROM ntk_models \gset
SELECT ntk_fit('none', x, y) IS NULL AS null_fit FROM fit_train WHERE false;
SELECT ntk_fit('none', x, yv) IS NULL AS null_fit FROM fit_train WHERE false;
SELECT ntk_fit_classifier('none', x, label) IS NULL AS null_fit FROM fit_train WHERE false;
SELECT ntk_fit('none', NULL::float8[], y) IS NULL AS only_null_rows FROM fit_train;
SELECT count(*) = :models_before AS nothing_stored FROM ntk_models;

-- fitting and dropping need a read-write transaction; predicting does not
BEGIN;
SET TRANSACTION READ ONLY;
SELECT round(ntk_predict('reg', '{0.5,0.5,0.5}')::numeric, 6) AS read_only_predict;
SELECT count(*) AS read_only_batch FROM ntk_predict_batch('reg', 'SELECT id, x FROM fit_test');
SELECT ntk_fit('ro', x, y) FROM fit_train;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SET TRANSACTION READ ONLY;
SELECT ntk_fit_classifier('ro', x, label) FROM fit_train;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SET TRANSACTION READ ONLY;
SELECT ntk_drop_model('reg');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT count(*) AS ro_models FROM ntk_models WHERE name = 'ro';

-- Errors ---------------------------------------------------------------------------

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

SELECT ntk_drop_model('reg') AS dropped, ntk_drop_model('reg') AS again, ntk_drop_model('never') AS never;
SELECT ntk_predict('reg', '{1,2,3}');
SELECT count(*) FILTER (WHERE ntk_drop_model(name)) AS dropped FROM ntk_models;
SELECT count(*) AS models FROM ntk_models;
SELECT count(*) AS chunks FROM ntk_model_data;
DROP TABLE fit_train, fit_test;
