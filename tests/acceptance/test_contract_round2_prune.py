"""Contract §7 `apply --prune PATH` (issue 13.6), through the CLI only: removes stored objects of each kind in the
files that the files no longer hold, shown in the plan first; referenced segments stay protected (exit 3).

Pruning reaches every key of a kind, so each test starts from an empty database.
"""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from tests.acceptance.contract_driver import Driver, campaign, seg
from tests.cleanup import truncate_written


@pytest.fixture()
def sp(cli, tmp_path, engine: Engine) -> Driver:
    truncate_written(engine)
    return Driver(cli, tmp_path)


def actions(plan: dict) -> dict[tuple[str, str], str]:
    return {(o["kind"], o["key"]): o["action"] for o in plan["objects"]}


def consumers(sp: Driver, key: str) -> set[str]:
    return {u["key"] for u in sp.show(key)["usage"] if u["kind"] == "campaign"}


def test_prune_removes_a_finished_campaign_no_longer_in_the_files(sp: Driver) -> None:
    a, summer, spring = sp.k("a"), sp.k("summer"), sp.k("spring")
    sp.apply(seg(a), campaign(summer, "draft", include=[a]), campaign(spring, "sent", include=[a]))
    assert consumers(sp, a) == {summer, spring}
    files = sp.yaml_file(seg(a), campaign(summer, "draft", include=[a]))

    dry = sp.ok("apply", files, "--prune", "--dry-run")
    assert actions(dry)[("Campaign", spring)] == "removed"
    assert dry["applied"] is False and consumers(sp, a) == {summer, spring}

    plan = sp.ok("apply", files, "--prune")
    assert actions(plan)[("Campaign", spring)] == "removed" and plan["applied"] is True
    assert consumers(sp, a) == {summer}
    again = sp.ok("apply", files, "--prune")
    assert set(actions(again).values()) == {"unchanged"}


def test_without_prune_nothing_is_removed(sp: Driver) -> None:
    a, b = sp.k("a"), sp.k("b")
    sp.apply(seg(a), seg(b))
    plan = sp.ok("apply", sp.yaml_file(seg(a)))
    assert (("Segment", b)) not in actions(plan)
    assert sp.exists(b)


def test_prune_only_touches_kinds_present_in_the_files(sp: Driver) -> None:
    a, spring = sp.k("a"), sp.k("spring")
    sp.apply(seg(a), campaign(spring, "sent", include=[a]))
    sp.ok("apply", sp.yaml_file(campaign(sp.k("other"), "draft", include=[a])), "--prune")
    assert sp.exists(a)  # no Segment in the files: segments are left alone
    assert consumers(sp, a) == {sp.k("other")}


def test_prune_refuses_a_referenced_segment_and_applies_nothing(sp: Driver) -> None:
    a, b, live = sp.k("a"), sp.k("b"), sp.k("live")
    sp.apply(seg(a), seg(b), campaign(live, "scheduled", include=[a]))
    files = sp.yaml_file(seg(sp.k("c")))  # neither a nor b; the live campaign (not a kind in the files) keeps a
    line = sp.fails(3, "apply", files, "--prune")
    assert a in line and live in line, line
    assert sp.exists(a) and sp.exists(b) and not sp.exists(sp.k("c"))


def test_prune_refuses_a_campaign_in_live_use(sp: Driver) -> None:
    a, live = sp.k("a"), sp.k("live")
    sp.apply(seg(a), campaign(live, "scheduled", include=[a]))
    line = sp.fails(
        3, "apply", sp.yaml_file(seg(a)), sp.yaml_file(campaign(sp.k("x"), "draft", include=[a])), "--prune"
    )
    assert live in line, line
    assert consumers(sp, a) == {live}


def test_a_pruned_segment_keeps_its_history(sp: Driver) -> None:
    a, b = sp.k("a"), sp.k("b")
    sp.apply(seg(a), seg(b))
    sp.ok("apply", sp.yaml_file(seg(a)), "--prune")
    assert not sp.exists(b)
    history = sp.ok("segment", "history", b)
    assert history["deleted"] is True
