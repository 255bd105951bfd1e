"""Inactivity classification (contract §5): live and passive uses of every kind, chains, the grace period, reasons."""

from __future__ import annotations

from datetime import timedelta

from segpipe.lifecycle.classify import classify as classify_segments
from tests.lifecycle.helpers import apply, classify, created_at, later, run_json, segment_doc, show

CAMPAIGN = "kind: Campaign\nkey: c-{n}\nchannel: email\nstatus: {status}\n"
MESSAGE = "---\nkind: Message\nkey: m-{n}\nsegments: [s-{n}]\nused_by: [j-{n}]\n"
CONSUMERS = {
    "campaign-scheduled": (CAMPAIGN.format(n="{n}", status="scheduled") + "include: [s-{n}]\n", True),
    "campaign-sending": (CAMPAIGN.format(n="{n}", status="sending") + "exclude: [s-{n}]\n", True),
    "campaign-draft": (CAMPAIGN.format(n="{n}", status="draft") + "include: [s-{n}]\n", False),
    "campaign-sent": (CAMPAIGN.format(n="{n}", status="sent") + "include: [s-{n}]\n", False),
    "campaign-cancelled": (CAMPAIGN.format(n="{n}", status="cancelled") + "include: [s-{n}]\n", False),
    "journey-live": ("kind: Journey\nkey: j-{n}\nstatus: live\nsegments: [s-{n}]\n", True),
    "journey-paused": ("kind: Journey\nkey: j-{n}\nstatus: paused\nsegments: [s-{n}]\n", False),
    "journey-stopped": ("kind: Journey\nkey: j-{n}\nstatus: stopped\nsegments: [s-{n}]\n", False),
    "journey-draft": ("kind: Journey\nkey: j-{n}\nstatus: draft\nsegments: [s-{n}]\n", False),
    "test-list-of-live-campaign": (
        CAMPAIGN.format(n="{n}", status="scheduled")
        + "---\nkind: TestList\nkey: t-{n}\nsegment: s-{n}\ncampaign: c-{n}\n",
        True,
    ),
    "test-list-of-draft-campaign": (
        CAMPAIGN.format(n="{n}", status="draft")
        + "---\nkind: TestList\nkey: t-{n}\nsegment: s-{n}\nused_by: [c-{n}]\n",
        False,
    ),
    "test-list-alone": ("kind: TestList\nkey: t-{n}\nsegment: s-{n}\n", False),
    "message-of-live-campaign": (
        CAMPAIGN.format(n="{n}", status="sending")
        + "---\nkind: Message\nkey: m-{n}\nsegments: [s-{n}]\nused_by: [c-{n}]\n",
        True,
    ),
    "message-of-live-journey": (
        "kind: Journey\nkey: j-{n}\nstatus: live\n" + MESSAGE,
        True,
    ),
    "message-of-paused-journey": (
        "kind: Journey\nkey: j-{n}\nstatus: paused\n" + MESSAGE,
        False,
    ),
    "message-unused": ("kind: Message\nkey: m-{n}\nsegments: [s-{n}]\n", False),
    "report": ("kind: Report\nkey: r-{n}\nsegments: [s-{n}]\n", False),
}


def test_each_consumer_kind_is_live_or_passive(cli, clean, tmp_path):
    """One segment per case (s-<n>), each used by one consumer set-up; all classified in one run."""
    cases = sorted(CONSUMERS)
    docs = ""
    for n, case in enumerate(cases):
        docs += segment_doc(f"s-{n}", name=f"S {n}") + CONSUMERS[case][0].replace("{n}", str(n)) + "---\n"
    apply(cli, tmp_path, docs)
    rows = classify(cli, later(created_at(cli, "s-0"), 30))
    got = {case: (rows[f"s-{n}"]["live"], rows[f"s-{n}"]["status"]) for n, case in enumerate(cases)}
    assert got == {case: (live, "active" if live else "inactive") for case, (_doc, live) in CONSUMERS.items()}
    listed = {row["key"]: row["usage"] for row in run_json(cli, "segment", "list", "--status", "all")}
    for n, case in enumerate(cases):
        live = CONSUMERS[case][1]
        assert [u["live"] for u in listed[f"s-{n}"]] == [live], case


