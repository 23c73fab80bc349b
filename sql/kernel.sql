-- kernel.sql: ntk_kernel and nngp_kernel, the kernels of one pair.
--
-- Values are either compared with closed forms derived by hand (booleans) or
-- rounded to 12 decimals, so the output does not depend on the last bits of
-- the platform's libm.

-- Hand values ---------------------------------------------------------------

-- x = [1,0], z = [0,1], relu, depth 1, sigma_w 1, sigma_b 0:
-- K1(x,z) = 0 and K1(x,x) = K1(z,z) = 1/2, so the angle is pi/2 and
-- K2 = (1/2pi) (1/2) (sin(pi/2) + 0) = 1/(4pi); Theta2 = K2 + (1/4) * 0.
SELECT abs(nngp_kernel('{1,0}', '{0,1}', 1) - 1 / (4 * pi())) < 1e-15 AS nngp_orthogonal,
       abs(ntk_kernel('{1,0}', '{0,1}', 1) - 1 / (4 * pi())) < 1e-15 AS ntk_orthogonal;

-- A point with itself: relu halves the variance, K2 = 1/4;
-- Theta2 = K2 + sigma_w^2 * (1/2) * Theta1 = 1/4 + 1/4 = 1/2.
SELECT nngp_kernel('{1,0}', '{1,0}', 1) AS nngp_self,
       ntk_kernel('{1,0}', '{1,0}', 1) AS ntk_self;

-- Deeper self kernels: K_{L+1} = 2^-(L+1), Theta_{L+1} = (L+1) / 2^(L+1).
SELECT depth,
       nngp_kernel('{1,0}', '{1,0}', depth) = 0.5 / 2 ^ depth AS nngp_ok,
       abs(ntk_kernel('{1,0}', '{1,0}', depth) - (depth + 1) * 0.5 / 2 ^ depth) < 1e-15 AS ntk_ok
FROM generate_series(0, 6) AS depth;

-- sigma_b = 1, depth 1: K1(x,z) = 1, K1(x,x) = 3/2, cos t = 2/3,
-- K2 = (3/2)(sin t + (pi - t) cos t) / (2 pi) + 1, Theta2 = K2 + (pi - t)/(2 pi) * 1.
SELECT abs(nngp_kernel('{1,0}', '{0,1}', 1, 'relu', 1, 1)
           - (1.5 * (sqrt(5) / 3 + (pi() - acos(2.0 / 3)) * 2 / 3) / (2 * pi()) + 1)) < 1e-14 AS nngp_bias,
       abs(ntk_kernel('{1,0}', '{0,1}', 1, 'relu', 1, 1)
           - (1.5 * (sqrt(5) / 3 + (pi() - acos(2.0 / 3)) * 2 / 3) / (2 * pi()) + 1
              + (pi() - acos(2.0 / 3)) / (2 * pi()))) < 1e-14 AS ntk_bias;

-- erf with itself, depth 1: K2 = (2/pi) asin(2 (1/2) / 2) = (2/pi)(pi/6) = 1/3;
-- Theta2 = K2 + (4/pi) / sqrt(2 * 2 - 1) * 1/2 = 1/3 + 2 / (pi sqrt 3).
SELECT abs(nngp_kernel('{1,0}', '{1,0}', 1, 'erf') - 1.0 / 3) < 1e-15 AS erf_nngp_self,
       abs(ntk_kernel('{1,0}', '{1,0}', 1, 'erf') - (1.0 / 3 + 2 / (pi() * sqrt(3)))) < 1e-15 AS erf_ntk_self;

-- erf is odd, so orthogonal inputs without bias stay uncorrelated at any depth.
SELECT depth, nngp_kernel('{1,0}', '{0,1}', depth, 'erf') AS nngp,
       ntk_kernel('{1,0}', '{0,1}', depth, 'erf') AS ntk
FROM generate_series(0, 4) AS depth;

-- Depth 0 is the input layer alone: sigma_w^2 <x,z> / d + sigma_b^2.
SELECT abs(nngp_kernel('{1,2,3}', '{4,5,6}', 0, 'relu', 2, 0.5) - (4.0 * 32 / 3 + 0.25)) < 1e-13 AS nngp_depth0,
       abs(ntk_kernel('{1,2,3}', '{4,5,6}', 0, 'erf', 2, 0.5) - (4.0 * 32 / 3 + 0.25)) < 1e-13 AS ntk_depth0,
       ntk_kernel('{1,-2}', '{3,1}', 0) AS negative_dot;

-- Defaults ------------------------------------------------------------------

