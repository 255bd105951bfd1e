-- Incremental refresh (issue 12): what changed since a segment's last refresh, recorded by Postgres itself.
--
-- Statement-level AFTER triggers with transition tables write one row per (changed profile, source) into
-- `profile_changes`, stamped with the writing transaction's id (xid8), in the same transaction as the write:
-- every writer (loads, identify/track, deletion, psql edits) is covered with no code of its own. A refresh stores
-- the snapshot it computed in (`incremental_state.snapshot`); the changes a later refresh has not seen are the
-- rows whose xid that snapshot does not see (`pg_visible_in_snapshot`), which is exact whatever the commit order.
-- docs/refresh.md, "Incremental refresh", explains the rest.
--
-- The logs are UNLOGGED (no WAL: a bulk load pays less for them). Crash recovery empties them, and the horizon
-- row with them: a missing horizon row means "the log may have lost rows", every refresh then recomputes in full
-- until the next prune re-creates the row (at its snapshot xmin, above every xid from before the restart).

CREATE UNLOGGED TABLE segpipe.profile_changes (
    xid        xid8   NOT NULL,
    source     text   NOT NULL,  -- 'profile', 'event:<name>', 'subscription:<channel>', '*' (TRUNCATE: everything)
    profile_id bigint            -- NULL only for '*'
);
CREATE INDEX profile_changes_source_xid_idx ON segpipe.profile_changes (source, xid);

-- Membership changes, for the segments that reference a segment. A statement that changes more than
-- 10,000 memberships of a segment is logged as one row with profile_id NULL ("many": its dependents recompute).
CREATE UNLOGGED TABLE segpipe.member_changes (
    xid        xid8   NOT NULL,
    segment_id bigint NOT NULL,
    profile_id bigint
);
CREATE INDEX member_changes_segment_xid_idx ON segpipe.member_changes (segment_id, xid);

-- What a segment's stored members were computed from: the snapshot, as_of and rules of its last refresh.
CREATE TABLE segpipe.incremental_state (
    segment_id   bigint      PRIMARY KEY REFERENCES segpipe.segments (id) ON DELETE CASCADE,
    snapshot     pg_snapshot NOT NULL,
    as_of        timestamptz NOT NULL,
    rules        jsonb       NOT NULL,
    refreshed_at timestamptz NOT NULL
);

-- The change logs hold no row with an xid below `below` (pruned): a state whose snapshot's xmin is lower
-- may have missed pruned changes and recomputes in full. No row (after a crash): nothing is covered.
CREATE UNLOGGED TABLE segpipe.change_log_horizon (
    one   boolean PRIMARY KEY DEFAULT true CHECK (one),
    below xid8    NOT NULL
);
INSERT INTO segpipe.change_log_horizon (below) VALUES ('0');

