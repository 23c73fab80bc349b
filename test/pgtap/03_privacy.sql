-- 03_privacy.sql: the model store is private to the owner role and its members.
--
-- Roles are created inside the test transaction and vanish with its ROLLBACK.
-- All of them are NOSUPERUSER (superusers and the table owner bypass row-level
-- security).  Run by pg_prove in a database with CREATE EXTENSION pgtap;
-- CREATE EXTENSION ntk, as a superuser.
\unset ECHO
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true

BEGIN;
SELECT plan(65);

CREATE ROLE ntk_t_alice NOSUPERUSER NOLOGIN;
CREATE ROLE ntk_t_bob   NOSUPERUSER NOLOGIN;
CREATE ROLE ntk_t_carol NOSUPERUSER NOLOGIN;
CREATE ROLE ntk_t_erin  NOSUPERUSER NOLOGIN;
CREATE ROLE ntk_t_grp   NOSUPERUSER NOLOGIN;
CREATE ROLE ntk_t_grp2  NOSUPERUSER NOLOGIN;
CREATE ROLE ntk_t_dave  NOSUPERUSER NOLOGIN;
GRANT ntk_t_grp TO ntk_t_alice, ntk_t_carol, ntk_t_grp2;
GRANT ntk_t_grp2 TO ntk_t_erin;          -- erin is a member of grp through grp2

-- The first column of the first row of a query as text, or 'ERROR <sqlstate>:
-- <message>': a failing check then fails one test instead of stopping the file.
CREATE FUNCTION pg_temp.try(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    EXECUTE query INTO r;
    RETURN r;
EXCEPTION WHEN others THEN
    RETURN 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
END$$;

-- Nothing runs with the rights of its owner -----------------------------------

SELECT is((SELECT count(*) FROM pg_proc p
             JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                             AND d.deptype = 'e'
             JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'ntk'
            WHERE p.prosecdef
              AND NOT coalesce(array_to_string(p.proconfig, ' ') LIKE '%search_path=%', false)),
          0::bigint,
          'no function of ntk is SECURITY DEFINER without a pinned search_path');
SELECT is((SELECT count(*) FROM pg_class c
            WHERE c.relname IN ('ntk_models', 'ntk_model_data') AND c.relrowsecurity),
          2::bigint, 'ntk_models and ntk_model_data have row-level security enabled');

-- alice fits: a regression model and a classifier ---------------------------------

SET ROLE ntk_t_alice;
SELECT ntk_fit('ntk_priv_a', ARRAY[i / 10.0, (i % 7) / 7.0]::float8[], sin(i / 3.0))
  AS a_id FROM generate_series(1, 40) i \gset
SELECT ntk_fit_classifier('ntk_priv_ac', ARRAY[(i % 3)::float8, 1.0], 'c' || (i % 3))
  AS ac_id FROM generate_series(1, 30) i \gset
SELECT ntk_fit('ntk_priv_av', ARRAY[i / 10.0, (i % 7) / 7.0]::float8[], sin(i / 3.0), '{"variance": true}')
  AS av_id FROM generate_series(1, 40) i \gset
SELECT ntk_predict('ntk_priv_a', '{0.55, 0.3}') AS a_pred \gset
SELECT md5(string_agg(data, '' ORDER BY part, chunk)) AS a_md5
  FROM ntk_model_data WHERE model_id = :a_id \gset

SELECT is((SELECT owner::text FROM ntk_models WHERE name = 'ntk_priv_a'), 'ntk_t_alice',
          'alice: the owner of her model is alice');
SELECT is((SELECT count(*) FROM ntk_model_data WHERE model_id = :a_id) > 0, true,
          'alice: sees the data rows of her model');
SELECT is(pg_temp.try($$SELECT ntk_predict_class('ntk_priv_ac', '{2, 1}')$$), 'c2',
          'alice: predicts with her classifier');
SELECT is(pg_temp.try($$SELECT ntk_predict_var('ntk_priv_av', '{0.55, 0.3}') >= 0$$), 'true',
          'alice: ntk_predict_var with her model');

-- bob is not a member of alice: her models do not exist for him ----------------

SET ROLE ntk_t_bob;
SELECT is((SELECT count(*) FROM ntk_models), 0::bigint, 'bob: sees no row of ntk_models');
SELECT is((SELECT count(*) FROM ntk_model_data), 0::bigint, 'bob: sees no row of ntk_model_data');
SELECT is((SELECT count(*) FROM ntk_model_data WHERE model_id = :a_id), 0::bigint,
          'bob: not even when he asks for alice''s model id');
SELECT throws_ok($$SELECT ntk_predict('ntk_priv_a', '{0.55, 0.3}')$$, '42704',
                 'model "ntk_priv_a" does not exist', 'bob: ntk_predict on alice''s model is 42704');
SELECT throws_ok($$SELECT ntk_predict_vector('ntk_priv_a', '{0.55, 0.3}')$$, '42704',
                 'model "ntk_priv_a" does not exist', 'bob: ntk_predict_vector is 42704');
SELECT throws_ok($$SELECT ntk_predict_class('ntk_priv_ac', '{2, 1}')$$, '42704',
                 'model "ntk_priv_ac" does not exist', 'bob: ntk_predict_class is 42704');
SELECT throws_ok($$SELECT ntk_predict_var('ntk_priv_av', '{0.55, 0.3}')$$, '42704',
                 'model "ntk_priv_av" does not exist', 'bob: ntk_predict_var is 42704');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('ntk_priv_a',
                     'SELECT 1::bigint, ''{0.55, 0.3}''::float8[]')$$, '42704',
                 'model "ntk_priv_a" does not exist', 'bob: ntk_predict_batch is 42704');