-- depth 3, relu, sigma_w 1, sigma_b 0; the same with every argument spelled out
-- and with named arguments.
SELECT round(nngp_kernel('{1,0}', '{0,1}')::numeric, 12) AS nngp,
       round(ntk_kernel('{1,0}', '{0,1}')::numeric, 12) AS ntk,
       nngp_kernel('{1,0}', '{0,1}') = nngp_kernel('{1,0}', '{0,1}', 3, 'relu', 1.0, 0.0) AS nngp_defaults,
       ntk_kernel('{1,0}', '{0,1}') = ntk_kernel('{1,0}', '{0,1}', 3, 'relu', 1.0, 0.0) AS ntk_defaults;
SELECT nngp_kernel('{1,0}', '{1,0}') AS nngp_self, ntk_kernel('{1,0}', '{1,0}') AS ntk_self;
SELECT ntk_kernel(x => '{1,2,3}', z => '{4,5,6}') = ntk_kernel('{1,2,3}', '{4,5,6}') AS named_defaults,
       ntk_kernel('{1,2,3}', '{4,5,6}', sigma_b => 0.1, activation => 'erf')
         = ntk_kernel('{1,2,3}', '{4,5,6}', 3, 'erf', 1.0, 0.1) AS named_out_of_order,
       round(nngp_kernel(z => '{4,5,6}', x => '{1,2,3}', depth => 2)::numeric, 12) AS nngp_named;

-- Values against an independent implementation of the recursion (float64).
SELECT round(nngp_kernel('{1,2,3}', '{4,5,6}')::numeric, 12) AS nngp,
       round(ntk_kernel('{1,2,3}', '{4,5,6}')::numeric, 12) AS ntk;
SELECT round(nngp_kernel('{1,2,3}', '{-3,0.5,2}')::numeric, 12) AS nngp,
       round(ntk_kernel('{1,2,3}', '{-3,0.5,2}')::numeric, 12) AS ntk;
SELECT round(nngp_kernel('{1,2,3}', '{4,5,6}', 2, 'erf', 1.5, 0.1)::numeric, 12) AS nngp,
       round(ntk_kernel('{1,2,3}', '{4,5,6}', 2, 'erf', 1.5, 0.1)::numeric, 12) AS ntk;
SELECT round(nngp_kernel('{1,2,3}', '{-3,0.5,2}', 5, 'relu', sqrt(2), 0.05)::numeric, 11) AS nngp,
       round(ntk_kernel('{1,2,3}', '{-3,0.5,2}', 5, 'relu', sqrt(2), 0.05)::numeric, 11) AS ntk;

-- Properties ----------------------------------------------------------------

-- Symmetry is exact: every step of the recursion is symmetric in x and z.
SELECT act, depth,
       ntk_kernel('{1,2,3}', '{-3,0.5,2}', depth, act, 1.3, 0.2)
         = ntk_kernel('{-3,0.5,2}', '{1,2,3}', depth, act, 1.3, 0.2) AS ntk_symmetric,
       nngp_kernel('{1,2,3}', '{-3,0.5,2}', depth, act, 1.3, 0.2)
         = nngp_kernel('{-3,0.5,2}', '{1,2,3}', depth, act, 1.3, 0.2) AS nngp_symmetric
FROM unnest(ARRAY['relu', 'erf']) AS act, generate_series(0, 4) AS depth
ORDER BY act, depth;

-- Without bias the relu kernels are positively homogeneous of degree 2.
SELECT abs(ntk_kernel('{3,6,9}', '{-9,1.5,6}') - 9 * ntk_kernel('{1,2,3}', '{-3,0.5,2}')) < 1e-14 AS ntk_homogeneous,
       abs(nngp_kernel('{3,6,9}', '{-9,1.5,6}') - 9 * nngp_kernel('{1,2,3}', '{-3,0.5,2}')) < 1e-14 AS nngp_homogeneous;

-- sigma_w = sqrt(2) preserves the relu variance, so K(x,x) = K1(x,x) = 1 and
-- Theta(x,x) = (L+1) K1(x,x) = 1001 at the deepest allowed depth (up to
-- sqrt(2)^2 rounding to 2 + 4e-16).
SELECT round(ntk_kernel('{1,0}', '{1,0}', 1000, 'relu', sqrt(2))::numeric, 6) AS ntk_depth_1000,
       round(nngp_kernel('{1,0}', '{1,0}', 1000, 'relu', sqrt(2))::numeric, 6) AS nngp_depth_1000;

-- The lower bound of an array does not matter, nor does a slice of an array
-- that had NULLs elsewhere.
SELECT ntk_kernel('[0:1]={1,0}', '[5:6]={0,1}', 1) = ntk_kernel('{1,0}', '{0,1}', 1) AS lower_bound,
       ntk_kernel((ARRAY[1, NULL, 0]::float8[])[1:1], '{1}', 1) AS slice_without_nulls;

