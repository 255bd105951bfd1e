"""What a running catalog knows beyond the database: set once at start-up by `segpipe catalog` or `serve`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogOptions:
    show_members: bool = False
    """Show the first members (external id, email) of a segment; off unless started with --show-members."""
    prefect_ui_url: str | None = None
    """The Prefect UI (`http://127.0.0.1:4200`): runs link to their flow runs, actions to the deployments."""
    refresh_schedule: str | None = None
    """How active segments are refreshed on a schedule (the scheduled-refresh deployment's cron), for display."""

    def flow_run_url(self, flow_run_id: str | None) -> str | None:
        if not self.prefect_ui_url or not flow_run_id:
            return None
        return f"{self.prefect_ui_url.rstrip('/')}/runs/flow-run/{flow_run_id}"

    def deployments_url(self) -> str | None:
        return f"{self.prefect_ui_url.rstrip('/')}/deployments" if self.prefect_ui_url else None