SELECT throws_ok($$SELECT ntk_predict('ntk_priv_none', '{0.55, 0.3}')$$, '42704',
                 'model "ntk_priv_none" does not exist',
                 'bob: the same error as for a model that does not exist');
SELECT is(ntk_drop_model('ntk_priv_a'), false, 'bob: ntk_drop_model on alice''s model returns false');
-- no UPDATE or DELETE for PUBLIC (they would allow LOCK TABLE in every mode)
SELECT throws_ok($$DELETE FROM ntk_models WHERE name = 'ntk_priv_a'$$, '42501', NULL,
                 'bob: DELETE on ntk_models is refused');
SELECT throws_ok($$UPDATE ntk_models SET name = 'stolen', owner = 'ntk_t_bob'$$, '42501', NULL,
                 'bob: UPDATE on ntk_models is refused');
SELECT throws_ok($$UPDATE ntk_model_data SET data = '\x00'::bytea$$, '42501', NULL,
                 'bob: UPDATE on ntk_model_data is refused');
SELECT throws_ok($$DELETE FROM ntk_model_data$$, '42501', NULL, 'bob: DELETE on ntk_model_data is refused');
SELECT throws_ok(format($$INSERT INTO ntk_model_data VALUES (%s, 'x', 99, '\x00')$$, :a_id), '42501',
                 NULL, 'bob: cannot add data rows to alice''s model');
SELECT throws_ok($$INSERT INTO ntk_models (name, owner, task, kernel, activation, depth, sigma_w,
                       sigma_b, ridge, n_train, n_features, n_outputs, options, metrics)
                   VALUES ('ntk_priv_fake', 'ntk_t_alice', 'regression', 'ntk', 'relu', 1, 1, 0,
                           0, 1, 1, 1, '{}', '{}')$$, '42501',
                 NULL, 'bob: cannot insert a model owned by alice');
SELECT throws_ok($$SELECT ntk_fit('ntk_priv_a', ARRAY[i::float8, 0], i::float8)
                     FROM generate_series(1, 5) i$$, '42501', NULL,
                 'bob: refitting alice''s model name is refused with 42501');
