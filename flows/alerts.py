"""Alerts: Prefect automations that send a readable message to a webhook when segpipe emits an event that
matters (`segpipe alerts install --webhook URL`; docs/alerts.md).

One webhook notification block (`segpipe-alerts`, Prefect's Custom Webhook: it POSTs JSON `{"text", "subject",
"body"}`) and one automation per alert below, all created or replaced by name, so installing twice changes
nothing but the URL. Each automation reacts to every matching event (reactive, threshold 1) and renders the
event's `message` (tasks.events, tasks.reporting) into the notification.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

BLOCK_NAME = "segpipe-alerts"
PREFIX = "segpipe-"
SUBJECT = "segpipe: {{ event.event }} on {{ event.resource['prefect.resource.name'] or event.resource.id }}"
BODY = "{{ event.payload.message or event.event }}\n(resource {{ event.resource.id }} at {{ event.occurred }})"


@dataclass(frozen=True)
class Alert:
    name: str
    events: tuple[str, ...]
    resource: str
    """A resource id pattern the events must match (`segpipe.segment.*`)."""
    description: str


ALERTS: tuple[Alert, ...] = (
    Alert(
        "segpipe-refresh-failed",
        ("segpipe.segment.refresh-failed",),
        "segpipe.segment.*",
        "A segment's refresh failed.",
    ),
    Alert("segpipe-refresh-held", ("segpipe.segment.held",), "segpipe.segment.*", "The count gate held a refresh."),
    Alert(
        "segpipe-snapshot-refused",
        ("segpipe.audience.snapshot-refused",),
        "segpipe.campaign.*",
        "A pre-send was refused: no ready snapshot for the campaign.",
    ),
    Alert(
        "segpipe-segment-status",
        ("segpipe.segment.inactive", "segpipe.segment.active"),
        "segpipe.segment.*",
        "The classification made a segment inactive or active.",
    ),
    Alert(
        "segpipe-deletion",
        ("segpipe.deletion.started", "segpipe.deletion.completed", "segpipe.deletion.cancelled"),
        "segpipe.deletion.*",
        "A profile deletion job started, ended (completed, previewed or held) or was cancelled.",
    ),
)


def install(webhook: str) -> dict[str, Any]:
    """Create or replace the block and every automation; returns what is installed."""
    from prefect import get_client
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    block = CustomWebhookNotificationBlock(
        name=BLOCK_NAME,
        url=webhook,
        json_data={"text": "{{subject}}\n{{body}}", "subject": "{{subject}}", "body": "{{body}}"},
    )
    block_id = cast(UUID, block.save(BLOCK_NAME, overwrite=True))
    with get_client(sync_client=True) as client:
        for alert in ALERTS:
            for old in client.read_automations_by_name(alert.name):
                client.delete_automation(old.id)
            client.create_automation(_automation(alert, block_id))
    return {"block": BLOCK_NAME, "webhook": webhook, "automations": listed()}


def _automation(alert: Alert, block_id: UUID) -> Any:
    from prefect.automations import AutomationCore, EventTrigger, Posture, SendNotification

    trigger = EventTrigger(
        expect=set(alert.events),
        match={"prefect.resource.id": alert.resource},
        posture=Posture.Reactive,
        threshold=1,
    )
    action = SendNotification(block_document_id=block_id, subject=SUBJECT, body=BODY)
    return AutomationCore(name=alert.name, description=alert.description, trigger=trigger, actions=[action])


def listed() -> list[dict[str, Any]]:
    """segpipe's automations on the server: name, events, enabled, id."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        found = [a for a in client.read_automations() if a.name.startswith(PREFIX)]
    return [
        {
            "name": a.name,
            "events": sorted(getattr(a.trigger, "expect", ())),
            "enabled": a.enabled,
            "id": str(a.id),
        }
        for a in sorted(found, key=lambda a: a.name)
    ]


def uninstall() -> dict[str, Any]:
    """Delete segpipe's automations and its webhook block (absent ones are fine)."""
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    names = [a.name for a in ALERTS]
    removed = []
    with get_client(sync_client=True) as client:
        for automation in client.read_automations():
            if automation.name in names:
                client.delete_automation(automation.id)
                removed.append(automation.name)
        try:
            block = client.read_block_document_by_name(BLOCK_NAME, "custom-webhook")
            client.delete_block_document(block.id)
        except ObjectNotFound:
            pass
    return {"removed": sorted(removed), "block": BLOCK_NAME}
