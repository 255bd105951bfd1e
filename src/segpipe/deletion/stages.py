"""The deletion plan: one ordered tuple of stages, the only sequence a deletion job runs.

Each stage says from which job states it runs, for which jobs, what it does (for people) and which function
does it. `advance` runs the stages of a job in order, each at most once per call (the CLI, `deletion
run-due`, the tests); the Prefect flow runs the same stages one task each (`next_stage` + `run_stage`);
`explain` renders the same tuple for `--dry-run`, the approval form and `deletion show`. The job's state
(`deletion_jobs.state`) is where a run stands, so a killed run continues at its next stage (docs/deletion.md).

Before the first stage, `plan.plan_deletion` checks the permission and the confirmation and creates the job.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import Connection, Engine

from segpipe.deletion import audit, jobs
from segpipe.deletion.execute import delete_stage
from segpipe.deletion.gates import JobCancelled, run_gate
from segpipe.deletion.jobs import JobRow
from segpipe.deletion.manifest import freeze_manifest
from segpipe.deletion.plan import Preview, preview
from segpipe.deletion.rows import ANONYMIZED_TABLES, DELETED_TABLES
from segpipe.deletion.verify import verify
from segpipe.errors import InvalidInput
from segpipe.progress import Progress


@dataclass
class StageContext:
    locked: Connection | None = None
    """A connection holding the job's and the segment's locks (the whole-run path); None: stages lock."""
    progress: Progress | None = None
    preview: Preview | None = None
    """A dry run's preview, once its stage ran."""


@dataclass(frozen=True)
class Stage:
    name: str
    """Also the name of its Prefect task run."""
    starts_from: tuple[str, ...]
    """The job states it runs from; it leaves the job in a later state."""
    applies: Callable[[JobRow], bool]
    """Whether the job runs this stage at all (dry run or not, confirmed or not)."""
    describe: Callable[[JobRow], str]
    execute: Callable[[Engine, uuid.UUID, StageContext], object]


def _freeze(engine: Engine, job_id: uuid.UUID, ctx: StageContext) -> object:
    return freeze_manifest(engine, job_id, locked=ctx.locked)


def _gate(engine: Engine, job_id: uuid.UUID, ctx: StageContext) -> object:
    return run_gate(engine, job_id)


def _preview(engine: Engine, job_id: uuid.UUID, ctx: StageContext) -> object:
    shown = preview(engine, job_id)
    with engine.begin() as conn:
        if jobs.move(conn, job_id, (jobs.MANIFEST_FROZEN, jobs.GATE_PASSED), jobs.PREVIEWED):
            audit.append(conn, job_id, "previewed", {"count": shown.count, "tables": shown.tables})
    ctx.preview = shown
    return shown


def _delete(engine: Engine, job_id: uuid.UUID, ctx: StageContext) -> object:
    return delete_stage(engine, job_id, ctx.progress)


def _verify(engine: Engine, job_id: uuid.UUID, ctx: StageContext) -> object:
    return verify(engine, job_id)


def _describe_gate(job: JobRow) -> str:
    expected = "the confirmed count" if job.expected is None else f"{job.expected:,}"
    within = f" ± {job.tolerance:,}" if job.tolerance else ""
    held = f"; then hold the job {job.hold_days} day(s), cancellable" if job.hold_days is not None else ""
    return (
        "after the confirmation (the segment's exact name and the expected count), the Great Expectations gate: "
        f"count = {expected}{within}, at most {job.max_share:.0%} of all profiles, ids unique, not null and "
        f"existing, refreshed in this job, manifest = membership{held}"
    )


def _describe_delete(job: JobRow) -> str:
    return (
        f"delete {', '.join(DELETED_TABLES)} in batches of {job.batch_size:,} profiles (one transaction each); "
        f"anonymize {', '.join(ANONYMIZED_TABLES)} (kept for campaign statistics)"
    )


