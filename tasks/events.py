"""Prefect events for the outcomes an operator wants to hear about, beyond each segment's refresh outcome
(`tasks.reporting.segment_event`). Every event has a `message` in its payload: one readable line, what
`segpipe alerts install` sends to the webhook (docs/alerts.md).

- `segpipe.audience.snapshot-refused`: resource `segpipe.campaign.<key>`; a pre-send was refused (quality gate,
  held refresh, campaign status…); payload `gate`, `snapshot_id` (None when no snapshot was written).
- `segpipe.segment.inactive` / `segpipe.segment.active`: resource `segpipe.segment.<key>`; the classification
  changed the segment's status; payload `old_status`, `status`, `reason`.
- `segpipe.deletion.started` / `.completed` / `.cancelled`: resource `segpipe.deletion.<job>` (related: the
  segment, `segpipe.segment.<key>`); a deletion job was planned, ended (`status`: done, dry-run, held…), or was
  cancelled (flow run cancelled, no approval in time); payload `job_id`, `segment_key`, and counts.
"""

from __future__ import annotations

from typing import Any

from prefect.events import emit_event

from segpipe.errors import GateRefused, SegpipeError
from segpipe.lifecycle.classify import Classification

SNAPSHOT_REFUSED = "segpipe.audience.snapshot-refused"
CLASSIFIED = {"inactive": "segpipe.segment.inactive", "active": "segpipe.segment.active"}


def _resource(kind: str, key: str) -> dict[str, str]:
    return {"prefect.resource.id": f"segpipe.{kind}.{key}", "prefect.resource.name": key}


def snapshot_refused(campaign: str, exc: SegpipeError) -> None:
    details = exc.details if isinstance(exc, GateRefused) and isinstance(exc.details, dict) else {}
    payload: dict[str, Any] = {
        "campaign": campaign,
        "gate": exc.gate if isinstance(exc, GateRefused) else None,
        "snapshot_id": details.get("snapshot_id"),
        "message": f"pre-send of campaign '{campaign}' refused: {str(exc).splitlines()[0]}",
    }
    emit_event(SNAPSHOT_REFUSED, resource=_resource("campaign", campaign), payload=payload)


def classification_changed(change: Classification) -> None:
    """`segpipe.segment.inactive` or `.active` for a segment whose status the classification changed."""
    name = CLASSIFIED.get(change.status, f"segpipe.segment.{change.status}")
    message = f"segment '{change.key}' is now {change.status} (was {change.old_status}): {change.reason}"
    payload = {
        "key": change.key,
        "old_status": change.old_status,
        "status": change.status,
        "reason": change.reason,
        "message": message,
    }
    emit_event(name, resource=_resource("segment", change.key), payload=payload)


DELETION = {
    "started": "segpipe.deletion.started",
    "completed": "segpipe.deletion.completed",
    "cancelled": "segpipe.deletion.cancelled",
}


def deletion(kind: str, job_id: object, segment_key: str, message: str, **payload: Any) -> None:
    """`segpipe.deletion.started|completed|cancelled` with the job (`segpipe.deletion.<job>`) as resource and the
    segment as related resource."""
    emit_event(
        DELETION[kind],
        resource={"prefect.resource.id": f"segpipe.deletion.{job_id}", "prefect.resource.name": f"deletion {job_id}"},
        related=[{"prefect.resource.id": f"segpipe.segment.{segment_key}", "prefect.resource.role": "segment"}],
        payload={"job_id": str(job_id), "segment_key": segment_key, **payload, "message": message},
    )
