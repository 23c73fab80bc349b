-- 02_fit.sql: catalog promises and error paths of fitting and prediction:
-- the ntk_fit / ntk_fit_classifier aggregates, ntk_predict*, ntk_drop_model
-- and the ntk_models table.
--
-- Run by pg_prove in a database with CREATE EXTENSION pgtap; CREATE EXTENSION ntk
-- (shared with 01_kernel.sql): everything happens in one transaction that is
-- rolled back.
\unset ECHO
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true

BEGIN;
SELECT plan(264);

-- The aggregates -------------------------------------------------------------------

SELECT is_aggregate('ntk_fit', ARRAY['text', 'double precision[]', 'double precision'],
    'ntk_fit(text, float8[], float8) is an aggregate');
SELECT is_aggregate('ntk_fit', ARRAY['text', 'double precision[]', 'double precision', 'jsonb'],
    'ntk_fit(text, float8[], float8, jsonb) is an aggregate');
SELECT is_aggregate('ntk_fit', ARRAY['text', 'double precision[]', 'double precision[]'],
    'ntk_fit(text, float8[], float8[]) is an aggregate');
SELECT is_aggregate('ntk_fit', ARRAY['text', 'double precision[]', 'double precision[]', 'jsonb'],
    'ntk_fit(text, float8[], float8[], jsonb) is an aggregate');
SELECT is_aggregate('ntk_fit_classifier', ARRAY['text', 'double precision[]', 'text'],
    'ntk_fit_classifier(text, float8[], text) is an aggregate');
SELECT is_aggregate('ntk_fit_classifier', ARRAY['text', 'double precision[]', 'text', 'jsonb'],
    'ntk_fit_classifier(text, float8[], text, jsonb) is an aggregate');

SELECT function_returns('ntk_fit', ARRAY['text', 'double precision[]', 'double precision'], 'bigint',
    'ntk_fit(text, float8[], float8) returns bigint');
SELECT function_returns('ntk_fit', ARRAY['text', 'double precision[]', 'double precision', 'jsonb'], 'bigint',
    'ntk_fit(text, float8[], float8, jsonb) returns bigint');
SELECT function_returns('ntk_fit', ARRAY['text', 'double precision[]', 'double precision[]'], 'bigint',
    'ntk_fit(text, float8[], float8[]) returns bigint');
SELECT function_returns('ntk_fit', ARRAY['text', 'double precision[]', 'double precision[]', 'jsonb'], 'bigint',
    'ntk_fit(text, float8[], float8[], jsonb) returns bigint');
SELECT function_returns('ntk_fit_classifier', ARRAY['text', 'double precision[]', 'text'], 'bigint',
    'ntk_fit_classifier(text, float8[], text) returns bigint');
SELECT function_returns('ntk_fit_classifier', ARRAY['text', 'double precision[]', 'text', 'jsonb'], 'bigint',
    'ntk_fit_classifier(text, float8[], text, jsonb) returns bigint');

SELECT is(pg_get_function_arguments('ntk_fit(text, float8[], float8)'::regprocedure),
    'model text, x double precision[], y double precision', 'ntk_fit scalar argument names');
SELECT is(pg_get_function_arguments('ntk_fit(text, float8[], float8, jsonb)'::regprocedure),
    'model text, x double precision[], y double precision, options jsonb', 'ntk_fit scalar with options argument names');
SELECT is(pg_get_function_arguments('ntk_fit(text, float8[], float8[])'::regprocedure),
    'model text, x double precision[], y double precision[]', 'ntk_fit multi-output argument names');
SELECT is(pg_get_function_arguments('ntk_fit(text, float8[], float8[], jsonb)'::regprocedure),
    'model text, x double precision[], y double precision[], options jsonb', 'ntk_fit multi-output with options argument names');
SELECT is(pg_get_function_arguments('ntk_fit_classifier(text, float8[], text)'::regprocedure),
    'model text, x double precision[], label text', 'ntk_fit_classifier argument names');
SELECT is(pg_get_function_arguments('ntk_fit_classifier(text, float8[], text, jsonb)'::regprocedure),
    'model text, x double precision[], label text, options jsonb', 'ntk_fit_classifier with options argument names');

SELECT is((SELECT count(*)::int FROM pg_proc WHERE proname = 'ntk_fit' AND prokind = 'a'), 4,
    'ntk_fit has exactly four overloads');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE proname = 'ntk_fit_classifier' AND prokind = 'a'), 2,
    'ntk_fit_classifier has exactly two overloads');
-- the final function writes: the state may not be shared between aggregate calls
SELECT is((SELECT array_agg(DISTINCT a.aggfinalmodify) FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
           WHERE p.proname IN ('ntk_fit', 'ntk_fit_classifier')), ARRAY['w']::"char"[],
    'the fit aggregates have FINALFUNC_MODIFY = READ_WRITE');

-- The predict functions -----------------------------------------------------------

SELECT function_returns('ntk_predict', ARRAY['text', 'double precision[]'], 'double precision',
    'ntk_predict returns float8');
SELECT function_returns('ntk_predict_vector', ARRAY['text', 'double precision[]'], 'double precision[]',
    'ntk_predict_vector returns float8[]');
SELECT function_returns('ntk_predict_class', ARRAY['text', 'double precision[]'], 'text',
    'ntk_predict_class returns text');
SELECT is(pg_get_function_arguments('ntk_predict(text, float8[])'::regprocedure),
    'model text, x double precision[]', 'ntk_predict argument names');
SELECT is(pg_get_function_arguments('ntk_predict_vector(text, float8[])'::regprocedure),
    'model text, x double precision[]', 'ntk_predict_vector argument names');
SELECT is(pg_get_function_arguments('ntk_predict_class(text, float8[])'::regprocedure),
    'model text, x double precision[]', 'ntk_predict_class argument names');
SELECT volatility_is('ntk_predict', ARRAY['text', 'double precision[]'], 'stable', 'ntk_predict is STABLE');
SELECT volatility_is('ntk_predict_vector', ARRAY['text', 'double precision[]'], 'stable', 'ntk_predict_vector is STABLE');
SELECT volatility_is('ntk_predict_class', ARRAY['text', 'double precision[]'], 'stable', 'ntk_predict_class is STABLE');
SELECT is_strict('ntk_predict', ARRAY['text', 'double precision[]'], 'ntk_predict is STRICT');
SELECT is_strict('ntk_predict_vector', ARRAY['text', 'double precision[]'], 'ntk_predict_vector is STRICT');
SELECT is_strict('ntk_predict_class', ARRAY['text', 'double precision[]'], 'ntk_predict_class is STRICT');
SELECT is((SELECT proparallel FROM pg_proc WHERE oid = 'ntk_predict(text, float8[])'::regprocedure),
    's'::"char", 'ntk_predict is PARALLEL SAFE');
