"""Document models: strict fields, key rules, one-line messages. No database."""

from __future__ import annotations

from typing import Any

import pytest

from segpipe.apply.documents import CampaignDoc, TestListDoc, link_targets, parse_document, segment_roles
from segpipe.apply.files import RawDocument


def parse(data: Any):
    return parse_document(RawDocument("f.yaml#1", data))


SEGMENT = {"kind": "Segment", "key": "a", "name": "A", "rules": {"segment": "b"}}


@pytest.mark.parametrize(
    ("data", "fault"),
    [
        ({"key": "a"}, "missing 'kind'"),
        ({"kind": "Audience", "key": "a"}, "unknown kind 'Audience'"),
        ([1, 2], "a document must be a mapping, got a list"),
        ({**SEGMENT, "key": "High-Value"}, "key: invalid segment key 'High-Value'"),
        ({**SEGMENT, "key": "a" * 64}, "key: invalid segment key"),
        ({**SEGMENT, "key": None}, "key: must be a valid string, got null"),
        ({k: v for k, v in SEGMENT.items() if k != "key"}, "missing required field 'key'"),
        ({**SEGMENT, "exlude": []}, "unknown field 'exlude'"),
        ({**SEGMENT, "name": "  "}, "name: must not be empty"),
        ({**SEGMENT, "rules": {"attribute": "x", "op": "gt", "value": float("inf")}}, "rules.value: not a finite"),
        ({"kind": "Campaign", "key": "c", "channel": "fax"}, "channel: must be 'email', 'sms' or 'push', got 'fax'"),
        ({"kind": "Campaign", "key": "c", "channel": "email", "status": "live"}, "status: must be 'draft'"),
        ({"kind": "Campaign", "key": "c", "channel": "email", "include": "a"}, "include: must be a valid list"),
        ({"kind": "Journey", "key": "j", "status": "scheduled"}, "status: must be 'draft', 'live'"),
        ({"kind": "TestList", "key": "t"}, "missing required field 'segment'"),
        ({"kind": "Report", "key": "has space"}, "key: invalid key 'has space'"),
    ],
)
def test_invalid_documents_are_refused_with_one_line(data: Any, fault: str) -> None:
    candidate = parse(data)
    assert candidate.doc is None
    assert fault in candidate.fault


def test_label_names_file_document_kind_and_key() -> None:
    assert parse({**SEGMENT, "exlude": 1}).label == "f.yaml#1 (Segment a)"
    assert parse({"kind": "Nope"}).label == "f.yaml#1"


def test_segment_name_defaults_to_the_key_and_campaign_channel_to_email() -> None:
    unnamed = parse({k: v for k, v in SEGMENT.items() if k != "name"}).doc
    assert unnamed is not None and unnamed.name == "a"
    assert "key" in parse({"kind": "Segment", "key": 1, "rules": {}}).fault
    campaign = parse({"kind": "Campaign", "key": "c"}).doc
    assert campaign is not None and campaign.channel == "email"


def test_consumer_keys_are_looser_than_segment_keys() -> None:
    assert parse({"kind": "Campaign", "key": "BlackFriday.2026", "channel": "sms"}).fault is None


def test_references_and_links_of_each_kind() -> None:
    campaign = CampaignDoc(kind="Campaign", key="c", channel="email", include=["a", "b"], exclude=["x"])
    assert segment_roles(campaign) == [("include[0]", "a", "include"), ("include[1]", "b", "include"),
                                       ("exclude[0]", "x", "exclude")]  # fmt: skip
    test_list = TestListDoc(kind="TestList", key="t", segment="s", campaign="c", used_by=["d"])
    assert segment_roles(test_list) == [("segment", "s", "uses")]
    assert link_targets(test_list) == [("campaign", "c", ("campaign",)), ("used_by[0]", "d", ("campaign",))]
    message = parse({"kind": "Message", "key": "m", "segments": ["s"], "used_by": ["c"]}).doc
    assert link_targets(message) == [("used_by[0]", "c", ("campaign", "journey"))]
