-- 01_kernel.sql: catalog promises and error paths of ntk_kernel and nngp_kernel.
--
-- Run by pg_prove in a database with CREATE EXTENSION pgtap; CREATE EXTENSION ntk.
\unset ECHO
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true

BEGIN;
SELECT plan(110);

-- Signatures, return types, language ------------------------------------------

SELECT has_function('ntk_kernel',
    ARRAY['double precision[]', 'double precision[]', 'integer', 'text', 'double precision', 'double precision'],
    'ntk_kernel(float8[], float8[], int, text, float8, float8) exists');
SELECT has_function('nngp_kernel',
    ARRAY['double precision[]', 'double precision[]', 'integer', 'text', 'double precision', 'double precision'],
    'nngp_kernel(float8[], float8[], int, text, float8, float8) exists');

SELECT function_returns('ntk_kernel',
    ARRAY['double precision[]', 'double precision[]', 'integer', 'text', 'double precision', 'double precision'],
    'double precision', 'ntk_kernel returns float8');
SELECT function_returns('nngp_kernel',
    ARRAY['double precision[]', 'double precision[]', 'integer', 'text', 'double precision', 'double precision'],
    'double precision', 'nngp_kernel returns float8');

SELECT function_lang_is('ntk_kernel',
    ARRAY['double precision[]', 'double precision[]', 'integer', 'text', 'double precision', 'double precision'],
    'c', 'ntk_kernel is written in C');
SELECT function_lang_is('nngp_kernel',
    ARRAY['double precision[]', 'double precision[]', 'integer', 'text', 'double precision', 'double precision'],
    'c', 'nngp_kernel is written in C');

SELECT is_normal_function('ntk_kernel',
    ARRAY['double precision[]', 'double precision[]', 'integer', 'text', 'double precision', 'double precision'],
    'ntk_kernel is a plain function');
SELECT is_normal_function('nngp_kernel',
    ARRAY['double precision[]', 'double precision[]', 'integer', 'text', 'double precision', 'double precision'],
    'nngp_kernel is a plain function');

-- One overload each, so calls with defaults are never ambiguous.
SELECT is((SELECT count(*)::int FROM pg_proc WHERE proname = 'ntk_kernel'), 1,
    'ntk_kernel has exactly one overload');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE proname = 'nngp_kernel'), 1,
    'nngp_kernel has exactly one overload');

-- Argument names and defaults as documented.
SELECT is(pg_get_function_arguments('ntk_kernel(float8[], float8[], int, text, float8, float8)'::regprocedure),
    'x double precision[], z double precision[], depth integer DEFAULT 3, activation text DEFAULT ''relu''::text, '
    'sigma_w double precision DEFAULT 1.0, sigma_b double precision DEFAULT 0.0',
    'ntk_kernel argument names and defaults');
SELECT is(pg_get_function_arguments('nngp_kernel(float8[], float8[], int, text, float8, float8)'::regprocedure),
    'x double precision[], z double precision[], depth integer DEFAULT 3, activation text DEFAULT ''relu''::text, '
    'sigma_w double precision DEFAULT 1.0, sigma_b double precision DEFAULT 0.0',
    'nngp_kernel argument names and defaults');
SELECT is((SELECT pronargdefaults::int FROM pg_proc
           WHERE oid = 'ntk_kernel(float8[], float8[], int, text, float8, float8)'::regprocedure), 4,
    'ntk_kernel has four defaulted arguments');
SELECT is((SELECT pronargdefaults::int FROM pg_proc
           WHERE oid = 'nngp_kernel(float8[], float8[], int, text, float8, float8)'::regprocedure), 4,
    'nngp_kernel has four defaulted arguments');

-- IMMUTABLE STRICT PARALLEL SAFE --------------------------------------------------

SELECT volatility_is('ntk_kernel',
    ARRAY['double precision[]', 'double precision[]', 'integer', 'text', 'double precision', 'double precision'],
    'immutable', 'ntk_kernel is IMMUTABLE');
