"""Render an ApplyPlan: a dict for `--json`, lines for people."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from segpipe.apply.plan import CREATED, REFUSED, REMOVED, UNCHANGED, UPDATED, ApplyPlan, PlannedObject

ACTIONS = (CREATED, UPDATED, UNCHANGED, REMOVED, REFUSED)
_WOULD = {CREATED: "would create", UPDATED: "would update", REMOVED: "would remove"}
_STYLE = {
    CREATED: ("+", "green"),
    UPDATED: ("~", "yellow"),
    UNCHANGED: ("=", "dim"),
    REFUSED: ("!", "red"),
    REMOVED: ("-", "magenta"),
}


def plan_to_json(plan: ApplyPlan, *, dry_run: bool, applied: bool) -> dict[str, Any]:
    """`{"dry_run", "applied", "summary": {action: n}, "objects": [...], "activated": [...]}` (docs/apply.md).

    The summary names only the actions that occur, like the text summary: the output of a run that changes
    nothing never contains the word `created`.
    """
    return {
        "dry_run": dry_run,
        "applied": applied,
        "summary": {action: plan.count(action) for action in ACTIONS if plan.count(action)},
        "objects": [_object_json(obj) for obj in plan.objects],
        "activated": list(plan.activated),
    }


def _object_json(obj: PlannedObject) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": obj.kind, "key": obj.key, "action": obj.action, "source": obj.source}
    if obj.changes:
        data["changes"] = list(obj.changes)
    if obj.reason is not None:
        data["reason"] = obj.reason
    if obj.faults:
        data["faults"] = list(obj.faults)
    if obj.gate is not None:
        data["gate"] = obj.gate
    if obj.diff:
        data["diff"] = obj.diff
    if obj.members is not None:
        data["members"] = dict(obj.members)
    return data


def render_plan(plan: ApplyPlan, console: Console, *, dry_run: bool, applied: bool) -> None:
    """One line per document (`+ Segment high-value-de  created`; in a dry run `would create`), then a summary.

    A dry run also prints each update's diff and each created or changed segment's member count; a refused
    document lists every fault found in it.
    """
    for obj in plan.objects:
        sign, style = _STYLE[obj.action]
        name = escape(f"{obj.kind or '?'} {obj.key or '?'}")
        detail = f" ({', '.join(obj.changes)})" if obj.changes else ""
        if obj.reason:
            detail = f": {escape(obj.reason)}  [dim]{escape(obj.source)}[/dim]"
        action = _WOULD.get(obj.action, obj.action) if dry_run else obj.action
        console.print(f"[{style}]{sign} {name}  {action}[/{style}]{detail}", highlight=False, soft_wrap=True)
        for fault in obj.faults[1:]:
            console.print(f"    [red]also:[/red] {escape(fault)}", highlight=False, soft_wrap=True)
        if obj.members is not None:
            console.print(f"    {_members_text(obj.members)}", highlight=False, soft_wrap=True)
        if dry_run and obj.diff:
            for line in obj.diff.rstrip("\n").splitlines():
                console.print("    " + line, markup=False, highlight=False, soft_wrap=True)
    for key in plan.activated:
        console.print(f"  segment {escape(key)} is now active (live use)", highlight=False, soft_wrap=True)
    console.print(_summary(plan, dry_run=dry_run, applied=applied), highlight=False, soft_wrap=True)


def _members_text(members: dict[str, Any]) -> str:
    """`members now: 1,204 (stored 1,180, +24)` or `members now: 310 (never refreshed)`."""
    count, stored, change = members["count"], members["stored"], members["change"]
    if stored is None:
        return f"members now: {count:,} (no stored count)"
    return f"members now: {count:,} (stored {stored:,}, {change:+,})"


def _summary(plan: ApplyPlan, *, dry_run: bool, applied: bool) -> str:
    counts = ", ".join(f"{plan.count(action)} {action}" for action in ACTIONS if plan.count(action))
    if plan.refused:
        outcome = "refused: nothing applied"
    elif dry_run:
        outcome = "dry run: nothing written"
    elif applied and plan.changed:
        outcome = "applied"
    else:
        outcome = "nothing to change"
    return f"{counts or 'no documents'} — {outcome}"