SELECT throws_like($$SELECT ntk_fit('ntk_priv_a', ARRAY[i::float8, 0], i::float8)
                       FROM generate_series(1, 5) i$$, '%ntk_priv_a%',
                   'bob: the refusal names the model');
-- from 1024 rows on two threads the model's row is written while a worker
-- thread factorizes: the refusal stops the worker and the session goes on
SET ntk.threads = 2;
SELECT throws_ok($$SELECT ntk_fit('ntk_priv_a', ARRAY[i / 1500.0, (i % 7) / 7.0]::float8[], sin(i / 3.0))
                     FROM generate_series(1, 1500) i$$, '42501', NULL,
                 'bob: refitting alice''s model name with 1500 rows is refused with 42501 too');
RESET ntk.threads;
SELECT ntk_fit('ntk_priv_b', ARRAY[i::float8], cos(i)) AS b_id FROM generate_series(1, 10) i \gset
SELECT throws_ok($$UPDATE ntk_models SET owner = 'ntk_t_alice' WHERE name = 'ntk_priv_b'$$, '42501',
                 NULL, 'bob: cannot give his model to alice');
SELECT throws_ok($$UPDATE ntk_models SET owner = 'ntk_t_grp' WHERE name = 'ntk_priv_b'$$, '42501',
                 NULL, 'bob: cannot give his model to a group he is not in');

-- bob takes the next id from the sequence and squats it with a row of his own
SELECT nextval('ntk_models_id_seq') AS squat \gset
DO $$BEGIN
    INSERT INTO ntk_models (id, name, task, kernel, activation, depth, sigma_w, sigma_b,
                            ridge, n_train, n_features, n_outputs, options, metrics)
    SELECT currval('ntk_models_id_seq') + k, 'ntk_priv_squat' || k, 'regression', 'ntk',
           'relu', 1, 1, 0, 0, 1, 1, 1, '{}', '{}'
      FROM generate_series(1, 3) k;
EXCEPTION WHEN others THEN NULL;
END$$;

-- alice's model survived all of it -------------------------------------------------

SET ROLE ntk_t_alice;
SELECT is((SELECT id FROM ntk_models WHERE name = 'ntk_priv_a'), :a_id::bigint,
          'alice: her model keeps its id');
SELECT is((SELECT owner::text FROM ntk_models WHERE name = 'ntk_priv_a'), 'ntk_t_alice',
          'alice: her model is still hers');
SELECT is((SELECT md5(string_agg(data, '' ORDER BY part, chunk)) FROM ntk_model_data
            WHERE model_id = :a_id), :'a_md5', 'alice: her model data is unchanged');
SELECT is(pg_temp.try($$SELECT ntk_predict('ntk_priv_a', '{0.55, 0.3}')$$), :'a_pred',
          'alice: predicts exactly as before');
SELECT is((SELECT count(*) FROM ntk_models WHERE name = 'ntk_priv_b'), 0::bigint,
          'alice: does not see bob''s model');
SELECT throws_ok($$SELECT ntk_predict('ntk_priv_b', '{1}')$$, '42704', NULL,
                 'alice: cannot predict with bob''s model');
SELECT lives_ok($$SELECT ntk_fit('ntk_priv_a2', ARRAY[i::float8], i::float8)
                    FROM generate_series(1, 5) i$$,
                'alice: bob cannot block her next fit by squatting ids of the sequence');
SET ROLE ntk_t_bob;
SELECT count(ntk_drop_model(name)) FROM ntk_models WHERE name LIKE 'ntk_priv_squat%' \gset

-- a group role: fit as the group, members use it -----------------------------------

SET ROLE ntk_t_grp;
SELECT ntk_fit('ntk_priv_g', ARRAY[i / 10.0, (i % 5) / 5.0]::float8[], cos(i / 4.0))
  AS g_id FROM generate_series(1, 40) i \gset
