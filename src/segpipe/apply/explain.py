"""Render an ApplyPlan: a dict for `--json`, lines for people."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from segpipe.apply.plan import CREATED, REFUSED, UNCHANGED, UPDATED, ApplyPlan, PlannedObject

ACTIONS = (CREATED, UPDATED, UNCHANGED, REFUSED)
_STYLE = {CREATED: ("+", "green"), UPDATED: ("~", "yellow"), UNCHANGED: ("=", "dim"), REFUSED: ("!", "red")}


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
    return data


def render_plan(plan: ApplyPlan, console: Console, *, dry_run: bool, applied: bool) -> None:
    """One line per document (`+ Segment high-value-de  created`), then a summary line."""
    for obj in plan.objects:
        sign, style = _STYLE[obj.action]
        name = escape(f"{obj.kind or '?'} {obj.key or '?'}")
        detail = f" ({', '.join(obj.changes)})" if obj.changes else ""
        if obj.reason:
            detail = f": {escape(obj.reason)}  [dim]{escape(obj.source)}[/dim]"
        console.print(f"[{style}]{sign} {name}  {obj.action}[/{style}]{detail}", highlight=False, soft_wrap=True)
    for key in plan.activated:
        console.print(f"  segment {escape(key)} is now active (live use)", highlight=False, soft_wrap=True)
    console.print(_summary(plan, dry_run=dry_run, applied=applied), highlight=False, soft_wrap=True)


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
