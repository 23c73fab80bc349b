-- ntk--0.2.0.sql: Neural Tangent Kernel regression inside PostgreSQL

\echo Use "CREATE EXTENSION ntk" to load this file. \quit

-- A schema every role may create objects in is no place for ntk: a role could
-- add overloads (ntk_predict(text, text)) that calls with untyped literals
-- resolve to, and run them as every caller of ntk.
DO $$
BEGIN
    IF pg_catalog.has_schema_privilege('public', '@extschema@'::pg_catalog.regnamespace, 'CREATE') THEN
        RAISE EXCEPTION 'ntk cannot be installed into schema %: every role may create objects in it',
                        '@extschema@'::pg_catalog.regnamespace
            USING ERRCODE = '42501',
                  HINT = 'Install it into a schema only trusted roles can write: CREATE SCHEMA ntk; '
                         'CREATE EXTENSION ntk SCHEMA ntk; (and add ntk to the search_path of its users), '
                         'or REVOKE CREATE ON SCHEMA ' || '@extschema@'::pg_catalog.regnamespace::text || ' FROM PUBLIC.';
    END IF;
END
$$;

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

-- The model store ------------------------------------------------------------

CREATE SEQUENCE ntk_models_id_seq;

CREATE TABLE ntk_models (
    id          bigint PRIMARY KEY DEFAULT nextval('ntk_models_id_seq'),
    name        text NOT NULL UNIQUE,
    owner       name NOT NULL DEFAULT current_user,
    created_at  timestamptz NOT NULL DEFAULT now(),
    task        text NOT NULL CHECK (task IN ('regression', 'classification')),
    kernel      text NOT NULL CHECK (kernel IN ('ntk', 'nngp')),
    activation  text NOT NULL,
    depth       int NOT NULL,
    sigma_w     float8 NOT NULL,
    sigma_b     float8 NOT NULL,
    ridge       float8 NOT NULL,
    n_train     int NOT NULL,
    n_features  int NOT NULL,
    n_outputs   int NOT NULL,
    classes     text[],
    options     jsonb NOT NULL,
    metrics     jsonb NOT NULL,
    -- the owner itself: owner is its name when the row was last written
    owner_oid   regrole NOT NULL
);
ALTER SEQUENCE ntk_models_id_seq OWNED BY ntk_models.id;

COMMENT ON TABLE ntk_models IS 'Fitted ntk models; the large arrays are in ntk_model_data';

-- Training inputs ('x', row-major n x d), dual coefficients ('alpha',
-- column-major n x k) and standardization ('mean', 'scale') as raw float64
-- chunks, so that no value approaches the 1 GB limit of a datum.
CREATE TABLE ntk_model_data (
    model_id    bigint NOT NULL REFERENCES ntk_models (id)
                    ON DELETE CASCADE ON UPDATE CASCADE,
    part        text NOT NULL,
    chunk       int NOT NULL,
    data        bytea NOT NULL,
    PRIMARY KEY (model_id, part, chunk)
);
-- doubles do not compress: store them out of line, uncompressed
ALTER TABLE ntk_model_data ALTER COLUMN data SET STORAGE EXTERNAL;

COMMENT ON TABLE ntk_model_data IS 'Large arrays of ntk models as raw float64 chunks';

-- Models are private to their owner role and the roles that are members of it.
ALTER TABLE ntk_models ENABLE ROW LEVEL SECURITY;
ALTER TABLE ntk_model_data ENABLE ROW LEVEL SECURITY;
-- By role oid: a role created later with the name of a dropped or renamed
-- owner does not get its models (those of a dropped role are invisible).
CREATE POLICY ntk_models_owner ON ntk_models
    USING (pg_catalog.pg_has_role(owner_oid, 'MEMBER'))
    WITH CHECK (pg_catalog.pg_has_role(owner_oid, 'MEMBER'));
CREATE POLICY ntk_model_data_owner ON ntk_model_data
    USING (EXISTS (SELECT 1 FROM ntk_models m WHERE m.id = model_id));
