"""`segment list` (filters, search, sort), `segment show` (JSON fields), `segment usage` both ways, `segment trend`."""

from __future__ import annotations

import pytest

from segpipe.lifecycle.trend import sparkline
from tests.lifecycle.helpers import apply, created_at, later, run_json, segment_doc, show

OBJECTS = (
    "kind: Segment\nkey: alpha\nname: Zeta buyers\ndescription: People who bought 100% cotton\n"
    "rules: {attribute: tier, op: eq, value: gold}\n---\n"
    + segment_doc("beta", "{all: [{segment: alpha}, {not: {segment: gamma}}]}", name="alpha fans")
    + segment_doc("gamma", name="Gamma")
    + segment_doc("delta", name="Delta_1")
    + "kind: Campaign\nkey: bf\nchannel: email\nstatus: scheduled\ninclude: [beta]\nexclude: [gamma]\n---\n"
    + "kind: Journey\nkey: onboarding\nstatus: paused\nsegments: [gamma]\n---\n"
    + "kind: Message\nkey: hero\nsegments: [alpha]\nused_by: [bf, onboarding]\n---\n"
    + "kind: TestList\nkey: seeds\nsegment: alpha\ncampaign: bf\n---\n"
    + "kind: Report\nkey: funnel\nsegments: [alpha, delta]\n"
)


@pytest.fixture()
def setup(cli, clean, tmp_path, engine):
    apply(cli, tmp_path, OBJECTS)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE segpipe.segments SET member_count = CASE key WHEN 'alpha' THEN 30 WHEN 'beta' THEN 10"
            " WHEN 'gamma' THEN 20 END, last_refreshed_at = CASE WHEN key <> 'delta' THEN now() END;"
            " INSERT INTO segpipe.segment_counts (segment_id, at, member_count, source)"
            " SELECT id, now() - make_interval(days => 3 - n), n * 10, 'refresh'"
            " FROM segpipe.segments, generate_series(1, 3) AS n WHERE key = 'alpha'"
        )
    # delta is used only by a report: inactive after the grace period.
    run_json(cli, "classify", "--as-of", later(created_at(cli, "delta"), 20).isoformat())


def _keys(cli, *args):
    return [row["key"] for row in run_json(cli, "segment", "list", *args)]


def test_default_list_hides_inactive_and_archived(cli, setup):
    run_json(cli, "segment", "archive", "gamma")
    assert _keys(cli) == ["alpha", "beta"]
    assert _keys(cli, "--status", "active") == ["alpha", "beta"]
    assert _keys(cli, "--status", "inactive") == ["delta"]
    assert _keys(cli, "--status", "archived") == ["gamma"]
    assert _keys(cli, "--status", "all") == ["alpha", "beta", "delta", "gamma"]


def test_list_json_fields(cli, setup):
    rows = {row["key"]: row for row in run_json(cli, "segment", "list", "--status", "all")}
    for field in ("key", "name", "status", "archived", "member_count", "last_refreshed_at", "usage"):
        assert field in rows["alpha"]
    assert rows["delta"]["status"] == "inactive" and rows["delta"]["last_refreshed_at"] is None
    assert [(u["kind"], u["key"]) for u in rows["alpha"]["usage"]] == [
        ("message", "hero"),
        ("report", "funnel"),
        ("test_list", "seeds"),
        ("segment", "beta"),
    ]
    assert [(u["kind"], u["key"], u["role"], u["status"], u["live"]) for u in rows["gamma"]["usage"]] == [
        ("campaign", "bf", "exclude", "scheduled", True),
        ("journey", "onboarding", "uses", "paused", False),
        ("segment", "beta", "references", "active", True),
    ]


def test_search_is_case_insensitive_over_key_name_description(cli, setup):
    assert _keys(cli, "--status", "all", "--search", "ALPHA") == ["alpha", "beta"]
    assert _keys(cli, "--status", "all", "--search", "cotton") == ["alpha"]
    assert _keys(cli, "--status", "all", "--search", "100%") == ["alpha"]
    assert _keys(cli, "--status", "all", "--search", "A_") == ["delta"]
    assert _keys(cli, "--search", "delta") == []  # inactive: only when filtered


def test_sort(cli, setup):
    assert _keys(cli, "--status", "all", "--sort", "name") == ["delta", "gamma", "alpha", "beta"]
    assert _keys(cli, "--status", "all", "--sort", "-name") == ["beta", "alpha", "gamma", "delta"]
    assert _keys(cli, "--status", "all", "--sort", "member_count") == ["beta", "gamma", "alpha", "delta"]
    assert _keys(cli, "--status", "all", "--sort", "-member_count") == ["alpha", "gamma", "beta", "delta"]
    assert _keys(cli, "--status", "all", "--sort", "-status") == ["delta", "alpha", "beta", "gamma"]
    assert _keys(cli, "--status", "all", "--sort", "last_refreshed_at")[-1] == "delta"
    for field in ("key", "created_at", "updated_at", "-last_refreshed_at"):
        assert len(_keys(cli, "--status", "all", "--sort", field)) == 4


