"""Results → what the Prefect UI shows: progress, table and markdown artifacts, and events automations react to.

Plain functions called from flows (not tasks): they only talk to the Prefect API. Event names:
`segpipe.segment.refreshed` (succeeded), `segpipe.segment.refresh-failed`, `segpipe.segment.refresh-skipped`,
`segpipe.segment.refresh-cancelled`, `segpipe.segment.held` (the count gate held it: members unchanged, the
payload has the counts it would have had), each with the segment (`segpipe.segment.<key>`) as resource and
`rewind: true` in the payload of a run that rewinds live membership; and
`segpipe.audience.snapshot-ready` with the campaign (`segpipe.campaign.<key>`) as resource.

With SEGPIPE_CATALOG_URL set, artifacts link each segment (and campaign) to its page in the segment catalog.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast
from urllib.parse import quote
from uuid import UUID

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.events import emit_event

from segpipe.config import Settings
from segpipe.quality import QualityReport
from segpipe.refresh.engine import RefreshRunResult, SegmentRefreshResult
from segpipe.refresh.presend import PresendResult
from tasks.narration import count, duration, plain, words

SEGMENT_EVENTS = {
    "succeeded": "segpipe.segment.refreshed",
    "failed": "segpipe.segment.refresh-failed",
    "skipped": "segpipe.segment.refresh-skipped",
    "cancelled": "segpipe.segment.refresh-cancelled",
    "held": "segpipe.segment.held",
}
SNAPSHOT_READY = "segpipe.audience.snapshot-ready"


def catalog_link(kind: str, key: str | None = None) -> str | None:
    """The catalog page of a segment or campaign (`kind` segments|campaigns), or of the index (no key); None
    when no catalog URL is configured."""
    base = Settings.from_env().catalog_url
    if not base:
        return None
    return f"{base}/{kind}" + ("" if key is None else f"/{quote(key, safe='')}")


def artifact_key(*parts: object) -> str:
    """An artifact key (lowercase letters, digits and dashes only) made of `parts`."""
    text = "-".join(str(p) for p in parts).lower()
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", text)).strip("-")[:100] or "segpipe"


class ProgressReport:
    """A progress artifact updated as work finishes; updates are throttled to one per `min_interval_s`."""

    def __init__(self, total: int, key: str, description: str, min_interval_s: float = 0.5) -> None:
        self.total, self.done, self._interval = total, 0, min_interval_s
        self._last = time.monotonic()
        self._id = cast(UUID, create_progress_artifact(0.0 if total else 100.0, key=key, description=description))

    def advance(self, steps: int = 1) -> None:
        self.done += steps
        now = time.monotonic()
        if self.done >= self.total or now - self._last >= self._interval:
            self._last = now
            update_progress_artifact(self._id, self.percent)

    @property
    def percent(self) -> float:
        return 100.0 if not self.total else round(100.0 * min(self.done, self.total) / self.total, 1)


def segment_event(
    result: SegmentRefreshResult, run_id: int, as_of: datetime, trigger: str, rewind: bool = False
) -> None:
    emit_event(
        SEGMENT_EVENTS.get(result.status, f"segpipe.segment.refresh-{result.status}"),
        resource={"prefect.resource.id": f"segpipe.segment.{result.key}", "prefect.resource.name": result.key},
        related=[{"prefect.resource.id": f"segpipe.refresh-run.{run_id}", "prefect.resource.role": "refresh-run"}],
        payload={
            "key": result.key,
            "status": result.status,
            "member_count": result.member_count,
            "added": result.added,
            "removed": result.removed,
            "mode": result.mode,
            "evaluated": result.evaluated,
            "duration_ms": result.duration_ms,
            "reason": result.reason,
            "error": result.error,
            "run_id": run_id,
            "as_of": as_of.isoformat(),
            "trigger": trigger,
            "rewind": rewind,
            "message": _event_message(result),
        },
    )


def _event_message(result: SegmentRefreshResult) -> str:
    """One readable line for alerts: `segment 'de' refresh held: would remove 1,200 of 2,459 members …`."""
    if result.status == "succeeded":
        return f"segment '{result.key}' refreshed: {count(result.member_count)} members"
    note = result.error or result.reason
    return f"segment '{result.key}' refresh {result.status}" + (f": {note}" if note else "")


def refresh_rows(segments: Iterable[SegmentRefreshResult]) -> list[dict[str, Any]]:
    """One row per segment, numbers formatted for people (`2,459`, `120 ms`); with a catalog configured, a
    `catalog` column holds the segment's page."""
    linked = catalog_link("segments") is not None
    return [
        {
            "segment": s.key,
            "status": s.status,
            "mode": s.mode or "",
            "members": count(s.member_count),
            "added": count(s.added),
            "removed": count(s.removed),
            "evaluated": count(s.evaluated),
            "took": duration(s.duration_ms),
            "note": s.error or s.reason or "",
            **({"catalog": catalog_link("segments", s.key)} if linked else {}),
        }
        for s in segments
    ]


def _segment_ref(key: str) -> str:
    link = catalog_link("segments", key)
    return f"[`{key}`]({link})" if link else f"`{key}`"


