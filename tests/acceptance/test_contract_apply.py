"""Contract §3 (`segpipe apply`) and the apply-time refusals of §4, checked through the CLI only."""

from __future__ import annotations

import json

import pytest

from tests.acceptance.contract_driver import Driver, attr, campaign, error_line, seg


@pytest.fixture()
def sp(cli, tmp_path) -> Driver:
    return Driver(cli, tmp_path)


def actions(plan: dict) -> dict[str, str]:
    return {obj["key"]: obj["action"] for obj in plan["objects"]}


# plan wording and idempotency ---------------------------------------------------------------------------------


def test_plan_created_then_unchanged_and_idempotent(sp: Driver) -> None:
    a, b, c = sp.k("a"), sp.k("b"), sp.k("camp")
    docs = [seg(a, rules=attr("country", "DE")), seg(b, rules={"segment": a}), campaign(c, "draft", [b])]
    first = sp.apply(*docs)
    assert actions(first) == {a: "created", b: "created", c: "created"}
    assert first["summary"] == {"created": 3}
    again = sp.apply(*docs)
    assert actions(again) == {a: "unchanged", b: "unchanged", c: "unchanged"}
    assert again["summary"] == {"unchanged": 3}
    assert "created" not in json.dumps(again["summary"]) and "updated" not in json.dumps(again["summary"])
    shown = sp.show(a)
    assert sp.show(a) == shown  # re-applying wrote nothing: no updated_at or status change


def test_plan_text_uses_the_four_words(sp: Driver) -> None:
    a, b = sp.k("a"), sp.k("b")
    path = sp.yaml_file(seg(a), seg(b))
    created = sp.run("apply", path)
    assert created.exit_code == 0 and "created" in created.stdout
    sp.yaml_file(seg(a, name="A renamed"), seg(b), name=path.name)
    updated = sp.run("apply", path)
    assert updated.exit_code == 0 and "updated" in updated.stdout and "unchanged" in updated.stdout
    sp.yaml_file(seg(a, rules={"attribute": "x", "op": "equals", "value": 1}), name=path.name)
    refused = sp.run("apply", path)
    error_line(refused, 2)
    assert "refused" in refused.stdout


def test_update_names_the_changed_fields_and_keeps_the_key(sp: Driver) -> None:
    a = sp.k("a")
    sp.apply(seg(a, "Old name", rules=attr("tier", "gold")))
    plan = sp.apply(seg(a, "New name", rules=attr("tier", "gold"), description="d"))
    (obj,) = plan["objects"]
    assert obj["action"] == "updated" and set(obj["changes"]) == {"name", "description"}
    shown = sp.show(a)
    assert (shown["key"], shown["name"]) == (a, "New name")
    assert [row["key"] for row in sp.ok("segment", "list", "--search", "New name")] == [a]


# --dry-run -----------------------------------------------------------------------------------------------------


def test_dry_run_prints_the_plan_and_writes_nothing(sp: Driver) -> None:
    a, b = sp.k("a"), sp.k("b")
    plan = sp.apply(seg(a), campaign(b, "scheduled", [a]), dry_run=True)
    assert actions(plan) == {a: "created", b: "created"}
    assert not sp.exists(a)
    sp.fails(2, "segment", "usage", "--of", f"campaign:{b}")
    sp.apply(seg(a, "Name 1"))
    plan = sp.apply(seg(a, "Name 2"), dry_run=True)
    assert actions(plan) == {a: "updated"}
    assert sp.show(a)["name"] == "Name 1"
    text = sp.run("apply", sp.yaml_file(seg(a, "Name 3")), "--dry-run")
    assert text.exit_code == 0 and "updated" in text.stdout
    assert sp.show(a)["name"] == "Name 1"


def test_dry_run_refuses_the_same_way(sp: Driver) -> None:
    a, bad = sp.k("a"), sp.k("bad")
    docs = [seg(a), seg(bad, rules={"all": [attr("x", 1), attr("y", 2), {"attribute": "z", "op": "equals"}]})]
    path = sp.yaml_file(*docs)
    real = sp.fails(2, "apply", path)
    dry = sp.fails(2, "apply", path, "--dry-run")
    assert real == dry
    assert "rules.all[2].op" in real and "unknown operator 'equals'" in real
    assert not sp.exists(a)


