"""Pre-send refresh: a campaign's audience as an immutable, quality-checked snapshot (contract §3).

audience = union(include) − union(exclude) − profiles unsubscribed on the campaign's channel as of `as_of`,
computed in one INSERT ... SELECT from the memberships the refresh just stored. The audience is the rules
compiler's answer to `{all: [{any: include}, {not: {any: exclude}}, {not: {subscription: CHANNEL, status:
unsubscribed}}]}`, so "unsubscribed" means exactly what the subscription leaf means (latest record with
`updated_at ≤ as_of`; no record = subscribed).

Steps, shaped for an orchestrator: `load_campaign` → `require_sendable` → `plan_presend` → refresh the
campaign's segments (the refresh engine) → `require_refreshed` → `write_snapshot` (status `pending`, committed)
→ `check_snapshot` (Great Expectations, on its own connection) → `finish_snapshot` (`ready`, or `refused` and
GateRefused, exit 3). `presend` runs them in order.

Live membership only moves forward (`guard`): when `as_of` is earlier than the live state of a segment the
audience reads (or of one those reference), `plan_presend` says *evaluate*: no refresh, and the snapshot is
computed from the rules evaluated at `as_of` (`asof`) instead of the stored memberships. The snapshot records its
as_of (and no refresh run); live membership is left alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from segpipe.db import schema as t
from segpipe.db.engine import BULK_SETTINGS, set_local
from segpipe.defaults import DEFAULT_MAX_CHANGE
from segpipe.errors import GateRefused, InvalidInput, NotFound, SegpipeError
from segpipe.progress import Progress
from segpipe.quality import Check, ColumnUnique, NoRows, QualityReport, RowCount, run_checks, warm_up
from segpipe.quality.report import describe_failure
from segpipe.refresh.asof import as_of_resolver, database_now
from segpipe.refresh.engine import RefreshRunResult, refresh
from segpipe.refresh.guard import live_later_than
from segpipe.refresh.locks import segment_lock
from segpipe.store import memberships
from segpipe.store.objects import list_consumers
from segpipe.store.segments import get_segment

REFUSED_STATUSES = ("sent", "cancelled")
"""A snapshot of a campaign that was sent or cancelled could only be used to send it again: refused (exit 3)."""

_snap, _members = t.audience_snapshots, t.snapshot_members
# The audience query joins every member set to `profiles`: hash joins that spill with the default work_mem, as the
# refresh engine's member computation does (BENCHMARKS.md, "Refresh").


@dataclass(frozen=True)
class Campaign:
    key: str
    status: str | None
    channel: str | None
    include: tuple[str, ...]
    exclude: tuple[str, ...]

    @property
    def segment_keys(self) -> list[str]:
        return sorted({*self.include, *self.exclude})


@dataclass(frozen=True)
class Snapshot:
    id: int
    campaign_key: str
    as_of: datetime
    member_count: int
    previous_id: int | None
    previous_count: int | None
    """The latest earlier `ready` snapshot of the campaign (None: this is the first)."""


@dataclass(frozen=True)
class PresendResult:
    campaign: str
    snapshot_id: int
    count: int
    status: str
    as_of: datetime
    previous_snapshot_id: int | None
    previous_count: int | None
    refresh_run_id: int | None
    checks: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The `--json` shape: contract §6 fields first (`campaign, snapshot_id, count`)."""
        return {
            "campaign": self.campaign,
            "snapshot_id": self.snapshot_id,
            "count": self.count,
            "status": self.status,
            "as_of": self.as_of,
            "previous_snapshot_id": self.previous_snapshot_id,
            "previous_count": self.previous_count,
            "refresh_run_id": self.refresh_run_id,
            "checks": self.checks.get("checks", []),
        }


def check_options(max_change: float) -> None:
    if not math.isfinite(max_change) or max_change < 0:
        raise InvalidInput(f"must be a number ≥ 0 (a share: 0.5 = ±50%), got {max_change}", where="--max-change")


def load_campaign(conn: Connection, key: str) -> Campaign:
    """The campaign and its include / exclude segment keys; NotFound (exit 2) for an unknown key."""
    found = [c for c in list_consumers(conn, [key]) if c.kind == "campaign" and c.key == key]
    if not found:
        raise NotFound(f"unknown campaign '{key}'")
    row = found[0]
    include = tuple(sorted(k for k, role in row.segments if role == "include"))
    exclude = tuple(sorted(k for k, role in row.segments if role == "exclude"))
    return Campaign(row.key, row.status, row.channel, include, exclude)


def require_sendable(campaign: Campaign) -> None:
    if campaign.status in REFUSED_STATUSES:
        raise GateRefused(
            "campaign-status",
            f"campaign '{campaign.key}' is {campaign.status}: no pre-send snapshot for a campaign that will not send",
        )


@dataclass(frozen=True)
class PresendPlan:
    as_of: datetime
    evaluate: bool
    """True: `as_of` is earlier than live state; evaluate the audience there, refresh and store nothing."""


