-- 05_evaluate.sql: ntk_evaluate's catalog entry, figures of small cases
-- worked by hand, its query checks and errors; real[] arguments and columns,
-- and the overload resolution of array literals that real[] must not change.
--
-- Run by pg_prove in a database with CREATE EXTENSION pgtap; CREATE EXTENSION ntk:
-- everything happens in one transaction that is rolled back.
\unset ECHO
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true

BEGIN;
SELECT plan(36);

SELECT has_function('ntk_evaluate', ARRAY['text', 'text', 'jsonb'],
    'ntk_evaluate(text, text, jsonb) exists');
SELECT function_returns('ntk_evaluate', ARRAY['text', 'text', 'jsonb'], 'jsonb',
    'ntk_evaluate returns jsonb');
SELECT hasnt_function('ntk_predict', ARRAY['text', 'real[]'],
    'no real[] overload of ntk_predict (a planner support function reads real[] in place)');

CREATE TEMP TABLE ev_train AS
    SELECT i, ARRAY[i / 4.0, (i % 3) / 2.0 + 1]::float8[] AS x, (i / 4.0)::float8 AS y,
           CASE WHEN i % 3 = 0 THEN 'p' WHEN i % 3 = 1 THEN 'q' ELSE 'r' END AS label
    FROM generate_series(1, 30) i;
SELECT ok(ntk_fit('ev_reg', x, y, '{"ridge": 1e-9}') > 0, 'regression model fitted') FROM ev_train;
SELECT ok(ntk_fit('ev_reg2', x, ARRAY[y, 1.0], '{"ridge": 1e-9}') > 0, 'two-output model fitted') FROM ev_train;
SELECT ok(ntk_fit_classifier('ev_clf', x, label, '{"ridge": 1e-9}') > 0, 'classifier fitted') FROM ev_train;

-- figures on the training rows, where a nearly unregularized fit is exact
SELECT is((ntk_evaluate('ev_reg', 'SELECT x, y FROM ev_train') ->> 'n')::int, 30, 'n counts the rows');
SELECT ok((ntk_evaluate('ev_reg', 'SELECT x, y FROM ev_train') ->> 'rmse')::float8 < 1e-6,
    'rmse of the training rows is near 0');
SELECT ok((ntk_evaluate('ev_reg', 'SELECT x, y FROM ev_train') ->> 'r2')::float8 > 1 - 1e-12,
    'r2 of the training rows is near 1');
SELECT is(jsonb_array_length(ntk_evaluate('ev_reg2', 'SELECT x, ARRAY[y, 1.0]::float8[] FROM ev_train') -> 'outputs'),
    2, 'one entry of outputs per output');
SELECT is((ntk_evaluate('ev_reg', $$SELECT x, CASE WHEN i > 2 THEN y END FROM ev_train$$) ->> 'n_skipped')::int,
    2, 'rows with a NULL target are skipped and counted');
SELECT is(ntk_evaluate('ev_reg', 'SELECT x, y FROM ev_train WHERE false'),
    '{"n": 0, "task": "regression", "n_skipped": 0}'::jsonb, 'no rows: n 0 and no figures');
SELECT is(ntk_evaluate('ev_reg', 'SELECT x, y FROM ev_train WHERE i = 1') -> 'r2', 'null'::jsonb,
    'one row: r2 null (sklearn gives NaN)');
SELECT is(ntk_evaluate('ev_clf', 'SELECT x, label FROM ev_train') - 'classes' - 'macro' - 'weighted',
    '{"n": 30, "task": "classification", "labels": ["p", "q", "r"], "accuracy": 1, "n_skipped": 0,
      "confusion_matrix": [[10, 0, 0], [0, 10, 0], [0, 0, 10]]}'::jsonb,
    'classifier on its training rows: accuracy 1, diagonal confusion matrix');
SELECT is(ntk_evaluate('ev_clf', $$SELECT x, 'new'::text FROM ev_train WHERE label = 'p'$$) - 'classes',
    '{"n": 10, "task": "classification", "labels": ["new", "p"], "accuracy": 0, "n_skipped": 0,
      "macro": {"f1": 0, "recall": 0, "precision": 0}, "weighted": {"f1": 0, "recall": 0, "precision": 0},
      "confusion_matrix": [[0, 10], [0, 0]]}'::jsonb,
    'a label unknown to the model is a row of the matrix; precision of a label never predicted is 0');
SELECT is(ntk_evaluate('ev_clf', $$SELECT x, label FROM ev_train WHERE label = 'q'$$) -> 'classes',
    '[{"f1": 1, "label": "q", "recall": 1, "support": 10, "precision": 1}]'::jsonb,
    'labels neither in the test rows nor predicted are left out (sklearn''s labels=None)');

-- errors
SELECT throws_ok($$SELECT ntk_evaluate('ev_nope', 'SELECT x, y FROM ev_train')$$, '42704',
    'model "ev_nope" does not exist', 'unknown model: 42704');