SELECT is((SELECT proparallel FROM pg_proc WHERE oid = 'ntk_predict_vector(text, float8[])'::regprocedure),
    's'::"char", 'ntk_predict_vector is PARALLEL SAFE');
SELECT is((SELECT proparallel FROM pg_proc WHERE oid = 'ntk_predict_class(text, float8[])'::regprocedure),
    's'::"char", 'ntk_predict_class is PARALLEL SAFE');

SELECT has_function('ntk_predict_batch', ARRAY['text', 'text'], 'ntk_predict_batch(text, text) exists');
SELECT is(pg_get_function_arguments('ntk_predict_batch(text, text)'::regprocedure),
    'model text, query text', 'ntk_predict_batch argument names');
SELECT is(pg_get_function_result('ntk_predict_batch(text, text)'::regprocedure),
    'TABLE(id bigint, prediction double precision, outputs double precision[], label text)',
    'ntk_predict_batch returns TABLE(id bigint, prediction float8, outputs float8[], label text)');
SELECT ok((SELECT proretset FROM pg_proc WHERE oid = 'ntk_predict_batch(text, text)'::regprocedure),
    'ntk_predict_batch returns a set');
SELECT is_strict('ntk_predict_batch', ARRAY['text', 'text'], 'ntk_predict_batch is STRICT');

SELECT function_returns('ntk_drop_model', ARRAY['text'], 'boolean', 'ntk_drop_model returns boolean');
SELECT is(pg_get_function_arguments('ntk_drop_model(text)'::regprocedure),
    'model text', 'ntk_drop_model argument name');
SELECT volatility_is('ntk_drop_model', ARRAY['text'], 'volatile', 'ntk_drop_model is VOLATILE');
SELECT is_strict('ntk_drop_model', ARRAY['text'], 'ntk_drop_model is STRICT');

SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
           JOIN pg_extension e ON e.oid = d.refobjid AND d.deptype = 'e'
           WHERE e.extname = 'ntk'
             AND p.proname IN ('ntk_fit', 'ntk_fit_classifier', 'ntk_predict', 'ntk_predict_vector',
                               'ntk_predict_class', 'ntk_predict_batch', 'ntk_drop_model')), 11,
    'the eleven fit / predict / drop functions belong to extension ntk');

-- The model table ------------------------------------------------------------------

SELECT has_table('ntk_models', 'table ntk_models exists');
SELECT has_column('ntk_models', 'id', 'ntk_models has id');
SELECT col_type_is('ntk_models', 'id', 'bigint', 'ntk_models.id is bigint');
SELECT has_column('ntk_models', 'name', 'ntk_models has name');
SELECT col_type_is('ntk_models', 'name', 'text', 'ntk_models.name is text');
SELECT has_column('ntk_models', 'owner', 'ntk_models has owner');
SELECT col_type_is('ntk_models', 'owner', 'name', 'ntk_models.owner is name');
SELECT has_column('ntk_models', 'created_at', 'ntk_models has created_at');
SELECT col_type_is('ntk_models', 'created_at', 'timestamp with time zone', 'ntk_models.created_at is timestamptz');
SELECT has_column('ntk_models', 'task', 'ntk_models has task');
SELECT col_type_is('ntk_models', 'task', 'text', 'ntk_models.task is text');
SELECT has_column('ntk_models', 'kernel', 'ntk_models has kernel');
SELECT col_type_is('ntk_models', 'kernel', 'text', 'ntk_models.kernel is text');
SELECT has_column('ntk_models', 'activation', 'ntk_models has activation');
SELECT col_type_is('ntk_models', 'activation', 'text', 'ntk_models.activation is text');
SELECT has_column('ntk_models', 'depth', 'ntk_models has depth');
SELECT col_type_is('ntk_models', 'depth', 'integer', 'ntk_models.depth is int');
SELECT has_column('ntk_models', 'sigma_w', 'ntk_models has sigma_w');
SELECT col_type_is('ntk_models', 'sigma_w', 'double precision', 'ntk_models.sigma_w is float8');
SELECT has_column('ntk_models', 'sigma_b', 'ntk_models has sigma_b');
SELECT col_type_is('ntk_models', 'sigma_b', 'double precision', 'ntk_models.sigma_b is float8');
SELECT has_column('ntk_models', 'ridge', 'ntk_models has ridge');
SELECT col_type_is('ntk_models', 'ridge', 'double precision', 'ntk_models.ridge is float8');
SELECT has_column('ntk_models', 'n_train', 'ntk_models has n_train');
SELECT col_type_is('ntk_models', 'n_train', 'integer', 'ntk_models.n_train is int');
SELECT has_column('ntk_models', 'n_features', 'ntk_models has n_features');
SELECT col_type_is('ntk_models', 'n_features', 'integer', 'ntk_models.n_features is int');
SELECT has_column('ntk_models', 'n_outputs', 'ntk_models has n_outputs');
SELECT col_type_is('ntk_models', 'n_outputs', 'integer', 'ntk_models.n_outputs is int');
SELECT has_column('ntk_models', 'classes', 'ntk_models has classes');
SELECT col_type_is('ntk_models', 'classes', 'text[]', 'ntk_models.classes is text[]');
SELECT has_column('ntk_models', 'options', 'ntk_models has options');
SELECT col_type_is('ntk_models', 'options', 'jsonb', 'ntk_models.options is jsonb');
SELECT has_column('ntk_models', 'metrics', 'ntk_models has metrics');
SELECT col_type_is('ntk_models', 'metrics', 'jsonb', 'ntk_models.metrics is jsonb');
SELECT col_is_pk('ntk_models', 'id', 'ntk_models.id is the primary key');
SELECT col_is_unique('ntk_models', 'name', 'ntk_models.name is UNIQUE');
SELECT col_not_null('ntk_models', 'name', 'ntk_models.name is NOT NULL');
SELECT ok(has_table_privilege('public', 'ntk_models', 'SELECT'), 'any role may read ntk_models');

-- Data -------------------------------------------------------------------------------

CREATE TEMP TABLE tap_train AS
SELECT i AS id, ARRAY[sin(i), cos(i), (i % 5) / 5.0]::float8[] AS x,
       sin(i) + (i % 5) / 5.0 AS y, ARRAY[sin(i), cos(i)]::float8[] AS yv,
       CASE WHEN sin(i) > 0 THEN 'pos' ELSE 'neg' END AS label
FROM generate_series(1, 30) AS i;
CREATE TEMP TABLE tap_test (id bigint, x float8[]);
INSERT INTO tap_test VALUES (1, '{0.1,0.2,0.3}'), (2, '{-1,0,1}');