def plan_presend(conn: Connection, campaign: Campaign, as_of: datetime | None) -> PresendPlan:
    """The pre-send's as_of (default: the database's clock now) and whether it is an as-of evaluation."""
    at = as_of if as_of is not None else database_now(conn)
    return PresendPlan(at, bool(live_later_than(conn, campaign.segment_keys, at)))


def require_refreshed(campaign: Campaign, run: RefreshRunResult) -> None:
    """Every segment the audience reads must have been refreshed in `run`; else no snapshot is written: exit 3
    when the count gate held one (`refresh KEY --accept-drop` publishes it), else exit 1."""
    bad = [f"{s.key} ({s.status}: {s.error or s.reason})" for s in run.segments if s.status != "succeeded"]
    if not bad:
        return
    message = f"campaign '{campaign.key}': the pre-send refresh failed for {', '.join(bad)}; no snapshot"
    if run.held and not run.failed:
        raise GateRefused("held", f"campaign '{campaign.key}': {run.held_message()}; no snapshot")
    raise SegpipeError(message)


def audience_rules(campaign: Campaign) -> dict[str, Any] | None:
    """The audience as a rule tree (None when nothing is included: the audience is empty)."""
    if not campaign.include:
        return None
    parts: list[dict[str, Any]] = [{"any": [{"segment": k} for k in campaign.include]}]
    if campaign.exclude:
        parts.append({"not": {"any": [{"segment": k} for k in campaign.exclude]}})
    if campaign.channel:
        parts.append({"not": {"subscription": campaign.channel, "status": "unsubscribed"}})
    return {"all": parts}


def audience_query(conn: Connection, campaign: Campaign, as_of: datetime, evaluate: bool = False) -> sa.Select[Any]:
    """A SELECT of `profile_id`: the audience over the segments' stored memberships (`evaluate`: over their
    rules evaluated at `as_of`, see `asof`)."""
    from segpipe.rules import compile_members, parse_rules

    rules = audience_rules(campaign)
    if rules is None:
        return sa.select(t.profiles.c.id.label("profile_id")).where(sa.false())

    def stored(key: str) -> sa.Select[Any]:
        segment = get_segment(conn, key)
        if segment is None:
            raise SegpipeError(f"campaign '{campaign.key}' references unknown segment '{key}'")
        return memberships.members_of(segment.id)

    resolve = as_of_resolver(conn, as_of) if evaluate else stored
    return compile_members(parse_rules(rules, f"campaign '{campaign.key}' audience"), as_of, resolve, mode="set")


@contextmanager
def _segments_locked(conn: Connection, keys: list[str]) -> Iterator[None]:
    """Hold the refresh locks of `keys` (sorted: no deadlock between two pre-sends) so no refresh moves them."""
    with ExitStack() as stack:
        for key in keys:
            stack.enter_context(segment_lock(conn, key))
        yield


def write_snapshot(
    engine: Engine,
    campaign: Campaign,
    as_of: datetime,
    *,
    refresh_run_id: int | None = None,
    flow_run_id: str | None = None,
    evaluate: bool = False,
) -> Snapshot:
    """Compute the audience into a new `pending` snapshot, set-based, and commit it (the checks read it next).

    Runs under the segments' refresh locks, and refuses (exit 3) when one of them was refreshed for another
    as_of meanwhile: the snapshot reads memberships of the pre-send refresh only. With `evaluate` (an as_of
    earlier than live state) it reads no memberships: the rules are evaluated at `as_of`.
    """
    with engine.connect() as conn, _segments_locked(conn, [] if evaluate else campaign.segment_keys):
        if not evaluate:
            _require_as_of(conn, campaign, as_of)
        set_local(conn, BULK_SETTINGS)
        values = {"campaign_key": campaign.key, "channel": campaign.channel, "as_of": as_of, "member_count": 0}
        values |= {"status": "pending", "refresh_run_id": refresh_run_id, "flow_run_id": flow_run_id}
        snapshot_id = conn.execute(sa.insert(_snap).values(values).returning(_snap.c.id)).scalar_one()
        audience = audience_query(conn, campaign, as_of, evaluate).subquery("audience")
        rows = sa.select(sa.literal(snapshot_id, sa.BigInteger), audience.c.profile_id)
        added = sa.insert(_members).from_select(["snapshot_id", "profile_id"], rows).returning(_members.c.profile_id)
        count = conn.execute(sa.select(sa.func.count()).select_from(added.cte("added"))).scalar_one()
        conn.execute(sa.update(_snap).where(_snap.c.id == snapshot_id).values(member_count=count))
        previous = _previous_ready(conn, campaign.key, snapshot_id)
        conn.commit()
    return Snapshot(snapshot_id, campaign.key, as_of, count, *(previous or (None, None)))