SELECT volatility_is('nngp_kernel',
    ARRAY['double precision[]', 'double precision[]', 'integer', 'text', 'double precision', 'double precision'],
    'immutable', 'nngp_kernel is IMMUTABLE');
SELECT is_strict('ntk_kernel',
    ARRAY['double precision[]', 'double precision[]', 'integer', 'text', 'double precision', 'double precision'],
    'ntk_kernel is STRICT');
SELECT is_strict('nngp_kernel',
    ARRAY['double precision[]', 'double precision[]', 'integer', 'text', 'double precision', 'double precision'],
    'nngp_kernel is STRICT');
SELECT is((SELECT proparallel FROM pg_proc
           WHERE oid = 'ntk_kernel(float8[], float8[], int, text, float8, float8)'::regprocedure), 's'::"char",
    'ntk_kernel is PARALLEL SAFE');
SELECT is((SELECT proparallel FROM pg_proc
           WHERE oid = 'nngp_kernel(float8[], float8[], int, text, float8, float8)'::regprocedure), 's'::"char",
    'nngp_kernel is PARALLEL SAFE');
SELECT is((SELECT prosecdef FROM pg_proc
           WHERE oid = 'ntk_kernel(float8[], float8[], int, text, float8, float8)'::regprocedure), false,
    'ntk_kernel is not SECURITY DEFINER');
SELECT is((SELECT prosecdef FROM pg_proc
           WHERE oid = 'nngp_kernel(float8[], float8[], int, text, float8, float8)'::regprocedure), false,
    'nngp_kernel is not SECURITY DEFINER');

-- Both belong to the extension and are documented.
SELECT ok(EXISTS (SELECT 1 FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                  WHERE d.classid = 'pg_proc'::regclass
                    AND d.objid = 'ntk_kernel(float8[], float8[], int, text, float8, float8)'::regprocedure
                    AND e.extname = 'ntk' AND d.deptype = 'e'),
    'ntk_kernel is a member of extension ntk');
SELECT ok(EXISTS (SELECT 1 FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                  WHERE d.classid = 'pg_proc'::regclass
                    AND d.objid = 'nngp_kernel(float8[], float8[], int, text, float8, float8)'::regprocedure
                    AND e.extname = 'ntk' AND d.deptype = 'e'),
    'nngp_kernel is a member of extension ntk');
SELECT isnt(obj_description('ntk_kernel(float8[], float8[], int, text, float8, float8)'::regprocedure, 'pg_proc'),
    NULL, 'ntk_kernel has a comment');
SELECT isnt(obj_description('nngp_kernel(float8[], float8[], int, text, float8, float8)'::regprocedure, 'pg_proc'),
    NULL, 'nngp_kernel has a comment');

-- Any role may call them.
CREATE ROLE ntk_tap_kernel_user NOLOGIN;
SELECT ok(has_function_privilege('ntk_tap_kernel_user',
    'ntk_kernel(float8[], float8[], int, text, float8, float8)', 'EXECUTE'),
    'an unprivileged role may execute ntk_kernel');
SELECT ok(has_function_privilege('ntk_tap_kernel_user',
    'nngp_kernel(float8[], float8[], int, text, float8, float8)', 'EXECUTE'),
    'an unprivileged role may execute nngp_kernel');
SET LOCAL ROLE ntk_tap_kernel_user;
SELECT is(ntk_kernel('{1,0}', '{1,0}', 1), 0.5::float8, 'an unprivileged role gets ntk_kernel');
SELECT is(nngp_kernel('{1,0}', '{1,0}', 1), 0.25::float8, 'an unprivileged role gets nngp_kernel');
RESET ROLE;

-- Values -----------------------------------------------------------------------

