-- fit.sql: ntk_fit end to end: one and two training points against values
-- derived by hand, a training set, NULL rows, standardize, multi-output
-- regression, one model per GROUP BY group, an empty input.
--
-- Values are compared with facts derived by hand (booleans) or rounded from
-- well-conditioned fits, so the output does not depend on the last bits of
-- BLAS or libm.  Model ids come from a sequence and are never printed;
-- created_at and metrics.fit_seconds are volatile and never printed either.
-- The file is self-contained: it fits the models it needs and drops them.

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
-- the fit nearly interpolates: the training residuals are small and their
-- root mean square is metrics.train_rmse
SELECT max(abs(ntk_predict('reg', x) - y)) < 0.05 AS interpolates,
       abs(sqrt(avg((ntk_predict('reg', x) - y) ^ 2))
           - (SELECT (metrics->>'train_rmse')::float8 FROM ntk_models WHERE name = 'reg')) < 1e-9 AS rmse_matches
FROM fit_train;

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

-- no rows: NULL, nothing stored
SELECT count(*) AS models_before FROM ntk_models \gset
SELECT ntk_fit('none', x, y) IS NULL AS null_fit FROM fit_train WHERE false;
SELECT ntk_fit('none', x, yv) IS NULL AS null_fit FROM fit_train WHERE false;
SELECT ntk_fit_classifier('none', x, label) IS NULL AS null_fit FROM fit_train WHERE false;
SELECT ntk_fit('none', NULL::float8[], y) IS NULL AS only_null_rows FROM fit_train;
SELECT count(*) = :models_before AS nothing_stored FROM ntk_models;

-- Clean up ---------------------------------------------------------------------------

SELECT count(*) FILTER (WHERE NOT ntk_drop_model(name)) AS not_dropped FROM ntk_models;
DROP TABLE fit_train, fit_test;
