-- Pre-send audience snapshots (src/segpipe/refresh/presend.py, docs/orchestration.md).
--
-- A snapshot is written `pending` (its members committed, so that Great Expectations, on a connection of its own,
-- can read them), then checked, then finished `ready` or `refused`, once. A finished snapshot never changes:
-- its row refuses every UPDATE and its members refuse UPDATE and late INSERTs. Deleting members stays allowed:
-- an audited profile deletion removes the deleted profiles from every snapshot.

ALTER TABLE segpipe.audience_snapshots DROP CONSTRAINT audience_snapshots_status_check;
ALTER TABLE segpipe.audience_snapshots
    ADD CONSTRAINT audience_snapshots_status_check CHECK (status IN ('pending', 'ready', 'refused')),
    ADD COLUMN refresh_run_id bigint REFERENCES segpipe.refresh_runs (id),
    ADD COLUMN flow_run_id    text,
    ADD COLUMN reason         text,
    ADD COLUMN finished_at    timestamptz;
CREATE INDEX audience_snapshots_ready_idx ON segpipe.audience_snapshots (campaign_key, id DESC) WHERE status = 'ready';
CREATE INDEX audience_snapshots_flow_run_idx ON segpipe.audience_snapshots (flow_run_id) WHERE flow_run_id IS NOT NULL;

CREATE FUNCTION segpipe.snapshot_finished_is_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'pending' THEN
        RAISE EXCEPTION 'segpipe: audience snapshot % is % and immutable', OLD.id, OLD.status
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.id <> OLD.id OR NEW.campaign_key <> OLD.campaign_key OR NEW.as_of <> OLD.as_of THEN
        RAISE EXCEPTION 'segpipe: the identity of audience snapshot % cannot change', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER audience_snapshots_immutable BEFORE UPDATE ON segpipe.audience_snapshots
    FOR EACH ROW EXECUTE FUNCTION segpipe.snapshot_finished_is_immutable();
CREATE TRIGGER audience_snapshots_no_delete BEFORE DELETE ON segpipe.audience_snapshots
    FOR EACH ROW EXECUTE FUNCTION segpipe.refuse_change();
CREATE TRIGGER snapshot_members_no_update BEFORE UPDATE ON segpipe.snapshot_members
    FOR EACH STATEMENT EXECUTE FUNCTION segpipe.refuse_change();

-- Members are added to pending snapshots only: checked once per statement over its transition table.
CREATE FUNCTION segpipe.snapshot_members_only_pending() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM (SELECT DISTINCT snapshot_id FROM added) AS a
        JOIN segpipe.audience_snapshots AS s ON s.id = a.snapshot_id
        WHERE s.status <> 'pending'
    ) THEN
        RAISE EXCEPTION 'segpipe: members can only be added to a pending audience snapshot'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER snapshot_members_only_pending AFTER INSERT ON segpipe.snapshot_members
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION segpipe.snapshot_members_only_pending();