-- Trigger functions: SECURITY DEFINER, so a writer needs no privilege on the logs.
CREATE FUNCTION segpipe.log_profile_changes() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO segpipe.profile_changes (xid, source, profile_id)
        SELECT pg_current_xact_id(), 'profile', id FROM old_rows;
    ELSE
        INSERT INTO segpipe.profile_changes (xid, source, profile_id)
        SELECT pg_current_xact_id(), 'profile', id FROM new_rows;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION segpipe.log_event_changes() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO segpipe.profile_changes (xid, source, profile_id)
        SELECT pg_current_xact_id(), 'event:' || name, profile_id FROM (SELECT DISTINCT profile_id, name FROM new_rows) d;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO segpipe.profile_changes (xid, source, profile_id)
        SELECT pg_current_xact_id(), 'event:' || name, profile_id FROM (SELECT DISTINCT profile_id, name FROM old_rows) d;
    ELSE
        INSERT INTO segpipe.profile_changes (xid, source, profile_id)
        SELECT pg_current_xact_id(), 'event:' || name, profile_id
        FROM (SELECT profile_id, name FROM old_rows UNION SELECT profile_id, name FROM new_rows) d;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION segpipe.log_subscription_changes() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO segpipe.profile_changes (xid, source, profile_id)
        SELECT pg_current_xact_id(), 'subscription:' || channel, profile_id
        FROM (SELECT DISTINCT profile_id, channel FROM new_rows) d;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO segpipe.profile_changes (xid, source, profile_id)
        SELECT pg_current_xact_id(), 'subscription:' || channel, profile_id
        FROM (SELECT DISTINCT profile_id, channel FROM old_rows) d;
    ELSE
        INSERT INTO segpipe.profile_changes (xid, source, profile_id)
        SELECT pg_current_xact_id(), 'subscription:' || channel, profile_id
        FROM (SELECT profile_id, channel FROM old_rows UNION SELECT profile_id, channel FROM new_rows) d;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION segpipe.log_member_changes() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO segpipe.member_changes (xid, segment_id, profile_id)
        SELECT pg_current_xact_id(), segment_id, CASE WHEN many THEN NULL ELSE profile_id END
        FROM (SELECT DISTINCT r.segment_id, CASE WHEN c.n > 10000 THEN NULL ELSE r.profile_id END AS profile_id,
                     c.n > 10000 AS many
              FROM new_rows r JOIN (SELECT segment_id, count(*) AS n FROM new_rows GROUP BY 1) c USING (segment_id)) d;
    ELSE
        INSERT INTO segpipe.member_changes (xid, segment_id, profile_id)
        SELECT pg_current_xact_id(), segment_id, CASE WHEN many THEN NULL ELSE profile_id END
        FROM (SELECT DISTINCT r.segment_id, CASE WHEN c.n > 10000 THEN NULL ELSE r.profile_id END AS profile_id,
                     c.n > 10000 AS many
              FROM old_rows r JOIN (SELECT segment_id, count(*) AS n FROM old_rows GROUP BY 1) c USING (segment_id)) d;
    END IF;
    RETURN NULL;
END $$;

-- TRUNCATE fires no row-level logic: it is logged as "everything changed".
CREATE FUNCTION segpipe.log_truncate() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO segpipe.profile_changes (xid, source, profile_id) VALUES (pg_current_xact_id(), '*', NULL);
    RETURN NULL;
END $$;

CREATE TRIGGER profiles_log_insert AFTER INSERT ON segpipe.profiles REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION segpipe.log_profile_changes();
CREATE TRIGGER profiles_log_update AFTER UPDATE ON segpipe.profiles REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION segpipe.log_profile_changes();
CREATE TRIGGER profiles_log_delete AFTER DELETE ON segpipe.profiles REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION segpipe.log_profile_changes();

CREATE TRIGGER events_log_insert AFTER INSERT ON segpipe.events REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION segpipe.log_event_changes();
CREATE TRIGGER events_log_update AFTER UPDATE ON segpipe.events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION segpipe.log_event_changes();
CREATE TRIGGER events_log_delete AFTER DELETE ON segpipe.events REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION segpipe.log_event_changes();

CREATE TRIGGER subscriptions_log_insert AFTER INSERT ON segpipe.subscriptions REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION segpipe.log_subscription_changes();
CREATE TRIGGER subscriptions_log_update AFTER UPDATE ON segpipe.subscriptions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION segpipe.log_subscription_changes();
CREATE TRIGGER subscriptions_log_delete AFTER DELETE ON segpipe.subscriptions REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION segpipe.log_subscription_changes();

CREATE TRIGGER memberships_log_insert AFTER INSERT ON segpipe.memberships REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION segpipe.log_member_changes();
CREATE TRIGGER memberships_log_delete AFTER DELETE ON segpipe.memberships REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION segpipe.log_member_changes();

CREATE TRIGGER profiles_log_truncate AFTER TRUNCATE ON segpipe.profiles
    FOR EACH STATEMENT EXECUTE FUNCTION segpipe.log_truncate();
CREATE TRIGGER events_log_truncate AFTER TRUNCATE ON segpipe.events
    FOR EACH STATEMENT EXECUTE FUNCTION segpipe.log_truncate();
CREATE TRIGGER subscriptions_log_truncate AFTER TRUNCATE ON segpipe.subscriptions
    FOR EACH STATEMENT EXECUTE FUNCTION segpipe.log_truncate();
CREATE TRIGGER memberships_log_truncate AFTER TRUNCATE ON segpipe.memberships
    FOR EACH STATEMENT EXECUTE FUNCTION segpipe.log_truncate();