-- captures the hint of an error, so it can be compared
CREATE FUNCTION pg_temp.error_hint(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    h text;
BEGIN
    EXECUTE query;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
    RETURN h;
END
$$;

-- a fit, a classifier fit and a drop in a transaction made read-only on the way
CREATE FUNCTION pg_temp.fit_read_only() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL transaction_read_only = on;
    RETURN (SELECT ntk_fit('tap_ro', x, y) FROM tap_train);
END
$$;
CREATE FUNCTION pg_temp.classifier_read_only() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL transaction_read_only = on;
    RETURN (SELECT ntk_fit_classifier('tap_ro', x, label) FROM tap_train);
END
$$;
CREATE FUNCTION pg_temp.drop_read_only() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL transaction_read_only = on;
    RETURN ntk_drop_model('tap_reg');
END
$$;
CREATE FUNCTION pg_temp.predict_read_only() RETURNS float8 LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL transaction_read_only = on;
    RETURN ntk_predict('tap_reg', '{0.1,0.2,0.3}') + (SELECT count(*) FROM ntk_predict_batch('tap_reg', 'SELECT id, x FROM tap_test'));
END
$$;
-- a function that writes to a permanent table (a read-only transaction may
-- still write temporary tables), called from a batch query
CREATE TABLE tap_log (x float8[]);
CREATE FUNCTION pg_temp.writes(x float8[]) RETURNS float8[] LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tap_log VALUES (x);
    RETURN x;
END
$$;

-- Fitting -----------------------------------------------------------------------------

CREATE TEMP TABLE tap_fit_id AS SELECT ntk_fit('tap_reg', x, y, '{"ridge": 1e-3}') AS id FROM tap_train;
SELECT isnt((SELECT id FROM tap_fit_id), NULL, 'ntk_fit returns an id');
SELECT is((SELECT id FROM ntk_models WHERE name = 'tap_reg'), (SELECT id FROM tap_fit_id),
    'the id returned is the stored model''s');
SELECT isnt((SELECT ntk_fit('tap_multi', x, yv) FROM tap_train), NULL, 'multi-output ntk_fit returns an id');
SELECT isnt((SELECT ntk_fit_classifier('tap_clf', x, label) FROM tap_train), NULL, 'ntk_fit_classifier returns an id');
SELECT is((SELECT ntk_fit('tap_none', x, y) FROM tap_train WHERE false), NULL, 'no rows: ntk_fit returns NULL');
SELECT is((SELECT ntk_fit('tap_none', x, yv) FROM tap_train WHERE false), NULL, 'no rows: multi-output ntk_fit returns NULL');
SELECT is((SELECT ntk_fit_classifier('tap_none', x, label) FROM tap_train WHERE false), NULL,
    'no rows: ntk_fit_classifier returns NULL');
SELECT is((SELECT count(*)::int FROM ntk_models WHERE name = 'tap_none'), 0, 'no rows: nothing stored');
SELECT is((SELECT (task, n_train, n_features, n_outputs) FROM ntk_models WHERE name = 'tap_reg'),
    ('regression'::text, 30, 3, 1), 'tap_reg: regression, 30 rows, 3 features, 1 output');
SELECT is((SELECT (task, n_outputs) FROM ntk_models WHERE name = 'tap_multi'),
    ('regression'::text, 2), 'tap_multi: 2 outputs');
SELECT is((SELECT (task, n_outputs, classes) FROM ntk_models WHERE name = 'tap_clf'),
    ('classification'::text, 2, ARRAY['neg', 'pos']), 'tap_clf: classification, classes {neg,pos}');
SELECT is((SELECT owner FROM ntk_models WHERE name = 'tap_reg'), current_user::name, 'the owner is current_user');
SELECT throws_ok($$INSERT INTO ntk_models (name, task, kernel, activation, depth, sigma_w, sigma_b, ridge,
                   n_train, n_features, n_outputs, options, metrics)
                   VALUES ('tap_reg', 'regression', 'ntk', 'relu', 3, 1, 0, 0, 1, 1, 1, '{}', '{}')$$,
    '23505', NULL, 'a second row with the same name violates UNIQUE');
SELECT lives_ok($$SELECT ntk_predict('tap_reg', x) FROM tap_test$$, 'ntk_predict works');
SELECT is((SELECT count(*)::int FROM ntk_predict_batch('tap_reg', 'SELECT id, x FROM tap_test')), 2,
    'ntk_predict_batch returns a row per input');
SELECT is(pg_temp.predict_read_only() > 2, true, 'predicting works in a read-only transaction');
SELECT is(current_setting('transaction_read_only'), 'off', 'the transaction is read-write again');

-- the number of models and tap_reg's id, to compare after every failed fit
CREATE TEMP TABLE tap_before AS
SELECT (SELECT count(*) FROM ntk_models) AS models, (SELECT id FROM ntk_models WHERE name = 'tap_reg') AS reg_id;

-- Errors: options ------------------------------------------------------------------------

SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '{"depht": 2}') FROM tap_train$$, '22023',
    'unrecognized option "depht"', 'unknown option key is 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '{"depth": "2"}') FROM tap_train$$, '22023',
    'option "depth" must be a number, not a string', 'depth as a string is 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '{"depth": 1.5}') FROM tap_train$$, '22023',
    'option "depth" must be an integer', 'a fractional depth is 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '{"depth": null}') FROM tap_train$$, '22023',
    'option "depth" must be a number, not null', 'depth null is 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '{"ridge_absolute": 1}') FROM tap_train$$, '22023',
    'option "ridge_absolute" must be a boolean, not a number', 'ridge_absolute as a number is 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '{"standardize": "yes"}') FROM tap_train$$, '22023',
    'option "standardize" must be a boolean, not a string', 'standardize as a string is 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '{"activation": 1}') FROM tap_train$$, '22023',
    'option "activation" must be a string, not a number', 'activation as a number is 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '{"sigma_w": "1"}') FROM tap_train$$, '22023',
    'option "sigma_w" must be a number, not a string', 'sigma_w as a string is 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '{"sigma_w": [1, 2]}') FROM tap_train$$, '22023',
    'option "sigma_w" must be a scalar, not an array', 'sigma_w as an array is 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '{"kernel": {"name": "ntk"}}') FROM tap_train$$, '22023',
    'option "kernel" must be a scalar, not an object', 'kernel as an object is 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '[1, 2]') FROM tap_train$$, '22023',
    'options must be a jsonb object', 'options that are not an object are 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '"depth"') FROM tap_train$$, '22023',
    'options must be a jsonb object', 'a scalar for options is 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '{"depth": -1}') FROM tap_train$$, '22023',
    'option "depth" must be between 0 and 1000', 'depth -1 is 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '{"depth": 1001}') FROM tap_train$$, '22023',
    'option "depth" must be between 0 and 1000', 'depth 1001 is 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '{"depth": 1e10}') FROM tap_train$$, '22023',
    'option "depth" must be an integer', 'a depth beyond int is 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '{"sigma_w": 0}') FROM tap_train$$, '22023',
    'option "sigma_w" must be positive', 'sigma_w 0 is 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '{"sigma_w": -1}') FROM tap_train$$, '22023',
    'option "sigma_w" must be positive', 'sigma_w -1 is 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '{"sigma_b": -0.1}') FROM tap_train$$, '22023',
    'option "sigma_b" must not be negative', 'a negative sigma_b is 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '{"kernel": "rbf"}') FROM tap_train$$, '22023',
    'unrecognized kernel "rbf"', 'an unknown kernel is 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '{"activation": "tanh"}') FROM tap_train$$, '22023',
    'unrecognized activation "tanh"', 'an unknown activation is 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '{"ridge": -1e-6}') FROM tap_train$$, '22023',
    'option "ridge" must not be negative', 'a negative ridge is 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '{"ridge": "big"}') FROM tap_train$$, '22023',
    'option "ridge" must be a number, an array of numbers or "auto"', 'ridge "big" is 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, yv, '{"depth": -1}') FROM tap_train$$, '22023',
    'option "depth" must be between 0 and 1000', 'multi-output: depth -1 is 22023');
