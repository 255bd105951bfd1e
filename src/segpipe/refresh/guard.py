"""The refresh gates: a live audience never loses too many members silently, and live membership never moves back.

**Count gate** (`RefreshGate.check_drop`). A refresh that would remove more than `max_drop` of a segment's stored
members (`segments.max_drop`, YAML `guard: {max_drop: F}`, NULL = `DEFAULT_MAX_DROP`) while the segment has a
live use (contract §5, `segpipe.lifecycle.usage`) is *held*: the diff is not applied, the refresh row is
`held` with the counts it would have had, a `held` lifecycle event is logged and `RefreshHeld` (exit 3) is raised
for the caller to commit and report. With `accept_drop` the diff is applied and a `drop_accepted` event records
who accepted which counts. A deletion's own refresh (run trigger `deletion`) is never held: the deletion's gates
(confirmation, expected count, quality) already covered it.

**Rewind gate** (`plan_rewinds`, `RefreshGate.load`). A refresh at an `as_of` earlier than a segment's
`last_refresh_as_of` is refused (`GateRefused("rewind")`, exit 3) unless the run was started with `rewind`; a
rewind is recorded (`refresh_runs.rewind`, a `rewound` lifecycle event). The scheduled refresh never rewinds: it
skips such segments (and their dependents) instead.

Both gates run where a computed member set is written (`membership.store_members`), in the refresh's own
transaction, so every path that writes members goes through them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.db import schema as t
from segpipe.errors import GateRefused
from segpipe.live_use import live_segment_reasons
from segpipe.refresh import graph as g
from segpipe.store import runs
from segpipe.store.memberships import new_members
from segpipe.store.objects import list_consumers
from segpipe.store.segments import dependency_keys, log_event

DEFAULT_MAX_DROP = 0.5
"""The share of a live segment's members a refresh may remove without `--accept-drop`."""
EXEMPT_TRIGGERS = frozenset({"deletion"})
"""Runs whose refreshes are never held."""
NEVER_REWIND_TRIGGERS = frozenset({"schedule"})
"""Runs that skip segments they would rewind instead of refusing (the scheduled refresh)."""
SHOWN = 3
"""Segments named in a rewind refusal before `and N more`."""


class RefreshHeld(GateRefused):
    """A refresh held by the count gate; the held row and event are written, the caller commits them."""

    def __init__(self, key: str, reason: str, fields: dict[str, Any], duration_ms: float | None = None) -> None:
        super().__init__("held", f"refresh held: {key} {reason}", details=fields)
        self.key, self.reason, self.fields, self.duration_ms = key, reason, fields, duration_ms


@dataclass(frozen=True)
class DropCounts:
    """What applying a computed member set does to the stored one."""

    stored: int
    member_count: int
    added: int
    removed: int


def exceeds(counts: DropCounts, max_drop: float) -> bool:
    """removed > max_drop × stored, in exact decimal arithmetic (500 of 1,000 at 0.5 is not more)."""
    return Decimal(counts.removed) > Decimal(repr(max_drop)) * counts.stored


def _percent(share: float | Decimal) -> str:
    text = f"{float(share) * 100:.1f}".rstrip("0").rstrip(".")
    return f"{text}%"


def held_reason(counts: DropCounts, max_drop: float) -> str:
    """`would remove 900 of 1,000 members (90% > max_drop 50%); rerun with --accept-drop`."""
    share = Decimal(counts.removed) / Decimal(counts.stored)
    return (
        f"would remove {counts.removed:,} of {counts.stored:,} members ({_percent(share)} > max_drop "
        f"{_percent(max_drop)}); rerun with --accept-drop"
    )


def staged_counts(conn: Connection, segment_id: int, member_count: int) -> DropCounts:
    """Counts of applying the staged `new_members` (one anti-join pass over the stored members)."""
    m = t.memberships
    gone = sa.not_(sa.exists().where(new_members.c.profile_id == m.c.profile_id))
    query = sa.select(sa.func.count(), sa.func.count().filter(gone)).where(m.c.segment_id == segment_id)
    stored, removed = conn.execute(query).one()
    return DropCounts(int(stored), member_count, member_count - (int(stored) - int(removed)), int(removed))


def actor(conn: Connection) -> str:
    """The authenticated actor: the session's database role."""
    return str(conn.execute(sa.select(sa.literal_column("session_user"))).scalar_one())


