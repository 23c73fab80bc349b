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
