"""identify / track: the Python API and `segpipe identify`."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

import segpipe
from segpipe.errors import InvalidInput
from segpipe.tracking import Identified, identify, track
from tests.load.helpers import data_version, profile, rows


def test_public_api_is_exported_lazily():
    assert segpipe.identify is identify and segpipe.track is track
    with pytest.raises(AttributeError):
        _ = segpipe.nothing_here


def test_identify_creates_then_merges(clean, settings):
    first = identify("i1", {"plan": "pro", "seats": 3}, email="i1@x", settings=settings)
    assert isinstance(first, Identified) and first.created and not first.updated
    again = identify("i1", {"seats": None, "region": "eu"}, settings=settings)
    assert again.profile_id == first.profile_id and again.updated and not again.created
    p = profile(clean, "i1")
    assert p["attributes"] == {"plan": "pro", "region": "eu"} and p["email"] == "i1@x"
    same = identify("i1", {"plan": "pro"}, settings=settings)
    assert not same.created and not same.updated


def test_identify_validates_like_a_file_row(clean, settings):
    with pytest.raises(InvalidInput, match=r"^identify: empty external_id$"):
        identify("", settings=settings)
    with pytest.raises(InvalidInput, match="attributes must be a JSON object, got array"):
        identify("x", [1, 2], settings=settings)  # type: ignore[arg-type]


def test_track_records_events_and_dedupes(clean, settings):
    version = data_version(clean)
    first = track("t1", "purchase", {"amount": 5}, event_id="ev-1", settings=settings)
    assert first.profile_created and first.recorded
    assert data_version(clean) > version
    dup = track("t1", "purchase", {"amount": 6}, event_id="ev-1", settings=settings)
    assert not dup.recorded and not dup.profile_created
    track("t1", "login", occurred_at="2024-01-01T10:00:00", settings=settings)
    track("t1", "logout", occurred_at=datetime(2024, 1, 2, 10), settings=settings)
    found = rows(clean, "SELECT name, occurred_at, properties FROM segpipe.events ORDER BY id")
    assert found[0][0] == "purchase" and found[0][2] == {"amount": 5}
    assert abs(found[0][1] - datetime.now(UTC)) < timedelta(minutes=1)
    assert found[1:] == [
        ("login", datetime(2024, 1, 1, 10, tzinfo=UTC), {}),
        ("logout", datetime(2024, 1, 2, 10, tzinfo=UTC), {}),
    ]


def test_track_refuses_bad_input(clean, settings):
    with pytest.raises(InvalidInput, match=r"^track: bad occurred_at: "):
        track("t", "x", occurred_at="last tuesday", settings=settings)
    with pytest.raises(InvalidInput, match=r"^track: bad occurred_at: "):
        track("t", "x", occurred_at="", settings=settings)  # only None means now
    with pytest.raises(InvalidInput, match=r"^track: empty event$"):
        track("t", " ", settings=settings)


def test_identify_command(clean, cli):
    result = cli("identify", "c1", "--attr", "age=42", "--attr", "name=Ada", "--attr", "vip=true",
                 "--attr", 'zip="01234"', "--attr", "tags=[1,2]", "--email", "c1@x", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["external_id"] == "c1" and out["created"] is True and isinstance(out["profile_id"], int)
    p = profile(clean, "c1")
    assert p["attributes"] == {"age": 42, "name": "Ada", "vip": True, "zip": "01234", "tags": [1, 2]}
    assert p["email"] == "c1@x"
    result = cli("identify", "c1", "--attr", "age=null", "--attr", "note=a=b")
    assert result.exit_code == 0 and "updated" in result.stdout
    assert profile(clean, "c1")["attributes"] == {
        "name": "Ada",
        "vip": True,
        "zip": "01234",
        "tags": [1, 2],
        "note": "a=b",
    }


def test_identify_command_errors(clean, cli):
    result = cli("identify", "c1", "--attr", "novalue")
    assert result.exit_code == 2 and result.stderr == "error: --attr: expected KEY=VALUE, got 'novalue'\n"
    result = cli("identify", "   ")
    assert result.exit_code == 2 and result.stderr == "error: identify: empty external_id\n"


def test_concurrent_identify_of_a_new_profile_loses_nothing(clean, settings):
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(10)
            identify("race", {f"k{i}": i}, settings=settings)
        except BaseException as exc:  # noqa: BLE001 (collected and asserted below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert profile(clean, "race")["attributes"] == {f"k{i}": i for i in range(6)}