# a refused document changes nothing of the run -----------------------------------------------------------------


def test_one_refused_document_refuses_the_whole_run(sp: Driver) -> None:
    a, b, new, camp = sp.k("a"), sp.k("b"), sp.k("new"), sp.k("camp")
    sp.apply(seg(a, "A v1"), seg(b, "B v1"))
    before = (sp.show(a), sp.show(b))
    line = sp.apply_fails(
        2,
        seg(a, "A v2"),
        seg(new),
        campaign(camp, "scheduled", [a]),
        seg(b, "B v2", rules={"attribute": "tier", "op": "eq"}),
    )
    assert b in line
    assert (sp.show(a), sp.show(b)) == before
    assert not sp.exists(new)
    assert sp.fails(2, "segment", "usage", "--of", f"campaign:{camp}")


def test_refusal_across_files_and_json_output(sp: Driver) -> None:
    a, bad = sp.k("a"), sp.k("bad")
    good_file = sp.yaml_file(seg(a))
    bad_file = sp.file("bad.json", json.dumps({"kind": "Segment", "key": bad, "name": bad, "rules": {"any": []}}))
    result = sp.run("apply", good_file, bad_file, "--json")
    error_line(result, 2)
    data = json.loads(result.stdout)
    assert "error" in data and bad in data["error"]
    assert {o["key"]: o["action"] for o in data["objects"]}[bad] == "refused"
    assert not sp.exists(a)


# input forms ----------------------------------------------------------------------------------------------------


def test_yaml_multi_document_folders_and_json_files(sp: Driver) -> None:
    keys = [sp.k(n) for n in ("y1", "y2", "y3", "j1", "j2", "j3")]
    root = sp.folder / "objs"
    sp.file("objs/a.yaml", "---\n" + "\n---\n".join(json.dumps(seg(k)) for k in keys[:2]) + "\n---\n")
    # a reference to a segment defined in a later file of the same run
    sp.file("objs/sub/b.yml", json.dumps(seg(keys[2], rules={"segment": keys[3]})))
    sp.file("objs/c.json", json.dumps([seg(keys[3]), seg(keys[4])]))
    sp.file("objs/d.json", json.dumps(seg(keys[5])))
    sp.file("objs/notes.txt", "not a document")
    plan = sp.ok("apply", root)
    assert actions(plan) == dict.fromkeys(keys, "created")
    assert all(sp.exists(k) for k in keys)
    assert actions(sp.ok("apply", root)) == dict.fromkeys(keys, "unchanged")


def test_the_same_text_means_the_same_in_json_and_yaml(sp: Driver) -> None:
    a, b = sp.k("a"), sp.k("b")
    text = json.dumps([seg(a), seg(b, rules={"segment": a})])
    assert actions(sp.ok("apply", sp.file("list.yaml", text))) == {a: "created", b: "created"}
    assert actions(sp.ok("apply", sp.file("list.json", text))) == {a: "unchanged", b: "unchanged"}
    listed = sp.file("list2.yaml", f"- {json.dumps(seg(a))}\n---\n{json.dumps(seg(b, rules={'segment': a}))}\n")
    plan = sp.ok("apply", listed)
    assert [(o["key"], o["source"].rsplit("#", 1)[1]) for o in plan["objects"]] == [(a, "1"), (b, "2")]


def test_stdin_is_read_with_a_dash(sp: Driver) -> None:
    a = sp.k("a")
    plan = sp.ok("apply", "-", input=json.dumps(seg(a)))
    assert actions(plan) == {a: "created"}


@pytest.mark.parametrize(
    "args",
    [("missing.yaml",), ("bad.txt",), ("empty-folder",), ("broken.yaml",), ("broken.json",)],
)
def test_unreadable_inputs_are_refused(sp: Driver, args: tuple[str, ...]) -> None:
    sp.file("bad.txt", "kind: Segment")
    (sp.folder / "empty-folder").mkdir()
    sp.file("broken.yaml", "kind: Segment\n  key: [unclosed\n")
    sp.file("broken.json", '{"kind": "Segment",')
    line = sp.fails(2, "apply", *(sp.folder / a for a in args))
    assert args[0] in line


