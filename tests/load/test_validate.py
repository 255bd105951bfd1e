"""Row validation details that need no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from segpipe.load import validate
from segpipe.load.validate import CSV, JSONL, PARQUET, RowError


def test_dump_object_refuses_nul_but_not_an_escaped_backslash():
    assert validate.dump_object("a", {"k": "\\u0000"}) == '{"k":"\\\\u0000"}'
    with pytest.raises(RowError, match="NUL"):
        validate.dump_object("a", {"k": "x\x00"})
    with pytest.raises(RowError, match="NUL"):
        validate.dump_object("a", {"k\x00": 1})


def test_dump_object_refuses_lone_surrogates_and_keeps_big_integers():
    with pytest.raises(RowError, match="not valid UTF-8"):
        validate.dump_object("a", {"k": "\ud800"})
    assert validate.dump_object("a", {"n": 10**30}) == '{"n":1000000000000000000000000000000}'
    assert validate.dump_object("a", {"d": Decimal("1.5"), "t": date(2024, 1, 2)}) == '{"d":1.5,"t":"2024-01-02"}'


def test_loads_keeps_big_integers_exact_and_refuses_nan():
    assert validate.loads(b'{"n": 12345678901234567890123}') == {"n": 12345678901234567890123}
    assert validate.loads('{"n": 12345678901234567890123}') == {"n": 12345678901234567890123}
    with pytest.raises(ValueError):
        validate.loads(b'{"n": NaN}')
    with pytest.raises(ValueError):
        validate.loads(b'{"n": 1234567890123456789012, "m": NaN}')


@pytest.mark.parametrize("dialect", [CSV, PARQUET])
def test_csv_and_parquet_blanks_are_not_given(dialect):
    row = validate.profile_row({"external_id": "a", "email": "", "created_at": "", "attributes": ""}, dialect)
    assert row == ("a", None, False, None, "{}", False)
    row = validate.profile_row({"external_id": "a", "email": None, "created_at": None, "attributes": None}, dialect)
    assert row == ("a", None, False, None, "{}", False)


def test_json_empty_email_clears():
    assert validate.profile_row({"external_id": "a", "email": ""}, JSONL)[1:3] == (None, True)


def test_parquet_values():
    aware = datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    record = {"external_id": 5, "email": None, "created_at": aware, "attributes": [("a", 1)]}
    assert validate.profile_row(record, PARQUET) == (
        "5",
        None,
        False,
        datetime(2024, 1, 1, 10, tzinfo=UTC),
        '{"a":1}',
        False,
    )
    record = {"external_id": "x", "event": "e", "occurred_at": date(2024, 1, 1), "properties": None, "event_id": None}
    assert validate.event_row(record, PARQUET) == ("x", "e", datetime(2024, 1, 1, tzinfo=UTC), "{}", None)


def test_attributes_with_top_level_null_are_flagged():
    assert validate.profile_row({"external_id": "a", "attributes": {"x": None}}, JSONL)[4:] == ('{"x":null}', True)
    assert validate.profile_row({"external_id": "a", "attributes": {"x": {"y": None}}}, JSONL)[5] is False


def test_invalid_utf8_in_csv_text_is_refused():
    bad = b"caf\xe9".decode("utf-8", "surrogateescape")
    with pytest.raises(RowError, match="external_id is not valid UTF-8"):
        validate.external_id({"external_id": bad})
