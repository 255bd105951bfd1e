"""prefect.yaml smoke test: every deployment's entrypoint loads as Prefect would load it, its parameters exist
with a schema a UI can render, and `segpipe serve` serves exactly these deployments with the same schedules."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from prefect.flows import Flow, load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema

from flows.deployments import DEPLOYMENTS, runner_deployments

ROOT = Path(__file__).resolve().parents[1]
SPEC = yaml.safe_load((ROOT / "prefect.yaml").read_text())
BY_NAME = {d["name"]: d for d in SPEC["deployments"]}


def test_prefect_yaml_and_serve_declare_the_same_deployments():
    assert list(BY_NAME) == [spec.name for spec in DEPLOYMENTS]
    for spec in DEPLOYMENTS:
        declared = BY_NAME[spec.name]
        assert declared["entrypoint"] == spec.entrypoint
        assert declared["description"] == spec.description
        assert [s["cron"] for s in declared["schedules"]] == ([spec.cron] if spec.cron else [])
        assert declared["parameters"] == spec.parameters
        assert declared["work_pool"]["name"] == "segpipe"


@pytest.mark.parametrize("name", list(BY_NAME))
def test_entrypoint_loads_and_parameters_match(name, monkeypatch):
    monkeypatch.chdir(ROOT)
    declared = BY_NAME[name]
    flow = load_flow_from_entrypoint(declared["entrypoint"])
    assert isinstance(flow, Flow)
    schema = parameter_schema(flow).model_dump()
    assert set(declared["parameters"]) <= set(schema["properties"])
    for parameter, value in schema["properties"].items():
        assert value.get("type") or value.get("anyOf") or value.get("allOf"), f"{name}.{parameter} has no type"
    assert flow.name == next(s for s in DEPLOYMENTS if s.name == name).load_flow().name


def test_serve_builds_every_deployment_with_its_schedule():
    built = {d.name: d for d in runner_deployments()}
    assert set(built) == set(BY_NAME)
    assert [s.schedule.cron for s in built["scheduled-refresh"].schedules] == ["0 * * * *"]
    assert [s.schedule.cron for s in built["classify"].schedules] == ["0 3 * * *"]
    assert not built["presend"].schedules
    assert built["presend"].entrypoint == "flows.presend.presend_refresh"
    assert "campaign_key" in built["presend"]._parameter_openapi_schema.required
