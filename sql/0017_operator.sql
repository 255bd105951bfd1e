-- Operator commands (issue 13.6): `apply --prune` removes objects that are no longer in the applied files.
-- A pruned segment leaves its tombstone in segment_deletions, now with the reason (`pruned by apply`; NULL for
-- rows written before, which were `segment delete`); a removed campaign, journey, test list, message or report
-- leaves one in consumer_deletions, with the spec it had, so that what was removed can be read back.
ALTER TABLE segpipe.segment_deletions ADD COLUMN reason text;

CREATE TABLE segpipe.consumer_deletions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text        NOT NULL,
    key         text        NOT NULL,
    name        text,
    status      text,
    spec        jsonb       NOT NULL,
    actor       text,
    reason      text        NOT NULL,
    deleted_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER consumer_deletions_append_only BEFORE UPDATE OR DELETE
    ON segpipe.consumer_deletions FOR EACH ROW EXECUTE FUNCTION segpipe.refuse_change();
