-- segpipe schema, version 1. Every object lives in the `segpipe` schema; docs/schema.md explains each index.

CREATE SCHEMA IF NOT EXISTS segpipe;

-- Customer data ---------------------------------------------------------------------------------------------

CREATE TABLE segpipe.profiles (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_id  text        NOT NULL,
    email        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    attributes   jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(attributes) = 'object'),
    CONSTRAINT profiles_external_id_key UNIQUE (external_id)
);

CREATE TABLE segpipe.events (
    id           bigint GENERATED ALWAYS AS IDENTITY,
    profile_id   bigint      NOT NULL,
    name         text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    properties   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    event_id     text,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id)
);
CREATE INDEX events_name_time_idx ON segpipe.events (name, occurred_at);
CREATE INDEX events_profile_name_time_idx ON segpipe.events (profile_id, name, occurred_at);

-- Dedupe of client-supplied event ids lives beside the events so that `events` can later be partitioned by
-- time (a unique index on a partitioned table must contain the partition key).
CREATE TABLE segpipe.event_ids (
    event_id     text   PRIMARY KEY,
    profile_id   bigint NOT NULL
);
CREATE INDEX event_ids_profile_idx ON segpipe.event_ids (profile_id);

-- Every subscription record is kept: rules evaluate "the latest record with updated_at <= as_of".
CREATE TABLE segpipe.subscriptions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    profile_id   bigint      NOT NULL,
    channel      text        NOT NULL CHECK (channel IN ('email', 'sms', 'push')),
    status       text        NOT NULL CHECK (status IN ('subscribed', 'unsubscribed')),
    updated_at   timestamptz NOT NULL
);
CREATE INDEX subscriptions_profile_channel_idx ON segpipe.subscriptions (profile_id, channel, updated_at DESC, id DESC);

-- Message activity survives profile deletion: profile_id becomes NULL and anonymized_at is set.
CREATE TABLE segpipe.activity (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    profile_id    bigint,
    campaign      text        NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('sent', 'delivered', 'open', 'click', 'bounce', 'unsubscribe')),
    occurred_at   timestamptz NOT NULL,
    anonymized_at timestamptz,
    CHECK ((profile_id IS NULL) = (anonymized_at IS NOT NULL))
);
CREATE INDEX activity_profile_idx ON segpipe.activity (profile_id) WHERE profile_id IS NOT NULL;
CREATE INDEX activity_campaign_kind_idx ON segpipe.activity (campaign, kind);

-- Segments and their consumers --------------------------------------------------------------------------------

CREATE TABLE segpipe.segments (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key                   text        NOT NULL UNIQUE CHECK (key ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name                  text        NOT NULL,
    description           text,
    rules                 jsonb       NOT NULL,
    status                text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    archived              boolean     NOT NULL DEFAULT false,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    definition_changed_at timestamptz NOT NULL DEFAULT now(),
    last_live_use_at      timestamptz,
    status_changed_at     timestamptz NOT NULL DEFAULT now(),
    status_reason         text,
    member_count          bigint,
    last_refreshed_at     timestamptz,
    last_refresh_as_of    timestamptz,
    refreshed_data_version bigint,
    activate_at           timestamptz,
    deactivate_at         timestamptz,
    CONSTRAINT segments_name_key UNIQUE (name)
);

-- Direct segment-to-segment references ({segment: KEY} leaves), rebuilt on every apply of the referencing segment.
CREATE TABLE segpipe.segment_dependencies (
    segment_id     bigint NOT NULL REFERENCES segpipe.segments (id) ON DELETE CASCADE,
    depends_on_id  bigint NOT NULL REFERENCES segpipe.segments (id),
    PRIMARY KEY (segment_id, depends_on_id)
);
CREATE INDEX segment_dependencies_depends_on_idx ON segpipe.segment_dependencies (depends_on_id);

-- Campaigns, journeys, test lists, messages and reports share one table; `spec` holds the applied document.
CREATE TABLE segpipe.consumers (
    kind        text        NOT NULL CHECK (kind IN ('campaign', 'journey', 'test_list', 'message', 'report')),
    key         text        NOT NULL,
    name        text,
    status      text,
    channel     text,
    spec        jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, key)
);

