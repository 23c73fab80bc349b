-- ntk--0.1.0--0.2.0.sql: the model store holds against other roles
-- (ownership by role oid, no UPDATE/DELETE for PUBLIC, no table-wide cache
-- flush on every fit, no installation in a schema every role may write).
-- The models and their chunks are kept as they are.

\echo Use "ALTER EXTENSION ntk UPDATE TO '0.2.0'" to load this file. \quit

DO $$
BEGIN
    IF pg_catalog.has_schema_privilege('public', '@extschema@'::pg_catalog.regnamespace, 'CREATE') THEN
        RAISE EXCEPTION 'ntk cannot stay in schema %: every role may create objects in it',
                        '@extschema@'::pg_catalog.regnamespace
            USING ERRCODE = '42501',
                  HINT = 'REVOKE CREATE ON SCHEMA ' || '@extschema@'::pg_catalog.regnamespace::text
                         || ' FROM PUBLIC, then update; or dump the models, and install ntk again into a '
                         'schema only trusted roles can write (CREATE EXTENSION ntk SCHEMA ntk).';
    END IF;
END
$$;

-- Ownership by role oid.  A model whose owner name matches no role (its
-- role was dropped or renamed) gets no owner (oid 0): invisible to every
-- role but superusers, who may drop it.
ALTER TABLE ntk_models ADD COLUMN owner_oid regrole;
UPDATE ntk_models m
   SET owner_oid = coalesce((SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = m.owner),
                            0::pg_catalog.oid)::pg_catalog.regrole;
ALTER TABLE ntk_models ALTER COLUMN owner_oid SET NOT NULL;

DROP POLICY ntk_models_owner ON ntk_models;
CREATE POLICY ntk_models_owner ON ntk_models
    USING (pg_catalog.pg_has_role(owner_oid, 'MEMBER'))
    WITH CHECK (pg_catalog.pg_has_role(owner_oid, 'MEMBER'));

CREATE FUNCTION ntk_models_set_owner() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.owner_oid IS NULL
       OR (TG_OP = 'UPDATE' AND NEW.owner IS DISTINCT FROM OLD.owner
           AND NEW.owner_oid = OLD.owner_oid) THEN
        NEW.owner_oid := (SELECT r.oid FROM pg_roles r WHERE r.rolname = NEW.owner);
        IF NEW.owner_oid IS NULL THEN
            -- the tables' owner restoring a dump (of 0.1.0, which had no
            -- owner_oid) keeps a dropped role's model, with no owner, as
            -- the update to 0.2.0 does
            IF pg_has_role((SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'USAGE') THEN
                NEW.owner_oid := 0::pg_catalog.oid::pg_catalog.regrole;
            ELSE
                RAISE EXCEPTION 'role "%" does not exist', NEW.owner USING ERRCODE = '42704';
            END IF;
        END IF;
    END IF;
    NEW.owner := coalesce((SELECT r.rolname FROM pg_roles r WHERE r.oid = NEW.owner_oid), NEW.owner);
    RETURN NEW;
END
$$;

CREATE TRIGGER ntk_models_set_owner
    BEFORE INSERT OR UPDATE ON ntk_models
    FOR EACH ROW EXECUTE FUNCTION ntk_models_set_owner();

-- Reads only (fits and drops write as the tables' owner).
REVOKE UPDATE, DELETE ON ntk_models FROM PUBLIC;
REVOKE INSERT, UPDATE, DELETE ON ntk_model_data FROM PUBLIC;
GRANT SELECT ON SEQUENCE ntk_models_id_seq TO PUBLIC;

-- A model's row changes with every fit and drop: only chunk edits invalidate.
DROP TRIGGER ntk_models_invalidate ON ntk_models;

-- Streaming, parallel and distributed Nystrom fits ---------------------------
-- Two passes over the rows, each a PARALLEL SAFE aggregate with a combine
-- function over one state type (text form: base64 of its binary form):
-- ntk_nystrom_centers chooses the centers, ntk_nystrom_statistics
-- accumulates H and B against them, ntk_nystrom_fit solves and stores.
-- ntk_fit_query runs the passes through SPI, so that they may run in
-- parallel, then writes the model.

CREATE TYPE ntk_nystrom_state;
CREATE FUNCTION ntk_nystrom_state_in(cstring) RETURNS ntk_nystrom_state
AS 'MODULE_PATHNAME', 'ntk_nystrom_state_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ntk_nystrom_state_out(ntk_nystrom_state) RETURNS cstring
AS 'MODULE_PATHNAME', 'ntk_nystrom_state_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ntk_nystrom_state_recv(internal) RETURNS ntk_nystrom_state
AS 'MODULE_PATHNAME', 'ntk_nystrom_state_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ntk_nystrom_state_send(ntk_nystrom_state) RETURNS bytea
AS 'MODULE_PATHNAME', 'ntk_nystrom_state_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE ntk_nystrom_state (
    INPUT = ntk_nystrom_state_in, OUTPUT = ntk_nystrom_state_out,
    RECEIVE = ntk_nystrom_state_recv, SEND = ntk_nystrom_state_send,
    INTERNALLENGTH = VARIABLE, ALIGNMENT = double, STORAGE = external
);
COMMENT ON TYPE ntk_nystrom_state IS 'State of a streaming Nystrom fit: centers (pass 1) or statistics (pass 2)';

CREATE FUNCTION ntk_nystrom_state_info(ntk_nystrom_state) RETURNS jsonb
AS 'MODULE_PATHNAME', 'ntk_nystrom_state_info' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ntk_nystrom_combine(ntk_nystrom_state, ntk_nystrom_state)
RETURNS ntk_nystrom_state AS 'MODULE_PATHNAME', 'ntk_nystrom_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE ntk_nystrom_merge(state ntk_nystrom_state) (
    SFUNC = ntk_nystrom_combine, STYPE = ntk_nystrom_state,
    COMBINEFUNC = ntk_nystrom_combine, PARALLEL = SAFE
);
COMMENT ON AGGREGATE ntk_nystrom_merge(ntk_nystrom_state)
IS 'Combines partial states of one Nystrom fit (of shards, nodes or groups of rows) into one';