SELECT ntk_predict('ntk_priv_g', '{0.35, 0.6}') AS g_pred \gset
SELECT is((SELECT owner::text FROM ntk_models WHERE name = 'ntk_priv_g'), 'ntk_t_grp',
          'grp: a model fitted under SET ROLE is owned by the group');

SET ROLE ntk_t_alice;
SELECT is(pg_temp.try($$SELECT ntk_predict('ntk_priv_g', '{0.35, 0.6}')$$), :'g_pred',
          'alice (member): predicts with the group model');
-- the batch path computes in another order: equal to rounding
SELECT is(pg_temp.try($$SELECT abs(prediction - $$ || :'g_pred' || $$) <= 1e-8 * abs($$ || :'g_pred' || $$)
                          FROM ntk_predict_batch('ntk_priv_g', 'SELECT 7::bigint, ''{0.35, 0.6}''::float8[]')$$),
          'true', 'alice (member): ntk_predict_batch with the group model');
SET ROLE ntk_t_carol;
SELECT is(pg_temp.try($$SELECT ntk_predict('ntk_priv_g', '{0.35, 0.6}')$$), :'g_pred',
          'carol (member): predicts with the group model');
SELECT is((SELECT count(*) FROM ntk_model_data WHERE model_id = :g_id) > 0, true,
          'carol (member): sees the data rows of the group model');
SELECT is((SELECT count(*) FROM ntk_models WHERE name = 'ntk_priv_a'), 0::bigint,
          'carol: does not see alice''s own model though both are in grp');
SET ROLE ntk_t_erin;
SELECT is(pg_temp.try($$SELECT ntk_predict('ntk_priv_g', '{0.35, 0.6}')$$), :'g_pred',
          'erin (member through grp2): predicts with the group model');
SET ROLE ntk_t_bob;
SELECT throws_ok($$SELECT ntk_predict('ntk_priv_g', '{0.35, 0.6}')$$, '42704', NULL,
                 'bob (not a member): ntk_predict on the group model is 42704');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('ntk_priv_g',
                     'SELECT 1::bigint, ''{0.35, 0.6}''::float8[]')$$, '42704', NULL,
                 'bob (not a member): ntk_predict_batch on the group model is 42704');
SELECT is(ntk_drop_model('ntk_priv_g'), false, 'bob (not a member): cannot drop the group model');
SELECT throws_ok($$SELECT ntk_fit('ntk_priv_g', ARRAY[i::float8, 0], i::float8)
                     FROM generate_series(1, 5) i$$, '42501', NULL,
                 'bob (not a member): cannot refit the group model');

-- parallel workers apply the same rules
SET force_parallel_mode = on;
SELECT throws_ok($$SELECT ntk_predict('ntk_priv_g', '{0.35, 0.6}')$$, '42704', NULL,
                 'bob, in a parallel worker: the group model does not exist');
SET ROLE ntk_t_carol;
SELECT is(pg_temp.try($$SELECT ntk_predict('ntk_priv_g', '{0.35, 0.6}')$$), :'g_pred',
          'carol, in a parallel worker: predicts with the group model');
RESET force_parallel_mode;

-- a member refits the group's model without SET ROLE: still the group's
SET ROLE ntk_t_alice;
SELECT lives_ok($$SELECT ntk_fit('ntk_priv_g', ARRAY[i / 10.0, (i % 5) / 5.0]::float8[], sin(i / 4.0))
                    FROM generate_series(1, 40) i$$, 'alice (member): refits the group model');
SELECT pg_temp.try($$SELECT ntk_predict('ntk_priv_g', '{0.35, 0.6}')$$) AS g_pred2 \gset
SELECT isnt(:'g_pred2'::text, :'g_pred'::text, 'alice: the refit changed the model');
SELECT is((SELECT count(*) FROM ntk_models WHERE name = 'ntk_priv_g'), 1::bigint,
          'alice: one row for the refitted name');
