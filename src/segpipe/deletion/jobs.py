"""Deletion jobs: the durable state that makes a deletion resumable (one `deletion_jobs` row per job)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.db import schema as t
from segpipe.errors import InvalidInput, NotFound

CREATED = "created"
MANIFEST_FROZEN = "manifest_frozen"
GATE_PASSED = "gate_passed"
HELD = "held"
DELETING = "deleting"
VERIFYING = "verifying"
COMPLETED = "completed"
FAILED = "failed"
REFUSED = "refused"
PREVIEWED = "previewed"
CANCELLED = "cancelled"
FINAL_STATES = (REFUSED, PREVIEWED, COMPLETED, CANCELLED)
EXECUTING_STATES = (GATE_PASSED, DELETING, VERIFYING, FAILED)
"""States in which the job's batches may be deleted (and stragglers swept): the gate has passed."""

_jobs = t.deletion_jobs


@dataclass(frozen=True)
class JobRow:
    id: uuid.UUID
    segment_id: int | None
    segment_key: str
    actor: str
    state: str
    dry_run: bool
    expected: int | None
    matched: int | None
    deleted_profiles: int
    batch_size: int
    options: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    segment_name: str | None
    segment_rules: dict[str, Any] | None
    confirmed_at: datetime | None
    refresh_run_id: int | None
    batches: int | None
    manifest_digest: str | None
    gate: dict[str, Any] | None
    activity_baseline: dict[str, Any] | None
    error: str | None
    execute_after: datetime | None
    flow_run_id: str | None
    session_role: str

    @property
    def tolerance(self) -> int:
        return int(self.options.get("tolerance", 0))

    @property
    def max_share(self) -> float:
        return float(self.options.get("max_share", 0.5))

    @property
    def hold_days(self) -> int | None:
        days = self.options.get("hold_days")
        return None if days is None else int(days)


def parse_job_id(text: str, where: str = "job") -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise InvalidInput(f"not a job id: '{text}'", where=where) from None


def create_job(conn: Connection, values: dict[str, Any]) -> uuid.UUID:
    job_id = uuid.uuid4()
    conn.execute(sa.insert(_jobs).values(id=job_id, state=CREATED, **values))
    return job_id


def get_job(conn: Connection, job_id: uuid.UUID, *, for_update: bool = False) -> JobRow | None:
    query = sa.select(_jobs).where(_jobs.c.id == job_id)
    row = conn.execute(query.with_for_update() if for_update else query).first()
    return JobRow(**row._mapping) if row else None


def require_job(conn: Connection, job_id: uuid.UUID, *, for_update: bool = False) -> JobRow:
    job = get_job(conn, job_id, for_update=for_update)
    if job is None:
        raise NotFound(f"unknown deletion job '{job_id}'")
    return job


def update_job(conn: Connection, job_id: uuid.UUID, **values: Any) -> None:
    """Set columns of the job (`updated_at` follows); `finished_at` is stamped when the state is final."""
    stamps: dict[str, Any] = {"updated_at": sa.func.clock_timestamp()}
    if values.get("state") in (*FINAL_STATES, FAILED):
        stamps["finished_at"] = sa.func.clock_timestamp()
    conn.execute(sa.update(_jobs).where(_jobs.c.id == job_id).values(**values, **stamps))


def move(conn: Connection, job_id: uuid.UUID, from_states: tuple[str, ...], to_state: str, **values: Any) -> bool:
    """Set the state only if the job is in one of `from_states` (a cancel in between wins); True if moved."""
    stamps: dict[str, Any] = {"updated_at": sa.func.clock_timestamp()}
    if to_state in (*FINAL_STATES, FAILED):
        stamps["finished_at"] = sa.func.clock_timestamp()
    query = sa.update(_jobs).where(_jobs.c.id == job_id, _jobs.c.state.in_(from_states))
    return bool(conn.execute(query.values(state=to_state, **values, **stamps)).rowcount)


def add_deleted(conn: Connection, job_id: uuid.UUID, profiles: int) -> None:
    conn.execute(
        sa.update(_jobs)
        .where(_jobs.c.id == job_id)
        .values(
            state=DELETING,
            deleted_profiles=_jobs.c.deleted_profiles + profiles,
            updated_at=sa.func.clock_timestamp(),
        )
    )
