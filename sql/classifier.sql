-- classifier.sql: ntk_fit_classifier, its classes and scores, and
-- ntk_predict_class.
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

-- Clean up ---------------------------------------------------------------------------

SELECT count(*) FILTER (WHERE NOT ntk_drop_model(name)) AS not_dropped FROM ntk_models;
DROP TABLE fit_train, fit_test;
