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
    metrics     jsonb NOT NULL
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
-- By role oid, so that a model whose owner role was dropped is merely
-- invisible instead of breaking every read with "role does not exist".
CREATE POLICY ntk_models_owner ON ntk_models
    USING (EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                   WHERE r.rolname = owner AND pg_catalog.pg_has_role(r.oid, 'MEMBER')))
    WITH CHECK (EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                        WHERE r.rolname = owner AND pg_catalog.pg_has_role(r.oid, 'MEMBER')));
CREATE POLICY ntk_model_data_owner ON ntk_model_data
    USING (EXISTS (SELECT 1 FROM ntk_models m WHERE m.id = model_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON ntk_models, ntk_model_data TO PUBLIC;
GRANT USAGE ON SEQUENCE ntk_models_id_seq TO PUBLIC;

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

-- other backends drop their cached models when the table changes
CREATE FUNCTION ntk_models_invalidate() RETURNS trigger
AS 'MODULE_PATHNAME', 'ntk_models_invalidate'
LANGUAGE C;

CREATE TRIGGER ntk_models_invalidate
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ntk_models
    FOR EACH STATEMENT EXECUTE FUNCTION ntk_models_invalidate();
-- and when their chunks change (a fit's own writes, or an owner's by hand)
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

CREATE FUNCTION ntk_predict_var(model text, x float8[]) RETURNS float8
AS 'MODULE_PATHNAME', 'ntk_predict_var'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ntk_drop_model(model text) RETURNS boolean
AS 'MODULE_PATHNAME', 'ntk_drop_model'
LANGUAGE C VOLATILE STRICT;