SELECT throws_ok($$SELECT ntk_fit_classifier('tap_reg', x, label, '{"kernel": "NTK"}') FROM tap_train$$, '22023',
    'unrecognized kernel "NTK"', 'classifier: kernel names are case-sensitive, 22023');
SELECT throws_ok($$SELECT ntk_fit_classifier('tap_reg', x, label, '{"colour": 1}') FROM tap_train$$, '22023',
    'unrecognized option "colour"', 'classifier: unknown option key is 22023');
SELECT is(pg_temp.error_hint($$SELECT ntk_fit('tap_reg', x, y, '{"depht": 2}') FROM tap_train$$),
    'Valid options are: depth, activation, sigma_w, sigma_b, kernel, ridge, ridge_absolute, standardize, t, learning_rate, variance.',
    'an unknown option key lists the valid ones in the hint');
SELECT is(pg_temp.error_hint($$SELECT ntk_fit('tap_reg', x, y, '{"kernel": "rbf"}') FROM tap_train$$),
    'Valid kernels are "ntk" and "nngp".', 'an unknown kernel hints at the valid ones');
SELECT is(pg_temp.error_hint($$SELECT ntk_fit('tap_reg', x, y, '{"activation": "tanh"}') FROM tap_train$$),
    'Valid activations are "relu" and "erf".', 'an unknown activation hints at the valid ones');

-- Errors: arrays --------------------------------------------------------------------------

SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y) FROM (VALUES (1, '{1,2,3}'::float8[], 1.0::float8), (2, '{1,2}', 2)) v(i, x, y)$$,
    '22000', 'array "x" has 2 elements, but the first row had 3', 'x shorter than the first row is 22000');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y) FROM (VALUES (1, '{1,2}'::float8[], 1.0::float8), (2, '{1,2,3}', 2)) v(i, x, y)$$,
    '22000', 'array "x" has 3 elements, but the first row had 2', 'x longer than the first row is 22000');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y) FROM (VALUES (1, '{1,2}'::float8[], '{1}'::float8[]), (2, '{1,2,3}', '{2}')) v(i, x, y)$$,
    '22000', 'array "x" has 3 elements, but the first row had 2', 'multi-output: x length mismatch is 22000');
SELECT throws_ok($$SELECT ntk_fit_classifier('tap_reg', x, y) FROM (VALUES (1, '{1,2}'::float8[], 'a'), (2, '{1}', 'b')) v(i, x, y)$$,
    '22000', 'array "x" has 1 element, but the first row had 2', 'classifier: x length mismatch is 22000');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y) FROM (VALUES (1, '{1,NaN}'::float8[], 1.0::float8)) v(i, x, y)$$,
    '22000', 'array "x" must not contain NaN or Infinity', 'NaN in x is 22000');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y) FROM (VALUES (1, '{Infinity,1}'::float8[], 1.0::float8)) v(i, x, y)$$,
    '22000', 'array "x" must not contain NaN or Infinity', 'Infinity in x is 22000');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y) FROM (VALUES (1, '{1,-Infinity}'::float8[], 1.0::float8)) v(i, x, y)$$,
    '22000', 'array "x" must not contain NaN or Infinity', '-Infinity in x is 22000');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y) FROM (VALUES (1, '{1,2}'::float8[], 'NaN'::float8)) v(i, x, y)$$,
    '22000', 'target "y" must not be NaN or Infinity', 'NaN y is 22000');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y) FROM (VALUES (1, '{1,2}'::float8[], 'Infinity'::float8)) v(i, x, y)$$,
    '22000', 'target "y" must not be NaN or Infinity', 'Infinity y is 22000');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y) FROM (VALUES (1, '{1,2}'::float8[], '-Infinity'::float8)) v(i, x, y)$$,
    '22000', 'target "y" must not be NaN or Infinity', '-Infinity y is 22000');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y) FROM (VALUES (1, '{1,2}'::float8[], '{1,NaN}'::float8[])) v(i, x, y)$$,
    '22000', 'array "y" must not contain NaN or Infinity', 'NaN in a y array is 22000');
SELECT throws_ok($$SELECT ntk_fit_classifier('tap_reg', x, y) FROM (VALUES (1, '{NaN,2}'::float8[], 'a')) v(i, x, y)$$,
    '22000', 'array "x" must not contain NaN or Infinity', 'classifier: NaN in x is 22000');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y) FROM (VALUES (1, '{1,NULL}'::float8[], 1.0::float8)) v(i, x, y)$$,
    '22004', 'array "x" must not contain nulls', 'a NULL element in x is 22004');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y) FROM (VALUES (1, '{1,2}'::float8[], '{NULL,1}'::float8[])) v(i, x, y)$$,
    '22004', 'array "y" must not contain nulls', 'a NULL element in a y array is 22004');
SELECT throws_ok($$SELECT ntk_fit_classifier('tap_reg', x, y) FROM (VALUES (1, '{NULL,2}'::float8[], 'a')) v(i, x, y)$$,
    '22004', 'array "x" must not contain nulls', 'classifier: a NULL element in x is 22004');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y) FROM (VALUES (1, '{{1,2},{3,4}}'::float8[], 1.0::float8)) v(i, x, y)$$,
    '2202E', 'array "x" must be one-dimensional', 'a 2-D x is 2202E');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y) FROM (VALUES (1, '{1,2}'::float8[], '{{1,2}}'::float8[])) v(i, x, y)$$,
    '2202E', 'array "y" must be one-dimensional', 'a 2-D y is 2202E');
