"""A deletion request and the job it creates: `plan_deletion` runs the checks that come before any job
(permission, confirmation), then records the job; `stages.PLAN` lists what the job runs after that."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from segpipe.db import schema as t
from segpipe.deletion import audit, jobs
from segpipe.deletion.gates import DeletionRefused, confirmation_error
from segpipe.deletion.rows import LINKED_TABLES, linked
from segpipe.deletion.sizing import auto_batch_size
from segpipe.errors import InvalidInput
from segpipe.permissions import DELETE_PROFILES, check_actor, missing_permissions
from segpipe.store.segments import SegmentRow, require_segment

DEFAULT_MAX_SHARE = 0.5


@dataclass(frozen=True)
class DeletionRequest:
    segment_key: str
    actor: str
    expected: int | None
    """The count the actor saw; None when it is asked for later (the Prefect approval form)."""
    confirm: str | None
    """The segment's exact name typed by the actor; None when it is asked for later."""
    dry_run: bool = False
    batch_size: int | None = None
    """Profiles per batch; None sizes batches by rows (`sizing.auto_batch_size`) when the job is created."""
    max_share: float = DEFAULT_MAX_SHARE
    tolerance: int = 0
    hold_days: int | None = None
    """Hold the gated job this many days before deleting (cancellable meanwhile); None: delete at once."""
    flow_run_id: str | None = None
    """The Prefect flow run driving the job (cancelling the run cancels the job)."""

    def validate(self) -> None:
        check_actor(self.actor, where="--actor")
        if self.expected is not None and self.expected < 0:
            raise InvalidInput("the expected count cannot be negative", where="--expect")
        if self.batch_size is not None and self.batch_size < 1:
            raise InvalidInput("the batch size must be at least 1", where="--batch-size")
        if not 0 < self.max_share <= 1:
            raise InvalidInput("the maximum share must be in (0, 1]", where="--max-share")
        if self.tolerance < 0:
            raise InvalidInput("the tolerance cannot be negative", where="--tolerance")
        if self.hold_days is not None and self.hold_days < 0:
            raise InvalidInput("the hold cannot be negative", where="--hold-days")
        if self.hold_days is not None and self.dry_run:
            raise InvalidInput("a dry run deletes nothing, so it cannot be held", where="--hold-days")


@dataclass(frozen=True)
class DeletionPlan:
    """A created job; what it will do is `stages.explain(job)`, the same stages `stages.advance` runs."""

    job_id: uuid.UUID
    request: DeletionRequest
    segment_id: int
    segment_name: str


def plan_deletion(engine: Engine, request: DeletionRequest) -> DeletionPlan:
    """Steps 1–2 and the job: permission (deny by default), the segment, the confirmation if given.

    A refusal is recorded (job `refused` with its audit) and raised as DeletionRefused (exit 3); an unknown
    segment is NotFound (exit 2) and creates no job.
    """
    request.validate()
    with engine.begin() as conn:
        if request.batch_size is None:
            request = replace(request, batch_size=auto_batch_size(conn))
        missing = missing_permissions(conn, request.actor, DELETE_PROFILES)
    if missing:
        needs = " and ".join(DELETE_PROFILES)
        message = f"actor '{request.actor}' lacks {', '.join(missing)} (deleting profiles needs {needs})"
        refuse_request(engine, request, None, "permission", message, {"actor": request.actor, "missing": missing})
    with engine.begin() as conn:
        segment = require_segment(conn, request.segment_key)
    if request.confirm is not None and (error := confirmation_error(request.confirm, segment.name)):
        refuse_request(engine, request, segment, "confirmation", error, {})
    with engine.begin() as conn:
        job_id = _create_job(conn, request, segment)
    return DeletionPlan(job_id, request, segment.id, segment.name)


def _job_values(request: DeletionRequest, segment: SegmentRow | None) -> dict[str, Any]:
    return {
        "segment_id": segment.id if segment else None,
        "segment_key": request.segment_key,
        "segment_name": segment.name if segment else None,
        "segment_rules": segment.rules if segment else None,
        "actor": request.actor,
        "dry_run": request.dry_run,
        "expected": request.expected,
        "batch_size": request.batch_size,
        "options": {"max_share": request.max_share, "tolerance": request.tolerance, "hold_days": request.hold_days},
        "flow_run_id": request.flow_run_id,
    }


def _created_detail(request: DeletionRequest, segment: SegmentRow | None) -> dict[str, Any]:
    return {
        "actor": request.actor,
        "segment": {"key": request.segment_key, "name": segment.name if segment else None},
        "rules": segment.rules if segment else None,
        "expected": request.expected,
        "dry_run": request.dry_run,
        "batch_size": request.batch_size,
        "max_share": request.max_share,
        "tolerance": request.tolerance,
        "hold_days": request.hold_days,
    }


def _create_job(conn: Connection, request: DeletionRequest, segment: SegmentRow) -> uuid.UUID:
    job_id = jobs.create_job(conn, _job_values(request, segment))
    if request.confirm is not None:
        jobs.update_job(conn, job_id, confirmed_at=sa.func.clock_timestamp())
    audit.append(conn, job_id, "created", _created_detail(request, segment))
    return job_id


def refuse_request(
    engine: Engine,
    request: DeletionRequest,
    segment: SegmentRow | None,
    gate: str,
    message: str,
    details: dict[str, Any],
) -> None:
    """Record a refused request as a job (state `refused`, audited) and raise DeletionRefused."""
    with engine.begin() as conn:
        job_id = jobs.create_job(conn, _job_values(request, segment))
        audit.append(conn, job_id, "created", _created_detail(request, segment))
        audit.append(conn, job_id, "refused", {"gate": gate, "reason": message, **details})
        jobs.update_job(conn, job_id, state=jobs.REFUSED, error=message)
    raise DeletionRefused(gate, f"segment '{request.segment_key}': {message}", job_id, details=details)


@dataclass(frozen=True)
class Preview:
    """What a frozen manifest would delete: for `--dry-run` and the approval form. Counts, and a few
    external ids for the operator to recognise (shown, never written to the audit)."""

    job_id: uuid.UUID
    segment_key: str
    segment_name: str | None
    count: int
    sample: list[str]
    tables: dict[str, int]
    """Rows that would be deleted per table; `activity` counts rows that would be anonymized."""


def preview(engine: Engine, job_id: uuid.UUID, sample_size: int = 10) -> Preview:
    """Count and sample of a job's frozen manifest, and the rows it reaches per table."""
    m, p = t.deletion_manifest, t.profiles
    in_manifest = sa.select(m.c.profile_id).where(m.c.job_id == job_id)
    with engine.begin() as conn:
        job = jobs.require_job(conn, job_id)
        sample_query = (
            sa.select(p.c.external_id).join(m, m.c.profile_id == p.c.id).where(m.c.job_id == job_id).order_by(p.c.id)
        )
        sample = list(conn.execute(sample_query.limit(sample_size)).scalars())
        columns = [
            sa.select(sa.func.count()).select_from(table).where(linked(table).in_(in_manifest)).scalar_subquery()
            for table in (t.profiles, *(table for table in LINKED_TABLES if table is not t.profiles))
        ]
        counts = conn.execute(sa.select(*columns)).one()
        names = [t.profiles.name, *(table.name for table in LINKED_TABLES if table is not t.profiles)]
        tables = {name: int(n) for name, n in zip(names, counts, strict=True)}
    return Preview(job_id, job.segment_key, job.segment_name, int(job.matched or 0), sample, tables)
