"""Write an ApplyPlan in the caller's transaction, and `apply_documents`: the whole run, all or nothing."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.engine import Connection, Engine

from segpipe.apply.estimate import estimate_members
from segpipe.apply.files import RawDocument
from segpipe.apply.plan import REFUSED, ApplyPlan, PlannedObject, build_plan
from segpipe.apply.removal import execute_removals
from segpipe.db.engine import xact_lock
from segpipe.errors import GateRefused, InvalidInput, RefreshInProgress
from segpipe.lifecycle.history import definition_of, record_definition
from segpipe.live_use import live_segment_reasons
from segpipe.store.objects import list_consumers, replace_consumer_links, replace_consumer_segments, upsert_consumer
from segpipe.store.segments import (
    dependency_keys,
    insert_segment,
    record_live_use,
    replace_segment_dependencies,
    set_segment_names,
    update_segment_definition,
)


class ApplyRefused(InvalidInput):
    """At least one document was refused (exit 2); nothing of the run was written. `plan` says which and why."""

    def __init__(self, plan: ApplyPlan, first: PlannedObject) -> None:
        more = len(plan.refused) - 1
        suffix = f" (+{more} more refused)" if more else ""
        super().__init__(f"{first.reason}{suffix}", where=first.label)
        self.plan = plan


class ApplyBlocked(GateRefused):
    """A gate refused an object of the run (exit 3): a rules edit or a removal hit a segment whose refresh is
    running, or `--prune` would remove something still referenced or in live use; nothing was written."""

    def __init__(self, plan: ApplyPlan, first: PlannedObject) -> None:
        more = len(plan.refused) - 1
        suffix = f" (+{more} more refused)" if more else ""
        super().__init__(first.gate or RefreshInProgress(first.key or "").gate, f"{first.reason}{suffix}")
        self.key = first.key
        self.plan = plan


def apply_documents(
    engine: Engine,
    documents: Sequence[RawDocument],
    *,
    dry_run: bool = False,
    actor: str | None = None,
    prune: bool = False,
) -> ApplyPlan:
    """Plan and (unless `dry_run`) write the documents in one transaction; refusals raise and write nothing.

    Two applies serialize on a transaction-level advisory lock; a dry run rolls back whatever happens. `actor`
    is recorded in the definition history of every segment the run changes. `prune` also removes the stored
    objects of each kind in the run that the documents no longer hold (`segpipe.apply.prune`).
    """
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            xact_lock(conn, "apply")
            plan = build_plan(conn, documents, prune=prune)
            _raise_refusal(plan)
            if dry_run:
                estimate_members(conn, plan)
            else:
                plan.activated = execute_plan(conn, plan, actor)
        except BaseException:
            transaction.rollback()
            raise
        if dry_run:
            transaction.rollback()
        else:
            transaction.commit()
    return plan


def _raise_refusal(plan: ApplyPlan) -> None:
    refused = plan.refused
    invalid = [obj for obj in refused if obj.exit_code != 3]
    if invalid:
        raise ApplyRefused(plan, invalid[0])
    if refused:
        raise ApplyBlocked(plan, refused[0])


def execute_plan(conn: Connection, plan: ApplyPlan, actor: str | None = None) -> list[str]:
    """Write the plan's creations and updates; returns the segments it activated. The caller owns the transaction."""
    if any(obj.action == REFUSED for obj in plan.objects):
        raise ValueError("a refused plan is never executed")
    if not plan.changed:
        return []
    _write_segments(conn, plan, actor)
    for write in plan.consumers:
        upsert_consumer(conn, write.kind, write.key, write.values)
        replace_consumer_segments(conn, write.kind, write.key, write.segments)
        replace_consumer_links(conn, write.kind, write.key, write.links)
    execute_removals(conn, plan.removals, actor)
    ours = {(w.kind, w.key) for w in plan.consumers}
    reasons = live_segment_reasons(list_consumers(conn), dependency_keys(conn), prefer=ours)
    return record_live_use(conn, reasons)


def _write_segments(conn: Connection, plan: ApplyPlan, actor: str | None) -> None:
    # Renamed segments step aside first, so that names can move between segments within one run.
    renamed = [w for w in plan.segments if w.renamed]
    set_segment_names(conn, {w.key: f"~apply-rename~{w.key}~{uuid.uuid4().hex}" for w in renamed})
    for write in plan.segments:
        if write.created:
            insert_segment(conn, {"key": write.key, **write.values}, reason="created by apply")
        else:
            update_segment_definition(conn, write.key, write.values, write.definition_changed)
        change = "created" if write.created else "updated"
        record_definition(conn, write.key, change, definition_of(write.values), write.previous, actor)
    for write in plan.segments:
        if write.rules_changed:
            replace_segment_dependencies(conn, write.key, write.refs)