SELECT throws_ok($$SELECT ntk_fit_classifier('tap_reg', x, y) FROM (VALUES (1, '{{{1}}}'::float8[], 'a')) v(i, x, y)$$,
    '2202E', 'array "x" must be one-dimensional', 'classifier: a 3-D x is 2202E');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y) FROM (VALUES (1, '{}'::float8[], 1.0::float8)) v(i, x, y)$$,
    '22000', 'array "x" must not be empty', 'an empty x is 22000');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y) FROM (VALUES (1, '{1,2}'::float8[], '{}'::float8[])) v(i, x, y)$$,
    '22000', 'array "y" must not be empty', 'an empty y array is 22000');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y) FROM (VALUES (1, '{1,2}'::float8[], '{1,2}'::float8[]), (2, '{3,4}', '{1,2,3}')) v(i, x, y)$$,
    '22000', 'array "y" has 3 elements, but the first row had 2', 'a y array longer than the first row is 22000');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y) FROM (VALUES (1, '{1,2}'::float8[], '{1,2}'::float8[]), (2, '{3,4}', '{1}')) v(i, x, y)$$,
    '22000', 'array "y" has 1 element, but the first row had 2', 'a y array shorter than the first row is 22000');

-- Errors: the model name and the options of a group ---------------------------------------

SELECT throws_ok($$SELECT ntk_fit(NULL, x, y) FROM tap_train$$, '22004',
    'model name must not be null', 'a NULL model name is 22004');
SELECT throws_ok($$SELECT ntk_fit(CASE WHEN id < 10 THEN 'tap_reg' END, x, y ORDER BY id) FROM tap_train$$, '22004',
    'model name must not be null', 'a NULL model name in a later row is 22004');
SELECT throws_ok($$SELECT ntk_fit(NULL, x, yv) FROM tap_train$$, '22004',
    'model name must not be null', 'multi-output: a NULL model name is 22004');
SELECT throws_ok($$SELECT ntk_fit_classifier(NULL, x, label) FROM tap_train$$, '22004',
    'model name must not be null', 'classifier: a NULL model name is 22004');
SELECT throws_ok($$SELECT ntk_fit('', x, y) FROM tap_train$$, '22023',
    'model name must not be empty', 'an empty model name is 22023');
SELECT throws_ok($$SELECT ntk_fit(CASE WHEN id < 10 THEN 'tap_reg' ELSE 'tap_other' END, x, y ORDER BY id) FROM tap_train$$,
    '22023', 'model name must be the same for every row of a group', 'a model name varying in the group is 22023');
SELECT throws_ok($$SELECT ntk_fit_classifier('tap_' || (id % 2), x, label) FROM tap_train$$,
    '22023', 'model name must be the same for every row of a group', 'classifier: a varying model name is 22023');
SELECT throws_ok($$SELECT id % 3, ntk_fit('tap_' || (id % 2), x, y) FROM tap_train GROUP BY id % 3$$,
    '22023', 'model name must be the same for every row of a group', 'GROUP BY on another expression than the name is 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, jsonb_build_object('depth', 1 + id / 15) ORDER BY id) FROM tap_train$$,
    '22023', 'options must be the same for every row of a group', 'options varying in the group are 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, CASE WHEN id < 15 THEN '{}'::jsonb END ORDER BY id) FROM tap_train$$,
    '22023', 'options must be the same for every row of a group', 'options becoming NULL in the group are 22023');
SELECT is(pg_temp.error_hint($$SELECT ntk_fit('tap_' || (id % 2), x, y) FROM tap_train$$),
    'Use GROUP BY on the expression that gives the model name.', 'a varying model name hints at GROUP BY');

-- Errors: a kernel matrix that is not positive definite -----------------------------------

SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '{"ridge": 0, "ridge_absolute": true}')
                   FROM (VALUES ('{1,2}'::float8[], 1.0::float8), ('{0,1}', 2), ('{1,2}', 3)) v(x, y)$$,
    '22000', 'kernel matrix of model "tap_reg" is not positive definite', 'duplicate rows without ridge are 22000');
SELECT is(pg_temp.error_hint($$SELECT ntk_fit('tap_reg', x, y, '{"ridge": 0, "ridge_absolute": true}')
                   FROM (VALUES ('{1,2}'::float8[], 1.0::float8), ('{0,1}', 2), ('{1,2}', 3)) v(x, y)$$),
    'Raise the "ridge" option, for example to 1e-4, or remove duplicate rows.',
    'a singular kernel matrix hints at the ridge');
SELECT throws_ok($$SELECT ntk_fit_classifier('tap_reg', x, y, '{"ridge": 0, "ridge_absolute": true}')
                   FROM (VALUES ('{1,2}'::float8[], 'a'), ('{1,2}', 'b')) v(x, y)$$,
    '22000', 'kernel matrix of model "tap_reg" is not positive definite', 'classifier: duplicate rows without ridge are 22000');
SELECT throws_ok($$SELECT ntk_fit('tap_reg', x, y, '{"ridge": 0, "ridge_absolute": true}')
                   FROM (VALUES ('{0,0}'::float8[], 1.0::float8)) v(x, y)$$,
    '22000', 'kernel matrix of model "tap_reg" is not positive definite', 'a zero kernel (relu, no bias, x = 0) is 22000');
SELECT lives_ok($$SELECT ntk_fit('tap_dup', x, y, '{"ridge": 1e-4}')
                  FROM (VALUES ('{1,2}'::float8[], 1.0::float8), ('{0,1}', 2), ('{1,2}', 3)) v(x, y)$$,
    'duplicate rows with the default relative ridge fit');

-- Errors: read-only transactions ------------------------------------------------------------

SELECT throws_ok('SELECT pg_temp.fit_read_only()', '25006',
    'cannot execute ntk_fit() in a read-only transaction', 'ntk_fit in a read-only transaction is 25006');
SELECT throws_ok('SELECT pg_temp.classifier_read_only()', '25006',
    'cannot execute ntk_fit() in a read-only transaction', 'ntk_fit_classifier in a read-only transaction is 25006');
SELECT throws_ok('SELECT pg_temp.drop_read_only()', '25006',
    'cannot execute ntk_drop_model() in a read-only transaction', 'ntk_drop_model in a read-only transaction is 25006');
SELECT is(current_setting('transaction_read_only'), 'off', 'the transaction is read-write after the failures');

-- Nothing was stored or replaced by any failed fit -------------------------------------------

SELECT is((SELECT count(*) FROM ntk_models), (SELECT models + 1 FROM tap_before),
    'no failed fit stored a model (only tap_dup was added)');
SELECT is((SELECT id FROM ntk_models WHERE name = 'tap_reg'), (SELECT reg_id FROM tap_before),
    'no failed fit replaced tap_reg');
