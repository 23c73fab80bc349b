-- ntk--0.1.0.sql: Neural Tangent Kernel regression inside PostgreSQL

\echo Use "CREATE EXTENSION ntk" to load this file. \quit

-- Kernels of one pair -------------------------------------------------------

CREATE FUNCTION ntk_kernel(x float8[], z float8[], depth int DEFAULT 3,
                           activation text DEFAULT 'relu',
                           sigma_w float8 DEFAULT 1.0, sigma_b float8 DEFAULT 0.0)
RETURNS float8
AS 'MODULE_PATHNAME', 'ntk_kernel'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION ntk_kernel(float8[], float8[], int, text, float8, float8)
IS 'Neural Tangent Kernel Theta(x, z) of an infinitely wide fully-connected network';

CREATE FUNCTION nngp_kernel(x float8[], z float8[], depth int DEFAULT 3,
                            activation text DEFAULT 'relu',
                            sigma_w float8 DEFAULT 1.0, sigma_b float8 DEFAULT 0.0)
RETURNS float8
AS 'MODULE_PATHNAME', 'nngp_kernel'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION nngp_kernel(float8[], float8[], int, text, float8, float8)
IS 'NNGP kernel K(x, z) of an infinitely wide fully-connected network';
