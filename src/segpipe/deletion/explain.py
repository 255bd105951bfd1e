"""Words for people: the approval form (the job's stages and its preview, in Markdown, also a Prefect artifact)
and one line per audit row (`segpipe deletion show`)."""

from __future__ import annotations

from typing import Any

from segpipe.deletion.plan import Preview


def preview_markdown(shown: Preview, plan: list[str]) -> str:
    """The approval form's text: what would be deleted, what would be anonymized, and the stages the job runs
    (`stages.explain`). Counts only: the form and its artifact outlive the deletion in Prefect, so they hold no
    external id (the CLI's `--dry-run` shows a sample on the terminal)."""
    rows = "\n".join(f"| {table} | {count:,} |" for table, count in shown.tables.items() if table != "activity")
    return (
        f"### Delete {shown.count:,} profiles of segment '{shown.segment_name}' (`{shown.segment_key}`)\n\n"
        f"Irreversible. Job `{shown.job_id}`.\n\n| table | rows deleted |\n|---|---:|\n{rows}\n\n"
        f"Message activity kept but anonymized: {shown.tables.get('activity', 0):,} rows "
        "(campaign statistics stay the same).\n\n"
        "A sample of external ids: `segpipe delete-profiles … --dry-run` on a terminal.\n\n"
        "Stages:\n\n" + "\n".join(plan) + "\n\n"
        "To proceed, type the segment's exact name and the number of profiles shown above."
    )


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