SELECT is((SELECT count(*)::int FROM ntk_models WHERE name IN ('tap_ro', 'tap_other', 'tap_0', 'tap_1', '')), 0,
    'no model under the names of the failed fits');
SELECT is((SELECT count(*)::int FROM ntk_model_data d JOIN ntk_models m ON m.id = d.model_id WHERE m.name = 'tap_reg'), 2,
    'tap_reg still has its x and alpha parts');

-- Errors: prediction --------------------------------------------------------------------------

SELECT throws_ok($$SELECT ntk_predict('tap_missing', '{1,2,3}')$$, '42704',
    'model "tap_missing" does not exist', 'ntk_predict of a missing model is 42704');
SELECT throws_ok($$SELECT ntk_predict_vector('tap_missing', '{1,2,3}')$$, '42704',
    'model "tap_missing" does not exist', 'ntk_predict_vector of a missing model is 42704');
SELECT throws_ok($$SELECT ntk_predict_class('tap_missing', '{1,2,3}')$$, '42704',
    'model "tap_missing" does not exist', 'ntk_predict_class of a missing model is 42704');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_missing', 'SELECT id, x FROM tap_test')$$, '42704',
    'model "tap_missing" does not exist', 'ntk_predict_batch of a missing model is 42704');
SELECT throws_ok($$SELECT ntk_predict('tap_reg', '{1,2}')$$, '22000',
    'array "x" has 2 elements, but model "tap_reg" has 3 features', 'ntk_predict with a wrong dimension is 22000');
SELECT throws_ok($$SELECT ntk_predict_vector('tap_multi', '{1,2,3,4}')$$, '22000',
    'array "x" has 4 elements, but model "tap_multi" has 3 features', 'ntk_predict_vector with a wrong dimension is 22000');
SELECT throws_ok($$SELECT ntk_predict_class('tap_clf', '{1}')$$, '22000',
    'array "x" has 1 elements, but model "tap_clf" has 3 features', 'ntk_predict_class with a wrong dimension is 22000');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'SELECT 1::bigint, ''{1,2}''::float8[]')$$, '22000',
    'array "x" has 2 elements, but model "tap_reg" has 3 features', 'ntk_predict_batch with a wrong dimension is 22000');
SELECT throws_ok($$SELECT ntk_predict('tap_reg', '{1,NaN,3}')$$, '22000',
    'array "x" must not contain NaN or Infinity', 'ntk_predict with NaN is 22000');
SELECT throws_ok($$SELECT ntk_predict_vector('tap_reg', '{1,Infinity,3}')$$, '22000',
    'array "x" must not contain NaN or Infinity', 'ntk_predict_vector with Infinity is 22000');
SELECT throws_ok($$SELECT ntk_predict('tap_reg', '{1,NULL,3}')$$, '22004',
    'array "x" must not contain nulls', 'ntk_predict with a NULL element is 22004');
SELECT throws_ok($$SELECT ntk_predict('tap_reg', '{{1,2,3}}')$$, '2202E',
    'array "x" must be one-dimensional', 'ntk_predict with a 2-D x is 2202E');
SELECT throws_ok($$SELECT ntk_predict('tap_reg', '{}')$$, '22000',
    'array "x" must not be empty', 'ntk_predict with an empty x is 22000');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'SELECT id, CASE WHEN id = 2 THEN ''{1,NaN,0}'' ELSE x END FROM tap_test')$$,
    '22000', 'array "x" must not contain NaN or Infinity', 'ntk_predict_batch stops at a NaN row with 22000');
SELECT throws_ok($$SELECT ntk_predict('tap_clf', '{1,2,3}')$$, '42809',
    'model "tap_clf" is a classifier', 'ntk_predict on a classifier is 42809');
SELECT throws_ok($$SELECT ntk_predict('tap_multi', '{1,2,3}')$$, '42809',
    'model "tap_multi" has 2 outputs', 'ntk_predict on a multi-output model is 42809');
SELECT throws_ok($$SELECT ntk_predict_class('tap_reg', '{1,2,3}')$$, '42809',
    'model "tap_reg" is not a classifier', 'ntk_predict_class on a regression model is 42809');
SELECT throws_ok($$SELECT ntk_predict_class('tap_multi', '{1,2,3}')$$, '42809',
    'model "tap_multi" is not a classifier', 'ntk_predict_class on a multi-output model is 42809');
SELECT is(pg_temp.error_hint($$SELECT ntk_predict('tap_clf', '{1,2,3}')$$),
    'Use ntk_predict_class() for labels or ntk_predict_vector() for class scores.',
    'ntk_predict on a classifier hints at the right functions');
SELECT lives_ok($$SELECT ntk_predict_vector('tap_clf', '{1,2,3}'), ntk_predict_vector('tap_multi', '{1,2,3}'),
                         ntk_predict_class('tap_clf', '{1,2,3}')$$,
    'ntk_predict_vector works on every model, ntk_predict_class on classifiers');
SELECT is(ntk_predict('tap_reg', NULL), NULL, 'ntk_predict(model, NULL) is NULL');
SELECT is(ntk_predict(NULL, '{1,2,3}'), NULL, 'ntk_predict(NULL, x) is NULL');
SELECT is(ntk_predict_vector('tap_reg', NULL), NULL, 'ntk_predict_vector(model, NULL) is NULL');
SELECT is(ntk_predict_class('tap_clf', NULL), NULL, 'ntk_predict_class(model, NULL) is NULL');
SELECT is((SELECT count(*)::int FROM ntk_predict_batch(NULL, 'SELECT id, x FROM tap_test')), 0,
    'ntk_predict_batch(NULL, query) returns no rows');
SELECT is(ntk_predict_class('tap_missing', NULL), NULL, 'STRICT: a NULL x returns NULL before the model is looked up');

-- Errors: the query of ntk_predict_batch -------------------------------------------------------

SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'DELETE FROM tap_test RETURNING id, x')$$, '25006',
    'query of ntk_predict_batch must be read-only', 'batch: DELETE ... RETURNING is 25006');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'UPDATE tap_test SET x = x RETURNING id, x')$$, '25006',
    'query of ntk_predict_batch must be read-only', 'batch: UPDATE ... RETURNING is 25006');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'INSERT INTO tap_test VALUES (3, ''{1,2,3}'') RETURNING id, x')$$, '25006',
    'query of ntk_predict_batch must be read-only', 'batch: INSERT ... RETURNING is 25006');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'WITH d AS (DELETE FROM tap_test RETURNING *) SELECT id, x FROM d')$$, '25006',
    'query of ntk_predict_batch must be read-only', 'batch: a data-modifying CTE is 25006');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'WITH d AS (UPDATE tap_test SET x = x RETURNING *) SELECT id, x FROM tap_test')$$, '25006',
    'query of ntk_predict_batch must be read-only', 'batch: an unused data-modifying CTE is 25006');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'SELECT id, x FROM tap_test FOR UPDATE')$$, '25006',
    'query of ntk_predict_batch must be read-only', 'batch: SELECT ... FOR UPDATE is 25006');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'SELECT id, x FROM tap_test FOR NO KEY UPDATE')$$, '25006',
    'query of ntk_predict_batch must be read-only', 'batch: SELECT ... FOR NO KEY UPDATE is 25006');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'SELECT id, x FROM tap_test FOR SHARE')$$, '25006',
    'query of ntk_predict_batch must be read-only', 'batch: SELECT ... FOR SHARE is 25006');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'SELECT id, x FROM tap_test FOR KEY SHARE')$$, '25006',
    'query of ntk_predict_batch must be read-only', 'batch: SELECT ... FOR KEY SHARE is 25006');
