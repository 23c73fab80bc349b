-- nystrom.sql: "method": "nystrom" of ntk_fit and ntk_fit_classifier, the
-- streaming building blocks (ntk_nystrom_centers, ntk_nystrom_statistics,
-- ntk_nystrom_fit, the ntk_nystrom_state type) and ntk_fit_query: the
-- options, their errors with SQLSTATEs, the ntk_models row.  Values are
-- compared as booleans or rounded; numerics are checked against numpy in
-- test/python/test_sql_nystrom.py.

CREATE TABLE nys AS
SELECT i AS id, ARRAY[sin(i), cos(0.7 * i), (i % 7) / 7.0]::float8[] AS x,
       sin(0.3 * i) AS y, ARRAY[sin(0.3 * i), cos(0.2 * i)]::float8[] AS yv,
       (i % 3)::text AS label
FROM generate_series(1, 400) i;

-- m < n: the model holds the centers in place of the training inputs
SELECT ntk_fit('nys', x, y, '{"method": "nystrom", "centers": 50, "seed": 3, "ridge": 1e-3}') IS NOT NULL AS fitted FROM nys;
SELECT task, n_train, n_features, n_outputs, options->>'method' AS method,
       options->'centers' AS centers, options->'seed' AS seed,
       metrics->'n_rows' AS n_rows, metrics->'n_train' AS m, metrics->'n_skipped' AS skipped
FROM ntk_models WHERE name = 'nys';
SELECT array_agg(k ORDER BY k) AS metric_keys FROM ntk_models, jsonb_object_keys(metrics) AS k WHERE name = 'nys';
SELECT (SELECT count(*) FROM ntk_model_data d WHERE d.model_id = m.id AND part = 'x') AS x_chunks
FROM ntk_models m WHERE name = 'nys';
-- every prediction path works on it
SELECT abs(ntk_predict('nys', '{0.1,0.2,0.3}') - (ntk_predict_vector('nys', '{0.1,0.2,0.3}'))[1]) = 0 AS same,
       (SELECT count(*) FROM ntk_predict_batch('nys', 'SELECT id::bigint, x FROM nys')) AS batch_rows;

-- m >= distinct rows: every row a center, the exact fit
SELECT ntk_fit('every', x, y, '{"method": "nystrom", "centers": 1000, "ridge": 1e-3}') IS NOT NULL AS fitted FROM nys;
SELECT ntk_fit('exact', x, y, '{"ridge": 1e-3}') IS NOT NULL AS fitted FROM nys;
SELECT n_train, options->'centers' AS centers FROM ntk_models WHERE name = 'every';
SELECT max(abs(ntk_predict('every', x) - ntk_predict('exact', x))) < 1e-8 * max(abs(ntk_predict('exact', x))) AS equal
FROM (SELECT ARRAY[sin(1.1 * i), cos(i), 0.3]::float8[] AS x FROM generate_series(1, 30) i) t;
SELECT options->>'method' AS method, options ? 'centers' AS has_centers FROM ntk_models WHERE name = 'exact';

-- classifier, multi-output, standardize, NULL rows skipped
SELECT ntk_fit_classifier('cls', x, label, '{"method": "nystrom", "centers": 60, "standardize": true}') IS NOT NULL AS fitted FROM nys;
SELECT task, n_train, n_outputs, classes FROM ntk_models WHERE name = 'cls';
SELECT ntk_fit('multi', x, CASE WHEN id % 10 = 0 THEN NULL ELSE yv END, '{"method": "nystrom", "centers": 40}') IS NOT NULL AS fitted FROM nys;
SELECT n_outputs, metrics->'n_rows' AS n_rows, metrics->'n_skipped' AS skipped FROM ntk_models WHERE name = 'multi';

