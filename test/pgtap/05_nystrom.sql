-- 05_nystrom.sql: catalog promises of the streaming Nystrom fit: the state
-- type and its I/O, the PARALLEL SAFE aggregates with a combine function
-- (what PostgreSQL's parallel aggregation and a distributed engine need),
-- the writing functions PARALLEL UNSAFE, and a few error paths.
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
SELECT plan(27);

SELECT has_type('ntk_nystrom_state', 'the state type exists');
SELECT is((SELECT typlen::int FROM pg_type WHERE typname = 'ntk_nystrom_state'), -1,
    'ntk_nystrom_state is a varlena');
SELECT is((SELECT typsend::text <> '-' AND typreceive::text <> '-' FROM pg_type WHERE typname = 'ntk_nystrom_state'),
    true, 'ntk_nystrom_state has binary send and receive');
SELECT is((SELECT typstorage::text FROM pg_type WHERE typname = 'ntk_nystrom_state'), 'e',
    'ntk_nystrom_state is stored uncompressed out of line');

-- every aggregate of the passes: parallel safe, a combine function, a
-- non-internal state, no serialization functions (none needed)
SELECT is(count(*)::int, 6, 'six pass aggregates')
FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
WHERE p.proname IN ('ntk_nystrom_centers', 'ntk_nystrom_statistics');
SELECT is(count(*)::int, 0, 'every pass aggregate is PARALLEL SAFE')
FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
WHERE p.proname IN ('ntk_nystrom_centers', 'ntk_nystrom_statistics') AND p.proparallel <> 's';
SELECT is(count(*)::int, 0, 'every pass aggregate combines with ntk_nystrom_combine')
FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
WHERE p.proname IN ('ntk_nystrom_centers', 'ntk_nystrom_statistics')
  AND a.aggcombinefn <> 'ntk_nystrom_combine'::regproc;
SELECT is(count(*)::int, 0, 'every pass aggregate keeps an ntk_nystrom_state')
FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
WHERE p.proname IN ('ntk_nystrom_centers', 'ntk_nystrom_statistics')
  AND a.aggtranstype <> 'ntk_nystrom_state'::regtype;
-- each overload's transition function has its own entry point, which knows
-- the target's type: Citus's worker_partial_agg calls it without the call's
-- expression, from which the type could otherwise be read
SELECT is((SELECT string_agg(pg_get_function_identity_arguments(oid) || ' ' || prosrc, '; ' ORDER BY oid)
             FROM pg_proc WHERE proname IN ('ntk_nystrom_centers_trans', 'ntk_nystrom_statistics_trans')),
    'ntk_nystrom_state, double precision[], double precision, jsonb ntk_nystrom_centers_trans_scalar; '
    'ntk_nystrom_state, double precision[], double precision[], jsonb ntk_nystrom_centers_trans_vector; '
    'ntk_nystrom_state, double precision[], text, jsonb ntk_nystrom_centers_trans_label; '
    'ntk_nystrom_state, ntk_nystrom_state, double precision[], double precision, jsonb ntk_nystrom_statistics_trans_scalar; '
    'ntk_nystrom_state, ntk_nystrom_state, double precision[], double precision[], jsonb ntk_nystrom_statistics_trans_vector; '
    'ntk_nystrom_state, ntk_nystrom_state, double precision[], text, jsonb ntk_nystrom_statistics_trans_label',
    'every overload of a pass has an entry point of its own type of target');
-- ntk_nystrom_merge, the aggregate over states: the same promises
SELECT is((SELECT p.proparallel::text || ' ' || a.aggtransfn::text || ' ' || a.aggcombinefn::text || ' '
                  || a.aggtranstype::regtype::text
             FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
            WHERE a.aggfnoid = 'ntk_nystrom_merge(ntk_nystrom_state)'::regprocedure),
    's ntk_nystrom_combine ntk_nystrom_combine ntk_nystrom_state',
    'ntk_nystrom_merge is PARALLEL SAFE, steps and combines with ntk_nystrom_combine over an ntk_nystrom_state');
SELECT is((SELECT count(*)::int FROM (SELECT ntk_nystrom_merge(s) FROM (VALUES (NULL::ntk_nystrom_state)) v(s)) q
            WHERE ntk_nystrom_merge IS NULL), 1, 'ntk_nystrom_merge of NULL states is NULL');
SELECT is(count(*)::int, 0, 'the support functions are PARALLEL SAFE')
FROM pg_proc WHERE proname IN ('ntk_nystrom_centers_trans', 'ntk_nystrom_statistics_trans',
    'ntk_nystrom_combine', 'ntk_nystrom_state_in', 'ntk_nystrom_state_out',
    'ntk_nystrom_state_recv', 'ntk_nystrom_state_send', 'ntk_nystrom_state_info')
  AND proparallel <> 's';
SELECT is((SELECT proparallel FROM pg_proc WHERE oid = 'ntk_nystrom_fit(text, ntk_nystrom_state, jsonb)'::regprocedure),
    'u', 'ntk_nystrom_fit writes: PARALLEL UNSAFE');
SELECT is((SELECT provolatile FROM pg_proc WHERE oid = 'ntk_nystrom_fit(text, ntk_nystrom_state, jsonb)'::regprocedure),
    'v', 'ntk_nystrom_fit is VOLATILE');
SELECT is((SELECT proparallel FROM pg_proc WHERE oid = 'ntk_fit_query(text, text, jsonb)'::regprocedure),
    'u', 'ntk_fit_query writes: PARALLEL UNSAFE');
SELECT is((SELECT provolatile FROM pg_proc WHERE oid = 'ntk_fit_query(text, text, jsonb)'::regprocedure),
    'v', 'ntk_fit_query is VOLATILE');

-- error paths
CREATE TEMP TABLE tap_nys AS
SELECT ARRAY[sin(i), cos(i)]::float8[] AS x, sin(2 * i) AS y FROM generate_series(1, 50) i;
SELECT throws_ok($$SELECT ntk_fit('tap_nys', x, y, '{"centers": 5}') FROM tap_nys$$, '22023',
    'option "centers" requires "method": "nystrom"', 'centers without nystrom is 22023');
SELECT throws_ok($$SELECT ntk_fit('tap_nys', x, y, '{"method": "nystrom", "variance": true}') FROM tap_nys$$, '0A000',
    'option "variance" is not supported with "method": "nystrom"', 'variance with nystrom is 0A000');
SELECT throws_ok($$SELECT ntk_fit('tap_nys', x, y, '{"method": "nystrom", "depth": [2, 3]}') FROM tap_nys$$, '0A000',
    'option "depth" cannot be a list with "method": "nystrom"', 'a depth list with nystrom is 0A000');
SELECT throws_ok($$SELECT ntk_fit('tap_nys', x, y, '{"method": "nystrom", "centers": -1}') FROM tap_nys$$, '22023',
    'option "centers" must be positive', 'negative centers is 22023');
SELECT throws_ok($$SELECT 'bm90IGEgc3RhdGU='::ntk_nystrom_state$$, '22P03',
    'invalid ntk_nystrom_state', 'a text that is not a state is 22P03');
SELECT throws_ok($$SELECT ntk_fit_query('tap_nys', 'DELETE FROM tap_nys RETURNING x, y', '{"method": "nystrom"}')$$,
    '25006', 'query of ntk_fit_query must be read-only', 'ntk_fit_query refuses a writing query');
SELECT throws_ok($$SELECT ntk_nystrom_combine(
        (SELECT ntk_nystrom_centers(x, y, '{"centers": 5}') FROM tap_nys),
        (SELECT ntk_nystrom_centers(x, y, '{"centers": 6}') FROM tap_nys))$$,
    '22000', 'cannot combine Nystrom states built differently', 'centers states of other m do not combine');
SELECT isnt(ntk_fit('tap_nys', x, y, '{"method": "nystrom", "centers": 10}'), NULL, 'a Nystrom fit stores a model')
FROM tap_nys;
SELECT is((SELECT n_train FROM ntk_models WHERE name = 'tap_nys'), 10, 'its n_train is the number of centers');
SELECT isnt(ntk_fit('tap_nys_gcv', x, y, '{"method": "nystrom", "centers": 10, "ridge": [1e-3, 1e-1]}'), NULL,
    'a Nystrom fit selects its ridge from a list') FROM tap_nys;
SELECT is((SELECT metrics->>'selection_criterion' FROM ntk_models WHERE name = 'tap_nys_gcv'), 'gcv',
    'by GCV');

SELECT * FROM finish();
ROLLBACK;