def test_activity_flows_through_segment_chains(cli, clean, tmp_path):
    # c references b references a; a live campaign targets c. d is used by a passive report only,
    # and e is referenced only by d.
    apply(
        cli,
        tmp_path,
        segment_doc("a")
        + segment_doc("b", "{all: [{segment: a}]}")
        + segment_doc("c", "{not: {segment: b}}")
        + segment_doc("e")
        + segment_doc("d", "{any: [{segment: e}, {attribute: x, op: exists}]}")
        + "kind: Campaign\nkey: bf\nchannel: email\nstatus: scheduled\ninclude: [c]\n---\n"
        + "kind: Report\nkey: funnel\nsegments: [d]\n",
    )
    rows = classify(cli, later(created_at(cli, "a"), 30))
    assert {k: (r["status"], r["live"]) for k, r in rows.items()} == {
        "a": ("active", True),
        "b": ("active", True),
        "c": ("active", True),
        "d": ("inactive", False),
        "e": ("inactive", False),
    }
    assert rows["a"]["reason"] == "live use by campaign bf (classify)"


def test_grace_period_boundaries(cli, clean, tmp_path):
    apply(cli, tmp_path, segment_doc("s"))
    start = created_at(cli, "s")
    assert classify(cli, start + timedelta(days=14))["s"]["status"] == "active"
    assert classify(cli, start + timedelta(days=20), "--grace", "30")["s"]["status"] == "active"
    row = classify(cli, start + timedelta(days=14, microseconds=1))["s"]
    assert (row["old_status"], row["status"], row["changed"]) == ("active", "inactive", True)
    assert row["reason"].startswith("no live use for more than 14 days (last creation ")


def test_grace_counts_from_definition_change_and_live_use(cli, clean, tmp_path):
    apply(cli, tmp_path, segment_doc("s"))
    start = created_at(cli, "s")
    apply(cli, tmp_path, segment_doc("s", "{attribute: tier, op: eq, value: silver}"))
    changed = show(cli, "s")["definition_changed_at"]
    assert changed > show(cli, "s")["created_at"]
    assert classify(cli, start + timedelta(days=10))["s"]["status"] == "active"
    # A live use during classification moves last_live_use_at to the classification time.
    apply(cli, tmp_path, "kind: Journey\nkey: j\nstatus: live\nsegments: [s]\n")
    assert classify(cli, start + timedelta(days=40))["s"]["status"] == "active"
    apply(cli, tmp_path, "kind: Journey\nkey: j\nstatus: stopped\nsegments: [s]\n")
    assert classify(cli, start + timedelta(days=50))["s"]["status"] == "active"
    row = classify(cli, start + timedelta(days=54, seconds=1))["s"]
    assert row["status"] == "inactive"
    assert "last live use" in row["reason"]


def test_status_changes_are_recorded_with_reasons(cli, clean, tmp_path):
    apply(cli, tmp_path, segment_doc("s"))
    as_of = later(created_at(cli, "s"), 20)
    classify(cli, as_of)
    data = show(cli, "s")
    assert data["status"] == "inactive"
    assert data["status_reason"].startswith("no live use for more than 14 days")
    assert [(h["old_status"], h["status"]) for h in data["history"]] == [(None, "active"), ("active", "inactive")]
    assert data["history"][1]["reason"] == data["status_reason"]
    # A new live use through apply activates it again, with its reason.
    apply(cli, tmp_path, "kind: Campaign\nkey: bf\nchannel: sms\nstatus: scheduled\ninclude: [s]\n")
    data = show(cli, "s")
    assert data["status"] == "active"
    assert data["history"][-1]["reason"] == "live use by campaign bf (apply)"


def test_classify_activates_live_segments_and_is_idempotent(cli, clean, tmp_path, engine):
    apply(
        cli, tmp_path, segment_doc("s") + "kind: Campaign\nkey: bf\nchannel: email\nstatus: scheduled\ninclude: [s]\n"
    )
    start = created_at(cli, "s")
    with engine.begin() as conn:  # a status set behind classify's back (e.g. an old release): live use wins
        conn.exec_driver_sql("UPDATE segpipe.segments SET status = 'inactive'")
    rows = classify(cli, later(start, 1))
    assert (rows["s"]["old_status"], rows["s"]["status"]) == ("inactive", "active")
    assert classify(cli, later(start, 1))["s"]["changed"] is False
    assert show(cli, "s")["last_live_use_at"].startswith(later(start, 1).date().isoformat())


def test_classify_domain_function(clean, engine, cli, tmp_path):
    apply(cli, tmp_path, segment_doc("s") + segment_doc("t"))
    with engine.begin() as conn:
        result = classify_segments(conn, later(created_at(cli, "s"), 30), grace=timedelta(days=60))
    assert [c.key for c in result.segments] == ["s", "t"]
    assert result.changes == []


def test_classify_refuses_bad_input(cli, clean):
    assert cli("classify", "--grace", "-1").exit_code == 2
    assert cli("classify", "--as-of", "yesterday").exit_code == 2
    assert run_json(cli, "classify") == []
