"""Write an ApplyPlan in the caller's transaction, and `apply_documents`: the whole run, all or nothing."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.engine import Connection, Engine

from segpipe.apply.files import RawDocument
from segpipe.apply.plan import REFUSED, ApplyPlan, PlannedObject, build_plan
from segpipe.db.engine import xact_lock
from segpipe.errors import InvalidInput, RefreshInProgress
from segpipe.lifecycle.usage import live_segment_reasons
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


class ApplyBlocked(RefreshInProgress):
    """A rules edit hit a segment whose refresh is running (exit 3); nothing of the run was written."""

    def __init__(self, plan: ApplyPlan, first: PlannedObject) -> None:
        super().__init__(first.key or "")
        self.plan = plan


def apply_documents(engine: Engine, documents: Sequence[RawDocument], *, dry_run: bool = False) -> ApplyPlan:
    """Plan and (unless `dry_run`) write the documents in one transaction; refusals raise and write nothing.

    Two applies serialize on a transaction-level advisory lock; a dry run rolls back whatever happens.
    """
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            xact_lock(conn, "apply")
            plan = build_plan(conn, documents)
            _raise_refusal(plan)
            if not dry_run:
                plan.activated = execute_plan(conn, plan)
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


def execute_plan(conn: Connection, plan: ApplyPlan) -> list[str]:
    """Write the plan's creations and updates; returns the segments it activated. The caller owns the transaction."""
    if any(obj.action == REFUSED for obj in plan.objects):
        raise ValueError("a refused plan is never executed")
    if not plan.changed:
        return []
    _write_segments(conn, plan)
    for write in plan.consumers:
        upsert_consumer(conn, write.kind, write.key, write.values)
        replace_consumer_segments(conn, write.kind, write.key, write.segments)
        replace_consumer_links(conn, write.kind, write.key, write.links)
    ours = {(w.kind, w.key) for w in plan.consumers}
    reasons = live_segment_reasons(list_consumers(conn), dependency_keys(conn), prefer=ours)
    return record_live_use(conn, reasons)


def _write_segments(conn: Connection, plan: ApplyPlan) -> None:
    # Renamed segments step aside first, so that names can move between segments within one run.
    renamed = [w for w in plan.segments if w.renamed]
    set_segment_names(conn, {w.key: f"~apply-rename~{w.key}~{uuid.uuid4().hex}" for w in renamed})
    for write in plan.segments:
        if write.created:
            insert_segment(conn, {"key": write.key, **write.values}, reason="created by apply")
        else:
            update_segment_definition(conn, write.key, write.values, write.definition_changed)
    for write in plan.segments:
        if write.rules_changed:
            replace_segment_dependencies(conn, write.key, write.refs)
