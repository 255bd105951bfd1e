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

-- One batch of a deletion job, deleted by Postgres itself (issue 11.2): the profiles of the job's manifest
-- batch (never ids a caller passes), with their events, event ids, subscriptions, snapshot members and
-- memberships (segment counts corrected), their message activity anonymized; the manifest rows marked, the
-- job's counter, the audit row and data_version in the caller's transaction. SECURITY DEFINER: a role
-- without DELETE on these tables deletes through it, and only when
--   * the job is in an executing state and its quality gate passed (not a dry run),
--   * the job's actor holds profiles:view and profiles:edit now,
--   * the session is the role that created the job, or an admin.
-- `sweep` removes rows linked to the batch's profiles after it was deleted (a load in flight; verification).
-- The ids are one bigint[] variable, sorted, and every statement is planned for its values
-- (force_custom_plan): the plans walk the profile_id indexes and touch only the batch's rows (BENCHMARKS.md).
-- Returns the audit detail, or NULL when there was nothing to do (a batch done before; a clean sweep).
CREATE FUNCTION segpipe.delete_profile_batch(job uuid, batch integer, sweep boolean DEFAULT false) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_custom_plan
    SET jit = off
AS $$
DECLARE
    j       segpipe.deletion_jobs;
    ids     bigint[];
    salt    text;
    hashes  text[];
    counts  jsonb := '{}';
    n       bigint;
    acts    jsonb;
    segs    jsonb;
    detail  jsonb;
BEGIN
    SELECT * INTO j FROM segpipe.deletion_jobs WHERE id = job FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown deletion job %', job USING ERRCODE = 'no_data_found';
    END IF;
    IF j.dry_run OR j.state NOT IN ('gate_passed', 'deleting', 'verifying', 'failed')
            OR NOT coalesce((j.gate ->> 'success')::boolean, false) THEN
        RAISE EXCEPTION 'deletion job % is % (dry run: %): its batches cannot be deleted', job, j.state, j.dry_run
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF NOT (segpipe.holds_permission(j.actor, 'profiles:view') AND segpipe.holds_permission(j.actor, 'profiles:edit')) THEN
        RAISE EXCEPTION 'actor ''%'' lacks profiles:view or profiles:edit (deleting profiles needs both)', j.actor
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF session_user <> j.session_role AND NOT segpipe.is_admin(session_user) THEN
        RAISE EXCEPTION 'role % did not create deletion job % (its role is %) and is not an admin',
            session_user, job, j.session_role USING ERRCODE = 'insufficient_privilege';
    END IF;

    SELECT coalesce(array_agg(m.profile_id ORDER BY m.profile_id), '{}') INTO ids
      FROM segpipe.deletion_manifest m WHERE m.job_id = job AND m.batch_no = batch AND (sweep OR NOT m.deleted);
    IF cardinality(ids) = 0 THEN
        RETURN NULL;
    END IF;

    INSERT INTO segpipe.settings (name, value)
        VALUES ('deletion.audit_salt', encode(sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')), 'hex'))
        ON CONFLICT (name) DO NOTHING;
    SELECT s.value INTO salt FROM segpipe.settings s WHERE s.name = 'deletion.audit_salt';

    -- The profiles first: their row locks make a concurrent upsert of the same external id wait, then create
    -- a new profile.
    WITH deleted AS (DELETE FROM segpipe.profiles p WHERE p.id = ANY(ids) RETURNING p.external_id),
         hashed AS (SELECT encode(sha256(convert_to(salt || d.external_id, 'UTF8')), 'hex') AS h FROM deleted d)
    SELECT coalesce(array_agg(h ORDER BY h), '{}') INTO hashes FROM hashed;
    counts := counts || jsonb_build_object('profiles', cardinality(hashes));
    DELETE FROM segpipe.events e WHERE e.profile_id = ANY(ids);
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || jsonb_build_object('events', n);
    DELETE FROM segpipe.event_ids e WHERE e.profile_id = ANY(ids);
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || jsonb_build_object('event_ids', n);
    DELETE FROM segpipe.subscriptions s WHERE s.profile_id = ANY(ids);
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || jsonb_build_object('subscriptions', n);
    DELETE FROM segpipe.snapshot_members s WHERE s.profile_id = ANY(ids);
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || jsonb_build_object('snapshot_members', n);

    -- Memberships in every segment; each affected segment's count corrected, with a trend point.
    WITH removed AS (DELETE FROM segpipe.memberships m WHERE m.profile_id = ANY(ids) RETURNING m.segment_id),
         per AS (SELECT r.segment_id, count(*) AS n FROM removed r GROUP BY r.segment_id),
         corrected AS (
             UPDATE segpipe.segments s SET member_count = greatest(s.member_count - per.n, 0)
               FROM per WHERE s.id = per.segment_id AND s.member_count IS NOT NULL
             RETURNING s.id, s.member_count),
         points AS (
             INSERT INTO segpipe.segment_counts (segment_id, member_count, source)
             SELECT c.id, c.member_count, 'deletion' FROM corrected c)
    SELECT coalesce(jsonb_agg(jsonb_build_object('segment_id', per.segment_id, 'removed', per.n,
                                                 'member_count', c.member_count) ORDER BY per.segment_id), '[]'),
           coalesce(sum(per.n), 0)
      INTO segs, n
      FROM per LEFT JOIN corrected c ON c.id = per.segment_id;
    counts := counts || jsonb_build_object('memberships', n);

    -- Message activity stays (campaign statistics must not change), unlinked from the profile.
    WITH changed AS (
             UPDATE segpipe.activity a SET profile_id = NULL, anonymized_at = now()
              WHERE a.profile_id = ANY(ids) RETURNING a.campaign, a.kind),
         per AS (SELECT c.campaign, c.kind, count(*) AS n FROM changed c GROUP BY c.campaign, c.kind)
    SELECT coalesce(jsonb_agg(jsonb_build_object('campaign', campaign, 'kind', kind, 'count', per.n)
                              ORDER BY campaign, kind), '[]'),
           coalesce(sum(per.n), 0)
      INTO acts, n
      FROM per;
    counts := counts || jsonb_build_object('activity', n);

    IF sweep THEN
        IF NOT EXISTS (SELECT 1 FROM jsonb_each_text(counts) WHERE value::bigint > 0) THEN
            RETURN NULL;
        END IF;
        detail := jsonb_build_object('batch_no', batch, 'tables', counts, 'activity', acts, 'segments', segs);
    ELSE
        UPDATE segpipe.deletion_manifest m SET deleted = true WHERE m.job_id = job AND m.batch_no = batch AND NOT m.deleted;
        UPDATE segpipe.deletion_jobs d
           SET state = 'deleting', deleted_profiles = d.deleted_profiles + cardinality(hashes),
               updated_at = clock_timestamp()
         WHERE d.id = job;
        detail := jsonb_build_object('batch_no', batch, 'manifest_profiles', cardinality(ids), 'tables', counts,
                                     'activity', acts, 'segments', segs, 'external_id_hashes', to_jsonb(hashes));
    END IF;
    INSERT INTO segpipe.deletion_audit (job_id, step, detail)
        VALUES (job, CASE WHEN sweep THEN 'sweep' ELSE 'batch' END, detail);
    PERFORM nextval('segpipe.data_version');
    RETURN detail;
END
$$;
COMMENT ON FUNCTION segpipe.delete_profile_batch(uuid, integer, boolean) IS
    'deletes one manifest batch of a gated deletion job (docs/deletion.md); refuses unless the job, its actor and the session qualify';