@pytest.mark.parametrize(
    "doc",
    [
        {"key": "x", "name": "x", "rules": {"attribute": "a", "op": "exists"}},
        {"kind": "Audience", "key": "x"},
        ["not", "a", "mapping"],
        {"kind": "Segment", "key": "x", "name": "x"},
        {"kind": "Campaign", "key": "x", "channel": "fax"},
        {"kind": "Campaign", "key": "x", "channel": "email", "status": "live"},
        {"kind": "Journey", "key": "x", "status": "scheduled"},
        {"kind": "TestList", "key": "x"},
    ],
)
def test_malformed_documents_are_refused(sp: Driver, doc) -> None:
    sp.fails(2, "apply", sp.file("doc.json", json.dumps(doc)))


# keys -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("a" * 63, True),
        ("a" * 64, False),
        ("0", True),
        ("9lives_2-x", True),
        ("a-", True),
        ("High-value", False),
        ("-a", False),
        ("_a", False),
        ("a b", False),
        ("a.b", False),
        ("", False),
        ("é", False),
        ("a/b", False),
    ],
)
def test_segment_key_pattern(sp: Driver, key: str, valid: bool) -> None:
    doc = seg(key, name=sp.k("name"))
    if valid:
        assert actions(sp.apply(doc)) == {key: "created"}
        assert sp.show(key)["key"] == key
        sp.ok("segment", "delete", key, "--yes")
    else:
        line = sp.apply_fails(2, doc)
        assert "key" in line
        assert not key or not sp.exists(key)


def test_key_must_be_a_string(sp: Driver) -> None:
    sp.fails(2, "apply", sp.file("k.yaml", f"kind: Segment\nkey: 123\nname: {sp.k('n')}\nrules: {{segment: x}}\n"))


# references and cycles -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda k, u: seg(k, rules={"all": [attr("a", 1), {"not": {"segment": u}}]}),
        lambda k, u: campaign(k, "draft", include=[u]),
        lambda k, u: campaign(k, "draft", exclude=[u]),
        lambda k, u: {"kind": "Journey", "key": k, "status": "draft", "segments": [u]},
        lambda k, u: {"kind": "TestList", "key": k, "segment": u},
        lambda k, u: {"kind": "Message", "key": k, "segments": [u]},
        lambda k, u: {"kind": "Report", "key": k, "segments": [u]},
    ],
)
def test_unknown_segment_reference_is_refused(sp: Driver, make) -> None:
    ok, unknown = sp.k("ok"), sp.k("nowhere")
    line = sp.apply_fails(2, seg(ok), make(sp.k("user"), unknown))
    assert unknown in line and "unknown" in line
    assert not sp.exists(ok)


def test_rule_reference_fault_has_its_json_path(sp: Driver) -> None:
    unknown = sp.k("nowhere")
    line = sp.apply_fails(2, seg(sp.k("a"), rules={"all": [attr("a", 1), {"not": {"segment": unknown}}]}))
    assert "rules.all[1].not.segment" in line


def test_self_reference_is_a_cycle(sp: Driver) -> None:
    a = sp.k("a")
    line = sp.apply_fails(2, seg(a, rules={"any": [attr("x", 1), {"segment": a}]}))
    assert "cycle" in line
    assert not sp.exists(a)


def test_two_cycle_in_one_run(sp: Driver) -> None:
    a, b, c = sp.k("a"), sp.k("b"), sp.k("c")
    sp.apply_fails(2, seg(c), seg(a, rules={"segment": b}), seg(b, rules={"segment": a}))
    assert not any(sp.exists(k) for k in (a, b, c))


def test_cycle_through_stored_segments(sp: Driver) -> None:
    a, b, c = sp.k("a"), sp.k("b"), sp.k("c")
    sp.apply(seg(c), seg(b, rules={"segment": c}), seg(a, rules={"segment": b}))
    line = sp.apply_fails(2, seg(c, rules={"not": {"segment": a}}))
    assert "cycle" in line
    assert sp.show(c)["key"] == c
    # the stored definition is untouched: c still references nothing
    assert sp.ok("segment", "usage", "--of", f"segment:{c}")["segments"] == []


