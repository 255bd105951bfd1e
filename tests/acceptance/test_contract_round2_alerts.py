"""Contract §7 `segpipe alerts install` (issue 13.4), through the CLI against a real Prefect server: the
automations that turn segpipe's events into a webhook message are created idempotently (by name), listed and
removed; without a Prefect API, or with a webhook that is not an http(s) URL, the command is invalid input (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.acceptance.contract_driver import Driver

ALERTS = {
    "segpipe-refresh-failed",
    "segpipe-refresh-held",
    "segpipe-snapshot-refused",
    "segpipe-segment-status",
    "segpipe-deletion",
}


@pytest.fixture()
def sp(cli, tmp_path) -> Driver:
    return Driver(cli, tmp_path)


def test_without_a_prefect_api_alerts_install_is_exit_2(sp: Driver, tmp_path: Path) -> None:
    env = {"PREFECT_API_URL": "", "PREFECT_HOME": str(tmp_path / "no-prefect"), "PREFECT_PROFILE": ""}
    line = sp.fails(2, "alerts", "install", "--webhook", "http://127.0.0.1:9/hook", env=env)
    assert "PREFECT_API_URL" in line, line


@pytest.mark.parametrize("url", ["ftp://example.test/hook", "hooks.example.test", ""])
def test_a_webhook_that_is_not_http_is_exit_2(sp: Driver, url: str) -> None:
    assert "--webhook" in sp.fails(2, "alerts", "install", "--webhook", url)


def test_install_is_idempotent_by_name_list_and_uninstall(sp: Driver, prefect_server) -> None:
    env = prefect_server.env()
    first = sp.ok("alerts", "install", "--webhook", "http://127.0.0.1:9/first", env=env)
    assert {a["name"] for a in first["automations"]} == ALERTS
    again = sp.ok("alerts", "install", "--webhook", "http://127.0.0.1:9/second", env=env)
    assert {a["name"] for a in again["automations"]} == ALERTS
    listed = sp.ok("alerts", "list", env=env)
    assert sorted(a["name"] for a in listed) == sorted(ALERTS)  # replaced, not duplicated
    assert all(a["enabled"] for a in listed)
    held = next(a for a in listed if a["name"] == "segpipe-refresh-held")
    assert held["events"] == ["segpipe.segment.held"]
    sp.ok("alerts", "uninstall", env=env)
    assert sp.ok("alerts", "list", env=env) == []