-- (caught by SPI's read-only execution, 0A000, rather than by the up-front check)
SELECT throws_matching($$SELECT * FROM ntk_predict_batch('tap_reg', 'SELECT id, x FROM (SELECT * FROM tap_test FOR UPDATE) s')$$,
    'FOR UPDATE|read-only', 'batch: FOR UPDATE in a subquery is refused');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'TRUNCATE tap_test')$$, '25006',
    'query of ntk_predict_batch must be read-only', 'batch: TRUNCATE is 25006');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'SELECT id, x FROM tap_test; SELECT id, x FROM tap_test')$$, '22023',
    'query of ntk_predict_batch must be a single SELECT statement', 'batch: two statements are 22023');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'SELECT id, x FROM tap_test WHERE ntk_drop_model(''tap_reg'')')$$, '25006',
    'cannot execute ntk_drop_model() in a read-only transaction', 'batch: a query calling ntk_drop_model is 25006');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'SELECT nextval(''ntk_models_id_seq''), x FROM tap_test')$$, '25006',
    'cannot execute nextval() in a read-only transaction', 'batch: a query calling nextval is 25006');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'SELECT id, pg_temp.writes(x) FROM tap_test')$$, '25006',
    'cannot execute INSERT in a read-only transaction', 'batch: a query calling a writing function is 25006');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'SELECT ntk_fit(''tap_batch'', x, y)::bigint, x FROM tap_train GROUP BY x')$$, '25006',
    'cannot execute ntk_fit() in a read-only transaction', 'batch: a query fitting a model is 25006');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'SELECT id FROM tap_test')$$, '42804',
    'query of ntk_predict_batch must return two columns (id bigint, x float8[])', 'batch: one column is 42804');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'SELECT x, x FROM tap_test')$$, '42804',
    'first column of the ntk_predict_batch query must be an integer id, not double precision[]', 'batch: an array id is 42804');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'SELECT id::text, x FROM tap_test')$$, '42804',
    'first column of the ntk_predict_batch query must be an integer id, not text', 'batch: a text id is 42804');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'SELECT id, x::float4[] FROM tap_test')$$, '42804',
    'second column of the ntk_predict_batch query must be double precision[], not real[]', 'batch: a float4[] x is 42804');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'SELECT id, x[1] FROM tap_test')$$, '42804',
    'second column of the ntk_predict_batch query must be double precision[], not double precision', 'batch: a scalar x is 42804');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'SELECT id, x FROM tap_no_such_table')$$, '42P01',
    NULL, 'batch: a missing table is 42P01');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('tap_reg', 'SELEC id, x FROM tap_test')$$, '42601',
    NULL, 'batch: a syntax error is 42601');
SELECT is((SELECT count(*)::int FROM tap_test) + (SELECT count(*)::int FROM tap_log), 2,
    'no batch query changed tap_test or tap_log');
SELECT is((SELECT count(*)::int FROM ntk_models WHERE name IN ('tap_reg', 'tap_batch')), 1,
    'no batch query dropped or fitted a model');
SELECT is(current_setting('transaction_read_only'), 'off', 'the transaction is read-write after the failed batches');
SELECT lives_ok($$SELECT ntk_fit('tap_after', x, y) FROM tap_train$$, 'fitting works after the failed batches');
SELECT is((SELECT count(*)::int FROM ntk_predict_batch('tap_reg', 'SELECT id::int, x FROM tap_test')), 2,
    'batch accepts an int4 id');
SELECT is((SELECT count(*)::int FROM ntk_predict_batch('tap_reg', 'SELECT id::int2, x FROM tap_test')), 2,
    'batch accepts an int2 id');
SELECT is((SELECT count(*)::int FROM ntk_predict_batch('tap_reg', 'VALUES (1::bigint, ''{1,2,3}''::float8[])')), 1,
    'batch accepts a VALUES query');
SELECT is((SELECT count(*)::int FROM ntk_predict_batch('tap_reg', 'TABLE tap_test')), 2,
    'batch accepts TABLE');

-- Results outside float64 ------------------------------------------------------------------

SELECT throws_ok($$SELECT ntk_fit('tap_tiny', x, y) FROM (VALUES ('{1e-160}'::float8[], 1.0::float8)) v(x, y)$$,
    '22003', 'dual coefficients of model "tap_tiny" are out of range for type double precision',
    'a fit whose dual coefficients overflow (subnormal kernel) is refused, not stored');
SELECT is((SELECT count(*)::int FROM ntk_models WHERE name = 'tap_tiny'), 0, 'the refused fit stored nothing');
SELECT throws_ok($$SELECT ntk_fit('tap_tiny', x, y) FROM (VALUES ('{1e-160}'::float8[], 1.0::float8), ('{2e-160}', 2.0)) v(x, y)$$,
    '22000', 'kernel matrix of model "tap_tiny" is not positive definite',
    'an underflowed relative ridge is a clean not-positive-definite error');
SELECT lives_ok($$SELECT ntk_fit('tap_huge_y', x, y) FROM (VALUES ('{1,2}'::float8[], 1e200::float8), ('{2,1}', -1e200)) v(x, y)$$,
    'targets near 1e200 fit (the training error no longer overflows the metrics)');
SELECT ok((SELECT (metrics->>'train_rmse') IS NOT NULL FROM ntk_models WHERE name = 'tap_huge_y'),
    'their train_rmse is a number');
SELECT throws_ok($$SELECT ntk_predict('tap_huge_y', '{1e110,1e99}')$$, '22003',
    'prediction of model "tap_huge_y" is out of range for type double precision',
    'a prediction that overflows is an error, not Infinity');
