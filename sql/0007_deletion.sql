-- Audited bulk profile deletion (src/segpipe/deletion) and permissions (src/segpipe/permissions.py).
--
-- A deletion job moves through durable states (docs/deletion.md):
--   created → manifest_frozen → gate_passed | refused | previewed (dry run) → deleting → completed | failed
-- The job row keeps what a resumed run needs; the append-only deletion_audit keeps what happened.

ALTER TABLE segpipe.deletion_jobs
    ADD COLUMN segment_name      text,
    ADD COLUMN segment_rules     jsonb,
    ADD COLUMN confirmed_at      timestamptz,
    ADD COLUMN refresh_run_id    bigint,
    ADD COLUMN batches           integer,
    ADD COLUMN manifest_digest   text,
    ADD COLUMN gate              jsonb,
    ADD COLUMN activity_baseline jsonb,
    ADD COLUMN error             text,
    ADD CONSTRAINT deletion_jobs_state_check CHECK (state IN (
        'created', 'manifest_frozen', 'gate_passed', 'refused', 'previewed', 'deleting', 'completed', 'failed'));

CREATE INDEX deletion_jobs_segment_idx ON segpipe.deletion_jobs (segment_key, created_at DESC);

-- The first unfinished batch of a job, found without scanning its finished rows.
CREATE INDEX deletion_manifest_pending_idx ON segpipe.deletion_manifest (job_id, batch_no) WHERE NOT deleted;

-- grant_audit is append-only like deletion_audit: 0001 refuses UPDATE and DELETE; TRUNCATE too.
CREATE TRIGGER grant_audit_no_truncate BEFORE TRUNCATE ON segpipe.grant_audit
    FOR EACH STATEMENT EXECUTE FUNCTION segpipe.refuse_change();

CREATE INDEX grant_audit_actor_idx ON segpipe.grant_audit (actor, id);
