"""The deletion plan as data: a request, the stages it will run, and the job that records them.

`plan_deletion` runs steps 1–2 (permission, confirmation) and creates the job; the stages after it
(refresh, manifest, gate, batches, verify) run in `manifest`, `gates`, `execute` and `verify`.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from segpipe.db import schema as t
from segpipe.deletion import audit, jobs
from segpipe.deletion.gates import DeletionRefused, confirmation_error
from segpipe.deletion.sizing import auto_batch_size
from segpipe.errors import InvalidInput
from segpipe.permissions import DELETE_PROFILES, check_actor, missing_permissions
from segpipe.store.segments import SegmentRow, require_segment

DEFAULT_MAX_SHARE = 0.5
DELETED_TABLES = ("profiles", "events", "event_ids", "subscriptions", "memberships", "snapshot_members")
ANONYMIZED_TABLES = ("activity",)


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


@dataclass(frozen=True)
class PermissionStage:
    actor: str
    needs: tuple[str, ...] = DELETE_PROFILES


@dataclass(frozen=True)
class ConfirmationStage:
    segment_name: str
    confirmed: bool


@dataclass(frozen=True)
class RefreshStage:
    segment_key: str
    """Refreshed now, under the segment's refresh lock (no refresh or edit of it meanwhile)."""


@dataclass(frozen=True)
class FreezeManifestStage:
    batch_size: int


@dataclass(frozen=True)
class QualityGateStage:
    expected: int | None
    tolerance: int
    max_share: float


@dataclass(frozen=True)
class DeleteBatchesStage:
    batch_size: int
    deleted: tuple[str, ...] = DELETED_TABLES
    anonymized: tuple[str, ...] = ANONYMIZED_TABLES


@dataclass(frozen=True)
class VerifyStage:
    segment_key: str


Stage = (
    PermissionStage
    | ConfirmationStage
    | RefreshStage
    | FreezeManifestStage
    | QualityGateStage
    | DeleteBatchesStage
    | VerifyStage
)


@dataclass(frozen=True)
class DeletionPlan:
    job_id: uuid.UUID
    request: DeletionRequest
    segment_id: int
    segment_name: str
    stages: tuple[Stage, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": str(self.job_id),
            "segment": {"key": self.request.segment_key, "name": self.segment_name},
            "stages": [{"stage": type(s).__name__, **asdict(s)} for s in self.stages],
        }


def stages_for(request: DeletionRequest, segment_name: str) -> tuple[Stage, ...]:
    stages: list[Stage] = [
        PermissionStage(request.actor),
        ConfirmationStage(segment_name, request.confirm is not None),
        RefreshStage(request.segment_key),
        FreezeManifestStage(request.batch_size),
        QualityGateStage(request.expected, request.tolerance, request.max_share),
    ]
    if not request.dry_run:
        stages += [DeleteBatchesStage(request.batch_size), VerifyStage(request.segment_key)]
    return tuple(stages)


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
    return DeletionPlan(job_id, request, segment.id, segment.name, stages_for(request, segment.name))


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
        "options": {"max_share": request.max_share, "tolerance": request.tolerance},
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
        counted = [(t.profiles, t.profiles.c.id)] + [
            (table, table.c.profile_id)
            for table in (t.events, t.event_ids, t.subscriptions, t.memberships, t.snapshot_members, t.activity)
        ]
        columns = [
            sa.select(sa.func.count())
            .select_from(table)
            .where(column.in_(in_manifest))
            .scalar_subquery()
            .label(table.name)
            for table, column in counted
        ]
        tables = {name: int(n) for name, n in conn.execute(sa.select(*columns)).one()._mapping.items()}
    return Preview(job_id, job.segment_key, job.segment_name, int(job.matched or 0), sample, tables)