SELECT ok(abs(ntk_kernel('{1,0}', '{0,1}', 1) - 1 / (4 * pi())) < 1e-15, 'ntk of orthogonal inputs, depth 1, is 1/(4 pi)');
SELECT ok(abs(nngp_kernel('{1,0}', '{0,1}', 1) - 1 / (4 * pi())) < 1e-15, 'nngp of orthogonal inputs, depth 1, is 1/(4 pi)');
SELECT is(ntk_kernel('{1,0}', '{1,0}', 1), 0.5::float8, 'ntk self kernel of [1,0], depth 1, is 1/2');
SELECT is(nngp_kernel('{1,0}', '{1,0}', 1), 0.25::float8, 'nngp self kernel of [1,0], depth 1, is 1/4');
SELECT is(ntk_kernel('{1,0}', '{1,0}'), 0.25::float8, 'ntk default depth 3 self kernel is 4/16');
SELECT is(nngp_kernel('{1,0}', '{1,0}'), 0.0625::float8, 'nngp default depth 3 self kernel is 1/16');
SELECT is(ntk_kernel('{1,2,3}', '{4,5,6}'), ntk_kernel('{1,2,3}', '{4,5,6}', 3, 'relu', 1.0, 0.0),
    'ntk defaults are depth 3, relu, sigma_w 1, sigma_b 0');
SELECT is(nngp_kernel('{1,2,3}', '{4,5,6}'), nngp_kernel('{1,2,3}', '{4,5,6}', 3, 'relu', 1.0, 0.0),
    'nngp defaults are depth 3, relu, sigma_w 1, sigma_b 0');
SELECT ok(abs(ntk_kernel('{1,2,3}', '{4,5,6}', 0, 'erf', 2, 0.5) - (4.0 * 32 / 3 + 0.25)) < 1e-13,
    'depth 0 is sigma_w^2 <x,z> / d + sigma_b^2');
SELECT ok(abs(ntk_kernel('{1,0}', '{1,0}', 1, 'erf') - (1.0 / 3 + 2 / (pi() * sqrt(3)))) < 1e-15,
    'erf ntk self kernel, depth 1, is 1/3 + 2/(pi sqrt 3)');
SELECT ok(abs(nngp_kernel('{1,0}', '{1,0}', 1, 'erf') - 1.0 / 3) < 1e-15,
    'erf nngp self kernel, depth 1, is 1/3');
SELECT is(ntk_kernel('{1,2,3}', '{-3,0.5,2}', 4, 'erf', 1.3, 0.2), ntk_kernel('{-3,0.5,2}', '{1,2,3}', 4, 'erf', 1.3, 0.2),
    'ntk is symmetric');
SELECT is(nngp_kernel('{1,2,3}', '{-3,0.5,2}', 4, 'relu', 1.3, 0.2), nngp_kernel('{-3,0.5,2}', '{1,2,3}', 4, 'relu', 1.3, 0.2),
    'nngp is symmetric');

-- STRICT: NULL in, NULL out, even with other arguments invalid.
SELECT is(ntk_kernel(NULL, '{1,0}'), NULL, 'ntk_kernel(NULL, z) is NULL');
SELECT is(ntk_kernel('{1,0}', NULL), NULL, 'ntk_kernel(x, NULL) is NULL');
SELECT is(ntk_kernel('{1,0}', '{0,1}', NULL), NULL, 'ntk_kernel with NULL depth is NULL');
SELECT is(ntk_kernel('{1,0}', '{0,1}', 3, NULL), NULL, 'ntk_kernel with NULL activation is NULL');
SELECT is(ntk_kernel('{1,0}', '{0,1}', 3, 'relu', NULL), NULL, 'ntk_kernel with NULL sigma_w is NULL');
SELECT is(ntk_kernel('{1,0}', '{0,1}', 3, 'relu', 1, NULL), NULL, 'ntk_kernel with NULL sigma_b is NULL');
SELECT is(nngp_kernel(NULL, '{1,0}'), NULL, 'nngp_kernel(NULL, z) is NULL');
SELECT is(nngp_kernel('{1,0}', NULL), NULL, 'nngp_kernel(x, NULL) is NULL');
SELECT is(nngp_kernel('{1,0}', '{0,1}', NULL), NULL, 'nngp_kernel with NULL depth is NULL');
SELECT is(nngp_kernel('{1,0}', '{0,1}', 3, NULL), NULL, 'nngp_kernel with NULL activation is NULL');
SELECT is(nngp_kernel('{1,0}', '{0,1}', 3, 'relu', NULL), NULL, 'nngp_kernel with NULL sigma_w is NULL');
SELECT is(nngp_kernel('{1,0}', '{0,1}', 3, 'relu', 1, NULL), NULL, 'nngp_kernel with NULL sigma_b is NULL');
SELECT is(ntk_kernel('{}', NULL, -1, 'tanh', -1, -1), NULL, 'STRICT returns NULL before any validation');

