-- Loaded contents (docs/loading.md "Loading the same file again"): events without an `event_id` append by
-- contract, so a second load of the same events file would count every such event twice. A load of events
-- records a digest of its parsed rows here, in its own transaction; a later load of exactly the same rows
-- (same file, or the same data in another format) changes nothing and reports every row as already known.
CREATE TABLE segpipe.loaded_contents (
    kind       text        NOT NULL,
    sha256     text        NOT NULL,
    rows       bigint      NOT NULL,
    loaded_at  timestamptz NOT NULL DEFAULT now(),
    loaded_by  text        NOT NULL DEFAULT session_user,
    PRIMARY KEY (kind, sha256)
);

-- Emptying the events table (TRUNCATE: a reset, outside segpipe's own deletes) forgets what was loaded into it,
-- so the same file can be loaded again afterwards. Deleting profiles does not: a stale file must not bring a
-- deleted profile's events back.
CREATE FUNCTION segpipe.forget_loaded_events() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM segpipe.loaded_contents WHERE kind = 'events';
    RETURN NULL;
END $$;
CREATE TRIGGER events_truncate_forgets_loads AFTER TRUNCATE ON segpipe.events
    FOR EACH STATEMENT EXECUTE FUNCTION segpipe.forget_loaded_events();