def test_references_in_any_document_order_and_to_stored_segments(sp: Driver) -> None:
    a, b, c = sp.k("a"), sp.k("b"), sp.k("c")
    sp.apply(seg(a))
    plan = sp.apply(campaign(c, "draft", include=[b], exclude=[a]), seg(b, rules={"segment": a}))
    assert actions(plan) == {c: "created", b: "created"}


# rule limits (refused at apply) ---------------------------------------------------------------------------------


def test_depth_and_leaf_limits(sp: Driver) -> None:
    deep: dict = attr("x", 1)
    for _ in range(32):
        deep = {"not": deep}
    sp.apply_fails(2, seg(sp.k("deep"), rules=deep))  # 33 nodes from the root to the leaf
    sp.apply(seg(sp.k("deep-ok"), rules=deep["not"]))  # 32 nodes
    sp.apply_fails(2, seg(sp.k("wide"), rules={"any": [attr("x", i) for i in range(501)]}))
    assert actions(sp.apply(seg(sp.k("wide-ok"), rules={"any": [attr("x", i) for i in range(500)]})))


# names ----------------------------------------------------------------------------------------------------------


def test_name_unique_among_segments(sp: Driver) -> None:
    a, b = sp.k("a"), sp.k("b")
    name = sp.k("Shared name")
    sp.apply(seg(a, name))
    line = sp.apply_fails(2, seg(b, name))
    assert name in line
    assert not sp.exists(b)
    sp.apply_fails(2, seg(sp.k("c"), sp.k("twin")), seg(sp.k("d"), sp.k("twin")))


def test_name_reusable_after_segment_delete(sp: Driver) -> None:
    a, b = sp.k("a"), sp.k("b")
    name = sp.k("Reusable")
    sp.apply(seg(a, name))
    sp.ok("segment", "delete", a, "--yes")
    assert actions(sp.apply(seg(b, name))) == {b: "created"}
    # and the deleted key is free again too
    assert actions(sp.apply(seg(a, sp.k("other")))) == {a: "created"}


def test_names_can_swap_in_one_run_and_a_rename_frees_the_old_name(sp: Driver) -> None:
    a, b, c = sp.k("a"), sp.k("b"), sp.k("c")
    sp.apply(seg(a, sp.k("N1")), seg(b, sp.k("N2")))
    sp.apply(seg(a, sp.k("N2")), seg(b, sp.k("N1")))
    assert (sp.show(a)["name"], sp.show(b)["name"]) == (sp.k("N2"), sp.k("N1"))
    sp.apply(seg(a, sp.k("N3")))
    assert actions(sp.apply(seg(c, sp.k("N2")))) == {c: "created"}


def test_names_are_compared_exactly(sp: Driver) -> None:
    a, b = sp.k("a"), sp.k("b")
    sp.apply(seg(a, sp.k("Case")))
    assert actions(sp.apply(seg(b, sp.k("case")))) == {b: "created"}


# consumers --------------------------------------------------------------------------------------------------------


def test_campaign_fields_and_usage(sp: Driver) -> None:
    inc, exc, camp = sp.k("inc"), sp.k("exc"), sp.k("camp")
    sp.apply(seg(inc), seg(exc), campaign(camp, "scheduled", include=[inc], exclude=[exc]))
    usage = {(u["kind"], u["key"]) for u in sp.show(inc)["usage"]}
    assert usage == {("campaign", camp)}
    assert {(u["kind"], u["key"]) for u in sp.show(exc)["usage"]} == {("campaign", camp)}
    plan = sp.apply(seg(inc), seg(exc), campaign(camp, "sent", include=[inc], exclude=[exc]))
    assert actions(plan) == {inc: "unchanged", exc: "unchanged", camp: "updated"}


