"""A segment's history: its definition changes (segment_definition_history, with who and a diff) and its refresh
runs (segment_refreshes joined to refresh_runs).

Every change of a segment's definition (apply, clone, rename, delete) appends one row with the definition after
the change and the one before, and the actor the command ran as. Rows are keyed by the segment's key, so the
history of a deleted segment outlives it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Connection

from segpipe.db import schema as t
from segpipe.store.segments import SegmentRow

_h = t.segment_definition_history
DEFINITION_FIELDS = ("name", "description", "rules", "guard", "keep_active")


def definition_of(values: dict[str, Any]) -> dict[str, Any]:
    """The definition as history keeps it, from segment values (a row's or apply's: name, description, rules,
    keep_active, max_drop): `{name, description, rules, guard, keep_active}`."""
    max_drop = values.get("max_drop")
    return {
        "name": values.get("name"),
        "description": values.get("description"),
        "rules": values.get("rules"),
        "guard": {"max_drop": max_drop} if max_drop is not None else None,
        "keep_active": bool(values.get("keep_active", False)),
    }


def row_definition(segment: SegmentRow) -> dict[str, Any]:
    return definition_of(
        {
            "name": segment.name,
            "description": segment.description,
            "rules": segment.rules,
            "keep_active": segment.keep_active,
            "max_drop": segment.max_drop,
        }
    )


def record_definition(
    conn: Connection,
    key: str,
    change: str,
    definition: dict[str, Any],
    previous: dict[str, Any] | None,
    actor: str | None,
) -> None:
    """Append a definition change (`created`, `updated`, `renamed`, `cloned`, `deleted`) as the key's next version.

    Without an actor, the database session's role is recorded. The caller holds the apply lock, which serializes
    every writer of definitions.
    """
    segment_id = sa.select(t.segments.c.id).where(t.segments.c.key == key).scalar_subquery()
    version = sa.select(sa.func.coalesce(sa.func.max(_h.c.version), 0) + 1).where(_h.c.segment_key == key)
    conn.execute(
        sa.insert(_h).values(
            segment_key=key,
            segment_id=segment_id,
            version=version.scalar_subquery(),
            change=change,
            definition=definition,
            previous=previous,
            changed_by=actor if actor else sa.literal_column("session_user"),
        )
    )


_KEY_ORDER = {
    key: i
    for i, key in enumerate(
        ("all", "any", "not", "attribute", "event", "subscription", "segment", "where", "within", "aggregate",
         "property", "op", "value", "status", "days", "hours", "minutes")
    )
}  # fmt: skip


def _ordered(value: Any) -> Any:
    """Rule keys in one reading order (jsonb gives them back in its own), so that diffs show only real changes."""
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (_KEY_ORDER.get(k, len(_KEY_ORDER)), k))
        return {k: _ordered(value[k]) for k in keys}
    if isinstance(value, list):
        return [_ordered(item) for item in value]
    return value


def to_yaml(definition: dict[str, Any] | None) -> str:
    """A definition as the YAML a person would write (fields in document order, unset ones left out)."""
    if definition is None:
        return ""
    shown = {name: definition[name] for name in DEFINITION_FIELDS if definition.get(name) not in (None, False)}
    return yaml.safe_dump(_ordered(shown), sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


def definition_diff(
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    label: str,
    before_name: str = "before",
    after_name: str = "after",
) -> str:
    """A unified diff of two definitions' YAML text (empty when they read the same)."""
    lines = difflib.unified_diff(
        to_yaml(before).splitlines(keepends=True),
        to_yaml(after).splitlines(keepends=True),
        fromfile=f"{label} ({before_name})",
        tofile=f"{label} ({after_name})",
    )
    return "".join(lines)


@dataclass(frozen=True)
class DefinitionChange:
    version: int
    change: str
    changed_at: datetime
    changed_by: str
    definition: dict[str, Any]
    previous: dict[str, Any] | None
    diff: str

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "change": self.change,
            "changed_at": self.changed_at,
            "changed_by": self.changed_by,
            "definition": self.definition,
            "previous": self.previous,
            "diff": self.diff,
        }


def definition_changes(conn: Connection, key: str, limit: int | None = None) -> list[DefinitionChange]:
    """The key's definition changes, newest first."""
    query = sa.select(_h).where(_h.c.segment_key == key).order_by(_h.c.version.desc()).limit(limit)
    changes = []
    for row in conn.execute(query):
        diff = definition_diff(row.previous, None if row.change == "deleted" else row.definition, key)
        changes.append(
            DefinitionChange(
                row.version, row.change, row.changed_at, row.changed_by, row.definition, row.previous, diff
            )
        )
    return changes


def refresh_history(conn: Connection, segment_id: int, limit: int | None = None) -> list[dict[str, Any]]:
    """The segment's refreshes, newest first: run, as_of, trigger, status, counts, duration, mode, flow run, and
    whether the run was a rewind (issue 11.5: a rewind is recorded in the run)."""
    r, run = t.segment_refreshes, t.refresh_runs
    query = (
        sa.select(
            run.c.id.label("run_id"),
            run.c.as_of,
            run.c.trigger,
            r.c.status,
            r.c.member_count,
            r.c.added,
            r.c.removed,
            r.c.duration_ms,
            r.c.mode,
            r.c.evaluated,
            run.c.flow_run_id,
            run.c.rewind,
            r.c.started_at,
            r.c.finished_at,
            r.c.reason,
            r.c.error,
        )
        .join(run, run.c.id == r.c.run_id)
        .where(r.c.segment_id == segment_id)
        .order_by(run.c.started_at.desc(), r.c.id.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(query)]