PLAN: tuple[Stage, ...] = (
    Stage(
        "freeze-manifest",
        (jobs.CREATED, jobs.MANIFEST_FROZEN),
        lambda job: True,
        lambda job: (
            f"lock segment '{job.segment_key}' (no refresh or edit meanwhile), refresh it now and freeze "
            "its exact members as the manifest"
        ),
        _freeze,
    ),
    Stage(
        "quality-gate",
        (jobs.MANIFEST_FROZEN,),
        lambda job: not (job.dry_run and job.confirmed_at is None),
        _describe_gate,
        _gate,
    ),
    Stage(
        "preview",
        (jobs.MANIFEST_FROZEN, jobs.GATE_PASSED),
        lambda job: job.dry_run,
        lambda job: "report the count, a sample of external ids and the rows per table; delete nothing",
        _preview,
    ),
    Stage(
        "delete-batches",
        (jobs.GATE_PASSED, jobs.HELD, jobs.DELETING),
        lambda job: not job.dry_run,
        _describe_delete,
        _delete,
    ),
    Stage(
        "verify",
        (jobs.VERIFYING, jobs.FAILED),
        lambda job: not job.dry_run,
        lambda job: "verify: no row of a deleted profile remains, activity counts unchanged, the segment still exists",
        _verify,
    ),
)
STAGES = {stage.name: stage for stage in PLAN}


def waiting_for(job: JobRow) -> str | None:
    """What the job waits for before its next stage: `approval` (the name and count), `hold` (its
    execute_after), or None."""
    if job.state == jobs.MANIFEST_FROZEN and job.confirmed_at is None and not job.dry_run:
        return "approval"
    if job.state == jobs.HELD and job.execute_after is not None and job.execute_after > datetime.now(UTC):
        return "hold"
    return None


def next_stage(job: JobRow, ran: Iterable[str] = ()) -> Stage | None:
    """The job's next stage (skipping those already run in this call), or None when it is final or waits."""
    done = set(ran)
    if job.state in jobs.FINAL_STATES or waiting_for(job):
        return None
    for stage in PLAN:
        if stage.name not in done and job.state in stage.starts_from and stage.applies(job):
            return stage
    return None


def run_stage(engine: Engine, job_id: uuid.UUID, name: str, ctx: StageContext | None = None) -> object:
    """Run one stage of the job (one Prefect task); refused when the job is not in a state it runs from. A job
    cancelled meanwhile ends the stage quietly (the caller reads the job's state next)."""
    stage = STAGES[name]
    with engine.begin() as conn:
        job = jobs.require_job(conn, job_id)
    if job.state not in stage.starts_from:
        raise InvalidInput(f"job {job_id} is {job.state}; stage {name} runs from {' or '.join(stage.starts_from)}")
    try:
        return stage.execute(engine, job_id, ctx or StageContext())
    except JobCancelled:
        return None


def advance(engine: Engine, job_id: uuid.UUID, ctx: StageContext, ran: Iterable[str] = ()) -> list[str]:
    """Run the job's stages in plan order until it is final, waits, or has run each stage once; returns the
    names of the stages run."""
    done = list(ran)
    while True:
        with engine.begin() as conn:
            job = jobs.require_job(conn, job_id)
        stage = next_stage(job, done)
        if stage is None:
            return done
        done.append(stage.name)
        try:
            stage.execute(engine, job_id, ctx)
        except JobCancelled:
            return done


def explain(job: JobRow) -> list[str]:
    """The stages this job runs, numbered, in words (the same tuple `advance` runs)."""
    applying = [stage for stage in PLAN if stage.applies(job)]
    return [f"{n}. {stage.name}: {stage.describe(job)}" for n, stage in enumerate(applying, start=1)]


@dataclass(frozen=True)
class StageStep:
    """The flow's view of what comes next: a stage to run, or what the job waits for."""

    job_id: uuid.UUID
    stage: str | None
    waiting: str | None = None
    state: str = ""
    plan: list[str] = field(default_factory=list)


def step_of(engine: Engine, job_id: uuid.UUID, ran: Iterable[str] = ()) -> StageStep:
    with engine.begin() as conn:
        job = jobs.require_job(conn, job_id)
    stage = next_stage(job, ran)
    return StageStep(job_id, stage.name if stage else None, waiting_for(job), job.state, explain(job))