-- Valid edge cases ---------------------------------------------------------------

SELECT lives_ok($$SELECT ntk_kernel('{0,0}', '{1,1}')$$, 'a zero vector is accepted');
SELECT is(ntk_kernel('{0,0}', '{0,0}'), 0::float8, 'the relu ntk of two zero vectors is 0');
SELECT ok(nngp_kernel('{0,0}', '{0,0}', 3, 'erf', 1, 0.5) > 0, 'a zero vector with bias gives a positive erf nngp');
SELECT lives_ok($$SELECT ntk_kernel('{1}', '{-1}')$$, 'one-element arrays are accepted');
SELECT lives_ok($$SELECT ntk_kernel('{1,0}', '{0,1}', 0)$$, 'depth 0 is accepted');
SELECT lives_ok($$SELECT ntk_kernel('{1,0}', '{0,1}', 1000)$$, 'depth 1000 is accepted');
SELECT lives_ok($$SELECT nngp_kernel('{1,0}', '{0,1}', 1000, 'erf')$$, 'depth 1000 erf is accepted');
SELECT lives_ok($$SELECT ntk_kernel('{1,0}', '{0,1}', 3, 'relu', 1, 0)$$, 'sigma_b 0 is accepted');
SELECT lives_ok($$SELECT ntk_kernel('{1,0}', '{0,1}', 3, 'relu', 1e-300)$$, 'a tiny positive sigma_w is accepted');
SELECT lives_ok($$SELECT ntk_kernel('{1e-310,0}', '{0,1e-310}')$$, 'subnormal inputs are accepted');
SELECT lives_ok($$SELECT ntk_kernel('{1e70,1}', '{1,1e70}')$$, 'large finite inputs are accepted');
SELECT lives_ok($$SELECT ntk_kernel('[0:1]={1,0}', '[-3:-2]={0,1}')$$, 'arrays with other lower bounds are accepted');
SELECT lives_ok($$SELECT ntk_kernel(array_remove(ARRAY[1, NULL, 3]::float8[], NULL), '{1,1}')$$,
    'an array whose NULLs were removed is accepted');
SELECT lives_ok($$SELECT ntk_kernel((ARRAY[1, NULL, 3]::float8[])[3:3], '{1}')$$,
    'a slice without NULLs of an array with NULLs is accepted');
SELECT lives_ok($$SELECT ntk_kernel(array_fill(1::float8, ARRAY[100000]), array_fill(-1::float8, ARRAY[100000]))$$,
    'long (toasted) arrays are accepted');
SELECT lives_ok($$SELECT ntk_kernel(x => '{1,0}', z => '{0,1}', sigma_b => 0.5, activation => 'erf')$$,
    'named arguments are accepted');
SELECT ok(ntk_kernel('{1e70,1}', '{1,1e70}') BETWEEN 0 AND 1e300, 'large finite inputs give a finite kernel');

-- Errors: arrays ---------------------------------------------------------------

SELECT throws_ok($$SELECT ntk_kernel('{1,2,3}', '{1,2}')$$, '22000',
    'arrays "x" and "z" have different lengths', 'ntk_kernel: length mismatch is 22000');
SELECT throws_ok($$SELECT nngp_kernel('{1}', '{1,2}')$$, '22000',
    'arrays "x" and "z" have different lengths', 'nngp_kernel: length mismatch is 22000');