@pytest.mark.parametrize("channel", ["email", "sms", "push"])
def test_campaign_channels(sp: Driver, channel: str) -> None:
    a = sp.k("a")
    plan = sp.apply(seg(a), campaign(sp.k("c"), "draft", [a], channel=channel))
    assert set(actions(plan).values()) == {"created"}


def test_campaign_audience(sp: Driver) -> None:
    """audience = union(include) − union(exclude) − unsubscribed on the campaign's channel."""
    t = sp.tag
    profiles = [
        {"external_id": f"{t}p{i}", "attributes": {"tier": tier, "churned": churned}}
        for i, (tier, churned) in enumerate(
            [("gold", False), ("silver", False), ("gold", True), ("bronze", False), ("silver", False)]
        )
    ]
    sp.ok("load", "profiles", sp.file("p.jsonl", "\n".join(json.dumps(p) for p in profiles) + "\n"))
    subs = [
        {"external_id": f"{t}p4", "channel": "email", "status": "unsubscribed", "updated_at": "2026-01-01T00:00:00Z"}
    ]
    subs.append(
        {"external_id": f"{t}p1", "channel": "sms", "status": "unsubscribed", "updated_at": "2026-01-01T00:00:00Z"}
    )
    sp.ok("load", "subscriptions", sp.file("s.jsonl", "\n".join(json.dumps(s) for s in subs) + "\n"))
    scope = {"attribute": "external_id", "op": "starts_with", "value": t}
    gold, silver, churned, camp = sp.k("gold"), sp.k("silver"), sp.k("churned"), sp.k("camp")
    sp.apply(
        seg(gold, rules={"all": [scope, attr("tier", "gold")]}),
        seg(silver, rules={"all": [scope, attr("tier", "silver")]}),
        seg(churned, rules={"all": [scope, attr("churned", True)]}),
        campaign(camp, "scheduled", include=[gold, silver], exclude=[churned]),
    )
    snapshot = sp.ok("presend", camp)
    assert snapshot["campaign"] == camp and snapshot["snapshot_id"] is not None
    # p0 gold, p1 silver (unsubscribed on sms only), p2 gold but churned, p3 bronze, p4 silver but unsubscribed
    assert snapshot["count"] == 2


def test_journey_testlist_message_report(sp: Driver) -> None:
    a, camp, jr = sp.k("a"), sp.k("camp"), sp.k("journey")
    docs = [
        seg(a),
        campaign(camp, "scheduled", include=[a]),
        {"kind": "Journey", "key": jr, "status": "live", "segments": [a]},
        {"kind": "TestList", "key": sp.k("tl"), "segment": a, "campaign": camp},
        {"kind": "Message", "key": sp.k("msg"), "segments": [a], "used_by": [camp, jr]},
        {"kind": "Report", "key": sp.k("rep"), "segments": [a]},
    ]
    assert set(actions(sp.apply(*docs)).values()) == {"created"}
    assert set(actions(sp.apply(*docs)).values()) == {"unchanged"}
    kinds = {(u["kind"], u["key"]) for u in sp.show(a)["usage"]}
    assert {key for _, key in kinds} == {camp, jr, sp.k("tl"), sp.k("msg"), sp.k("rep")}


def test_message_used_by_unknown_consumer_is_refused(sp: Driver) -> None:
    a = sp.k("a")
    sp.apply_fails(2, seg(a), {"kind": "Message", "key": sp.k("m"), "segments": [a], "used_by": [sp.k("nope")]})
    assert not sp.exists(a)


def test_apply_never_deletes(sp: Driver) -> None:
    a, b = sp.k("a"), sp.k("b")
    sp.apply(seg(a), seg(b))
    sp.apply(seg(a))
    assert sp.exists(b)


def test_segment_name_defaults_to_its_key_and_campaign_channel_to_email(sp: Driver) -> None:
    a, c = sp.k("a"), sp.k("c")
    plan = sp.apply(
        {"kind": "Segment", "key": a, "rules": {"attribute": "x", "op": "exists"}},
        {"kind": "Campaign", "key": c, "status": "draft", "include": [a]},
    )
    assert actions(plan) == {a: "created", c: "created"}
    assert sp.show(a)["name"] == a
    sp.apply_fails(2, seg(sp.k("b"), name=a))