-- A zero vector gives finite kernels.
SELECT act, sb,
       round(nngp_kernel('{0,0}', '{1,1}', 3, act, 1, sb)::numeric, 12) AS nngp,
       round(ntk_kernel('{0,0}', '{1,1}', 3, act, 1, sb)::numeric, 12) AS ntk,
       round(ntk_kernel('{0,0}', '{0,0}', 3, act, 1, sb)::numeric, 12) AS ntk_zero_zero
FROM unnest(ARRAY['relu', 'erf']) AS act, unnest(ARRAY[0, 0.5]::float8[]) AS sb
ORDER BY act, sb;

-- STRICT: a NULL argument gives NULL -----------------------------------------

SELECT ntk_kernel(NULL, '{1,0}') IS NULL AS x_null,
       ntk_kernel('{1,0}', NULL) IS NULL AS z_null,
       ntk_kernel('{1,0}', '{0,1}', NULL) IS NULL AS depth_null,
       ntk_kernel('{1,0}', '{0,1}', 3, NULL) IS NULL AS activation_null,
       ntk_kernel('{1,0}', '{0,1}', 3, 'relu', NULL) IS NULL AS sigma_w_null,
       ntk_kernel('{1,0}', '{0,1}', 3, 'relu', 1, NULL) IS NULL AS sigma_b_null;
SELECT nngp_kernel(NULL, '{1,0}') IS NULL AS x_null,
       nngp_kernel('{1,0}', NULL) IS NULL AS z_null,
       nngp_kernel('{1,0}', '{0,1}', NULL) IS NULL AS depth_null,
       nngp_kernel('{1,0}', '{0,1}', 3, NULL) IS NULL AS activation_null,
       nngp_kernel('{1,0}', '{0,1}', 3, 'relu', NULL) IS NULL AS sigma_w_null,
       nngp_kernel('{1,0}', '{0,1}', 3, 'relu', 1, NULL) IS NULL AS sigma_b_null;
-- STRICT wins over validation: NULL comes back even when another argument is bad.
SELECT ntk_kernel('{1,0}', NULL, -1, 'tanh') IS NULL AS strict_first;

-- In a query over a table ----------------------------------------------------

CREATE TABLE kernel_points (id int PRIMARY KEY, x float8[]);
INSERT INTO kernel_points VALUES
    (1, '{1,0,0}'), (2, '{0,1,0}'), (3, '{1,1,1}'), (4, '{-1,0.5,2}'),
    (5, '{0,0,0}'), (6, NULL);

-- One row of the kernel matrix: point 3 against every point.
SELECT q.id,
       round(ntk_kernel(p.x, q.x)::numeric, 12) AS ntk,
       round(nngp_kernel(p.x, q.x, 2, 'erf', 1.2, 0.1)::numeric, 12) AS nngp_erf
FROM kernel_points p, kernel_points q
WHERE p.id = 3
ORDER BY q.id;

-- The whole matrix is symmetric and satisfies Cauchy-Schwarz,
-- K(x,z)^2 <= K(x,x) K(z,z), as a kernel must.
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE ntk_kernel(a.x, b.x) = ntk_kernel(b.x, a.x)) AS ntk_symmetric,
       count(*) FILTER (WHERE nngp_kernel(a.x, b.x) = nngp_kernel(b.x, a.x)) AS nngp_symmetric,
       count(*) FILTER (WHERE ntk_kernel(a.x, b.x) ^ 2
                              <= ntk_kernel(a.x, a.x) * ntk_kernel(b.x, b.x) * (1 + 1e-12)) AS ntk_cauchy_schwarz,
       count(*) FILTER (WHERE nngp_kernel(a.x, b.x, 3, 'erf') ^ 2
                              <= nngp_kernel(a.x, a.x, 3, 'erf') * nngp_kernel(b.x, b.x, 3, 'erf') * (1 + 1e-12)) AS nngp_erf_cauchy_schwarz
FROM kernel_points a, kernel_points b
WHERE a.x IS NOT NULL AND b.x IS NOT NULL;

-- An expression index on a kernel value works because the function is IMMUTABLE.
CREATE INDEX kernel_points_ntk ON kernel_points ((ntk_kernel(x, '{1,1,1}')));
DROP INDEX kernel_points_ntk;

-- PARALLEL SAFE: the kernels run in parallel workers.
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF)
SELECT sum(ntk_kernel(x, '{1,1,1}')), sum(nngp_kernel(x, '{1,1,1}')) FROM kernel_points;
SELECT round(sum(ntk_kernel(x, '{1,1,1}'))::numeric, 12) AS ntk_sum,
       round(sum(nngp_kernel(x, '{1,1,1}'))::numeric, 12) AS nngp_sum