SELECT throws_ok($$SELECT ntk_kernel('{}', '{1,2}')$$, '22000',
    'array "x" must not be empty', 'ntk_kernel: empty x is 22000');
SELECT throws_ok($$SELECT ntk_kernel('{1,2}', '{}')$$, '22000',
    'array "z" must not be empty', 'ntk_kernel: empty z is 22000');
SELECT throws_ok($$SELECT nngp_kernel('{}', '{}')$$, '22000',
    'array "x" must not be empty', 'nngp_kernel: empty arrays are 22000');
SELECT throws_ok($$SELECT ntk_kernel('{{1,0},{0,1}}', '{1,0}')$$, '2202E',
    'array "x" must be one-dimensional', 'ntk_kernel: 2-D x is 2202E');
SELECT throws_ok($$SELECT ntk_kernel('{1,0}', '{{1,0}}')$$, '2202E',
    'array "z" must be one-dimensional', 'ntk_kernel: 2-D z is 2202E');
SELECT throws_ok($$SELECT nngp_kernel('{{{1}}}', '{1}')$$, '2202E',
    'array "x" must be one-dimensional', 'nngp_kernel: 3-D x is 2202E');
SELECT throws_ok($$SELECT ntk_kernel('{1,NULL}', '{1,0}')$$, '22004',
    'array "x" must not contain nulls', 'ntk_kernel: NULL element in x is 22004');
SELECT throws_ok($$SELECT ntk_kernel('{1,0}', '{NULL,0}')$$, '22004',
    'array "z" must not contain nulls', 'ntk_kernel: NULL element in z is 22004');
SELECT throws_ok($$SELECT nngp_kernel(ARRAY[NULL]::float8[], '{1}')$$, '22004',
    'array "x" must not contain nulls', 'nngp_kernel: all-NULL x is 22004');
SELECT throws_ok($$SELECT ntk_kernel((ARRAY[1, NULL, 3]::float8[])[1:2], '{1,1}')$$, '22004',
    'array "x" must not contain nulls', 'ntk_kernel: NULL element in a slice is 22004');
SELECT throws_ok($$SELECT ntk_kernel('{1,NaN}', '{1,0}')$$, '22000',
    'array "x" must not contain NaN or Infinity', 'ntk_kernel: NaN in x is 22000');
SELECT throws_ok($$SELECT ntk_kernel('{1,0}', '{NaN,0}')$$, '22000',
    'array "z" must not contain NaN or Infinity', 'ntk_kernel: NaN in z is 22000');
SELECT throws_ok($$SELECT nngp_kernel('{Infinity,0}', '{1,0}')$$, '22000',
    'array "x" must not contain NaN or Infinity', 'nngp_kernel: Infinity in x is 22000');
SELECT throws_ok($$SELECT nngp_kernel('{1,0}', '{0,-Infinity}')$$, '22000',
    'array "z" must not contain NaN or Infinity', 'nngp_kernel: -Infinity in z is 22000');
SELECT throws_ok($$SELECT ntk_kernel('{1e200,1}', '{1,1}')$$, '22003',
    'kernel value out of range for type double precision', 'ntk_kernel: overflowing squared norm is 22003');
SELECT throws_ok($$SELECT nngp_kernel('{1,1}', '{1,1}', 3, 'relu', 1e200)$$, '22003',
    'kernel value out of range for type double precision', 'nngp_kernel: overflowing sigma_w^2 is 22003');

-- Errors: parameters --------------------------------------------------------------

SELECT throws_ok($$SELECT ntk_kernel('{1,0}', '{0,1}', -1)$$, '22023',
    'depth must be between 0 and 1000', 'ntk_kernel: depth -1 is 22023');
SELECT throws_ok($$SELECT nngp_kernel('{1,0}', '{0,1}', -1)$$, '22023',
    'depth must be between 0 and 1000', 'nngp_kernel: depth -1 is 22023');