-- Only reads (and inserts of one's own model rows) are granted: UPDATE or
-- DELETE would let any role LOCK the tables in every mode.  ntk_fit and
-- ntk_drop_model write as the tables' owner after checking the caller's
-- membership in the model's owner; INSERT on ntk_models is what they require
-- of the caller (revoke it to keep a role from fitting).
GRANT SELECT, INSERT ON ntk_models TO PUBLIC;
GRANT SELECT ON ntk_model_data TO PUBLIC;
-- SELECT for pg_dump of a non-superuser (nextval already shows the counter)
GRANT USAGE, SELECT ON SEQUENCE ntk_models_id_seq TO PUBLIC;

-- pg_dump keeps the models
SELECT pg_catalog.pg_extension_config_dump('ntk_models', '');
SELECT pg_catalog.pg_extension_config_dump('ntk_model_data', '');
SELECT pg_catalog.pg_extension_config_dump('ntk_models_id_seq', '');

-- Ids always come from the sequence: a role that inserts or updates its own
-- rows cannot take ids ahead of another role's next fit.  The table owner
-- (who runs pg_restore, and bypasses row-level security anyway) keeps the
-- ids it writes, so that a restore keeps the ids ntk_model_data refers to.
CREATE FUNCTION ntk_models_assign_id() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF pg_has_role((SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'USAGE') THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' OR NEW.id IS DISTINCT FROM OLD.id THEN
        NEW.id := nextval('@extschema@.ntk_models_id_seq');
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER ntk_models_assign_id
    BEFORE INSERT OR UPDATE ON ntk_models
    FOR EACH ROW EXECUTE FUNCTION ntk_models_assign_id();

-- owner_oid decides; owner follows it (a name given alone names the owner)
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

-- Other backends drop their cached models when chunks change outside a fit
-- (an administrator's edit).  A model's row changes with every fit and drop,
-- and each cached model is checked against its row once per snapshot, so
-- writes of ntk_models need no invalidation.
CREATE FUNCTION ntk_models_invalidate() RETURNS trigger
AS 'MODULE_PATHNAME', 'ntk_models_invalidate'
LANGUAGE C;

CREATE TRIGGER ntk_model_data_invalidate
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ntk_model_data
    FOR EACH STATEMENT EXECUTE FUNCTION ntk_models_invalidate('data');

-- Fitting ---------------------------------------------------------------------

CREATE FUNCTION ntk_fit_trans(internal, text, float8[], float8)
RETURNS internal AS 'MODULE_PATHNAME', 'ntk_fit_trans_scalar' LANGUAGE C;
CREATE FUNCTION ntk_fit_trans(internal, text, float8[], float8, jsonb)
RETURNS internal AS 'MODULE_PATHNAME', 'ntk_fit_trans_scalar' LANGUAGE C;
CREATE FUNCTION ntk_fit_trans(internal, text, float8[], float8[])
RETURNS internal AS 'MODULE_PATHNAME', 'ntk_fit_trans_vector' LANGUAGE C;
CREATE FUNCTION ntk_fit_trans(internal, text, float8[], float8[], jsonb)
RETURNS internal AS 'MODULE_PATHNAME', 'ntk_fit_trans_vector' LANGUAGE C;
CREATE FUNCTION ntk_fit_classifier_trans(internal, text, float8[], text)
RETURNS internal AS 'MODULE_PATHNAME', 'ntk_fit_trans_label' LANGUAGE C;
CREATE FUNCTION ntk_fit_classifier_trans(internal, text, float8[], text, jsonb)
RETURNS internal AS 'MODULE_PATHNAME', 'ntk_fit_trans_label' LANGUAGE C;
CREATE FUNCTION ntk_fit_final(internal)
RETURNS bigint AS 'MODULE_PATHNAME', 'ntk_fit_final' LANGUAGE C;

CREATE AGGREGATE ntk_fit(model text, x float8[], y float8) (
    SFUNC = ntk_fit_trans, STYPE = internal,
    FINALFUNC = ntk_fit_final, FINALFUNC_MODIFY = READ_WRITE
);
CREATE AGGREGATE ntk_fit(model text, x float8[], y float8, options jsonb) (
    SFUNC = ntk_fit_trans, STYPE = internal,
    FINALFUNC = ntk_fit_final, FINALFUNC_MODIFY = READ_WRITE
);
CREATE AGGREGATE ntk_fit(model text, x float8[], y float8[]) (
    SFUNC = ntk_fit_trans, STYPE = internal,
    FINALFUNC = ntk_fit_final, FINALFUNC_MODIFY = READ_WRITE
);
CREATE AGGREGATE ntk_fit(model text, x float8[], y float8[], options jsonb) (
    SFUNC = ntk_fit_trans, STYPE = internal,
    FINALFUNC = ntk_fit_final, FINALFUNC_MODIFY = READ_WRITE
);
CREATE AGGREGATE ntk_fit_classifier(model text, x float8[], label text) (
    SFUNC = ntk_fit_classifier_trans, STYPE = internal,
    FINALFUNC = ntk_fit_final, FINALFUNC_MODIFY = READ_WRITE
);
CREATE AGGREGATE ntk_fit_classifier(model text, x float8[], label text, options jsonb) (
    SFUNC = ntk_fit_classifier_trans, STYPE = internal,
    FINALFUNC = ntk_fit_final, FINALFUNC_MODIFY = READ_WRITE
);

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

-- Predicting ------------------------------------------------------------------

CREATE FUNCTION ntk_predict(model text, x float8[]) RETURNS float8
AS 'MODULE_PATHNAME', 'ntk_predict'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ntk_predict_vector(model text, x float8[]) RETURNS float8[]
AS 'MODULE_PATHNAME', 'ntk_predict_vector'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ntk_predict_class(model text, x float8[]) RETURNS text
AS 'MODULE_PATHNAME', 'ntk_predict_class'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ntk_predict_batch(model text, query text)
RETURNS TABLE (id bigint, prediction float8, outputs float8[], label text)
AS 'MODULE_PATHNAME', 'ntk_predict_batch'
LANGUAGE C STABLE STRICT ROWS 1000;

-- Metrics of a model on the rows of a read-only query returning (x, target).
CREATE FUNCTION ntk_evaluate(model text, query text, options jsonb DEFAULT '{}')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'ntk_evaluate'
LANGUAGE C STABLE STRICT;

CREATE FUNCTION ntk_predict_var(model text, x float8[]) RETURNS float8
AS 'MODULE_PATHNAME', 'ntk_predict_var'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ntk_drop_model(model text) RETURNS boolean
AS 'MODULE_PATHNAME', 'ntk_drop_model'
LANGUAGE C VOLATILE STRICT;

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
