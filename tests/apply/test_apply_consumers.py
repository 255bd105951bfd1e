"""Consumers and their references as stored, live use making segments active, and the refresh-in-progress gate."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segpipe.db import schema as t
from segpipe.db.engine import lock_id
from tests.apply.helpers import actions, output_json, segment, snapshot, write

OBJECTS = """
kind: Segment
key: vip
name: VIP
rules: {attribute: tier, op: eq, value: gold}
---
kind: Segment
key: churned
name: Churned
rules: {event: login, op: eq, value: 0, within: {days: 90}}
---
kind: Segment
key: vip-active
name: VIP active
rules: {all: [{segment: vip}, {not: {segment: churned}}]}
---
kind: Segment
key: newcomers
name: Newcomers
rules: {attribute: created_at, op: within_last, value: {days: 7}}
---
kind: Segment
key: analysts
name: Analysts
rules: {event: report_viewed}
---
kind: Campaign
key: black-friday
name: Black Friday
channel: email
status: draft
include: [vip-active]
exclude: [churned]
---
kind: Journey
key: onboarding
status: paused
segments: [newcomers]
---
kind: TestList
key: seeds
segment: vip
campaign: black-friday
---
kind: Message
key: hero-banner
segments: [analysts]
used_by: [black-friday, onboarding]
---
kind: Report
key: funnel
segments: [analysts, vip]
"""


def _rows(engine: Engine, table: sa.Table) -> set[tuple]:
    with engine.connect() as conn:
        return {tuple(row) for row in conn.execute(sa.select(table))}


def _consumer_segments(engine: Engine) -> set[tuple[str, str, str, str]]:
    cs, s = t.consumer_segments, t.segments
    query = sa.select(cs.c.consumer_kind, cs.c.consumer_key, s.c.key, cs.c.role).join(s, s.c.id == cs.c.segment_id)
    with engine.connect() as conn:
        return {tuple(row) for row in conn.execute(query)}


def _set_inactive(engine: Engine, *keys: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(t.segments).where(t.segments.c.key.in_(keys)).values(status="inactive"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("objects")
    write(folder, "objects.yaml", OBJECTS)
    return folder


def test_consumer_references_are_stored(cli, engine: Engine, folder: Path) -> None:
    result = cli("apply", folder, "--json")
    assert result.exit_code == 0, result.output
    assert set(actions(result).values()) == {"created"}
    assert _consumer_segments(engine) == {
        ("campaign", "black-friday", "vip-active", "include"),
        ("campaign", "black-friday", "churned", "exclude"),
        ("journey", "onboarding", "newcomers", "uses"),
        ("test_list", "seeds", "vip", "uses"),
        ("message", "hero-banner", "analysts", "uses"),
        ("report", "funnel", "analysts", "uses"),
        ("report", "funnel", "vip", "uses"),
    }
    assert _rows(engine, t.consumer_links) == {
        ("test_list", "seeds", "campaign", "black-friday"),
        ("message", "hero-banner", "campaign", "black-friday"),
        ("message", "hero-banner", "journey", "onboarding"),
    }
    with engine.connect() as conn:
        row = conn.execute(sa.select(t.consumers).where(t.consumers.c.key == "black-friday")).one()
    assert (row.kind, row.name, row.status, row.channel) == ("campaign", "Black Friday", "draft", "email")
    assert row.spec["include"] == ["vip-active"] and row.spec["exclude"] == ["churned"]
    dependencies = {(k, d) for k, deps in _dependency_keys(engine).items() for d in deps}
    assert dependencies == {("vip-active", "vip"), ("vip-active", "churned")}


def _dependency_keys(engine: Engine) -> dict[str, set[str]]:
    from segpipe.store.segments import dependency_keys

    with engine.connect() as conn:
        return dependency_keys(conn)


def test_passive_uses_do_not_mark_live_use(engine: Engine) -> None:
    assert all(segment(engine, key)["last_live_use_at"] is None for key in ("vip", "churned", "analysts"))


def test_scheduling_a_campaign_activates_its_segments_transitively(cli, engine: Engine, folder: Path) -> None:
    _set_inactive(engine, "vip", "churned", "vip-active", "analysts", "newcomers")
    write(folder, "objects.yaml", OBJECTS.replace("status: draft", "status: scheduled"))
    result = cli("apply", folder, "--json")
    data = output_json(result)
    assert actions(result)[("Campaign", "black-friday")] == "updated"
    # The campaign, its test list and the message used by it are live; the paused journey and the report are not.
    assert sorted(data["activated"]) == ["analysts", "churned", "vip", "vip-active"]
    for key in ("vip", "churned", "vip-active", "analysts"):
        row = segment(engine, key)
        assert row["status"] == "active" and row["last_live_use_at"] is not None
    assert segment(engine, "newcomers")["status"] == "inactive"
    with engine.connect() as conn:
        reasons = dict(
            conn.execute(
                sa.select(t.segments.c.key, t.segment_status_changes.c.reason)
                .join(t.segments, t.segments.c.id == t.segment_status_changes.c.segment_id)
                .where(t.segment_status_changes.c.old_status == "inactive")
            ).all()
        )
    assert reasons["vip-active"] == "live use by campaign black-friday (apply)"
    assert reasons["vip"] == "live use by campaign black-friday (apply)"


def test_going_live_journey_activates_its_segments(cli, engine: Engine, folder: Path) -> None:
    write(folder, "objects.yaml", OBJECTS.replace("status: draft", "status: scheduled").replace("paused", "live"))
    result = cli("apply", folder, "--json")
    assert output_json(result)["activated"] == ["newcomers"]
    assert segment(engine, "newcomers")["status"] == "active"


def test_unchanged_apply_writes_nothing_even_with_live_uses(cli, engine: Engine, folder: Path) -> None:
    before = snapshot(engine)
    result = cli("apply", folder, "--json")
    assert set(actions(result).values()) == {"unchanged"}
    assert snapshot(engine) == before


def test_rules_edit_during_refresh_is_refused_with_exit_3(cli, engine: Engine, folder: Path) -> None:
    edited = OBJECTS.replace("status: draft", "status: scheduled").replace("paused", "live").replace("gold", "platinum")
    write(folder, "objects.yaml", edited)
    before = snapshot(engine)
    holder = engine.connect()
    try:
        holder.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": lock_id("refresh", "vip")})
        result = cli("apply", folder, "--json")
        assert result.exit_code == 3, result.output
        data = output_json(result)
        assert data["gate"] == "refresh-in-progress" and "refresh in progress" in data["error"]
        refused = [o for o in data["objects"] if o["action"] == "refused"]
        assert [o["key"] for o in refused] == ["vip"]
        assert snapshot(engine) == before
        # A name-only change of a segment being refreshed is fine: its members do not change.
        renamed = OBJECTS.replace("status: draft", "status: scheduled").replace("paused", "live")
        write(folder, "objects.yaml", renamed.replace("name: VIP\n", "name: Very important\n"))
        assert cli("apply", folder).exit_code == 0
    finally:
        holder.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": lock_id("refresh", "vip")})
        holder.close()
    write(folder, "objects.yaml", edited)
    assert cli("apply", folder).exit_code == 0
    assert segment(engine, "vip")["rules"]["value"] == "platinum"


def test_references_are_replaced_on_update(cli, engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", "kind: Report\nkey: funnel\nsegments: [churned]\n")
    assert actions(cli("apply", path, "--json")) == {("Report", "funnel"): "updated"}
    assert {row for row in _consumer_segments(engine) if row[0] == "report"} == {
        ("report", "funnel", "churned", "uses")
    }


def test_two_applies_serialize_on_the_apply_lock(engine: Engine, tmp_path: Path) -> None:
    import threading

    from segpipe.apply.execute import apply_documents
    from segpipe.apply.files import read_documents

    documents = read_documents([str(write(tmp_path, "s.yaml", "kind: Report\nkey: waiting\nsegments: [vip]\n"))])
    holder = engine.connect()
    holder.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": lock_id("apply")})
    done = threading.Event()
    worker = threading.Thread(target=lambda: (apply_documents(engine, documents), done.set()))
    worker.start()
    try:
        assert not done.wait(0.5)
    finally:
        holder.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": lock_id("apply")})
        holder.close()
    worker.join(10)
    assert done.is_set()


def test_a_rules_edit_holds_the_refresh_lock_until_the_transaction_ends(engine: Engine, tmp_path: Path) -> None:
    from segpipe.apply.files import read_documents
    from segpipe.apply.plan import build_plan
    from segpipe.db.engine import is_locked

    text = "kind: Segment\nkey: vip\nname: VIP\nrules: {attribute: tier, op: eq, value: silver}\n"
    documents = read_documents([str(write(tmp_path, "vip.yaml", text))])
    with engine.connect() as conn, conn.begin():
        assert [obj.action for obj in build_plan(conn, documents).objects] == ["updated"]
        with engine.connect() as other:
            assert is_locked(other, "refresh", "vip")
    with engine.connect() as other:
        assert not is_locked(other, "refresh", "vip")
