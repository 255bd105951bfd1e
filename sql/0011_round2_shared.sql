-- Shared schema of the second round (issues 11-16): the columns and tables several parts of segpipe read and
-- write, defined once so that each part builds on the same names.

-- Refresh outcomes: a refresh that would drop too much of a live audience is `held` (issue 11); a refresh is
-- either a full recompute or incremental, and records how many profiles it evaluated (issue 12).
ALTER TABLE segpipe.segment_refreshes DROP CONSTRAINT segment_refreshes_status_check;
ALTER TABLE segpipe.segment_refreshes
    ADD CONSTRAINT segment_refreshes_status_check
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'skipped', 'cancelled', 'held')),
    ADD COLUMN mode text CHECK (mode IN ('full', 'incremental')),
    ADD COLUMN evaluated bigint;

-- A refresh run at an as_of earlier than the live state, asked for with --rewind (issue 11).
ALTER TABLE segpipe.refresh_runs ADD COLUMN rewind boolean NOT NULL DEFAULT false;

-- Per-segment guard (YAML `guard: {max_drop: F}`, NULL = the default 0.5) and the opt-out from automatic
-- inactivation (YAML `keep_active: true`).
ALTER TABLE segpipe.segments
    ADD COLUMN max_drop double precision CHECK (max_drop >= 0 AND max_drop <= 1),
    ADD COLUMN keep_active boolean NOT NULL DEFAULT false;

-- Lifecycle log: more actions.
ALTER TABLE segpipe.segment_events DROP CONSTRAINT segment_events_action_check;
ALTER TABLE segpipe.segment_events ADD CONSTRAINT segment_events_action_check CHECK (action IN (
    'archived', 'unarchived', 'resumed', 'renamed', 'cloned', 'scheduled', 'schedule_cleared',
    'activated', 'deactivated', 'held', 'drop_accepted', 'rewound', 'pruned'));

-- Definition history: every apply (or clone, rename, delete) that changes a segment's definition keeps the
-- previous one, with the authenticated actor. No foreign key: the history outlives a deleted segment.
CREATE TABLE segpipe.segment_definition_history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    segment_key text        NOT NULL,
    segment_id  bigint,
    version     integer     NOT NULL,
    change      text        NOT NULL CHECK (change IN ('created', 'updated', 'renamed', 'cloned', 'deleted')),
    definition  jsonb       NOT NULL,
    previous    jsonb,
    changed_by  text        NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (segment_key, version)
);
COMMENT ON COLUMN segpipe.segment_definition_history.definition IS
    'the definition after the change: {name, description, rules, guard, keep_active}';
CREATE TRIGGER segment_definition_history_append_only BEFORE UPDATE OR DELETE
    ON segpipe.segment_definition_history FOR EACH ROW EXECUTE FUNCTION segpipe.refuse_change();

-- Who is an admin (issue 11): a superuser, the owner of the segpipe schema, or a member of segpipe_admin.
-- SECURITY DEFINER so that any role may ask; the group role may not exist yet when this runs.
CREATE OR REPLACE FUNCTION segpipe.is_admin(who name) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = who AND rolsuper)
        OR EXISTS (SELECT 1 FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
                   WHERE n.nspname = 'segpipe' AND r.rolname = who)
        OR CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'segpipe_admin')
                 AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = who)
                THEN pg_has_role(who, 'segpipe_admin', 'MEMBER') ELSE false END
$$;

-- Whether an actor holds a permission (the rows of segpipe.grants), readable by any role.
CREATE OR REPLACE FUNCTION segpipe.holds_permission(who text, wanted text) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM segpipe.grants g WHERE g.actor = who AND g.permission = wanted)
$$;
