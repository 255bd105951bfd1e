"""The deletion's safety gates: permission and confirmation (before anything), then the GX data-quality gate.

Every refusal leaves the job `refused` with an audit row and raises DeletionRefused (exit 3); nothing is
deleted before the quality gate has passed and been recorded.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from segpipe.db import schema as t
from segpipe.deletion import audit, jobs
from segpipe.deletion.activity import take_baseline
from segpipe.deletion.jobs import JobRow
from segpipe.errors import GateRefused, InvalidInput
from segpipe.quality import Check, ColumnMax, ColumnNotNull, ColumnUnique, NoRows, QualityReport, RowCount, run_checks
from segpipe.quality.report import describe_failure
from segpipe.store.segments import require_segment

_m, _p, _members, _jobs, _refreshes = (
    t.deletion_manifest,
    t.profiles,
    t.memberships,
    t.deletion_jobs,
    t.segment_refreshes,
)


class DeletionRefused(GateRefused):
    """A gate refused the deletion (exit 3); the job is recorded as `refused` and nothing was deleted."""

    def __init__(
        self, gate: str, message: str, job_id: uuid.UUID, details: Any = None, matched: int | None = None
    ) -> None:
        super().__init__(gate, message, details)
        self.job_id = job_id
        self.matched = matched


class JobCancelled(GateRefused):
    """The job was cancelled (`segpipe deletion cancel` or a cancelled flow run): nothing more is done."""

    def __init__(self, job_id: uuid.UUID) -> None:
        super().__init__("cancelled", f"deletion job {job_id} was cancelled; nothing more is deleted")
        self.job_id = job_id


def _hold(conn: Connection, job_id: uuid.UUID, days: int) -> None:
    """Hold a gated job: it is carried out from `execute_after` on (the scheduled flow), unless cancelled."""
    due = sa.func.clock_timestamp() + sa.func.make_interval(0, 0, 0, days)
    after = conn.execute(
        sa.update(_jobs).where(_jobs.c.id == job_id).values(execute_after=due).returning(_jobs.c.execute_after)
    ).scalar_one()
    audit.append(conn, job_id, "held", {"hold_days": days, "execute_after": after.isoformat()})


def confirmation_error(given: str, segment_name: str) -> str | None:
    """None when `given` is exactly the segment's name (case, spaces and all), else why not."""
    if given == segment_name:
        return None
    return f"the confirmation does not match the segment's name exactly; type it as shown: '{segment_name}'"


def refuse_job(engine: Engine, job_id: uuid.UUID, gate: str, message: str, details: Any = None) -> None:
    """Record the refusal of an existing job and raise DeletionRefused."""
    with engine.begin() as conn:
        job = jobs.require_job(conn, job_id, for_update=True)
        audit.append(conn, job_id, "refused", {"gate": gate, "reason": message, "details": details})
        jobs.update_job(conn, job_id, state=jobs.REFUSED, error=message)
    raise DeletionRefused(gate, f"segment '{job.segment_key}': {message}", job_id, details, job.matched)


def confirm_deletion(engine: Engine, job_id: uuid.UUID, confirm: str, expected: int) -> None:
    """Step 2 given later (the Prefect approval form): the exact name and the count the operator saw."""
    if expected < 0:
        raise InvalidInput("the expected count cannot be negative", where="expect")
    with engine.begin() as conn:
        job = jobs.require_job(conn, job_id, for_update=True)
        require_state(job, (jobs.CREATED, jobs.MANIFEST_FROZEN), "confirm")
        error = confirmation_error(confirm, require_segment(conn, job.segment_key).name)
        if error is None:
            jobs.update_job(conn, job_id, expected=expected, confirmed_at=sa.func.clock_timestamp())
            audit.append(conn, job_id, "confirmed", {"expected": expected})
    if error is not None:
        refuse_job(engine, job_id, "confirmation", error)


def require_state(job: JobRow, states: tuple[str, ...], action: str) -> None:
    if job.state not in states:
        raise InvalidInput(
            f"job {job.id} is {job.state}; cannot {action} it (needs {' or '.join(states)})", where="job"
        )