-- the same models through ntk_fit_query and through the building blocks
SELECT ntk_fit_query('nys_q', 'SELECT x, y FROM nys', '{"method": "nystrom", "centers": 50, "seed": 3, "ridge": 1e-3}') IS NOT NULL AS fitted;
SELECT max(abs(ntk_predict('nys', x) - ntk_predict('nys_q', x))) < 1e-12 AS equal FROM nys;
SELECT ntk_fit_query('cls_q', 'SELECT x, label FROM nys', '{"task": "classification", "method": "nystrom", "centers": 60, "standardize": true}') IS NOT NULL AS fitted;
SELECT count(*) FILTER (WHERE ntk_predict_class('cls', x) = ntk_predict_class('cls_q', x)) AS agree FROM nys;
CREATE TEMP TABLE centers AS SELECT ntk_nystrom_centers(x, y, '{"centers": 50, "seed": 3}') AS s FROM nys;
SELECT ntk_nystrom_state_info(s) - 'bytes' AS info FROM centers;
CREATE TEMP TABLE stats AS
SELECT ntk_nystrom_statistics((SELECT s FROM centers), x, y, '{"centers": 50, "seed": 3}') AS s FROM nys;
SELECT ntk_nystrom_state_info(s) - 'bytes' - 'fingerprint' AS info FROM stats;
SELECT ntk_nystrom_fit('nys_b', s, '{"ridge": 1e-3}') IS NOT NULL AS fitted FROM stats;
SELECT max(abs(ntk_predict('nys', x) - ntk_predict('nys_b', x))) < 1e-12 AS equal FROM nys;
SELECT options->'centers' AS centers, n_train FROM ntk_models WHERE name = 'nys_b';
-- text form round trip
SELECT s::text::ntk_nystrom_state::text = s::text AS round_trip FROM stats;
-- ntk_nystrom_merge: partial states (of groups here, of shards or nodes in a
-- distributed fit) combined by an aggregate, in any order, through the text form
CREATE TEMP TABLE parts AS
SELECT id % 3 AS part, ntk_nystrom_statistics((SELECT s FROM centers), x, y, '{"centers": 50, "seed": 3}')::text AS s
FROM nys GROUP BY id % 3;
SELECT ntk_nystrom_state_info(ntk_nystrom_merge(s::ntk_nystrom_state)) - 'bytes' - 'buffered'
     = (SELECT ntk_nystrom_state_info(s) - 'bytes' - 'buffered' FROM stats) AS same_info FROM parts;
SELECT ntk_nystrom_fit('nys_m', ntk_nystrom_merge(s::ntk_nystrom_state ORDER BY part DESC), '{"ridge": 1e-3}') IS NOT NULL AS fitted
FROM parts;
SELECT max(abs(ntk_predict('nys', x) - ntk_predict('nys_m', x))) < 1e-9 * max(abs(ntk_predict('nys', x))) AS equal FROM nys;
SELECT ntk_nystrom_state_info(ntk_nystrom_merge(s)) - 'bytes' = (SELECT ntk_nystrom_state_info(s) - 'bytes' FROM centers) AS same_centers
FROM (SELECT ntk_nystrom_centers(x, y, '{"centers": 50, "seed": 3}') AS s FROM nys GROUP BY id % 4
      UNION ALL SELECT NULL) p;
SELECT ntk_nystrom_merge(s) IS NULL AS no_rows FROM centers WHERE false;
-- exact method through ntk_fit_query runs the ntk_fit aggregate
SELECT ntk_fit_query('exact_q', 'SELECT x, y FROM nys', '{"ridge": 1e-3}') IS NOT NULL AS fitted;
SELECT max(abs(ntk_predict('exact', x) - ntk_predict('exact_q', x))) = 0 AS equal FROM nys;
-- a trailing semicolon or comment is fine
SELECT ntk_fit_query('nys_c', 'SELECT x, y FROM nys; -- the training rows', '{"method": "nystrom", "centers": 50, "seed": 3, "ridge": 1e-3}') IS NOT NULL AS fitted;
-- no rows: NULL, nothing stored
SELECT ntk_fit_query('none', 'SELECT x, y FROM nys WHERE false', '{"method": "nystrom"}') IS NULL AS null_result;
SELECT count(*) FROM ntk_models WHERE name = 'none';

