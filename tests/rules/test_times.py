"""Time semantics: the SQL `segpipe.strict_time` agrees with `timeutil.strict_time`; window boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from segpipe.timeutil import strict_time
from tests.rules.conftest import AS_OF, insert_profiles

TRICKY = [
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00.1Z",
    "2026-01-01T00:00:00.123456Z",
    "2026-01-01T00:00:00.1234567Z",
    "2026-01-01T00:00:00.9999999Z",
    "2026-01-01T00:00:00.999999999999999999999Z",
    "2026-01-01T00:00:00+05:30",
    "2026-01-01T00:00:00-05:30",
    "2026-01-01T00:00:00-00:00",
    "2026-01-01T00:00:00+23:59",
    "2026-01-01T00:00:00+14:59",
    "2026-01-01T00:00:00-15:00",
    "2026-01-01T00:00:00+15:59",
    "2026-01-01T00:00:00+16:00",
    "2026-01-28T23:59:59.999999-14:59",
    "2026-01-31T23:59:59.9999995+01:00",
    "0002-01-01T00:00:00+01:00",
    "9998-12-31T23:59:59-01:00",
    "2026-01-01T00:00:00+00:60",
    "2026-01-01T00:00:00+00:99",
    "2026-01-01T00:00:00+22:99",
    "2026-01-01T00:00:00+23:60",
    "2026-01-01T00:00:00+24:00",
    "2024-02-29T00:00:00Z",
    "2000-02-29T00:00:00Z",
    "1900-02-29T00:00:00Z",
    "2026-02-29T00:00:00Z",
    "2026-04-31T00:00:00Z",
    "2026-13-45T00:00:00Z",
    "2026-00-10T00:00:00Z",
    "2026-01-00T00:00:00Z",
    "2026-01-01T24:00:00Z",
    "2026-01-01T23:60:00Z",
    "2026-01-01T23:59:60Z",
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:30:00-01:00",
    "9999-12-31T23:59:59.999999Z",
    "2026-03-01",
    "2026-03-01T10:00:00",
    "2026-03-01T10:00Z",
    "2026-03-01 10:00:00Z",
    "2026-03-01t10:00:00Z",
    "2026-03-01T10:00:00z",
    "2026-03-01T10:00:00.Z",
    "2026-03-01T10:00:00+0100",
    "2026-03-01T10:00:00+01",
    " 2026-03-01T10:00:00Z",
    "2026-03-01T10:00:00Z ",
    "2026-03-01T10:00:00Z\n",
    "٢٠٢٦-03-01T10:00:00Z",
    "2026-03-01T10:00:00.١Z",
    "",
    "Z",
]


def sql_strict_time(conn, value: str) -> datetime | None:
    """`segpipe.strict_time` (the exact arithmetic) and `segpipe.rule_time` (its fast twin) must agree."""
    text = sa.literal(value, sa.Text())
    exact, fast = conn.execute(sa.select(sa.func.segpipe.strict_time(text), sa.func.segpipe.rule_time(text))).one()
    assert exact == fast
    return exact


def python_strict_time(value: str) -> datetime | None:
    # timeutil.strict_time raises OverflowError for a UTC instant outside years 1..9999; such a string is not
    # a time for the SQL function (reported to the lead: strict_time should return None there).
    try:
        return strict_time(value)
    except OverflowError:
        return None


@pytest.mark.parametrize("value", TRICKY)
def test_sql_strict_time_agrees_with_python(conn, value):
    assert sql_strict_time(conn, value) == python_strict_time(value)


def test_sql_strict_time_outside_python_range_is_not_a_time(conn):
    assert sql_strict_time(conn, "0001-01-01T00:00:00+01:00") is None
    assert sql_strict_time(conn, "9999-12-31T23:59:59-01:00") is None


_digits = st.text(alphabet="0123456789", min_size=1, max_size=3)


@st.composite
def near_times(draw: st.DrawFn) -> str:
    year = draw(st.sampled_from(["0001", "1900", "2000", "2024", "2026", "9999", "0000", "20260"]))
    month, day = draw(st.sampled_from(["00", "01", "02", "04", "12", "13", "1"])), draw(_digits)
    hms = ":".join(draw(st.lists(st.sampled_from(["00", "23", "24", "59", "60", "9"]), min_size=3, max_size=3)))
    fraction = draw(st.sampled_from(["", ".", ".5", ".123456", ".1234567", ".9999995"]))
    zone = draw(
        st.sampled_from(
            ["Z", "z", "", "+00:00", "-01:30", "+14:59", "-15:00", "+23:59", "+24:00", "+00:99", "+0100", "-23:99"]
        )
    )
    return f"{year}-{month}-{day.zfill(2)}T{hms}{fraction}{zone}"


@settings(max_examples=300, deadline=None)
@given(value=near_times())
def test_sql_strict_time_agrees_on_generated_near_misses(engine, value):
    with engine.connect() as conn:
        assert sql_strict_time(conn, value) == python_strict_time(value)


def test_strict_time_is_immutable_and_both_are_inlined(conn):
    volatility = dict(
        conn.execute(
            sa.text("SELECT proname, provolatile FROM pg_proc WHERE pronamespace = 'segpipe'::regnamespace")
        ).all()
    )
    assert volatility["strict_time"] == "i" and volatility["rule_time"] == "s"
    query = "EXPLAIN (VERBOSE) SELECT segpipe.rule_time(attributes ->> 'x') FROM segpipe.profiles"
    plan = "\n".join(conn.execute(sa.text(query)).scalars())
    assert "rule_time" not in plan and "strict_time" not in plan


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_within_last_boundaries(conn, members):
    day = timedelta(days=1)
    insert_profiles(
        conn,
        [
            {"external_id": "at_low", "attributes": {"t": iso(AS_OF - day)}},
            {"external_id": "after_low", "attributes": {"t": iso(AS_OF - day + timedelta(microseconds=1))}},
            {"external_id": "at_as_of", "attributes": {"t": iso(AS_OF)}},
            {"external_id": "future", "attributes": {"t": iso(AS_OF + timedelta(microseconds=1))}},
            {"external_id": "offset", "attributes": {"t": "2026-03-01T13:00:00+01:00"}},
            {"external_id": "zoneless", "attributes": {"t": "2026-03-01T11:00:00"}},
            {"external_id": "date_only", "attributes": {"t": "2026-03-01"}},
            {"external_id": "impossible", "attributes": {"t": "2026-02-30T11:00:00Z"}},
            {"external_id": "number", "attributes": {"t": 20260301}},
            {"external_id": "missing"},
        ],
    )
    assert members({"attribute": "t", "op": "within_last", "value": {"days": 1}}) == {"after_low", "at_as_of", "offset"}
    assert members({"attribute": "t", "op": "not_within_last", "value": {"hours": 24}}) == {"at_low"}
    assert members({"attribute": "t", "op": "within_last", "value": {"days": 0}}) == set()
    assert members({"attribute": "t", "op": "not_within_last", "value": {"minutes": 0}}) == {
        "at_low",
        "after_low",
        "at_as_of",
        "offset",
    }


def test_before_and_after_are_strict(conn, members):
    insert_profiles(
        conn,
        [
            {"external_id": "early", "attributes": {"t": "2026-01-01T00:00:00Z"}},
            {"external_id": "exact", "attributes": {"t": "2026-02-01T01:00:00+01:00"}},
            {"external_id": "late", "attributes": {"t": "2026-03-01T00:00:00.000001Z"}},
            {"external_id": "not_a_time", "attributes": {"t": "2026-02-01"}},
        ],
    )
    assert members({"attribute": "t", "op": "before", "value": "2026-02-01T00:00:00Z"}) == {"early"}
    assert members({"attribute": "t", "op": "after", "value": "2026-02-01T00:00:00Z"}) == {"late"}
    assert members({"attribute": "t", "op": "after", "value": "2026-02-01"}) == {"late"}
    assert members({"not": {"attribute": "t", "op": "before", "value": "2026-02-01T00:00:00Z"}}) == {
        "exact",
        "late",
        "not_a_time",
    }


def test_time_strings_compare_as_strings_with_string_operators(conn, members):
    insert_profiles(conn, [{"external_id": "a", "attributes": {"t": "2026-02-01T00:00:00Z"}}])
    assert members({"attribute": "t", "op": "eq", "value": "2026-02-01T00:00:00Z"}) == {"a"}
    assert members({"attribute": "t", "op": "eq", "value": "2026-02-01T01:00:00+01:00"}) == set()
