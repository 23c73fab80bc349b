-- predict.sql: ntk_predict and ntk_predict_vector of a regression model.
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
SELECT id, round(ntk_predict('reg', x)::numeric, 6) AS prediction FROM fit_test ORDER BY id;
-- ntk_predict_vector of a single-output model has one element
SELECT ntk_predict_vector('reg', '{0.5,0.5,0.5}') = ARRAY[ntk_predict('reg', '{0.5,0.5,0.5}')] AS vector_ok;
-- STRICT
SELECT ntk_predict('reg', NULL) IS NULL AS x_null, ntk_predict(NULL, '{1,2,3}') IS NULL AS model_null,
       ntk_predict_vector('reg', NULL) IS NULL AS vector_null, ntk_predict_class(NULL, '{1}') IS NULL AS class_null;

-- Clean up ---------------------------------------------------------------------------

SELECT count(*) FILTER (WHERE NOT ntk_drop_model(name)) AS not_dropped FROM ntk_models;
DROP TABLE fit_train, fit_test;