-- ridge selection by GCV: "auto" (the exact fits' 37 candidates) or a list;
-- the chosen ridge in the ridge column and options, every candidate's score
SELECT ntk_fit('sel', x, y, '{"method": "nystrom", "centers": 50, "seed": 3, "ridge": "auto"}') IS NOT NULL AS fitted FROM nys;
SELECT ridge = (options->>'ridge')::float8 AS recorded,
       jsonb_array_length(metrics->'selection') AS candidates,
       metrics->>'selection_criterion' AS criterion,
       (SELECT bool_and(c ?& ARRAY['depth', 'ridge', 'gcv', 'df']) FROM jsonb_array_elements(metrics->'selection') c) AS scored,
       (SELECT (c->>'ridge')::float8 FROM jsonb_array_elements(metrics->'selection') c
        ORDER BY (c->>'gcv')::float8 LIMIT 1) = ridge AS lowest_gcv_chosen,
       (metrics->>'gcv')::float8 = (SELECT min((c->>'gcv')::float8) FROM jsonb_array_elements(metrics->'selection') c) AS best_gcv,
       metrics ? 'train_rmse' AS has_train_rmse,
       metrics->'phase_seconds' ?& ARRAY['kmm', 'reduce', 'eigh', 'select'] AS phases
FROM ntk_models WHERE name = 'sel';
SELECT ntk_fit('sel_list', x, y, '{"method": "nystrom", "centers": 50, "seed": 3, "ridge": [1e-1, 1e-3, 10]}') IS NOT NULL AS fitted FROM nys;
SELECT ridge, jsonb_path_query_array(metrics, '$.selection[*].ridge') AS candidates
FROM ntk_models WHERE name = 'sel_list';
-- a fixed ridge: the same model as the selection's choice
SELECT ntk_fit('sel_fixed', x, y, jsonb_build_object('method', 'nystrom', 'centers', 50, 'seed', 3, 'ridge', ridge)) IS NOT NULL AS fitted
FROM nys, (SELECT ridge FROM ntk_models WHERE name = 'sel_list') r;
SELECT max(abs(ntk_predict('sel_list', x) - ntk_predict('sel_fixed', x))) < 1e-10 AS same FROM nys;
-- the same selection from statistics: ntk_fit_query and ntk_nystrom_fit
SELECT ntk_fit_query('sel_q', 'SELECT x, y FROM nys', '{"method": "nystrom", "centers": 50, "seed": 3, "ridge": "auto"}') IS NOT NULL AS fitted;
SELECT a.ridge = b.ridge AS same_ridge, a.metrics->'selection' = b.metrics->'selection' AS same_scores,
       a.metrics ? 'train_rmse' AS closed_form_rmse
FROM ntk_models a, ntk_models b WHERE a.name = 'sel_q' AND b.name = 'sel';
SELECT ntk_nystrom_fit('sel_b', s, '{"ridge": [1e-1, 1e-3, 10]}') IS NOT NULL AS fitted FROM stats;
SELECT ridge, metrics->>'selection_criterion' AS criterion FROM ntk_models WHERE name = 'sel_b';
-- classifiers: GCV of the one-hot targets; their training rmse, no accuracy
SELECT ntk_fit_classifier('sel_cls', x, label, '{"method": "nystrom", "centers": 60, "standardize": true, "ridge": [1e-4, 1e-2]}') IS NOT NULL AS fitted FROM nys;
SELECT classes, jsonb_array_length(metrics->'selection') AS candidates,
       metrics ? 'train_accuracy' AS has_accuracy,
       (metrics->>'train_rmse')::float8 BETWEEN 0 AND 1 AS has_rmse
FROM ntk_models WHERE name = 'sel_cls';
SELECT ntk_fit_query('sel_cls_q', 'SELECT x, label FROM nys', '{"method": "nystrom", "centers": 60, "standardize": true, "ridge": [1e-4, 1e-2]}') IS NOT NULL AS fitted;
SELECT metrics ? 'train_accuracy' AS has_accuracy, metrics ? 'train_rmse' AS has_rmse
FROM ntk_models WHERE name = 'sel_cls_q';

-- parallel plans of the passes
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT ntk_nystrom_centers(x, y, '{"centers": 50}') FROM nys;
PREPARE pass2(ntk_nystrom_state) AS SELECT ntk_nystrom_statistics($1, x, y, '{"centers": 50}') FROM nys;
SELECT s AS centers_text FROM centers \gset
EXPLAIN (COSTS OFF) EXECUTE pass2(:'centers_text');
RESET ALL;

-- errors --------------------------------------------------------------------
\set VERBOSITY terse
SELECT ntk_fit('e', x, y, '{"centers": 10}') FROM nys;
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_fit('e', x, y, '{"seed": 1}') FROM nys;
SELECT ntk_fit('e', x, y, '{"method": "exact", "centers": 10}') FROM nys;
SELECT ntk_fit('e', x, y, '{"method": "Nystrom"}') FROM nys;
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_fit('e', x, y, '{"method": 1}') FROM nys;
SELECT ntk_fit('e', x, y, '{"method": "nystrom", "centers": 0}') FROM nys;
SELECT ntk_fit('e', x, y, '{"method": "nystrom", "centers": 2.5}') FROM nys;
SELECT ntk_fit('e', x, y, '{"method": "nystrom", "centers": [10]}') FROM nys;
SELECT ntk_fit('e', x, y, '{"method": "nystrom", "seed": -1}') FROM nys;
SELECT ntk_fit('e', x, y, '{"method": "nystrom", "seed": 9007199254740992}') FROM nys;
SELECT ntk_fit('e', x, y, '{"method": "nystrom", "t": 1}') FROM nys;
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_fit('e', x, y, '{"method": "nystrom", "variance": true}') FROM nys;
SELECT ntk_fit('e', x, y, '{"method": "nystrom", "depth": [2, 3]}') FROM nys;
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_fit('e', x, y, '{"method": "nystrom", "depth": [3], "ridge": "auto"}') FROM nys;
SELECT ntk_fit_query('e', 'SELECT x, y FROM nys', '{"method": "nystrom", "depth": [2, 3]}');
SELECT ntk_nystrom_fit('e', s, '{"depth": [2, 3]}') FROM stats;
SELECT ntk_fit('e', x, y, '{"method": "nystrom", "ridge": []}') FROM nys;
SELECT ntk_fit('e', x, y, '{"method": "nystrom", "ridge": [1e-3, "auto"]}') FROM nys;
SELECT ntk_fit_classifier('e', x, label, '{"method": "nystrom", "t": 2}') FROM nys;
SELECT ntk_nystrom_centers(x, y, '{"method": "exact"}') FROM nys;
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_nystrom_statistics(NULL, x, y, '{}') FROM nys;
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_nystrom_statistics((SELECT s FROM stats), x, y, '{}') FROM nys;
SELECT ntk_nystrom_statistics((SELECT s FROM centers), x, label, '{}') FROM nys;
SELECT ntk_nystrom_fit('e', s, '{}') FROM centers;
SELECT ntk_nystrom_fit('e', s, '{"depth": 2}') FROM stats;
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_nystrom_combine((SELECT s FROM centers), (SELECT s FROM stats));
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_nystrom_merge(s) FROM (SELECT s FROM centers UNION ALL SELECT s FROM stats) q;
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_nystrom_combine((SELECT s FROM stats),
       (SELECT ntk_nystrom_statistics((SELECT s FROM centers), x, y, '{"depth": 2}') FROM nys));
SELECT ntk_nystrom_combine((SELECT s FROM stats),
       (SELECT ntk_nystrom_statistics((SELECT ntk_nystrom_centers(x, y, '{"centers": 50, "seed": 4}') FROM nys), x, y, '{}') FROM nys));
SELECT 'AAAA'::ntk_nystrom_state;
\echo :LAST_ERROR_SQLSTATE
SELECT '@@'::ntk_nystrom_state;
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_fit_query('e', 'DELETE FROM nys RETURNING x, y', '{"method": "nystrom"}');
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_fit_query('e', 'SELECT x, y FROM nys; SELECT x, y FROM nys', '{"method": "nystrom"}');
SELECT ntk_fit_query('e', 'SELECT x, y FROM nys FOR UPDATE', '{"method": "nystrom"}');
SELECT ntk_fit_query('e', 'SELECT x FROM nys', '{"method": "nystrom"}');
SELECT ntk_fit_query('e', 'SELECT y, x FROM nys', '{"method": "nystrom"}');
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_fit_query('e', 'SELECT x, y FROM nys', '{"method": "nystrom", "task": "classification"}');
SELECT ntk_fit_query('e', 'SELECT x, y FROM nys', '{"method": "nystrom", "task": "ranking"}');
SELECT ntk_fit_query('', 'SELECT x, y FROM nys', '{"method": "nystrom"}');
-- a statistics state of m = 17,000 centers would pass the 1 GB limit of a value
SELECT ntk_nystrom_statistics(s, x, y, '{}') FROM
  (SELECT ntk_nystrom_centers(x, y, '{"centers": 17000}') AS s FROM
     (SELECT ARRAY[i]::float8[] AS x, 1.0::float8 AS y FROM generate_series(1, 17000) i) t) c,
  (SELECT ARRAY[1]::float8[] AS x, 1.0::float8 AS y) r;
\echo :LAST_ERROR_SQLSTATE
-- the memory guard knows a Nystrom fit's m x m matrices
SET ntk.max_memory = '64MB';
SELECT ntk_fit('e', x, y, '{"method": "nystrom", "centers": 3000}')
FROM (SELECT ARRAY[i, i * i % 17]::float8[] AS x, 1.0::float8 AS y FROM generate_series(1, 3000) i) t;
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_fit('e', x, y, '{"method": "nystrom", "centers": 500}') IS NOT NULL AS fits_with_fewer_centers
FROM (SELECT ARRAY[i, i * i % 17]::float8[] AS x, 1.0::float8 AS y FROM generate_series(1, 3000) i) t;
-- ridge selection holds K_mm's factor and an eigendecomposition (4 m^2 doubles)
SELECT ntk_fit('e', x, y, '{"method": "nystrom", "centers": 1300}') IS NOT NULL AS fits_without_selection
FROM (SELECT ARRAY[i, i * i % 17]::float8[] AS x, 1.0::float8 AS y FROM generate_series(1, 1300) i) t;
SELECT ntk_fit('e', x, y, '{"method": "nystrom", "centers": 1300, "ridge": "auto"}')
FROM (SELECT ARRAY[i, i * i % 17]::float8[] AS x, 1.0::float8 AS y FROM generate_series(1, 1300) i) t;
\echo :LAST_ERROR_SQLSTATE
SELECT ntk_nystrom_statistics(s, x, y, '{}') FROM
  (SELECT ntk_nystrom_centers(x, y, '{"centers": 3000}') AS s FROM
     (SELECT ARRAY[i, i * i % 17]::float8[] AS x, 1.0::float8 AS y FROM generate_series(1, 3000) i) t) c,
  (SELECT ARRAY[1, 2]::float8[] AS x, 1.0::float8 AS y) r;
\echo :LAST_ERROR_SQLSTATE
-- from statistics: the selection is refused when the fit starts
SET ntk.max_memory = '100MB';
CREATE TEMP TABLE big_stats AS
SELECT ntk_nystrom_statistics(s, x, y, '{}') AS s FROM
  (SELECT ntk_nystrom_centers(x, y, '{"centers": 2000}') AS s FROM
     (SELECT ARRAY[i, i * i % 17]::float8[] AS x, 1.0::float8 AS y FROM generate_series(1, 2000) i) t) c,
  (SELECT ARRAY[1, 2]::float8[] AS x, 1.0::float8 AS y) r;
SELECT ntk_nystrom_fit('e', s, '{"ridge": [1e-3, 1e-2]}') FROM big_stats;
\echo :LAST_ERROR_SQLSTATE
RESET ntk.max_memory;
\set VERBOSITY default

SELECT count(*) FROM (SELECT ntk_drop_model(name) FROM ntk_models) d;
DROP TABLE nys;
