-- What each segpipe group role may do in this database: the one source of truth (docs/security.md).
--
-- Not a numbered migration: `segpipe.db.migrate` runs this file after every migrate that applied something and
-- whenever this file changed, in the migration lock's transaction. Every statement is idempotent. A migration
-- that adds a table adds its line here (reader privileges come from the ALL TABLES line by themselves).
--
-- Role ladder (0012): segpipe_reader ⊂ segpipe_operator ⊂ segpipe_editor ⊂ segpipe_admin; each holds the
-- privileges of the ones before it. Deleting profiles, events, event ids and subscriptions, and writing the
-- permission and audit tables, is for admins only (and for the SECURITY DEFINER functions that check
-- segpipe.grants for session_user: grant_permission, revoke_permission, record_refusal, and deletion's batches).
DO $grants$
BEGIN
    IF (SELECT count(*) FROM pg_roles WHERE rolname IN
            ('segpipe_reader', 'segpipe_operator', 'segpipe_editor', 'segpipe_admin')) < 4 THEN
        RAISE NOTICE 'segpipe: group roles missing (see docs/security.md); privileges not granted';
        RETURN;
    END IF;

    -- reader: look at everything, change nothing (segment list/show/usage/trend, members --no-refresh).
    GRANT USAGE ON SCHEMA segpipe, segpipe_meta TO segpipe_reader;
    GRANT SELECT ON ALL TABLES IN SCHEMA segpipe TO segpipe_reader;
    GRANT SELECT ON ALL TABLES IN SCHEMA segpipe_meta TO segpipe_reader;
    GRANT SELECT ON ALL SEQUENCES IN SCHEMA segpipe TO segpipe_reader;
    -- ...except segpipe's own settings: the salt of the hashed external ids in the deletion audit stays secret.
    REVOKE SELECT ON segpipe.settings FROM segpipe_reader;

    -- operator: load, refresh, presend, classify.
    GRANT CREATE ON SCHEMA segpipe TO segpipe_operator;       -- a refresh run's UNLOGGED shared-scan tables
    GRANT USAGE ON ALL SEQUENCES IN SCHEMA segpipe TO segpipe_operator;  -- data_version, identities
    GRANT INSERT, UPDATE ON segpipe.profiles TO segpipe_operator;       -- load: upsert (no DELETE)
    GRANT INSERT ON segpipe.events, segpipe.event_ids, segpipe.subscriptions, segpipe.activity,
        segpipe.loaded_contents
        TO segpipe_operator;
    GRANT INSERT, UPDATE ON segpipe.refresh_runs, segpipe.segment_refreshes TO segpipe_operator;
    GRANT INSERT, DELETE ON segpipe.memberships TO segpipe_operator;   -- refresh writes membership diffs
    -- incremental refresh (0016): its state, and pruning the change logs (the logging triggers are SECURITY
    -- DEFINER, so writers need nothing on the logs)
    GRANT SELECT, INSERT, UPDATE, DELETE ON segpipe.incremental_state TO segpipe_operator;
    GRANT SELECT, DELETE ON segpipe.profile_changes, segpipe.member_changes TO segpipe_operator;
    GRANT SELECT, INSERT, UPDATE ON segpipe.change_log_horizon TO segpipe_operator;
    GRANT INSERT ON segpipe.segment_counts, segpipe.segment_status_changes, segpipe.segment_events
        TO segpipe_operator;
    GRANT INSERT, UPDATE ON segpipe.audience_snapshots TO segpipe_operator;
    GRANT INSERT ON segpipe.snapshot_members TO segpipe_operator;
    -- Refresh and classify stamp a segment's state, never its definition (that is the editor's).
    GRANT UPDATE (member_count, last_refreshed_at, last_refresh_as_of, refreshed_data_version, status,
                  status_changed_at, status_reason, last_live_use_at)
        ON segpipe.segments TO segpipe_operator;

    -- editor: declarative objects (apply) and segment lifecycle.
    GRANT INSERT, UPDATE, DELETE ON segpipe.segments, segpipe.segment_dependencies, segpipe.consumers,
        segpipe.consumer_segments, segpipe.consumer_links TO segpipe_editor;
    GRANT INSERT ON segpipe.segment_deletions, segpipe.segment_definition_history, segpipe.consumer_deletions
        TO segpipe_editor;

    -- admin: everything, except that permissions and the security audit change only through the audited
    -- functions (and the append-only triggers refuse UPDATE and DELETE of audit rows for every role).
    GRANT ALL ON SCHEMA segpipe TO segpipe_admin;
    GRANT ALL ON ALL TABLES IN SCHEMA segpipe TO segpipe_admin;
    GRANT ALL ON ALL SEQUENCES IN SCHEMA segpipe TO segpipe_admin;
    REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON segpipe.grants, segpipe.grant_audit, segpipe.security_audit
        FROM segpipe_admin;
END $grants$;
