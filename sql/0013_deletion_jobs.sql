-- Deletion jobs that can be operated (issue 11.7) and batches deleted by Postgres itself (issue 11.2).
--
-- States (docs/deletion.md): created → manifest_frozen → gate_passed | held → deleting → verifying →
-- completed | failed; refused, previewed (dry run) and cancelled end a job early.

ALTER TABLE segpipe.deletion_jobs DROP CONSTRAINT deletion_jobs_state_check;
ALTER TABLE segpipe.deletion_jobs
    ADD CONSTRAINT deletion_jobs_state_check CHECK (state IN (
        'created', 'manifest_frozen', 'gate_passed', 'held', 'deleting', 'verifying', 'completed', 'failed',
        'refused', 'previewed', 'cancelled')),
    -- A held job (--hold-days N) is carried out from this time on, unless cancelled.
    ADD COLUMN execute_after timestamptz,
    -- The Prefect flow run driving the job, so that cancelling the run cancels the job.
    ADD COLUMN flow_run_id text,
    -- The database role that created the job: only it (or an admin) may have its batches deleted.
    ADD COLUMN session_role text NOT NULL DEFAULT session_user;

-- `segpipe deletion list` (newest first) and the scheduled flow's due jobs.
CREATE INDEX deletion_jobs_created_idx ON segpipe.deletion_jobs (created_at DESC);
CREATE INDEX deletion_jobs_held_idx ON segpipe.deletion_jobs (execute_after) WHERE state = 'held';
CREATE INDEX deletion_jobs_flow_run_idx ON segpipe.deletion_jobs (flow_run_id) WHERE flow_run_id IS NOT NULL;
