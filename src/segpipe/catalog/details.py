"""What `/segments/{key}` shows: definition, status and schedule, last runs, usage both ways, trend, definition
history and (only when the catalog shows members) the first members.

Every query reads one segment's rows through an index (segment_refreshes (segment_id, id DESC), segment_counts
(segment_id, at), segment_definition_history (segment_key, version)); usage comes from `lifecycle.usage`, which
reads the small object tables. Events and memberships are never read, except the member preview: an index range
scan of the first `MEMBER_PREVIEW` members, only when the catalog was started with --show-members.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Connection

from segpipe.catalog.rule_tree import RuleNode, rule_tree
from segpipe.db import schema as t
from segpipe.lifecycle.usage import UsageIndex, Use, consumer_usage, load_usage
from segpipe.refresh.locks import refresh_in_progress
from segpipe.rules.display import display_order
from segpipe.store.segments import SegmentRow, require_segment

RUNS = 20
HISTORY = 50
MEMBER_PREVIEW = 100
_r, _runs = t.segment_refreshes, t.refresh_runs


@dataclass(frozen=True)
class RunRow:
    run_id: int
    trigger: str
    as_of: datetime
    flow_run_id: str | None
    status: str
    mode: str | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None
    member_count: int | None
    added: int | None
    removed: int | None
    note: str | None


@dataclass(frozen=True)
class SegmentPage:
    segment: SegmentRow
    status: str
    """active, inactive, archived or held (as in the index)."""
    definition_yaml: str
    rules: RuleNode
    live_reason: str | None
    used_by: list[Use]
    uses: list[dict[str, Any]]
    """The segments this one references, transitively, nearest first (`segment usage --of segment:KEY`)."""
    names: dict[str, str]
    """segment key → name, for the usage tables."""
    runs: list[RunRow]
    history: list[dict[str, Any]]
    refresh_running: bool
    members: list[tuple[str, str | None]] | None


def segment_page(
    conn: Connection, key: str, show_members: bool = False, index: UsageIndex | None = None
) -> SegmentPage:
    """The page's data (`index`: the usage to use, default read now); an unknown key is NotFound (the 404 page)."""
    segment = require_segment(conn, key)
    index = index or load_usage(conn)
    runs = last_runs(conn, segment.id)
    held = bool(runs) and runs[0].status == "held" and not segment.archived
    return SegmentPage(
        segment=segment,
        status="archived" if segment.archived else "held" if held else segment.status,
        definition_yaml=definition_yaml(segment),
        rules=rule_tree(segment.rules),
        live_reason=index.live_reasons.get(key),
        used_by=index.uses_of(key),
        uses=consumer_usage(index, "segment", key)["segments"],
        names={k: s.name for k, s in index.segments.items()},
        runs=runs,
        history=definition_history(conn, key),
        refresh_running=refresh_in_progress(conn, key),
        members=first_members(conn, segment.id) if show_members else None,
    )


def definition_yaml(segment: SegmentRow) -> str:
    """The segment as a document `segpipe apply` takes (rules in reading order)."""
    document: dict[str, Any] = {"kind": "Segment", "key": segment.key, "name": segment.name}
    if segment.description:
        document["description"] = segment.description
    document["rules"] = display_order(segment.rules)
    if segment.max_drop is not None:
        document["guard"] = {"max_drop": segment.max_drop}
    if segment.keep_active:
        document["keep_active"] = True
    return to_yaml(document)


def to_yaml(document: Any) -> str:
    """YAML as `segment show` prints it, with libyaml's emitter when PyYAML has it (several times faster)."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(document, Dumper=dumper, sort_keys=False, allow_unicode=True, width=100)


def last_runs(conn: Connection, segment_id: int, limit: int = RUNS) -> list[RunRow]:
    """The segment's latest refresh rows, newest first, with their run's trigger, as-of and Prefect flow run."""
    query = (
        sa.select(
            _r.c.run_id, _runs.c.trigger, _runs.c.as_of, _runs.c.flow_run_id, _r.c.status, _r.c.mode,
            _r.c.started_at, _r.c.finished_at, _r.c.duration_ms, _r.c.member_count, _r.c.added, _r.c.removed,
            sa.func.coalesce(_r.c.error, _r.c.reason),
        )
        .join(_runs, _runs.c.id == _r.c.run_id)
        .where(_r.c.segment_id == segment_id)
        .order_by(_r.c.id.desc())
        .limit(limit)
    )  # fmt: skip
    return [RunRow(*row) for row in conn.execute(query)]


def definition_history(conn: Connection, key: str, limit: int = HISTORY) -> list[dict[str, Any]]:
    """The rows of segment_definition_history for this key, newest first; each definition as YAML."""
    h = t.segment_definition_history
    query = (
        sa.select(h.c.version, h.c.change, h.c.changed_by, h.c.changed_at, h.c.definition)
        .where(h.c.segment_key == key)
        .order_by(h.c.version.desc())
        .limit(limit)
    )
    return [{**row._mapping, "yaml": to_yaml(display_order(row.definition))} for row in conn.execute(query)]


def first_members(conn: Connection, segment_id: int, limit: int = MEMBER_PREVIEW) -> list[tuple[str, str | None]]:
    """(external id, email) of the first stored members by internal id: an index range scan, cheap at any size."""
    m, p = t.memberships, t.profiles
    first = sa.select(m.c.profile_id).where(m.c.segment_id == segment_id).order_by(m.c.profile_id).limit(limit)
    sub = first.subquery()
    query = sa.select(p.c.external_id, p.c.email).join(sub, sub.c.profile_id == p.c.id).order_by(p.c.id)
    return [(external_id, email) for external_id, email in conn.execute(query)]