SELECT throws_ok($$SELECT ntk_evaluate('ev_reg', 'SELECT x, label FROM ev_train')$$, '42804',
    'second column of the ntk_evaluate query must be double precision for model "ev_reg", not text',
    'regression target of another type: 42804');
SELECT throws_ok($$SELECT ntk_evaluate('ev_reg2', 'SELECT x, y FROM ev_train')$$, '42804',
    'second column of the ntk_evaluate query must be double precision[] for model "ev_reg2", not double precision',
    'a multi-output model wants a float8[] target: 42804');
SELECT throws_ok($$SELECT ntk_evaluate('ev_clf', 'SELECT x, y FROM ev_train')$$, '42804',
    'second column of the ntk_evaluate query must be text for model "ev_clf", not double precision',
    'classifier target of another type: 42804');
SELECT throws_ok($$SELECT ntk_evaluate('ev_reg', 'SELECT x::text, y FROM ev_train')$$, '42804',
    'first column of the ntk_evaluate query must be double precision[] or real[], not text',
    'x of another type: 42804');
SELECT throws_ok($$SELECT ntk_evaluate('ev_reg', 'SELECT x FROM ev_train')$$, '42804',
    'query of ntk_evaluate must return two columns (x float8[], target)', 'one column: 42804');
SELECT throws_ok($$SELECT ntk_evaluate('ev_reg', 'DELETE FROM ev_train RETURNING x, y')$$, '25006',
    'query of ntk_evaluate must be read-only', 'a DELETE: 25006');
SELECT throws_ok($$SELECT ntk_evaluate('ev_reg', 'SELECT x, y FROM ev_train FOR UPDATE')$$, '25006',
    'query of ntk_evaluate must be read-only', 'a locking SELECT: 25006');
SELECT throws_ok($$SELECT ntk_evaluate('ev_reg', 'SELECT x, y FROM ev_train; SELECT x, y FROM ev_train')$$, '22023',
    'query of ntk_evaluate must be a single SELECT statement', 'two statements: 22023');
SELECT throws_ok($$SELECT ntk_evaluate('ev_reg', 'SELECT x, y FROM ev_train', '{"average": "micro"}')$$, '22023',
    'unrecognized option "average" of ntk_evaluate', 'an unknown option: 22023');
SELECT throws_ok($$SELECT ntk_evaluate('ev_reg', $q$SELECT x, 'NaN'::float8 FROM ev_train$q$)$$, '22000',
    'target must not be NaN or Infinity', 'a NaN target: 22000');
SELECT throws_ok($$SELECT ntk_evaluate('ev_reg', $q$SELECT ARRAY[1, 'NaN']::real[], y FROM ev_train$q$)$$, '22000',
    'array "x" must not contain NaN or Infinity', 'a NaN in a real[] x: 22000');

-- real[]: the same results as float8[], NaN and Infinity refused alike
CREATE TEMP TABLE ev_real AS SELECT i, x::real[] AS x4, (x::real[])::float8[] AS x8 FROM ev_train;
SELECT is((SELECT count(*)::int FROM ev_real WHERE ntk_predict('ev_reg', x4) = ntk_predict('ev_reg', x8)
           AND ntk_kernel(x4, x4) = ntk_kernel(x8, x8)), 30, 'real[] predicts and kernels as float8[]');
SELECT throws_ok($$SELECT ntk_predict('ev_reg', x4 || 'Infinity'::real) FROM ev_real$$, '22000',
    'array "x" must not contain NaN or Infinity', 'Infinity in a real[] column: 22000');
SELECT throws_ok($$SELECT ntk_kernel(x4, x4[1:1]) FROM ev_real$$, '22000',
    'arrays "x" and "z" have different lengths', 'real[] of different lengths: 22000');

-- resolution of calls that worked before: none may become ambiguous
SELECT is(ntk_predict('ev_reg', ARRAY[1, 2]), ntk_predict('ev_reg', ARRAY[1, 2]::float8[]),
    'integer[] argument');
SELECT is(ntk_predict('ev_reg', '{1,2}'), ntk_predict('ev_reg', ARRAY[1, 2]::float8[]),
    'untyped literal');
SELECT is(ntk_predict('ev_reg', ARRAY[1.5, 2]), ntk_predict('ev_reg', ARRAY[1.5, 2]::float8[]),
    'numeric[] argument');
SELECT is(ntk_kernel('{1,2}', ARRAY[1, 2]), ntk_kernel(ARRAY[1, 2]::float8[], ARRAY[1, 2]::float8[]),
    'ntk_kernel of a literal and an integer[]');
SELECT ok(ntk_fit('ev_num', ARRAY[i / 10.0, i % 5], i / 10.0) > 0, 'ntk_fit of numeric[] rows')
    FROM generate_series(1, 10) i;

SELECT * FROM finish();
ROLLBACK;
