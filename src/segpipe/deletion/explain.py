"""Words for people: the plan's stages, a preview, a gate report, an audit row. Plain text and Markdown, so
the CLI (`--dry-run`, `deletion show`) and a Prefect approval form or artifact render the same facts."""

from __future__ import annotations

from functools import singledispatch
from typing import Any

from segpipe.deletion.plan import (
    ConfirmationStage,
    DeleteBatchesStage,
    DeletionPlan,
    FreezeManifestStage,
    PermissionStage,
    Preview,
    QualityGateStage,
    RefreshStage,
    VerifyStage,
)


@singledispatch
def describe_stage(stage: Any) -> str:
    return type(stage).__name__


@describe_stage.register
def _(stage: PermissionStage) -> str:
    return f"check that '{stage.actor}' holds {' and '.join(stage.needs)}"


@describe_stage.register
def _(stage: ConfirmationStage) -> str:
    if stage.confirmed:
        return f"confirmation matched the segment's name exactly ('{stage.segment_name}')"
    return f"ask for the segment's exact name ('{stage.segment_name}') and the expected count"


@describe_stage.register
def _(stage: RefreshStage) -> str:
    return f"lock segment '{stage.segment_key}' (no refresh or edit meanwhile) and refresh it now"


@describe_stage.register
def _(stage: FreezeManifestStage) -> str:
    return f"freeze the exact member ids as the manifest, in batches of {stage.batch_size:,}"


@describe_stage.register
def _(stage: QualityGateStage) -> str:
    expected = "the confirmed count" if stage.expected is None else f"{stage.expected:,}"
    within = f" ± {stage.tolerance:,}" if stage.tolerance else ""
    return (
        f"Great Expectations gate: count = {expected}{within}, at most {stage.max_share:.0%} of all profiles, "
        "ids unique, not null and existing, refreshed in this job, manifest = membership"
    )


@describe_stage.register
def _(stage: DeleteBatchesStage) -> str:
    return (
        f"delete {', '.join(stage.deleted)} in batches of {stage.batch_size:,} (one transaction each); "
        f"anonymize {', '.join(stage.anonymized)} (kept for campaign statistics)"
    )


@describe_stage.register
def _(stage: VerifyStage) -> str:
    return "verify: no row of a deleted profile remains, activity counts unchanged, the segment still exists"


def explain_plan(plan: DeletionPlan) -> list[str]:
    return [f"{n}. {describe_stage(stage)}" for n, stage in enumerate(plan.stages, start=1)]


def preview_markdown(shown: Preview) -> str:
    """The approval form's text: what would be deleted, what would be anonymized, a sample to recognise."""
    rows = "\n".join(f"| {table} | {count:,} |" for table, count in shown.tables.items() if table != "activity")
    sample = ", ".join(f"`{x}`" for x in shown.sample) or "(none)"
    return (
        f"### Delete {shown.count:,} profiles of segment '{shown.segment_name}' (`{shown.segment_key}`)\n\n"
        f"Irreversible. Job `{shown.job_id}`.\n\n| table | rows deleted |\n|---|---:|\n{rows}\n\n"
        f"Message activity kept but anonymized: {shown.tables.get('activity', 0):,} rows "
        "(campaign statistics stay the same).\n\n"
        f"Sample of external ids: {sample}\n\n"
        "To proceed, type the segment's exact name and the number of profiles shown above."
    )


def report_lines(report: dict[str, Any] | None) -> list[str]:
    """One line per check of a stored quality report: status, name, expectation, observation."""
    lines = []
    for check in (report or {}).get("checks", []):
        status = "ok" if check["success"] else ("FAILED" if check["blocking"] else "warning")
        seen = f"error: {check['error']}" if check.get("error") else f"observed {check.get('observed')}"
        lines.append(f"{status:7} {check['name']}: {check['description']} (expected {check['expected']}, {seen})")
    return lines


def summarize_audit(step: str, detail: dict[str, Any]) -> str:
    """One line per audit row for `segpipe deletion show`."""
    if step == "batch":
        tables = ", ".join(f"{k} {v:,}" for k, v in detail.get("tables", {}).items() if v)
        return (
            f"batch {detail.get('batch_no')}: {detail.get('manifest_profiles', 0):,} profiles ({tables or 'no rows'})"
        )
    if step == "gate":
        failed = [c["name"] for c in detail.get("report", {}).get("checks", []) if not c["success"] and c["blocking"]]
        return "quality gate passed" if detail.get("passed") else f"quality gate refused: {', '.join(failed)}"
    if step == "manifest_frozen":
        return (
            f"manifest frozen: {detail.get('matched', 0):,} profiles in {detail.get('batches', 0)} batch(es), "
            f"refresh run {detail.get('refresh_run_id')}, sha256 {str(detail.get('manifest_sha256'))[:16]}…"
        )
    if step == "refused":
        return f"refused by the {detail.get('gate')} gate: {detail.get('reason')}"
    if step == "verified":
        return "verified" if detail.get("ok") else f"verification failed: {detail}"
    return _generic(step, detail)


def _generic(step: str, detail: dict[str, Any]) -> str:
    shown = {k: v for k, v in detail.items() if k not in ("rules", "external_id_hashes", "report")}
    return f"{step}: " + ", ".join(f"{k}={v}" for k, v in shown.items()) if shown else step