SELECT is((SELECT owner::text FROM ntk_models WHERE name = 'ntk_priv_g'), 'ntk_t_grp',
          'alice: a member''s refit keeps the group as owner (like CREATE OR REPLACE)');
SET ROLE ntk_t_carol;
SELECT is(pg_temp.try($$SELECT ntk_predict('ntk_priv_g', '{0.35, 0.6}')$$), :'g_pred2',
          'carol (member): still uses the group model after alice refitted it');

-- alice drops it and the group fits it again: the group's model whatever the
-- semantics of the refit above
SET ROLE ntk_t_alice;
SELECT ntk_drop_model('ntk_priv_g') \gset
SET ROLE ntk_t_grp;
SELECT ntk_fit('ntk_priv_g', ARRAY[i / 10.0, (i % 5) / 5.0]::float8[], sin(i / 4.0))
  FROM generate_series(1, 40) i \gset

-- membership revoked: the model disappears for carol at once (cache invalidated)
SET ROLE ntk_t_carol;
SELECT is(pg_temp.try($$SELECT ntk_predict('ntk_priv_g', '{0.35, 0.6}')$$), :'g_pred2',
          'carol (member): predicts with the group model (now cached)');
RESET ROLE;
REVOKE ntk_t_grp FROM ntk_t_carol;
SET ROLE ntk_t_carol;
SELECT throws_ok($$SELECT ntk_predict('ntk_priv_g', '{0.35, 0.6}')$$, '42704', NULL,
                 'carol (no longer a member): ntk_predict is 42704');
SELECT throws_ok($$SELECT * FROM ntk_predict_batch('ntk_priv_g',
                     'SELECT 1::bigint, ''{0.35, 0.6}''::float8[]')$$, '42704', NULL,
                 'carol (no longer a member): ntk_predict_batch is 42704');
SELECT is(ntk_drop_model('ntk_priv_g'), false, 'carol (no longer a member): cannot drop it');
SET ROLE ntk_t_erin;
SELECT is(ntk_drop_model('ntk_priv_g'), true, 'erin (member): drops the group model');
SELECT is((SELECT count(*) FROM ntk_model_data WHERE model_id = :g_id), 0::bigint,
          'erin: no data rows are left');
SET ROLE ntk_t_alice;
SELECT throws_ok($$SELECT ntk_predict('ntk_priv_g', '{0.35, 0.6}')$$, '42704', NULL,
                 'alice: the dropped group model is gone for every member');

-- bob's model: his own to drop -----------------------------------------------------

SET ROLE ntk_t_bob;
SELECT is(ntk_drop_model('ntk_priv_b'), true, 'bob: drops his own model');

-- a role that owned a model is dropped: nobody else is affected ---------------------

RESET ROLE;
SET ROLE ntk_t_dave;
SELECT ntk_fit('ntk_priv_d', ARRAY[i::float8], i::float8) FROM generate_series(1, 5) i \gset
RESET ROLE;
DROP ROLE ntk_t_dave;
SET ROLE ntk_t_alice;
SELECT lives_ok($$SELECT count(*) FROM ntk_models$$,
                'alice: reads ntk_models after the owner of another model was dropped');
SELECT lives_ok($$SELECT count(*) FROM ntk_model_data$$,
                'alice: reads ntk_model_data after the owner of another model was dropped');
SELECT is(pg_temp.try($$SELECT ntk_predict('ntk_priv_a', '{0.55, 0.3}')$$), :'a_pred',
          'alice: predicts after the owner of another model was dropped');
SET ROLE ntk_t_bob;
SELECT lives_ok($$SELECT ntk_fit('ntk_priv_b2', ARRAY[i::float8], i::float8) FROM generate_series(1, 5) i$$,
                'bob: fits after the owner of another model was dropped');
SELECT throws_ok($$SELECT ntk_predict('ntk_priv_d', '{1}')$$, '42704', 'model "ntk_priv_d" does not exist',
                 'bob: the orphaned model does not exist for him');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