@pytest.mark.parametrize("args", [("--sort", "size"), ("--status", "gone"), ("--sort", "-")])
def test_list_refuses_bad_options(cli, setup, args):
    result = cli("segment", "list", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")


def test_show_json(cli, setup, tmp_path):
    data = show(cli, "beta")
    for field in ("key", "name", "status", "archived", "member_count", "last_refreshed_at", "usage"):
        assert field in data
    assert data["rules"] == {"all": [{"segment": "alpha"}, {"not": {"segment": "gamma"}}]}
    assert data["references"] == ["alpha", "gamma"]
    assert data["live"] is True and data["live_reason"] == "live use by campaign bf"
    assert data["usage"] == [{"kind": "campaign", "key": "bf", "role": "include", "status": "scheduled", "live": True}]
    assert data["last_refresh"] is None and data["refresh_running"] is False
    assert data["schedule"] == {"activate_at": None, "deactivate_at": None}
    assert [h["reason"] for h in data["history"]] == ["created by apply"]
    alpha = show(cli, "alpha")
    assert [p["member_count"] for p in alpha["trend"]["points"]] == [10, 20, 30]
    assert alpha["trend"]["sparkline"] == "▁▅█"
    assert show(cli, "delta")["history"][-1]["status"] == "inactive"
    text = cli("segment", "show", "beta")
    assert text.exit_code == 0
    assert "segment: alpha" in text.stdout and "status history" in text.stdout
    assert cli("segment", "show", "nope").exit_code == 2


def test_usage_of_a_segment_and_of_consumers(cli, setup):
    data = run_json(cli, "segment", "usage", "alpha")
    assert run_json(cli, "segment", "show", "alpha")["live"] is True
    assert [(u["kind"], u["key"], u["live"]) for u in data] == [
        ("message", "hero", True),
        ("report", "funnel", False),
        ("test_list", "seeds", True),
        ("segment", "beta", True),
    ]
    campaign = run_json(cli, "segment", "usage", "--of", "campaign:bf")
    assert campaign["live"] is True
    assert [(s["key"], s["role"], s["via"], s["depth"]) for s in campaign["segments"]] == [
        ("beta", "include", None, 0),
        ("gamma", "exclude", None, 0),
        ("alpha", "references", "beta", 1),
    ]
    message = run_json(cli, "segment", "usage", "--of", "message:hero")
    assert message["links"] == [{"kind": "campaign", "key": "bf"}, {"kind": "journey", "key": "onboarding"}]
    assert [s["key"] for s in run_json(cli, "segment", "usage", "--of", "segment:beta")["segments"]] == [
        "alpha",
        "gamma",
    ]
    assert run_json(cli, "segment", "usage", "--of", "test-list:seeds")["live"] is True
    assert run_json(cli, "segment", "usage", "--of", "report:funnel")["live"] is False


@pytest.mark.parametrize(
    "args", [(), ("alpha", "--of", "campaign:bf"), ("--of", "campaign"), ("--of", "widget:x"), ("--of", "journey:x")]
)
def test_usage_refuses_bad_input(cli, setup, args):
    assert cli("segment", "usage", *args).exit_code == 2


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_trend_chart_is_written(cli, setup, tmp_path, suffix):
    path = tmp_path / f"alpha.{suffix}"
    data = run_json(cli, "segment", "trend", "alpha", "--output", path)
    assert data == {"key": "alpha", "path": str(path), "format": suffix, "points": 3}
    head = path.read_bytes()[:200]
    assert head.startswith(b"\x89PNG") if suffix == "png" else b"<svg" in path.read_bytes()
    empty = tmp_path / f"delta.{suffix}"
    assert run_json(cli, "segment", "trend", "delta", "--output", empty)["points"] == 0
    assert empty.stat().st_size > 0


def test_trend_points_and_refusals(cli, setup, tmp_path):
    data = run_json(cli, "segment", "trend", "alpha")
    assert [p["member_count"] for p in data["points"]] == [10, 20, 30]
    assert [p["member_count"] for p in run_json(cli, "segment", "trend", "alpha", "--last", "2")["points"]] == [20, 30]
    assert "▁▅█" in cli("segment", "trend", "alpha").stdout
    assert cli("segment", "trend", "alpha", "--output", tmp_path / "chart.pdf").exit_code == 2
    assert not (tmp_path / "chart.pdf").exists()
    assert cli("segment", "trend", "alpha", "--since", "soon").exit_code == 2


def test_sparkline():
    assert sparkline([]) == ""
    assert sparkline([5, 5]) == "▄▄"
    assert sparkline([0, 7, 14]) == "▁▅█"
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
