-- model_table.sql: what a fit stores in ntk_models and ntk_model_data, a
-- refit replacing a model, the read-only rules, ntk_drop_model.
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
-- reg_nulls: the same fit with NULL rows added (skipped); the refit of reg below is its negation
SELECT ntk_fit('reg_nulls', x, y, '{"ridge": 1e-3}') IS NOT NULL AS fitted
FROM (SELECT id, x, y FROM fit_train
      UNION ALL SELECT 100, NULL, 1
      UNION ALL SELECT 101, '{1,2,3}', NULL
      UNION ALL SELECT 102, NULL, NULL) s;

-- refitting a name replaces the model
SELECT id AS reg_old_id FROM ntk_models WHERE name = 'reg' \gset
SELECT ntk_fit('reg', x, -y, '{"ridge": 1e-3}') IS NOT NULL AS refitted FROM fit_train;
SELECT count(*) AS rows_named_reg, bool_and(id <> :reg_old_id) AS new_id FROM ntk_models WHERE name = 'reg';
SELECT count(*) AS old_data FROM ntk_model_data WHERE model_id = :reg_old_id;
SELECT abs(ntk_predict('reg', '{0.5,0.5,0.5}') + ntk_predict('reg_nulls', '{0.5,0.5,0.5}')) < 1e-9 AS negated;

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

-- Clean up ---------------------------------------------------------------------------

SELECT ntk_drop_model('reg') AS dropped, ntk_drop_model('reg') AS again, ntk_drop_model('never') AS never;
SELECT ntk_predict('reg', '{1,2,3}');
SELECT count(*) FILTER (WHERE ntk_drop_model(name)) AS dropped FROM ntk_models;
SELECT count(*) AS models FROM ntk_models;
SELECT count(*) AS chunks FROM ntk_model_data;
DROP TABLE fit_train, fit_test;
