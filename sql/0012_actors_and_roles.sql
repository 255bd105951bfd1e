-- Authenticated actors and least-privilege roles (issue 11, docs/security.md).
--
-- The actor of a command is the session's role (`session_user`). Four NOLOGIN group roles carry the database
-- privileges; what each may touch is granted by `sql/grants.sql`, which the migrator runs after every migrate
-- (one re-runnable list, so a later migration's table needs one line there, not a new migration).

-- Group roles are cluster-wide: many databases of one cluster may migrate at once, so a role (or membership)
-- another session creates first is fine. A migrating role without CREATEROLE creates none: segpipe works, and
-- docs/security.md says how an administrator creates them later.
DO $$
DECLARE
    wanted text;
    pair text[];
BEGIN
    FOREACH wanted IN ARRAY ARRAY['segpipe_reader', 'segpipe_operator', 'segpipe_editor', 'segpipe_admin'] LOOP
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = wanted) THEN
                EXECUTE format('CREATE ROLE %I NOLOGIN', wanted);
            END IF;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'segpipe: role % not created (the migrating role lacks CREATEROLE)', wanted;
        END;
    END LOOP;
    -- Each role holds the privileges of the one before it.
    FOREACH pair SLICE 1 IN ARRAY ARRAY[['segpipe_reader', 'segpipe_operator'], ['segpipe_operator', 'segpipe_editor'],
                                        ['segpipe_editor', 'segpipe_admin']] LOOP
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = pair[1])
               AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = pair[2])
               AND NOT pg_has_role(pair[2], pair[1], 'MEMBER') THEN
                EXECUTE format('GRANT %I TO %I', pair[1], pair[2]);
            END IF;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'segpipe: % not granted to % (the migrating role may not)', pair[1], pair[2];
        END;
    END LOOP;
END $$;

-- Grant history names the authenticated role that changed it (`changed_by` = session_user) and, when an admin
-- acted for someone else (`--by`), that actor.
ALTER TABLE segpipe.grant_audit ADD COLUMN on_behalf_of text;

-- Refusals by the actor gate and the permission gate, written in their own committed transaction so that they
-- outlive the refused command. Append-only, written only through segpipe.record_refusal (any role may call it;
-- it records the caller's own session role, which the caller cannot choose).
CREATE TABLE segpipe.security_audit (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    session_role  text        NOT NULL,
    claimed_actor text,
    gate          text        NOT NULL CHECK (gate IN ('actor', 'admin', 'permission')),
    command       text        NOT NULL,
    detail        jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX security_audit_role_idx ON segpipe.security_audit (session_role, id);
CREATE TRIGGER security_audit_append_only BEFORE UPDATE OR DELETE ON segpipe.security_audit
    FOR EACH ROW EXECUTE FUNCTION segpipe.refuse_change();
CREATE TRIGGER security_audit_no_truncate BEFORE TRUNCATE ON segpipe.security_audit
    FOR EACH STATEMENT EXECUTE FUNCTION segpipe.refuse_change();

CREATE OR REPLACE FUNCTION segpipe.record_refusal(claimed text, gate text, command text, detail jsonb)
    RETURNS bigint LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO segpipe.security_audit (session_role, claimed_actor, gate, command, detail)
    VALUES (session_user, claimed, gate, left(command, 200), coalesce(detail, '{}'::jsonb))
    RETURNING id
$$;

-- Grants and revokes: only an admin (segpipe.is_admin(session_user)); each change writes grant_audit in the same
-- transaction. Returns whether the call changed anything (granting a held permission changes nothing).
CREATE OR REPLACE FUNCTION segpipe.grant_permission(who text, wanted text, on_behalf text DEFAULT NULL)
    RETURNS boolean LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT segpipe.is_admin(session_user) THEN
        RAISE EXCEPTION 'segpipe: role % is not an admin: only an admin grants permissions', session_user
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO segpipe.grants (actor, permission) VALUES (who, wanted) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO segpipe.grant_audit (action, actor, permission, changed_by, on_behalf_of)
    VALUES ('grant', who, wanted, session_user, nullif(on_behalf, session_user::text));
    RETURN true;
END $$;

CREATE OR REPLACE FUNCTION segpipe.revoke_permission(who text, wanted text, on_behalf text DEFAULT NULL)
    RETURNS boolean LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT segpipe.is_admin(session_user) THEN
        RAISE EXCEPTION 'segpipe: role % is not an admin: only an admin revokes permissions', session_user
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM segpipe.grants WHERE actor = who AND permission = wanted;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO segpipe.grant_audit (action, actor, permission, changed_by, on_behalf_of)
    VALUES ('revoke', who, wanted, session_user, nullif(on_behalf, session_user::text));
    RETURN true;
END $$;

-- Who the session is, in one round trip (segpipe.actors.resolve_actor): the session role and whether it is an
-- admin. STABLE and SECURITY DEFINER through is_admin, so any role may ask.
CREATE OR REPLACE FUNCTION segpipe.session_actor(OUT session_role text, OUT admin boolean)
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT session_user::text, segpipe.is_admin(session_user)
$$;
