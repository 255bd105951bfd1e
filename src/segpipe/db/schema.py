"""SQLAlchemy Core tables mirroring `sql/`: the only source of identifiers in segpipe's queries."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = sa.MetaData(schema="segpipe")
TS = sa.TIMESTAMP(timezone=True)


def _id() -> sa.Column:
    return sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True)


profiles = sa.Table(
    "profiles",
    metadata,
    _id(),
    sa.Column("external_id", sa.Text, nullable=False, unique=True),
    sa.Column("email", sa.Text),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("attributes", JSONB, nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    _id(),
    sa.Column("profile_id", sa.BigInteger, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("occurred_at", TS, nullable=False),
    sa.Column("properties", JSONB, nullable=False),
    sa.Column("event_id", sa.Text),
    sa.Column("received_at", TS, nullable=False),
)

event_ids = sa.Table(
    "event_ids",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("profile_id", sa.BigInteger, nullable=False),
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    _id(),
    sa.Column("profile_id", sa.BigInteger, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

activity = sa.Table(
    "activity",
    metadata,
    _id(),
    sa.Column("profile_id", sa.BigInteger),
    sa.Column("campaign", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("occurred_at", TS, nullable=False),
    sa.Column("anonymized_at", TS),
    sa.Column("activity_id", sa.Text),
)

segments = sa.Table(
    "segments",
    metadata,
    _id(),
    sa.Column("key", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("rules", JSONB, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("archived", sa.Boolean, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("definition_changed_at", TS, nullable=False),
    sa.Column("last_live_use_at", TS),
    sa.Column("status_changed_at", TS, nullable=False),
    sa.Column("status_reason", sa.Text),
    sa.Column("member_count", sa.BigInteger),
    sa.Column("last_refreshed_at", TS),
    sa.Column("last_refresh_as_of", TS),
    sa.Column("refreshed_data_version", sa.BigInteger),
    sa.Column("activate_at", TS),
    sa.Column("deactivate_at", TS),
    sa.Column("max_drop", sa.Float),
    sa.Column("keep_active", sa.Boolean, nullable=False, server_default=sa.false()),
)

segment_dependencies = sa.Table(
    "segment_dependencies",
    metadata,
    sa.Column("segment_id", sa.BigInteger, sa.ForeignKey("segments.id"), primary_key=True),
    sa.Column("depends_on_id", sa.BigInteger, sa.ForeignKey("segments.id"), primary_key=True),
)

consumers = sa.Table(
    "consumers",
    metadata,
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("name", sa.Text),
    sa.Column("status", sa.Text),
    sa.Column("channel", sa.Text),
    sa.Column("spec", JSONB, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

consumer_segments = sa.Table(
    "consumer_segments",
    metadata,
    sa.Column("consumer_kind", sa.Text, primary_key=True),
    sa.Column("consumer_key", sa.Text, primary_key=True),
    sa.Column("segment_id", sa.BigInteger, sa.ForeignKey("segments.id"), primary_key=True),
    sa.Column("role", sa.Text, primary_key=True),
)

consumer_links = sa.Table(
    "consumer_links",
    metadata,
    sa.Column("consumer_kind", sa.Text, primary_key=True),
    sa.Column("consumer_key", sa.Text, primary_key=True),
    sa.Column("target_kind", sa.Text, primary_key=True),
    sa.Column("target_key", sa.Text, primary_key=True),
)

memberships = sa.Table(
    "memberships",
    metadata,
    # No foreign key to segments (sql/0009): written under the segment's refresh lock, deleted with it.
    sa.Column("segment_id", sa.BigInteger, primary_key=True),
    sa.Column("profile_id", sa.BigInteger, primary_key=True),
    sa.Column("added_at", TS, nullable=False),
)

refresh_runs = sa.Table(
    "refresh_runs",
    metadata,
    _id(),
    sa.Column("trigger", sa.Text, nullable=False),
    sa.Column("as_of", TS, nullable=False),
    sa.Column("started_at", TS, nullable=False),
    sa.Column("finished_at", TS),
    sa.Column("flow_run_id", sa.Text),
    sa.Column("rewind", sa.Boolean, nullable=False, server_default=sa.false()),
)

segment_refreshes = sa.Table(
    "segment_refreshes",
    metadata,
    _id(),
    sa.Column("run_id", sa.BigInteger, sa.ForeignKey("refresh_runs.id"), nullable=False),
    sa.Column("segment_id", sa.BigInteger, sa.ForeignKey("segments.id"), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("member_count", sa.BigInteger),
    sa.Column("added", sa.BigInteger),
    sa.Column("removed", sa.BigInteger),
    sa.Column("started_at", TS),
    sa.Column("finished_at", TS),
    sa.Column("duration_ms", sa.Float),
    sa.Column("error", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("mode", sa.Text),
    sa.Column("evaluated", sa.BigInteger),
)

segment_counts = sa.Table(
    "segment_counts",
    metadata,
    sa.Column("segment_id", sa.BigInteger, sa.ForeignKey("segments.id"), nullable=False),
    sa.Column("at", TS, nullable=False),
    sa.Column("member_count", sa.BigInteger, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
)

segment_status_changes = sa.Table(
    "segment_status_changes",
    metadata,
    _id(),
    sa.Column("segment_id", sa.BigInteger, sa.ForeignKey("segments.id"), nullable=False),
    sa.Column("at", TS, nullable=False),
    sa.Column("old_status", sa.Text),
    sa.Column("new_status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
)

segment_deletions = sa.Table(
    "segment_deletions",
    metadata,
    _id(),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("actor", sa.Text),
    sa.Column("deleted_at", TS, nullable=False),
    sa.Column("reason", sa.Text),
)

segment_events = sa.Table(
    "segment_events",
    metadata,
    _id(),
    sa.Column("segment_id", sa.BigInteger, sa.ForeignKey("segments.id"), nullable=False),
    sa.Column("at", TS, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("actor", sa.Text),
    sa.Column("detail", JSONB, nullable=False),
)

audience_snapshots = sa.Table(
    "audience_snapshots",
    metadata,
    _id(),
    sa.Column("campaign_key", sa.Text, nullable=False),
    sa.Column("channel", sa.Text),
    sa.Column("as_of", TS, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("member_count", sa.BigInteger, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("checks", JSONB),
    # 0008_flows.sql
    sa.Column("refresh_run_id", sa.BigInteger),
    sa.Column("flow_run_id", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("finished_at", TS),
)

snapshot_members = sa.Table(
    "snapshot_members",
    metadata,
    sa.Column("snapshot_id", sa.BigInteger, sa.ForeignKey("audience_snapshots.id"), primary_key=True),
    sa.Column("profile_id", sa.BigInteger, primary_key=True),
)

grants = sa.Table(
    "grants",
    metadata,
    sa.Column("actor", sa.Text, primary_key=True),
    sa.Column("permission", sa.Text, primary_key=True),
    sa.Column("granted_at", TS, nullable=False),
)

grant_audit = sa.Table(
    "grant_audit",
    metadata,
    _id(),
    sa.Column("at", TS, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("permission", sa.Text, nullable=False),
    sa.Column("changed_by", sa.Text),
    sa.Column("on_behalf_of", sa.Text),
)

security_audit = sa.Table(
    "security_audit",
    metadata,
    _id(),
    sa.Column("at", TS, nullable=False),
    sa.Column("session_role", sa.Text, nullable=False),
    sa.Column("claimed_actor", sa.Text),
    sa.Column("gate", sa.Text, nullable=False),
    sa.Column("command", sa.Text, nullable=False),
    sa.Column("detail", JSONB, nullable=False),
)

deletion_jobs = sa.Table(
    "deletion_jobs",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("segment_id", sa.BigInteger, sa.ForeignKey("segments.id")),
    sa.Column("segment_key", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("dry_run", sa.Boolean, nullable=False),
    sa.Column("expected", sa.BigInteger),
    sa.Column("matched", sa.BigInteger),
    sa.Column("deleted_profiles", sa.BigInteger, nullable=False),
    sa.Column("batch_size", sa.Integer, nullable=False),
    sa.Column("options", JSONB, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("finished_at", TS),
    # 0007_deletion.sql
    sa.Column("segment_name", sa.Text),
    sa.Column("segment_rules", JSONB),
    sa.Column("confirmed_at", TS),
    sa.Column("refresh_run_id", sa.BigInteger),
    sa.Column("batches", sa.Integer),
    sa.Column("manifest_digest", sa.Text),
    sa.Column("gate", JSONB),
    sa.Column("activity_baseline", JSONB),
    sa.Column("error", sa.Text),
    # 0013_deletion_jobs.sql
    sa.Column("execute_after", TS),
    sa.Column("flow_run_id", sa.Text),
    sa.Column("session_role", sa.Text, nullable=False, server_default=sa.text("session_user")),
)

deletion_manifest = sa.Table(
    "deletion_manifest",
    metadata,
    sa.Column("job_id", UUID(as_uuid=True), sa.ForeignKey("deletion_jobs.id"), primary_key=True),
    sa.Column("profile_id", sa.BigInteger, primary_key=True),
    sa.Column("batch_no", sa.Integer, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False),
)

deletion_audit = sa.Table(
    "deletion_audit",
    metadata,
    _id(),
    sa.Column("job_id", UUID(as_uuid=True), nullable=False),
    sa.Column("at", TS, nullable=False),
    sa.Column("step", sa.Text, nullable=False),
    sa.Column("detail", JSONB, nullable=False),
)

data_version = sa.Sequence("data_version", metadata=metadata)

settings = sa.Table(
    "settings",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

segment_definition_history = sa.Table(
    "segment_definition_history",
    metadata,
    _id(),
    sa.Column("segment_key", sa.Text, nullable=False),
    sa.Column("segment_id", sa.BigInteger),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("change", sa.Text, nullable=False),
    sa.Column("definition", JSONB, nullable=False),
    sa.Column("previous", JSONB),
    sa.Column("changed_by", sa.Text, nullable=False),
    sa.Column("changed_at", TS, nullable=False, server_default=sa.func.now()),
)

consumer_deletions = sa.Table(
    "consumer_deletions",
    metadata,
    _id(),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("name", sa.Text),
    sa.Column("status", sa.Text),
    sa.Column("spec", JSONB, nullable=False),
    sa.Column("actor", sa.Text),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("deleted_at", TS, nullable=False, server_default=sa.func.now()),
)

loaded_contents = sa.Table(
    "loaded_contents",
    metadata,
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("sha256", sa.Text, primary_key=True),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("loaded_at", TS, nullable=False, server_default=sa.func.now()),
    sa.Column("loaded_by", sa.Text, nullable=False, server_default=sa.text("session_user")),
)

# Incremental refresh (sql/0016_incremental_refresh.sql). `xid8` and `pg_snapshot` values are only produced and
# compared by Postgres functions, never bound, hence NullType.
profile_changes = sa.Table(
    "profile_changes",
    metadata,
    sa.Column("xid", sa.types.NullType, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("profile_id", sa.BigInteger),
)

member_changes = sa.Table(
    "member_changes",
    metadata,
    sa.Column("xid", sa.types.NullType, nullable=False),
    sa.Column("segment_id", sa.BigInteger, nullable=False),
    sa.Column("profile_id", sa.BigInteger),
)

incremental_state = sa.Table(
    "incremental_state",
    metadata,
    sa.Column("segment_id", sa.BigInteger, primary_key=True),
    sa.Column("snapshot", sa.types.NullType, nullable=False),
    sa.Column("as_of", TS, nullable=False),
    sa.Column("rules", JSONB, nullable=False),
    sa.Column("refreshed_at", TS, nullable=False),
)

change_log_horizon = sa.Table(
    "change_log_horizon",
    metadata,
    sa.Column("one", sa.Boolean, primary_key=True),
    sa.Column("below", sa.types.NullType, nullable=False),
)