def _require_as_of(conn: Connection, campaign: Campaign, as_of: datetime) -> None:
    s = t.segments
    query = sa.select(s.c.key).where(
        s.c.key.in_(campaign.segment_keys), s.c.last_refresh_as_of.is_distinct_from(sa.literal(as_of, t.TS))
    )
    moved = list(conn.execute(query).scalars())
    if moved:
        raise GateRefused(
            "refresh-in-progress",
            f"campaign '{campaign.key}': segment '{moved[0]}' was refreshed for another time during the pre-send "
            "refresh; run presend again",
        )


def _previous_ready(conn: Connection, campaign_key: str, before_id: int) -> tuple[int, int] | None:
    query = (
        sa.select(_snap.c.id, _snap.c.member_count)
        .where(_snap.c.campaign_key == campaign_key, _snap.c.status == "ready", _snap.c.id < before_id)
        .order_by(_snap.c.id.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    return (row.id, row.member_count) if row else None


def change_bounds(previous: int, max_change: float) -> tuple[int, int]:
    """The counts within ±max_change of `previous`, inclusive (exact decimal arithmetic, no float edge)."""
    share = Decimal(repr(max_change))
    low = max(math.ceil(previous * (1 - share)), 0)
    return low, math.floor(previous * (1 + share))


def snapshot_checks(snapshot: Snapshot, allow_empty: bool, max_change: float) -> list[Check]:
    """The expectations on a committed snapshot: not empty, change against the previous one, ids sound."""
    members = sa.select(_members.c.profile_id).where(_members.c.snapshot_id == snapshot.id)
    empty_text = "the audience is not empty" + (" (--allow-empty: a warning only)" if allow_empty else "")
    checks: list[Check] = [
        RowCount(name="not_empty", query=members, min_value=1, description=empty_text, blocking=not allow_empty)
    ]
    if snapshot.previous_count:
        low, high = change_bounds(snapshot.previous_count, max_change)
        text = (
            f"within ±{max_change:.0%} of the previous ready snapshot {snapshot.previous_id} "
            f"({snapshot.previous_count} profiles; --max-change)"
        )
        checks.append(RowCount(name="change", query=members, min_value=low, max_value=high, description=text))
    missing = members.where(~sa.exists().where(t.profiles.c.id == _members.c.profile_id))
    checks += [
        ColumnUnique(name="ids_unique", query=members, column="profile_id", description="profile ids are unique"),
        NoRows(name="ids_exist", query=missing, description="every profile id is an existing profile"),
    ]
    return checks


def check_snapshot(engine: Engine, snapshot: Snapshot, allow_empty: bool, max_change: float) -> QualityReport:
    """Run the snapshot's expectations with Great Expectations (they read committed rows)."""
    checks = snapshot_checks(snapshot, allow_empty, max_change)
    return run_checks(engine, checks, name=f"presend-{snapshot.id}")


def finish_snapshot(engine: Engine, snapshot: Snapshot, report: QualityReport) -> PresendResult:
    """Mark the snapshot `ready`, or `refused` and raise GateRefused("quality") (exit 3); it never changes again."""
    reason = None if report.success else "; ".join(describe_failure(c) for c in report.failed)
    status = "ready" if report.success else "refused"
    with engine.begin() as conn:
        conn.execute(
            sa.update(_snap)
            .where(_snap.c.id == snapshot.id)
            .values(status=status, checks=report.to_json(), reason=reason, finished_at=sa.func.clock_timestamp())
        )
        run_id = conn.execute(sa.select(_snap.c.refresh_run_id).where(_snap.c.id == snapshot.id)).scalar()
    if reason is not None:
        details = {"snapshot_id": snapshot.id, "count": snapshot.member_count, "report": report.to_json()}
        message = f"campaign '{snapshot.campaign_key}': audience snapshot {snapshot.id} refused by the quality gate"
        raise GateRefused("quality", f"{message}: {reason}", details=details)
    return PresendResult(
        snapshot.campaign_key,
        snapshot.id,
        snapshot.member_count,
        status,
        snapshot.as_of,
        snapshot.previous_id,
        snapshot.previous_count,
        run_id,
        report.to_json(),
    )


def presend(
    engine: Engine,
    campaign_key: str,
    as_of: datetime | None = None,
    *,
    allow_empty: bool = False,
    max_change: float = DEFAULT_MAX_CHANGE,
    progress: Progress | None = None,
) -> PresendResult:
    """The whole pre-send refresh in this process: refresh, snapshot, check, finish (see the module doc)."""
    check_options(max_change)
    with engine.begin() as conn:
        campaign = load_campaign(conn, campaign_key)
        require_sendable(campaign)
        plan = plan_presend(conn, campaign, as_of)
    warm_up()
    if plan.evaluate:
        snapshot = write_snapshot(engine, campaign, plan.as_of, evaluate=True)
    else:
        run = refresh(engine, campaign.segment_keys, plan.as_of, trigger="presend", progress=progress)
        require_refreshed(campaign, run)
        snapshot = write_snapshot(engine, campaign, run.as_of, refresh_run_id=run.run_id)
    return finish_snapshot(engine, snapshot, check_snapshot(engine, snapshot, allow_empty, max_change))