-- Which segments a consumer references, and in which role (include / exclude / uses).
CREATE TABLE segpipe.consumer_segments (
    consumer_kind  text   NOT NULL,
    consumer_key   text   NOT NULL,
    segment_id     bigint NOT NULL REFERENCES segpipe.segments (id),
    role           text   NOT NULL CHECK (role IN ('include', 'exclude', 'uses')),
    PRIMARY KEY (consumer_kind, consumer_key, segment_id, role),
    FOREIGN KEY (consumer_kind, consumer_key) REFERENCES segpipe.consumers (kind, key) ON DELETE CASCADE
);
CREATE INDEX consumer_segments_segment_idx ON segpipe.consumer_segments (segment_id);

-- Which campaigns / journeys a test list or message is attached to (`used_by`).
CREATE TABLE segpipe.consumer_links (
    consumer_kind  text NOT NULL,
    consumer_key   text NOT NULL,
    target_kind    text NOT NULL CHECK (target_kind IN ('campaign', 'journey')),
    target_key     text NOT NULL,
    PRIMARY KEY (consumer_kind, consumer_key, target_kind, target_key),
    FOREIGN KEY (consumer_kind, consumer_key) REFERENCES segpipe.consumers (kind, key) ON DELETE CASCADE
);

-- Membership and refresh history ------------------------------------------------------------------------------

CREATE TABLE segpipe.memberships (
    segment_id  bigint      NOT NULL REFERENCES segpipe.segments (id) ON DELETE CASCADE,
    profile_id  bigint      NOT NULL,
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (segment_id, profile_id)
);
CREATE INDEX memberships_profile_idx ON segpipe.memberships (profile_id);

CREATE TABLE segpipe.refresh_runs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trigger      text        NOT NULL,
    as_of        timestamptz NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    flow_run_id  text
);

CREATE TABLE segpipe.segment_refreshes (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id        bigint      NOT NULL REFERENCES segpipe.refresh_runs (id),
    segment_id    bigint      NOT NULL REFERENCES segpipe.segments (id) ON DELETE CASCADE,
    status        text        NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'skipped', 'cancelled')),
    member_count  bigint,
    added         bigint,
    removed       bigint,
    started_at    timestamptz,
    finished_at   timestamptz,
    duration_ms   double precision,
    error         text,
    reason        text
);
CREATE INDEX segment_refreshes_segment_idx ON segpipe.segment_refreshes (segment_id, id DESC);
CREATE INDEX segment_refreshes_run_idx ON segpipe.segment_refreshes (run_id);

-- Member-count trend: one point per successful refresh or count correction (e.g. after a profile deletion).
CREATE TABLE segpipe.segment_counts (
    segment_id    bigint      NOT NULL REFERENCES segpipe.segments (id) ON DELETE CASCADE,
    at            timestamptz NOT NULL DEFAULT now(),
    member_count  bigint      NOT NULL,
    source        text        NOT NULL
);
CREATE INDEX segment_counts_segment_idx ON segpipe.segment_counts (segment_id, at);

CREATE TABLE segpipe.segment_status_changes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    segment_id  bigint      NOT NULL REFERENCES segpipe.segments (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    old_status  text,
    new_status  text        NOT NULL,
    reason      text        NOT NULL
);
CREATE INDEX segment_status_changes_segment_idx ON segpipe.segment_status_changes (segment_id, at);

-- Deleted segments leave a tombstone: who and when (the definition itself is gone).
CREATE TABLE segpipe.segment_deletions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key         text        NOT NULL,
    name        text        NOT NULL,
    actor       text,
    deleted_at  timestamptz NOT NULL DEFAULT now()
);