CREATE FUNCTION ntk_nystrom_centers_trans(ntk_nystrom_state, float8[], float8, jsonb)
RETURNS ntk_nystrom_state AS 'MODULE_PATHNAME', 'ntk_nystrom_centers_trans_scalar'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION ntk_nystrom_centers_trans(ntk_nystrom_state, float8[], float8[], jsonb)
RETURNS ntk_nystrom_state AS 'MODULE_PATHNAME', 'ntk_nystrom_centers_trans_vector'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION ntk_nystrom_centers_trans(ntk_nystrom_state, float8[], text, jsonb)
RETURNS ntk_nystrom_state AS 'MODULE_PATHNAME', 'ntk_nystrom_centers_trans_label'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE ntk_nystrom_centers(x float8[], y float8, options jsonb) (
    SFUNC = ntk_nystrom_centers_trans, STYPE = ntk_nystrom_state,
    COMBINEFUNC = ntk_nystrom_combine, PARALLEL = SAFE
);
CREATE AGGREGATE ntk_nystrom_centers(x float8[], y float8[], options jsonb) (
    SFUNC = ntk_nystrom_centers_trans, STYPE = ntk_nystrom_state,
    COMBINEFUNC = ntk_nystrom_combine, PARALLEL = SAFE
);
CREATE AGGREGATE ntk_nystrom_centers(x float8[], label text, options jsonb) (
    SFUNC = ntk_nystrom_centers_trans, STYPE = ntk_nystrom_state,
    COMBINEFUNC = ntk_nystrom_combine, PARALLEL = SAFE
);

CREATE FUNCTION ntk_nystrom_statistics_trans(ntk_nystrom_state, ntk_nystrom_state, float8[], float8, jsonb)
RETURNS ntk_nystrom_state AS 'MODULE_PATHNAME', 'ntk_nystrom_statistics_trans_scalar'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION ntk_nystrom_statistics_trans(ntk_nystrom_state, ntk_nystrom_state, float8[], float8[], jsonb)
RETURNS ntk_nystrom_state AS 'MODULE_PATHNAME', 'ntk_nystrom_statistics_trans_vector'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION ntk_nystrom_statistics_trans(ntk_nystrom_state, ntk_nystrom_state, float8[], text, jsonb)
RETURNS ntk_nystrom_state AS 'MODULE_PATHNAME', 'ntk_nystrom_statistics_trans_label'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE ntk_nystrom_statistics(centers ntk_nystrom_state, x float8[], y float8, options jsonb) (
    SFUNC = ntk_nystrom_statistics_trans, STYPE = ntk_nystrom_state,
    COMBINEFUNC = ntk_nystrom_combine, PARALLEL = SAFE
);
CREATE AGGREGATE ntk_nystrom_statistics(centers ntk_nystrom_state, x float8[], y float8[], options jsonb) (
    SFUNC = ntk_nystrom_statistics_trans, STYPE = ntk_nystrom_state,
    COMBINEFUNC = ntk_nystrom_combine, PARALLEL = SAFE
);
CREATE AGGREGATE ntk_nystrom_statistics(centers ntk_nystrom_state, x float8[], label text, options jsonb) (
    SFUNC = ntk_nystrom_statistics_trans, STYPE = ntk_nystrom_state,
    COMBINEFUNC = ntk_nystrom_combine, PARALLEL = SAFE
);

CREATE FUNCTION ntk_nystrom_fit(model text, statistics ntk_nystrom_state, options jsonb DEFAULT NULL)
RETURNS bigint AS 'MODULE_PATHNAME', 'ntk_nystrom_fit'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION ntk_fit_query(model text, query text, options jsonb DEFAULT NULL)
RETURNS bigint AS 'MODULE_PATHNAME', 'ntk_fit_query'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION ntk_fit_query(text, text, jsonb)
IS 'Fits a model on the rows (x, target) of a query; with "method": "nystrom" in two passes that may run in parallel';

-- Metrics of a model on the rows of a read-only query returning (x, target).
CREATE FUNCTION ntk_evaluate(model text, query text, options jsonb DEFAULT '{}')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'ntk_evaluate'
LANGUAGE C STABLE STRICT;

-- A real[] x is read in place, not copied by the cast to float8[] (real_input.c).
CREATE FUNCTION ntk_real_input_support(internal) RETURNS internal
AS 'MODULE_PATHNAME', 'ntk_real_input_support'
LANGUAGE C STRICT;
ALTER FUNCTION ntk_kernel(float8[], float8[], int, text, float8, float8)
    SUPPORT ntk_real_input_support;
ALTER FUNCTION nngp_kernel(float8[], float8[], int, text, float8, float8)
    SUPPORT ntk_real_input_support;
ALTER FUNCTION ntk_predict(text, float8[]) SUPPORT ntk_real_input_support;
ALTER FUNCTION ntk_predict_vector(text, float8[]) SUPPORT ntk_real_input_support;
ALTER FUNCTION ntk_predict_class(text, float8[]) SUPPORT ntk_real_input_support;
ALTER FUNCTION ntk_predict_var(text, float8[]) SUPPORT ntk_real_input_support;
