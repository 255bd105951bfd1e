"""Flow run names that say what ran (`refresh-segments high-value-de, churned`), from the run's parameters."""

from __future__ import annotations

from prefect.runtime import flow_run


def _params() -> dict:
    return dict(flow_run.get_parameters() or {})


def _as_of_suffix(params: dict) -> str:
    as_of = params.get("as_of")
    return f" as of {as_of}" if as_of else ""


def refresh_all_name() -> str:
    return "refresh-all" + _as_of_suffix(_params())


def scheduled_refresh_name() -> str:
    return "scheduled-refresh"


def refresh_segments_name() -> str:
    params = _params()
    keys = list(params.get("keys") or [])
    shown = ", ".join(keys[:3]) + (f" (+{len(keys) - 3})" if len(keys) > 3 else "")
    return f"refresh-segments {shown}{_as_of_suffix(params)}"


def presend_name() -> str:
    params = _params()
    return f"presend {params.get('campaign_key')}{_as_of_suffix(params)}"


def classify_name() -> str:
    return "classify" + _as_of_suffix(_params())


def delete_profiles_name() -> str:
    params = _params()
    return f"delete-profiles {params.get('segment_key')}" + (" (dry run)" if params.get("dry_run") else "")
