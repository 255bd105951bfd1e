"""The deployments, as data: `segpipe serve` serves these, and prefect.yaml must declare the same ones
(tests/test_deployments.py holds them equal)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

TAGS = ("segpipe",)


@dataclass(frozen=True)
class DeploymentSpec:
    name: str
    entrypoint: str
    """`flows/<file>.py:<flow function>`, as in prefect.yaml."""
    description: str
    cron: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def module(self) -> str:
        path, _ = self.entrypoint.split(":")
        return path.removesuffix(".py").replace("/", ".")

    @property
    def function(self) -> str:
        return self.entrypoint.split(":")[1]

    def load_flow(self) -> Any:
        return getattr(importlib.import_module(self.module), self.function)


DEPLOYMENTS: tuple[DeploymentSpec, ...] = (
    DeploymentSpec(
        "refresh-all",
        "flows/refresh.py:refresh_all",
        "Refresh every active segment (inactive ones are recorded as skipped).",
    ),
    DeploymentSpec(
        "scheduled-refresh",
        "flows/refresh.py:scheduled_refresh",
        "Hourly: due activations/deactivations, then refresh-all; skipped while the previous one still runs.",
        cron="0 * * * *",
    ),
    DeploymentSpec(
        "refresh-segments",
        "flows/refresh.py:refresh_segments",
        "The Refresh button: the named segments and their stale dependencies.",
    ),
    DeploymentSpec(
        "presend",
        "flows/presend.py:presend_refresh",
        "Pre-send refresh of a campaign: refresh, snapshot the audience, check it with Great Expectations.",
    ),
    DeploymentSpec(
        "classify",
        "flows/classify.py:classify_inactive",
        "Daily inactivity classification (due schedules first; activated segments are refreshed).",
        cron="0 3 * * *",
    ),
    DeploymentSpec(
        "delete-profiles",
        "flows/delete_profiles.py:delete_segment_profiles",
        "Audited deletion of a segment's profiles; asks for the approval in the UI when not given.",
    ),
    DeploymentSpec(
        "run-due-deletions",
        "flows/delete_profiles.py:run_due_deletions",
        "Hourly: carry out the held deletion jobs whose hold is over (delete-profiles --hold-days).",
        cron="30 * * * *",
    ),
)


def runner_deployments() -> list[Any]:
    """RunnerDeployments for `serve`; entrypoints are module paths, so any working directory will do."""
    from prefect.deployments.runner import EntrypointType

    return [
        spec.load_flow().to_deployment(
            name=spec.name,
            cron=spec.cron,
            parameters=spec.parameters or None,
            description=spec.description,
            tags=list(TAGS),
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        for spec in DEPLOYMENTS
    ]