SELECT throws_ok($$SELECT ntk_kernel('{1,0}', '{0,1}', 1001)$$, '22023',
    'depth must be between 0 and 1000', 'ntk_kernel: depth 1001 is 22023');
SELECT throws_ok($$SELECT ntk_kernel('{1,0}', '{0,1}', 100000)$$, '22023',
    'depth must be between 0 and 1000', 'ntk_kernel: depth 100000 is 22023');
SELECT throws_ok($$SELECT nngp_kernel('{1,0}', '{0,1}', 2147483647)$$, '22023',
    'depth must be between 0 and 1000', 'nngp_kernel: depth INT_MAX is 22023');
SELECT throws_ok($$SELECT ntk_kernel('{1,0}', '{0,1}', -2147483648)$$, '22023',
    'depth must be between 0 and 1000', 'ntk_kernel: depth INT_MIN is 22023');
SELECT throws_ok($$SELECT ntk_kernel('{1,0}', '{0,1}', 3, 'tanh')$$, '22023',
    'unrecognized activation "tanh"', 'ntk_kernel: unknown activation is 22023');
SELECT throws_ok($$SELECT nngp_kernel('{1,0}', '{0,1}', 3, 'sigmoid')$$, '22023',
    'unrecognized activation "sigmoid"', 'nngp_kernel: unknown activation is 22023');
SELECT throws_ok($$SELECT ntk_kernel('{1,0}', '{0,1}', 3, '')$$, '22023',
    'unrecognized activation ""', 'ntk_kernel: empty activation is 22023');
SELECT throws_ok($$SELECT ntk_kernel('{1,0}', '{0,1}', 3, 'relu', 0)$$, '22023',
    'sigma_w must be positive and finite', 'ntk_kernel: sigma_w 0 is 22023');
SELECT throws_ok($$SELECT nngp_kernel('{1,0}', '{0,1}', 3, 'relu', 0)$$, '22023',
    'sigma_w must be positive and finite', 'nngp_kernel: sigma_w 0 is 22023');
SELECT throws_ok($$SELECT ntk_kernel('{1,0}', '{0,1}', 3, 'relu', -1)$$, '22023',
    'sigma_w must be positive and finite', 'ntk_kernel: negative sigma_w is 22023');
SELECT throws_ok($$SELECT ntk_kernel('{1,0}', '{0,1}', 3, 'relu', '-0')$$, '22023',
    'sigma_w must be positive and finite', 'ntk_kernel: sigma_w -0 is 22023');
SELECT throws_ok($$SELECT nngp_kernel('{1,0}', '{0,1}', 3, 'relu', 'NaN')$$, '22023',
    'sigma_w must be positive and finite', 'nngp_kernel: sigma_w NaN is 22023');
SELECT throws_ok($$SELECT ntk_kernel('{1,0}', '{0,1}', 3, 'relu', 'Infinity')$$, '22023',
    'sigma_w must be positive and finite', 'ntk_kernel: sigma_w Infinity is 22023');
SELECT throws_ok($$SELECT ntk_kernel('{1,0}', '{0,1}', 3, 'relu', 1, -0.5)$$, '22023',
    'sigma_b must be non-negative and finite', 'ntk_kernel: negative sigma_b is 22023');
SELECT throws_ok($$SELECT nngp_kernel('{1,0}', '{0,1}', 3, 'relu', 1, -1e-300)$$, '22023',
    'sigma_b must be non-negative and finite', 'nngp_kernel: tiny negative sigma_b is 22023');
SELECT throws_ok($$SELECT ntk_kernel('{1,0}', '{0,1}', 3, 'relu', 1, 'NaN')$$, '22023',
    'sigma_b must be non-negative and finite', 'ntk_kernel: sigma_b NaN is 22023');
SELECT throws_ok($$SELECT nngp_kernel('{1,0}', '{0,1}', 3, 'relu', 1, 'Infinity')$$, '22023',
    'sigma_b must be non-negative and finite', 'nngp_kernel: sigma_b Infinity is 22023');

SELECT * FROM finish();
ROLLBACK;