-- Audience snapshots (pre-send) --------------------------------------------------------------------------------

CREATE TABLE segpipe.audience_snapshots (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_key  text        NOT NULL,
    channel       text,
    as_of         timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    member_count  bigint      NOT NULL,
    status        text        NOT NULL CHECK (status IN ('ready', 'refused')),
    checks        jsonb
);
CREATE INDEX audience_snapshots_campaign_idx ON segpipe.audience_snapshots (campaign_key, id DESC);

CREATE TABLE segpipe.snapshot_members (
    snapshot_id  bigint NOT NULL REFERENCES segpipe.audience_snapshots (id),
    profile_id   bigint NOT NULL,
    PRIMARY KEY (snapshot_id, profile_id)
);
CREATE INDEX snapshot_members_profile_idx ON segpipe.snapshot_members (profile_id);

-- Permissions --------------------------------------------------------------------------------------------------

CREATE TABLE segpipe.grants (
    actor       text        NOT NULL,
    permission  text        NOT NULL CHECK (permission IN ('profiles:view', 'profiles:edit', 'segments:edit')),
    granted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor, permission)
);

CREATE TABLE segpipe.grant_audit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    action      text        NOT NULL CHECK (action IN ('grant', 'revoke')),
    actor       text        NOT NULL,
    permission  text        NOT NULL,
    changed_by  text
);

-- Bulk profile deletion ---------------------------------------------------------------------------------------

CREATE TABLE segpipe.deletion_jobs (
    id               uuid        PRIMARY KEY,
    segment_id       bigint      REFERENCES segpipe.segments (id) ON DELETE SET NULL,
    segment_key      text        NOT NULL,
    actor            text        NOT NULL,
    state            text        NOT NULL,
    dry_run          boolean     NOT NULL DEFAULT false,
    expected         bigint,
    matched          bigint,
    deleted_profiles bigint      NOT NULL DEFAULT 0,
    batch_size       integer     NOT NULL,
    options          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);

CREATE TABLE segpipe.deletion_manifest (
    job_id      uuid    NOT NULL REFERENCES segpipe.deletion_jobs (id),
    profile_id  bigint  NOT NULL,
    batch_no    integer NOT NULL,
    deleted     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (job_id, profile_id)
);
CREATE INDEX deletion_manifest_batch_idx ON segpipe.deletion_manifest (job_id, batch_no);

CREATE TABLE segpipe.deletion_audit (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id   uuid        NOT NULL,
    at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    step     text        NOT NULL,
    detail   jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX deletion_audit_job_idx ON segpipe.deletion_audit (job_id, id);

-- Append-only tables refuse UPDATE and DELETE for every role, the application's included.
CREATE FUNCTION segpipe.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'segpipe: % is append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER deletion_audit_append_only BEFORE UPDATE OR DELETE ON segpipe.deletion_audit
    FOR EACH ROW EXECUTE FUNCTION segpipe.refuse_change();
CREATE TRIGGER deletion_audit_no_truncate BEFORE TRUNCATE ON segpipe.deletion_audit
    FOR EACH STATEMENT EXECUTE FUNCTION segpipe.refuse_change();
CREATE TRIGGER grant_audit_append_only BEFORE UPDATE OR DELETE ON segpipe.grant_audit
    FOR EACH ROW EXECUTE FUNCTION segpipe.refuse_change();

-- Bumped (nextval) by every write to customer data (load, identify, track, deletion): a refresh records the value
-- it saw, so a dependency computed at the same as_of with no data change since need not be computed again.
CREATE SEQUENCE segpipe.data_version;

-- Settings kept by segpipe itself (e.g. the salt for hashed external ids in the deletion audit).
CREATE TABLE segpipe.settings (
    name   text PRIMARY KEY,
    value  text NOT NULL
);