@dataclass(frozen=True)
class RefreshGate:
    """The gates of one segment's refresh, read in its transaction (`load`)."""

    segment_id: int
    key: str
    as_of: datetime
    max_drop: float
    trigger: str
    rewinds_from: datetime | None
    """The stored as_of this refresh replaces by an earlier one (None: not a rewind)."""
    accept_drop: bool
    refresh_id: int

    @classmethod
    def load(
        cls, conn: Connection, segment_id: int, refresh_id: int, as_of: datetime, accept_drop: bool
    ) -> RefreshGate:
        """The gate for this refresh; refuses (exit 3) a rewind its run was not started to make."""
        s, r, sr = t.segments, t.refresh_runs, t.segment_refreshes
        query = (
            sa.select(s.c.key, s.c.max_drop, s.c.last_refresh_as_of, r.c.trigger, r.c.rewind)
            .select_from(sr.join(r, r.c.id == sr.c.run_id).join(s, s.c.id == sr.c.segment_id))
            .where(sr.c.id == refresh_id, s.c.id == segment_id)
        )
        row = conn.execute(query).one()
        previous = row.last_refresh_as_of
        rewinding = previous is not None and previous > as_of
        if rewinding and not row.rewind:
            raise GateRefused("rewind", rewind_message([(row.key, previous)], as_of))
        max_drop = DEFAULT_MAX_DROP if row.max_drop is None else row.max_drop
        since = previous if rewinding else None
        return cls(segment_id, row.key, as_of, max_drop, row.trigger, since, accept_drop, refresh_id)

    def holds(self, conn: Connection, counts: DropCounts) -> bool:
        """Whether `check_drop` will hold a diff with these counts."""
        return not self.accept_drop and self._gated(conn, counts)

    def _gated(self, conn: Connection, counts: DropCounts) -> bool:
        return self.trigger not in EXEMPT_TRIGGERS and exceeds(counts, self.max_drop) and self._live(conn)

    def check_drop(self, conn: Connection, counts: DropCounts) -> None:
        """Hold (record, raise RefreshHeld) or let through a diff with these counts; see the module doc."""
        if not self._gated(conn, counts):
            return
        detail = {**asdict(counts), "max_drop": self.max_drop, "as_of": self.as_of.isoformat()}
        if self.accept_drop:
            log_event(conn, self.segment_id, "drop_accepted", actor=actor(conn), detail=detail)
            return
        reason = held_reason(counts, self.max_drop)
        fields = {"member_count": counts.member_count, "added": counts.added, "removed": counts.removed}
        duration = runs.record_outcome(conn, self.refresh_id, "held", reason=reason, **fields)
        log_event(conn, self.segment_id, "held", actor=actor(conn), detail={**detail, "reason": reason})
        raise RefreshHeld(self.key, reason, fields, duration)

    def _live(self, conn: Connection) -> bool:
        return self.key in live_segment_reasons(list_consumers(conn), dependency_keys(conn), source="")

    def record_written(self, conn: Connection) -> None:
        """After the members were written: log the rewind, if this was one."""
        if self.rewinds_from is not None:
            detail = {"from": self.rewinds_from.isoformat(), "to": self.as_of.isoformat()}
            log_event(conn, self.segment_id, "rewound", actor=actor(conn), detail=detail)


def rewind_message(rewinds: Iterable[tuple[str, datetime]], as_of: datetime) -> str:
    """`refresh as of T refused: 'de' was refreshed as of T2 (and 2 more); … rerun with --rewind …`."""
    found = sorted(rewinds)
    named = ", ".join(f"'{key}' was refreshed as of {stored.isoformat()}" for key, stored in found[:SHOWN])
    more = f" (and {len(found) - SHOWN} more)" if len(found) > SHOWN else ""
    return (
        f"refresh as of {as_of.isoformat()} refused: {named}{more}; live membership only moves forward (rerun "
        "with --rewind to replace it by the earlier state; `segment members KEY --as-of` evaluates without storing)"
    )


def later_than(stored: Mapping[str, datetime | None], keys: Iterable[str], as_of: datetime) -> dict[str, datetime]:
    """The keys whose stored as_of is later than `as_of`, with it."""
    return {k: when for k in keys if (when := stored.get(k)) is not None and when > as_of}


def plan_rewinds(
    graph: g.Graph, stored: Mapping[str, datetime | None], needed: set[str], as_of: datetime, mode: str
) -> tuple[dict[str, datetime], dict[str, str]]:
    """(segments the run rewinds, segments it must skip → reason) for a run of `needed` at `as_of`.

    mode `allow` rewinds; `refuse` raises GateRefused("rewind"); `skip` skips the segments it would rewind and
    every planned segment that depends on one of them.
    """
    later = later_than(stored, needed, as_of)
    if not later or mode == "allow":
        return later, {}
    if mode == "refuse":
        raise GateRefused("rewind", rewind_message(later.items(), as_of))
    reasons = {key: f"not rewound: live as of {when.isoformat()}" for key, when in later.items()}
    reverse = g.dependents(graph)
    for key in sorted(later):
        for dependent in g.with_dependencies(reverse, [key]) & needed:
            reasons.setdefault(dependent, f"dependency {key} not rewound")
    return {}, reasons


def rewind_mode(rewind: bool, trigger: str) -> str:
    """How a run treats segments it would rewind: the scheduled refresh skips them, whatever it is asked."""
    if trigger in NEVER_REWIND_TRIGGERS:
        return "skip"
    return "allow" if rewind else "refuse"


def live_later_than(conn: Connection, keys: Iterable[str], as_of: datetime) -> dict[str, datetime]:
    """The segments among `keys` and everything they reference whose live state is later than `as_of`."""
    needed = g.with_dependencies(dependency_keys(conn), keys)
    s = t.segments
    query = sa.select(s.c.key, s.c.last_refresh_as_of).where(s.c.key.in_(sorted(needed)))
    return later_than(dict(conn.execute(query).tuples().all()), needed, as_of)
