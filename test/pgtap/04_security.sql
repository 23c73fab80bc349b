-- 04_security.sql: the findings of the 0.1.0 security audit that one session
-- can show (docs: README "Security"; the ones that need two sessions, a fresh
-- database or pg_dump are in test/fault/security.sh).
--
-- Roles are created inside the test transaction and vanish with its ROLLBACK.
-- Run by pg_prove as a superuser in a database with CREATE EXTENSION pgtap;
-- CREATE EXTENSION ntk.  Every test here failed on 0.1.0 unless it says it
-- keeps something that held.
\unset ECHO
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true

BEGIN;
SELECT plan(60);

CREATE ROLE ntk_s_alice NOSUPERUSER NOLOGIN;
CREATE ROLE ntk_s_bob   NOSUPERUSER NOLOGIN;
CREATE ROLE ntk_s_etl   NOSUPERUSER NOLOGIN BYPASSRLS;
CREATE ROLE ntk_s_dave  NOSUPERUSER NOLOGIN;
CREATE ROLE ntk_s_erin  NOSUPERUSER NOLOGIN;

CREATE FUNCTION pg_temp.try(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    EXECUTE query INTO r;
    RETURN r;
EXCEPTION WHEN others THEN
    RETURN 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
END$$;

CREATE TABLE sec_tr AS
SELECT i, ARRAY[sin(i), cos(i), (i % 7)::float8]::float8[] AS x, (i % 5)::float8 AS y
  FROM generate_series(1, 200) i;
GRANT SELECT ON sec_tr TO PUBLIC;
-- rows alice must never read
CREATE TABLE sec_hr AS
SELECT i, ARRAY[1000 + i, 50000 + i * 13, 42]::float8[] AS x, (100000 + i)::float8 AS salary
  FROM generate_series(1, 5) i;
GRANT SELECT ON sec_hr TO ntk_s_etl;

SET ROLE ntk_s_alice;
SELECT ntk_fit('sec_forecast', x, y) AS forecast_id FROM sec_tr \gset
SELECT ntk_fit('sec_sales', x, y) AS sales_id FROM sec_tr \gset
SELECT ntk_predict('sec_forecast', '{1,2,3}'::float8[]) AS forecast_pred \gset
SELECT md5(string_agg(data, '' ORDER BY part, chunk)) AS forecast_md5
  FROM ntk_model_data WHERE model_id = :forecast_id \gset
RESET ROLE;

-- F2: no role can lock the model store -------------------------------------------

SET ROLE ntk_s_bob;
SELECT throws_ok($$LOCK TABLE ntk_models IN ACCESS EXCLUSIVE MODE$$, '42501', NULL,
                 'F2 bob: LOCK ntk_models IN ACCESS EXCLUSIVE MODE is refused');
SELECT throws_ok($$LOCK TABLE ntk_model_data IN ACCESS EXCLUSIVE MODE$$, '42501', NULL,
                 'F2 bob: LOCK ntk_model_data IN ACCESS EXCLUSIVE MODE is refused');
SELECT throws_ok($$LOCK TABLE ntk_models IN SHARE MODE$$, '42501', NULL,
                 'F2 bob: LOCK ntk_models IN SHARE MODE (blocks fits) is refused');
SELECT throws_ok($$LOCK TABLE ntk_model_data IN ROW EXCLUSIVE MODE$$, '42501', NULL,
                 'F2 bob: LOCK ntk_model_data IN ROW EXCLUSIVE MODE is refused');
SELECT lives_ok($$LOCK TABLE ntk_models IN ROW EXCLUSIVE MODE$$,
                'F2 bob: ROW EXCLUSIVE on ntk_models (what INSERT takes; blocks no reader or fit) remains');
SELECT is((SELECT array_agg(a.privilege_type::text ORDER BY a.privilege_type)
             FROM pg_class c, aclexplode(c.relacl) a
            WHERE c.oid = 'ntk_models'::regclass AND a.grantee = 0),
          ARRAY['INSERT', 'SELECT'], 'F2: PUBLIC holds SELECT and INSERT on ntk_models');
SELECT is((SELECT array_agg(a.privilege_type::text ORDER BY a.privilege_type)
             FROM pg_class c, aclexplode(c.relacl) a
            WHERE c.oid = 'ntk_model_data'::regclass AND a.grantee = 0),
          ARRAY['SELECT'], 'F2: PUBLIC holds only SELECT on ntk_model_data');
-- what held: the rest of the store's administration stays out of reach
SELECT throws_ok($$TRUNCATE ntk_models$$, '42501', NULL, 'bob: TRUNCATE ntk_models is refused');
SELECT throws_ok($$ALTER TABLE ntk_models DISABLE ROW LEVEL SECURITY$$, '42501', NULL,
                 'bob: ALTER TABLE ntk_models is refused');
SELECT throws_ok($$SELECT setval('ntk_models_id_seq', 1)$$, '42501', NULL, 'bob: setval is refused');
SELECT is((SELECT count(*) FROM pg_stats WHERE tablename IN ('ntk_models', 'ntk_model_data')),
          0::bigint, 'bob: pg_stats shows nothing of the model tables');
-- a leaky function in the WHERE clause sees none of alice's rows
CREATE TEMP TABLE sec_seen (t text);
CREATE FUNCTION pg_temp.leak_into(t text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN INSERT INTO sec_seen VALUES (t); RETURN true; END$$;
SELECT count(*) FROM ntk_models WHERE pg_temp.leak_into(name) \gset
SELECT is((SELECT count(*) FROM sec_seen), 0::bigint,
          'bob: a cheap leaky function in the WHERE clause sees no row of alice''s');
RESET ROLE;

-- F3: a privileged role's fit does not take over another role's name --------------

SET ROLE ntk_s_etl;
SELECT throws_ok($$SELECT ntk_fit('sec_forecast', x, salary) FROM sec_hr$$, '42501',
                 'model "sec_forecast" belongs to another role',
                 'F3 etl (BYPASSRLS): refitting alice''s model is refused');
SELECT is(pg_temp.try($$SELECT ntk_drop_model('sec_forecast')::text$$),
          'ERROR 42501: model "sec_forecast" belongs to another role',
          'F3 etl (BYPASSRLS): dropping alice''s model is refused');
SELECT lives_ok($$SELECT ntk_fit('sec_etl_own', x, salary) FROM sec_hr$$,
                'etl: fits a model of its own');
RESET ROLE;
SELECT throws_ok($$SELECT ntk_fit('sec_sales', x, salary) FROM sec_hr$$, '42501',
                 'model "sec_sales" belongs to another role',
                 'F3 superuser: refitting alice''s model is refused');
SELECT is((SELECT owner::text || ' ' || n_train FROM ntk_models WHERE name = 'sec_etl_own'),
          'ntk_s_etl 5', 'etl''s model is owned by etl');
SET ROLE ntk_s_alice;
SELECT is((SELECT owner::text || ' ' || n_train FROM ntk_models WHERE name = 'sec_forecast'),
          'ntk_s_alice 200', 'F3 alice: her model is hers and unchanged');
SELECT is((SELECT md5(string_agg(data, '' ORDER BY part, chunk)) FROM ntk_model_data
            WHERE model_id = :forecast_id), :'forecast_md5',
          'F3 alice: her model''s chunks are unchanged (no hr_private rows)');
SELECT is((SELECT count(*) FROM ntk_models WHERE name = 'sec_etl_own'), 0::bigint,
          'alice: does not see etl''s model');
SELECT is(pg_temp.try($$SELECT ntk_predict('sec_forecast', '{1,2,3}'::float8[])::text$$),
          :'forecast_pred', 'F3 alice: predicts as before');
RESET ROLE;
-- the superuser may still drop a model, and fit the name afresh, as its own
SELECT is(ntk_drop_model('sec_sales'), true, 'superuser: drops alice''s model');
SELECT lives_ok($$SELECT ntk_fit('sec_sales', x, salary) FROM sec_hr$$,
                'superuser: fits the free name');
SELECT is((SELECT owner::text FROM ntk_models WHERE name = 'sec_sales'), current_user::text,
          'superuser: the new model is the superuser''s');
SET ROLE ntk_s_alice;
SELECT is((SELECT count(*) FROM ntk_models WHERE name = 'sec_sales'), 0::bigint,
          'F3 alice: does not see the superuser''s model of that name');
RESET ROLE;

-- F4: ownership by role oid ------------------------------------------------------

SET ROLE ntk_s_dave;
SELECT ntk_fit('sec_dave', x, y * 7) FROM sec_tr \gset
SELECT ntk_predict('sec_dave', '{1,2,3}'::float8[]) AS dave_pred \gset
RESET ROLE;
ALTER ROLE ntk_s_dave RENAME TO ntk_s_dave_departed;
CREATE ROLE ntk_s_dave NOSUPERUSER NOLOGIN;
SET ROLE ntk_s_dave;
SELECT is((SELECT count(*) FROM ntk_model_data), 0::bigint,
          'F4 new dave: sees no chunk of the renamed role''s model');
SELECT throws_ok($$SELECT ntk_predict('sec_dave', '{1,2,3}'::float8[])$$, '42704', NULL,
                 'F4 new dave: the renamed role''s model does not exist for him');
SELECT throws_ok($$SELECT ntk_fit('sec_dave', x, y) FROM sec_tr$$, '42501', NULL,
                 'F4 new dave: cannot replace it');
RESET ROLE;
SET ROLE ntk_s_dave_departed;
SELECT is((SELECT count(*) FROM ntk_models WHERE name = 'sec_dave'), 1::bigint,
          'F4 renamed dave: keeps his model');
SELECT is(pg_temp.try($$SELECT ntk_predict('sec_dave', '{1,2,3}'::float8[])::text$$), :'dave_pred',
          'F4 renamed dave: predicts with it');
RESET ROLE;
SELECT is((SELECT owner::text FROM ntk_models WHERE name = 'sec_dave'), 'ntk_s_dave',
          'F4: the owner column keeps the name the row was written with');
SELECT is((SELECT owner_oid::text FROM ntk_models WHERE name = 'sec_dave'), 'ntk_s_dave_departed',
          'F4: owner_oid names the renamed role');

SET ROLE ntk_s_erin;
SELECT ntk_fit('sec_erin', x, y) FROM sec_tr \gset
RESET ROLE;
DROP ROLE ntk_s_erin;
CREATE ROLE ntk_s_erin NOSUPERUSER NOLOGIN;
SET ROLE ntk_s_erin;
SELECT throws_ok($$SELECT ntk_predict('sec_erin', '{1,2,3}'::float8[])$$, '42704', NULL,
                 'F4 new erin: the dropped role''s model does not exist for her');
SELECT is((SELECT count(*) FROM ntk_models), 0::bigint, 'F4 new erin: sees no model row');
RESET ROLE;
SELECT is((SELECT count(*) FROM ntk_models m
            WHERE NOT EXISTS (SELECT FROM pg_roles r WHERE r.oid = m.owner_oid)), 1::bigint,
          'F4: the README''s query finds the dropped role''s model');
-- a direct INSERT names the owner by name, checked as before
SET ROLE ntk_s_bob;
SELECT throws_ok($$INSERT INTO ntk_models (name, owner, task, kernel, activation, depth, sigma_w,
                       sigma_b, ridge, n_train, n_features, n_outputs, options, metrics)
                   VALUES ('sec_fake', 'ntk_s_alice', 'regression', 'ntk', 'relu', 1, 1, 0,
                           0, 1, 1, 1, '{}', '{}')$$, '42501', NULL,
                 'bob: cannot insert a model row owned by alice');
SELECT throws_ok($$INSERT INTO ntk_models (name, owner_oid, task, kernel, activation, depth, sigma_w,
                       sigma_b, ridge, n_train, n_features, n_outputs, options, metrics)
                   VALUES ('sec_fake', 'ntk_s_alice', 'regression', 'ntk', 'relu', 1, 1, 0,
                           0, 1, 1, 1, '{}', '{}')$$, '42501', NULL,
                 'bob: cannot insert a model row with alice''s owner_oid');
RESET ROLE;

-- F7: an administrator's caps on memory and threads hold -------------------------

SET ntk.max_memory_limit = '8MB';
SET ROLE ntk_s_bob;
SELECT lives_ok($$SET ntk.max_memory = '2000GB'$$, 'F7 bob: may still set ntk.max_memory');
SELECT throws_ok($$SELECT ntk_fit('sec_gucfit', ARRAY[sin(i), cos(i)]::float8[], (i % 3)::float8)
                     FROM generate_series(1, 1500) i$$, '54000', NULL,
                 'F7 bob: a fit over ntk.max_memory_limit is refused whatever ntk.max_memory says');
SELECT throws_ok($$SET ntk.max_memory_limit = '2000GB'$$, '42501', NULL,
                 'F7 bob: cannot raise ntk.max_memory_limit');
SELECT throws_ok($$SET ntk.max_threads = 64$$, '42501', NULL, 'F7 bob: cannot set ntk.max_threads');
RESET ntk.max_memory;
RESET ROLE;
RESET ntk.max_memory_limit;

-- F8: batch prediction with more than 131072 features or outputs -----------------

CREATE TEMP TABLE sec_wide AS
SELECT i, array_fill((i * 0.001)::float8, ARRAY[140000]) AS x, i::float8 AS y,
       array_fill(i::float8, ARRAY[140000]) AS yv
  FROM generate_series(1, 3) i;
SELECT ntk_fit('sec_wide', x, y) FROM sec_wide \gset
SELECT ntk_fit('sec_wide_k', ARRAY[i::float8, 1], yv) FROM sec_wide \gset
-- (the batch path sums in another order; the three parallel inputs make the
-- kernel matrix ill-conditioned: the two agree to about 1e-9)
SELECT is(pg_temp.try($$SELECT abs((SELECT prediction FROM ntk_predict_batch('sec_wide',
                          'SELECT i::bigint, x FROM sec_wide WHERE i = 2'))
                          - ntk_predict('sec_wide', (SELECT x FROM sec_wide WHERE i = 2))) < 1e-6$$), 'true',
          'F8: ntk_predict_batch with 140000 features equals ntk_predict');
SELECT is(pg_temp.try($$SELECT count(*)::text FROM ntk_predict_batch('sec_wide_k',
                          'SELECT 1::bigint, ''{2, 1}''::float8[]')$$), '1',
          'F8: ntk_predict_batch with 140000 outputs');

-- F11: the extension's queries use pg_catalog's operators, whatever the search_path

CREATE SCHEMA sec_spy;
GRANT USAGE ON SCHEMA sec_spy TO PUBLIC;
CREATE TABLE sec_spy.log (who name);
GRANT INSERT ON sec_spy.log TO PUBLIC;
CREATE FUNCTION sec_spy.texteq_spy(text, text) RETURNS bool LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO sec_spy.log VALUES (current_user); RETURN pg_catalog.texteq($1, $2); END$$;
CREATE OPERATOR sec_spy.= (LEFTARG = text, RIGHTARG = text, FUNCTION = sec_spy.texteq_spy);
CREATE FUNCTION sec_spy.int8eq_spy(int8, int8) RETURNS bool LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO sec_spy.log VALUES (current_user); RETURN pg_catalog.int8eq($1, $2); END$$;
CREATE OPERATOR sec_spy.= (LEFTARG = int8, RIGHTARG = int8, FUNCTION = sec_spy.int8eq_spy);
SET ROLE ntk_s_alice;
SELECT current_setting('search_path') AS old_path \gset
SET search_path = sec_spy, pg_catalog, public;
SELECT ntk_predict('sec_forecast', '{1,2,3}'::float8[]) \gset
SELECT ntk_fit('sec_spied', x, y, '{"variance": true}') FROM sec_tr \gset
SELECT ntk_predict_var('sec_spied', '{1,2,3}'::float8[]) \gset
SELECT ntk_drop_model('sec_spied') \gset
SET search_path = :old_path;
RESET ROLE;
SELECT is((SELECT count(*) FROM sec_spy.log), 0::bigint,
          'F11: no operator of a schema before pg_catalog ran inside fit, predict or drop');

-- F12: a damaged variance factor is an error, not a variance of 0 ----------------

SET ROLE ntk_s_alice;
SELECT ntk_fit('sec_var', x, y, '{"variance": true}') FROM sec_tr \gset
SELECT ntk_fit('sec_var_t', x, y, '{"variance": true, "t": 100}') FROM sec_tr \gset
SELECT is(pg_temp.try($$SELECT (ntk_predict_var('sec_var', '{0.5,0.5,3}'::float8[]) > 0)::text$$), 'true',
          'alice: an intact Cholesky factor gives a positive variance');
SELECT is(pg_temp.try($$SELECT (ntk_predict_var('sec_var_t', '{0.5,0.5,3}'::float8[]) >= 0)::text$$), 'true',
          'alice: an intact whitening factor gives a variance');
RESET ROLE;
-- (the tables' owner edits: other roles cannot)
SAVEPOINT f12;
UPDATE ntk_model_data SET data = overlay(data PLACING '\x000000000000f0bf'::bytea FROM 1)
 WHERE part = 'chol' AND chunk = 0 AND model_id = (SELECT id FROM ntk_models WHERE name = 'sec_var');
SET ROLE ntk_s_alice;
SELECT is(pg_temp.try($$SELECT ntk_predict_var('sec_var', '{0.5,0.5,3}'::float8[])::text$$),
          'ERROR XX001: model "sec_var" is damaged',
          'F12: a Cholesky diagonal of -1 is XX001');
RESET ROLE;
ROLLBACK TO SAVEPOINT f12;
UPDATE ntk_model_data SET data = overlay(data PLACING '\x0000000000000000'::bytea FROM 1)
 WHERE part = 'chol' AND chunk = 0 AND model_id = (SELECT id FROM ntk_models WHERE name = 'sec_var');
SET ROLE ntk_s_alice;
SELECT is(pg_temp.try($$SELECT ntk_predict_var('sec_var', '{0.5,0.5,3}'::float8[])::text$$),
          'ERROR XX001: model "sec_var" is damaged',
          'F12: a Cholesky diagonal of 0 is XX001');
RESET ROLE;
ROLLBACK TO SAVEPOINT f12;
UPDATE ntk_model_data SET data = overlay(data PLACING '\x5a62d7d718e77469'::bytea FROM 9)
 WHERE part = 'chol' AND chunk = 0 AND model_id = (SELECT id FROM ntk_models WHERE name = 'sec_var');
SET ROLE ntk_s_alice;
SELECT is(pg_temp.try($$SELECT ntk_predict_var('sec_var', '{0.5,0.5,3}'::float8[])::text$$),
          'ERROR XX001: model "sec_var" is damaged',
          'F12: a Cholesky factor with 1e200 below its diagonal is XX001');
RESET ROLE;
ROLLBACK TO SAVEPOINT f12;
UPDATE ntk_model_data SET data = overlay(data PLACING '\x5a62d7d718e77469'::bytea FROM 1)
 WHERE part = 'whiten' AND chunk = 0 AND model_id = (SELECT id FROM ntk_models WHERE name = 'sec_var_t');
SET ROLE ntk_s_alice;
SELECT is(pg_temp.try($$SELECT ntk_predict_var('sec_var_t', '{0.5,0.5,3}'::float8[])::text$$),
          'ERROR XX001: model "sec_var_t" is damaged',
          'F12: a whitening factor holding 1e200 is XX001');
RESET ROLE;
ROLLBACK TO SAVEPOINT f12;

-- F9: what a non-superuser's pg_dump reads --------------------------------------

SELECT is(has_sequence_privilege('public', 'ntk_models_id_seq', 'SELECT'), true,
          'F9: PUBLIC may read ntk_models_id_seq (pg_dump of a non-superuser)');


-- What held in 0.1.0 and must keep holding ------------------------------------

-- the model cache is keyed by role: a role switch inside one statement, and a
-- SECURITY DEFINER function of alice's followed by bob's own call
SELECT ntk_predict('sec_forecast', '{1,2,3}'::float8[]) \gset
SELECT is(pg_temp.try($$SELECT set_config('role', 'ntk_s_bob', true)
                              || ntk_predict('sec_forecast', '{1,2,3}'::float8[])$$),
          'ERROR 42704: model "sec_forecast" does not exist',
          'a superuser that becomes bob inside a statement does not get the superuser''s cached model');
RESET ROLE;
CREATE SCHEMA sec_fn AUTHORIZATION ntk_s_alice;
CREATE TABLE public.sec_perm (i int);
GRANT INSERT ON public.sec_perm TO PUBLIC;
GRANT USAGE ON SCHEMA sec_fn TO PUBLIC;
SET ROLE ntk_s_alice;
CREATE FUNCTION sec_fn.alice_pred() RETURNS float8 LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$SELECT ntk_predict('sec_forecast', '{1,2,3}'::float8[])$$;
RESET ROLE;
SET ROLE ntk_s_bob;
SELECT is(pg_temp.try($$SELECT sec_fn.alice_pred()::text$$), :'forecast_pred',
          'bob: alice''s SECURITY DEFINER function predicts with her model');
SELECT is(pg_temp.try($$SELECT sec_fn.alice_pred()::text || ntk_predict('sec_forecast', '{1,2,3}'::float8[])$$),
          'ERROR 42704: model "sec_forecast" does not exist',
          'bob: his own call right after it in the same statement is 42704');
-- a non-superuser cannot build an aggregate over ntk's internal state
SELECT throws_ok($$CREATE AGGREGATE pg_temp.steal(text, float8[], float8) (
                     SFUNC = ntk_fit_trans, STYPE = internal, FINALFUNC = ntk_fit_final)$$,
                 '42P13', NULL, 'bob: cannot create an aggregate with STYPE internal over ntk_fit_trans');
-- F10, kept as a decision (README, Security): the batch query cannot write
-- permanent tables, but PostgreSQL's read-only transactions exempt temporary
-- tables and large objects, and so does the batch query
SELECT ntk_fit('sec_bob_m', x, y) FROM sec_tr \gset
CREATE TEMP TABLE sec_scratch (i int);
CREATE FUNCTION pg_temp.wt() RETURNS bigint LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO sec_scratch VALUES (1); RETURN 1; END$$;
CREATE FUNCTION pg_temp.wp() RETURNS bigint LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO public.sec_perm VALUES (1); RETURN 1; END$$;
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('sec_bob_m', 'SELECT pg_temp.wp(), x FROM sec_tr LIMIT 3')$$,
                 '25006', NULL, 'bob: a batch query writing a permanent table fails (25006)');
SELECT is((SELECT count(*) FROM ntk_predict_batch('sec_bob_m', 'SELECT pg_temp.wt(), x FROM sec_tr LIMIT 3')),
          3::bigint, 'F10 bob: a batch query may write his temporary table (documented)');
SELECT is((SELECT count(*) FROM sec_scratch), 3::bigint, 'F10 bob: and those rows stay (documented)');
RESET ROLE;
SELECT is((SELECT count(*) FROM public.sec_perm), 0::bigint, 'nothing reached the permanent table');

-- F1: the extension's schema is not writable by every role -----------------------

SELECT is((SELECT has_schema_privilege('public', n.oid, 'CREATE')
             FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
            WHERE e.extname = 'ntk'), false,
          'F1: PUBLIC cannot create objects in the schema ntk is installed in');

SELECT * FROM finish();
ROLLBACK;