FROM kernel_points;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- A bad row stops the query with the row's problem.
INSERT INTO kernel_points VALUES (7, '{1,2}');
SELECT q.id, ntk_kernel(p.x, q.x) FROM kernel_points p, kernel_points q WHERE p.id = 3 ORDER BY q.id;
DROP TABLE kernel_points;

-- Errors: messages --------------------------------------------------------------

-- arrays
SELECT ntk_kernel('{1,2,3}', '{1,2}');
SELECT nngp_kernel('{1}', '{1,2}');
SELECT ntk_kernel('{}', '{1,2}');
SELECT ntk_kernel('{1,2}', '{}');
SELECT ntk_kernel('{{1,0},{0,1}}', '{1,0}');
SELECT nngp_kernel('{1,0}', '{{{1}}}');
SELECT ntk_kernel('{1,NULL}', '{1,0}');
SELECT ntk_kernel('{1,0}', ARRAY[NULL, 1]::float8[]);
SELECT ntk_kernel('{1,NaN}', '{1,0}');
SELECT ntk_kernel('{1,0}', '{Infinity,0}');
SELECT nngp_kernel('{1,0}', '{0,-Infinity}');
-- finite inputs whose squared norm leaves the float64 range
SELECT ntk_kernel('{1e200,1}', '{1,1}');
SELECT nngp_kernel('{1,1}', '{1,1}', 3, 'relu', 1e200);
-- parameters
SELECT ntk_kernel('{1,0}', '{0,1}', -1);
SELECT ntk_kernel('{1,0}', '{0,1}', 1001);
SELECT nngp_kernel('{1,0}', '{0,1}', 100000);
SELECT ntk_kernel('{1,0}', '{0,1}', 3, 'tanh');
SELECT nngp_kernel('{1,0}', '{0,1}', 3, '');
SELECT ntk_kernel('{1,0}', '{0,1}', 3, 'relu', 0);
SELECT ntk_kernel('{1,0}', '{0,1}', 3, 'relu', -1);
SELECT nngp_kernel('{1,0}', '{0,1}', 3, 'relu', 'NaN');
SELECT ntk_kernel('{1,0}', '{0,1}', 3, 'relu', 'Infinity');
SELECT ntk_kernel('{1,0}', '{0,1}', 3, 'relu', 1, -0.5);
SELECT nngp_kernel('{1,0}', '{0,1}', 3, 'relu', 1, 'NaN');
SELECT ntk_kernel('{1,0}', '{0,1}', 3, 'relu', 1, 'Infinity');

-- Errors: SQLSTATEs ---------------------------------------------------------------

\set VERBOSITY sqlstate
-- 22000 data_exception: length mismatch, empty, NaN, Infinity
SELECT ntk_kernel('{1,2,3}', '{1,2}');
SELECT nngp_kernel('{1,2,3}', '{1,2}');
SELECT ntk_kernel('{}', '{1,2}');
SELECT nngp_kernel('{1}', '{}');
SELECT ntk_kernel('{1,NaN}', '{1,0}');
SELECT nngp_kernel('{1,0}', '{Infinity,0}');
-- 2202E array_subscript_error: more than one dimension
SELECT ntk_kernel('{{1,0},{0,1}}', '{1,0}');
SELECT nngp_kernel('{1,0}', '{{1,0}}');
-- 22004 null_value_not_allowed: NULL element
SELECT ntk_kernel('{1,NULL}', '{1,0}');
SELECT nngp_kernel('{1,0}', '{NULL,0}');
-- 22003 numeric_value_out_of_range: overflow
SELECT ntk_kernel('{1e200,1}', '{1,1}');
-- 22023 invalid_parameter_value: depth, activation, sigma_w, sigma_b
SELECT ntk_kernel('{1,0}', '{0,1}', -1);
SELECT nngp_kernel('{1,0}', '{0,1}', 100000);
SELECT ntk_kernel('{1,0}', '{0,1}', 3, 'tanh');
SELECT nngp_kernel('{1,0}', '{0,1}', 3, 'sigmoid');
SELECT ntk_kernel('{1,0}', '{0,1}', 3, 'relu', 0);
SELECT nngp_kernel('{1,0}', '{0,1}', 3, 'relu', -2);
SELECT ntk_kernel('{1,0}', '{0,1}', 3, 'relu', 1, -0.5);
SELECT nngp_kernel('{1,0}', '{0,1}', 3, 'relu', 1, -1e-300);
\set VERBOSITY default