def refresh_summary(result: RefreshRunResult, title: str) -> str:
    counts = Counter(s.status for s in result.segments)
    lines = [
        f"# {title}",
        "",
        f"Refresh run **{result.run_id}**, as of `{result.as_of.isoformat()}`: "
        + (", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing to refresh")
        + ".",
    ]
    modes = Counter(s.mode for s in result.segments if s.mode)
    if modes:
        lines += ["", "Computed: " + ", ".join(f"{count(n)} {mode}" for mode, n in sorted(modes.items())) + "."]
    changed = sorted(
        (s for s in result.segments if (s.added or 0) + (s.removed or 0)),
        key=lambda s: -((s.added or 0) + (s.removed or 0)),
    )
    if changed:
        lines += ["", "## Changed most", ""] + [
            f"- `{s.key}`: +{count(s.added or 0)} / -{count(s.removed or 0)} → {count(s.member_count)} members"
            for s in changed[:5]
        ]
    failed = [s for s in result.segments if s.status == "failed"]
    if failed:
        lines += ["", "## Failed", ""] + [f"- {_segment_ref(s.key)}: {s.error}" for s in failed]
    if result.held:
        lines += ["", "## Held (members unchanged)", ""] + [f"- {_segment_ref(s.key)}: {s.reason}" for s in result.held]
    index = catalog_link("segments")
    if index:
        lines += ["", f"Segment pages: [the catalog]({index}) (each segment's page is in the table)."]
    return "\n".join(lines) + "\n"


def publish_refresh(result: RefreshRunResult, key: str, title: str) -> None:
    """The run's table artifact (one row per segment) and its markdown summary."""
    description = f"refresh run {result.run_id} as of {result.as_of.isoformat()}"
    create_table_artifact(refresh_rows(result.segments), key=artifact_key(key, "segments"), description=description)
    create_markdown_artifact(refresh_summary(result, title), key=artifact_key(key, "summary"), description=title)


def quality_rows(report: QualityReport) -> list[dict[str, Any]]:
    """One row per check, in words: `≥ 1` (never `>=`, a Markdown block quote), `0 unexpected of 89 rows`."""
    return [
        {
            "check": c.name,
            "result": ("passed" if c.success else "FAILED" if c.blocking else "warning")
            + (f": {c.error}" if c.error else ""),
            "expected": words(c.expected),
            "observed": plain(c.observed),
        }
        for c in report.checks
    ]


def quality_summary(report: QualityReport, description: str) -> str:
    failed = ", ".join(f"`{c.name}`" for c in report.failed) or "none"
    warned = ", ".join(f"`{c.name}`" for c in report.warnings) or "none"
    verdict = "passed" if report.success else "**refused**"
    return (
        f"# Quality checks: {verdict}\n\n{description}: {len(report.checks)} check(s); failed: {failed}; "
        f"warnings: {warned}.\n\n" + "\n".join(f"- `{c.name}`: {c.description}" for c in report.checks) + "\n"
    )


def publish_quality(report: QualityReport, key: str, description: str) -> None:
    create_table_artifact(quality_rows(report), key=artifact_key(key, "checks"), description=description)
    create_markdown_artifact(
        quality_summary(report, description), key=artifact_key(key, "checks-summary"), description=description
    )


def publish_presend(result: PresendResult) -> None:
    previous = (
        f"previous ready snapshot {result.previous_snapshot_id}: {count(result.previous_count)} profiles"
        if result.previous_snapshot_id
        else "no previous ready snapshot"
    )
    run = f"refresh run {result.refresh_run_id}" if result.refresh_run_id else "as-of evaluation, nothing refreshed"
    markdown = (
        f"# Pre-send snapshot of `{result.campaign}`\n\n"
        f"Snapshot **{result.snapshot_id}** is `{result.status}`: **{count(result.count)}** profiles as of "
        f"`{result.as_of.isoformat()}` ({run}; {previous}).\n\nRead it: "
        f"`SELECT profile_id FROM segpipe.snapshot_members WHERE snapshot_id = {result.snapshot_id}`\n"
    )
    page = catalog_link("campaigns", result.campaign)
    if page:
        markdown += f"\nThe campaign in the catalog: [{result.campaign}]({page})\n"
    create_markdown_artifact(markdown, key=artifact_key("presend", result.campaign), description="pre-send snapshot")
    campaign = {"prefect.resource.id": f"segpipe.campaign.{result.campaign}", "prefect.resource.name": result.campaign}
    snapshot = {"prefect.resource.id": f"segpipe.snapshot.{result.snapshot_id}", "prefect.resource.role": "snapshot"}
    emit_event(
        SNAPSHOT_READY,
        resource=campaign,
        related=[snapshot],
        payload={
            **{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in result.to_json().items()},
            "message": f"campaign '{result.campaign}': snapshot {result.snapshot_id} ready, "
            f"{count(result.count)} profiles",
        },
    )


def publish_markdown(markdown: str, key: str, description: str) -> None:
    create_markdown_artifact(markdown, key=artifact_key(key), description=description)


def publish_table(rows: list[dict[str, Any]], key: str, description: str) -> None:
    create_table_artifact(rows, key=artifact_key(key), description=description)