-- A hashed aggregate rescanned with the same parameters finalizes each group again:
-- the same model, not a refit of inputs already standardized in place.
SET LOCAL enable_sort = off;
CREATE TEMP TABLE tap_rescan AS
SELECT v.a, (SELECT string_agg(s.id::text, ',' ORDER BY s.grp)
               FROM (SELECT grp, ntk_fit('tap_rescan_' || grp, x, y, '{"depth": 1, "standardize": true}') AS id
                       FROM (SELECT i % 2 AS grp, ARRAY[100 + i, 50 - i % 7]::float8[] AS x, sin(i) AS y
                               FROM generate_series(1, 40) i) g
                      GROUP BY grp OFFSET 0) s
              WHERE s.grp >= v.a - v.a) AS ids
  FROM generate_series(1, 3) v(a);
RESET enable_sort;
SELECT is((SELECT count(DISTINCT ids)::int FROM tap_rescan), 1,
    'a rescanned hashed fit returns the same model ids every time');
SELECT is((SELECT count(*)::int FROM ntk_models WHERE name LIKE 'tap\_rescan\_%'), 2, 'and stored each group once');
SELECT lives_ok($$SELECT ntk_fit('tap_plain_0', ARRAY[100 + i, 50 - i % 7]::float8[], sin(i), '{"depth": 1, "standardize": true}')
                    FROM generate_series(2, 40, 2) i$$, 'a plain fit of the first group');
SELECT ok(abs(ntk_predict('tap_rescan_0', '{110,47}') - ntk_predict('tap_plain_0', '{110,47}')) < 1e-12,
    'predicts as the rescanned group''s model');

-- one statement fitting one name twice would return an id that no longer exists
SELECT throws_ok($$SELECT ntk_fit('tap_twice', x, y) FROM tap_train GROUP BY id % 2$$, '21000',
    'model "tap_twice" is fitted more than once in one statement', 'two groups of one statement with one name are refused');
SELECT throws_ok($$SELECT ntk_fit('tap_twice', x, y), ntk_fit('tap_twice', x, 2 * y) FROM tap_train$$, '21000',
    'model "tap_twice" is fitted more than once in one statement', 'so are two aggregates');
SELECT lives_ok($q$DO $do$ BEGIN FOR i IN 1..2 LOOP PERFORM ntk_fit('tap_twice', x, y) FROM tap_train; END LOOP; END $do$$q$,
    'a function may refit a name statement after statement');
SELECT lives_ok($q$DO $do$ BEGIN
        BEGIN
            PERFORM ntk_fit('tap_retry', ARRAY[1, 2]::float8[], 1.0::float8, '{"ridge": 0, "ridge_absolute": true}') FROM generate_series(1, 2);
        EXCEPTION WHEN data_exception THEN
            PERFORM ntk_fit('tap_retry', ARRAY[1, 2]::float8[], 1.0::float8, '{"ridge": 1e-3}') FROM generate_series(1, 2);
        END;
    END $do$$q$,
    'a fit retried after an error (as the hint to raise ridge says) is not "fitted twice"');

-- standardize is scale-free: features near 1e160 or 1e-170 (whose squares leave
-- the float64 range) fit the model of the unscaled features
SELECT lives_ok($$SELECT ntk_fit('tap_std_' || s, ARRAY[x[1] * f, x[2] * f, x[3]], y, '{"standardize": true}')
                    FROM tap_train, (VALUES ('1', 1.0::float8), ('big', 1e160), ('tiny', 1e-170)) v(s, f) GROUP BY s$$,
    'standardized fits of features scaled by 1e160 and 1e-170');
SELECT ok(abs(ntk_predict('tap_std_big', '{0.5e160,0.5e160,0.4}') / ntk_predict('tap_std_1', '{0.5,0.5,0.4}') - 1) < 1e-12
      AND abs(ntk_predict('tap_std_tiny', '{0.5e-170,0.5e-170,0.4}') / ntk_predict('tap_std_1', '{0.5,0.5,0.4}') - 1) < 1e-12,
    'predict as the unscaled model');
SELECT lives_ok($$SELECT ntk_fit('tap_std_span', ARRAY[CASE i WHEN 1 THEN -1.7e308 WHEN 2 THEN 1.7e308 ELSE 1.7e308 END, i], i::float8, '{"standardize": true}')
                     FROM generate_series(1, 10) i$$,
    'a feature spanning more than the float64 range (x - mean overflows) is standardized');
SELECT ok(ntk_predict('tap_std_span', '{-1e308,5}') BETWEEN -100 AND 100, 'and predicts a finite value');

-- out-of-range options and names say which
SELECT throws_ok($$SELECT ntk_fit('tap_opt', x, y, '{"sigma_w": 1e400}') FROM tap_train$$, '22003',
    'option "sigma_w" is out of range for type double precision', 'a number beyond float64 names its option');
SELECT throws_ok($$SELECT ntk_fit('tap_opt', x, y, '{"ridge": 1e308, "sigma_w": 2}') FROM tap_train$$, '22003',
    'ridge of model "tap_opt" is out of range for type double precision', 'a relative ridge that overflows is 22003, not "not positive definite"');
SELECT throws_ok($$SELECT ntk_fit(repeat('n', 1025), x, y) FROM tap_train$$, '42622',
    'model name is too long', 'a model name of more than 1024 bytes is refused');
SELECT lives_ok($$SELECT ntk_fit(repeat('n', 1024), x, y) FROM tap_train$$, 'a model name of 1024 bytes fits');
SELECT lives_ok($$SELECT ntk_fit('tap_one', x, y, '{"ridge": [1e-3], "depth": [2]}') FROM tap_train$$,
    'one candidate each');
SELECT is((SELECT (jsonb_array_length(metrics->'selection'), (metrics->>'loo_mse')::float8 > 0, ridge, depth) FROM ntk_models WHERE name = 'tap_one'),
    (1, true, 1e-3::float8, 2), 'a list of one candidate reports its leave-one-out error');

SELECT throws_ok($$SELECT ntk_models_invalidate()$$, '39P01',
    'function "ntk_models_invalidate" was not called by trigger manager',
    'the invalidation trigger function refuses a direct call');

-- Dropping -----------------------------------------------------------------------------------

SELECT is(ntk_drop_model('tap_reg'), true, 'ntk_drop_model returns true for an existing model');
SELECT is(ntk_drop_model('tap_reg'), false, 'ntk_drop_model returns false the second time');
SELECT is(ntk_drop_model('tap_never'), false, 'ntk_drop_model returns false for a model that never existed');
SELECT is(ntk_drop_model(NULL), NULL, 'ntk_drop_model(NULL) is NULL');
SELECT throws_ok($$SELECT ntk_predict('tap_reg', '{1,2,3}')$$, '42704',
    'model "tap_reg" does not exist', 'a dropped model does not exist (even if it was cached)');
SELECT is((SELECT count(*)::int FROM ntk_model_data d WHERE NOT EXISTS (SELECT 1 FROM ntk_models m WHERE m.id = d.model_id)), 0,
    'dropping leaves no orphaned model data');

SELECT * FROM finish();
ROLLBACK;