def gate_checks(job: JobRow) -> list[Check]:
    """The GX expectations of step 5, all over committed rows of the manifest, profiles and memberships."""
    manifest = sa.select(_m.c.profile_id).where(_m.c.job_id == job.id)
    return [
        _count_check(job, manifest),
        ColumnUnique(name="ids_unique", query=manifest, column="profile_id", description="manifest ids are unique"),
        ColumnNotNull(
            name="ids_not_null", query=manifest, column="profile_id", description="manifest ids are not null"
        ),
        ColumnMax(
            name="max_share",
            query=_share_query(job.id),
            column="share",
            max_value=job.max_share,
            description=f"at most {job.max_share:.0%} of all profiles (--max-share)",
        ),
        NoRows(
            name="ids_exist", query=_missing_profiles(job.id), description="every manifest id is an existing profile"
        ),
        NoRows(
            name="refreshed_in_run", query=_not_refreshed(job.id), description="the segment was refreshed in this job"
        ),
        NoRows(
            name="manifest_equals_membership",
            query=_membership_difference(job),
            description="the manifest equals the freshly refreshed membership",
        ),
    ]


def _count_check(job: JobRow, manifest: sa.Select[Any]) -> RowCount:
    expected = int(job.expected or 0)
    if job.tolerance == 0:
        text = f"matched profiles equal the expected count ({expected})"
        return RowCount(name="expected_count", query=manifest, equals=expected, description=text)
    text = f"matched profiles within {job.tolerance} of the expected count ({expected})"
    low, high = max(expected - job.tolerance, 0), expected + job.tolerance
    return RowCount(name="expected_count", query=manifest, min_value=low, max_value=high, description=text)


def _share_query(job_id: uuid.UUID) -> sa.Select[Any]:
    matched = sa.select(sa.func.count()).select_from(_m).where(_m.c.job_id == job_id).scalar_subquery()
    total = sa.select(sa.func.count()).select_from(_p).scalar_subquery()
    return sa.select((sa.cast(matched, sa.Float) / sa.func.greatest(total, 1)).label("share"))


def _missing_profiles(job_id: uuid.UUID) -> sa.Select[Any]:
    exists = sa.exists().where(_p.c.id == _m.c.profile_id)
    return sa.select(_m.c.profile_id).where(_m.c.job_id == job_id, ~exists)


def _not_refreshed(job_id: uuid.UUID) -> sa.Select[Any]:
    refreshed = sa.exists().where(
        _refreshes.c.run_id == _jobs.c.refresh_run_id,
        _refreshes.c.segment_id == _jobs.c.segment_id,
        _refreshes.c.status == "succeeded",
        _refreshes.c.finished_at >= _jobs.c.created_at,
    )
    return sa.select(_jobs.c.id).where(_jobs.c.id == job_id, ~refreshed)


def _membership_difference(job: JobRow) -> sa.Select[Any]:
    manifest = sa.select(_m.c.profile_id).where(_m.c.job_id == job.id)
    members = sa.select(_members.c.profile_id).where(_members.c.segment_id == (job.segment_id or 0))
    difference = sa.union_all(manifest.except_(members), members.except_(manifest)).subquery("difference")
    return sa.select(difference.c.profile_id)


def run_gate(engine: Engine, job_id: uuid.UUID) -> QualityReport:
    """Step 5: take the activity baseline, run the GX checks, store the report with the job and in the audit.

    Returns the report when every blocking check passed; otherwise the job is `refused` and DeletionRefused
    (exit 3) carries the report in `details` (for the CLI table and a Prefect artifact).
    """
    with engine.begin() as conn:
        job = jobs.require_job(conn, job_id, for_update=True)
        require_state(job, (jobs.MANIFEST_FROZEN,), "gate")
        if job.expected is None or job.confirmed_at is None:
            raise InvalidInput(f"job {job_id} is not confirmed yet (name and expected count)", where="job")
        baseline = take_baseline(conn, job_id)
        jobs.update_job(conn, job_id, activity_baseline=baseline)
    report = run_checks(engine, gate_checks(job), name=f"deletion-{job_id}")
    with engine.begin() as conn:
        passed = report.success
        message = (
            None if passed else "data-quality gate refused: " + "; ".join(describe_failure(c) for c in report.failed)
        )
        audit.append(
            conn, job_id, "gate", {"passed": passed, "report": report.to_json(), "activity_baseline": baseline}
        )
        state = (jobs.GATE_PASSED if job.hold_days is None else jobs.HELD) if passed else jobs.REFUSED
        if not jobs.move(conn, job_id, (jobs.MANIFEST_FROZEN,), state, gate=report.to_json(), error=message):
            raise JobCancelled(job_id)
        if state == jobs.HELD:
            _hold(conn, job_id, job.hold_days or 0)
    if message is not None:
        raise DeletionRefused(
            "quality", f"segment '{job.segment_key}': {message}", job_id, report.to_json(), job.matched
        )
    return report
