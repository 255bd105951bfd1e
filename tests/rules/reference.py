"""A small pure-Python interpreter of the rule language, written from contract §4, used as the test oracle.

It reads the raw rule documents (not the parsed models) and plain Python data, and shares nothing with the
compiler except `timeutil` (the definition of a time).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from segpipe.timeutil import parse_timestamp, strict_time

MISSING = object()


@dataclass
class Profile:
    id: int
    external_id: str
    email: str | None
    created_at: datetime
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class EventRow:
    profile_id: int
    name: str
    occurred_at: datetime
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class SubscriptionRow:
    id: int
    profile_id: int
    channel: str
    status: str
    updated_at: datetime


@dataclass
class Data:
    profiles: list[Profile]
    events: list[EventRow]
    subscriptions: list[SubscriptionRow]


def as_time(value: Any) -> datetime | None:
    """A time attribute: a real datetime (created_at) or a string that is strictly a time."""
    if isinstance(value, datetime):
        return value
    try:
        return strict_time(value)
    except OverflowError:  # outside Python's datetime range: not a time
        return None


def typed(value: Any, kind: str) -> Any:
    """`value` as a `kind` (number → exact Decimal), or MISSING when it is absent or of another kind."""
    if kind == "boolean":
        return value if isinstance(value, bool) else MISSING
    if kind == "number":
        if isinstance(value, Decimal):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        return MISSING
    if kind == "time":
        return value if isinstance(value, datetime) else MISSING
    return value if isinstance(value, str) else MISSING


def kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string"


def duration(spec: Mapping[str, int]) -> timedelta:
    return timedelta(days=spec.get("days", 0), hours=spec.get("hours", 0), minutes=spec.get("minutes", 0))


_ORDER = {
    "eq": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def compare(actual: Any, op: str, value: Any, as_of: datetime, time_typed: bool = False) -> bool:
    """The attribute comparison of §4 on a present value or MISSING."""
    if op == "exists":
        return actual is not MISSING and actual is not None
    if op == "not_exists":
        return actual is MISSING or actual is None
    if op in {"before", "after", "within_last", "not_within_last"}:
        return _time_op(as_time(actual) if actual is not MISSING else None, op, value, as_of)
    if op in {"contains", "starts_with", "ends_with"}:
        if not isinstance(actual, str):
            return False
        return {
            "contains": value in actual,
            "starts_with": actual.startswith(value),
            "ends_with": actual.endswith(value),
        }[op]
    if op in {"in", "not_in"} and not time_typed:
        # each item compares with its own type; a value of none of the list's types matches neither op
        if all(typed(actual, kind_of(v)) is MISSING for v in value):
            return False
        found = any(typed(actual, kind_of(v)) == typed(v, kind_of(v)) for v in value)
        return found if op == "in" else not found
    if time_typed:
        convert: Callable[[Any], Any] = parse_timestamp
        kind = "time"
    else:
        first = value[0] if isinstance(value, list) else value
        kind = kind_of(first)
        convert = lambda v: typed(v, kind)  # noqa: E731
    left = typed(actual, kind) if actual is not MISSING else MISSING
    if left is MISSING:
        return False
    if op == "between":
        return convert(value[0]) <= left <= convert(value[1])
    if op in {"in", "not_in"}:
        found = any(left == convert(v) for v in value)
        return found if op == "in" else not found
    return _ORDER[op](left, convert(value))


def _time_op(moment: datetime | None, op: str, value: Any, as_of: datetime) -> bool:
    if moment is None:
        return False
    if op == "before":
        return moment < parse_timestamp(value)
    if op == "after":
        return moment > parse_timestamp(value)
    low = as_of - duration(value)
    return low < moment <= as_of if op == "within_last" else moment <= low


def attribute_value(profile: Profile, name: str) -> Any:
    if name == "external_id":
        return profile.external_id
    if name == "email":
        return profile.email if profile.email is not None else MISSING
    if name == "created_at":
        return profile.created_at
    return profile.attributes.get(name, MISSING)


def event_value(rule: Mapping[str, Any], events: list[EventRow], as_of: datetime) -> Decimal | None:
    low = as_of - duration(rule["within"]) if rule.get("within") else None
    chosen = [
        e
        for e in events
        if e.name == rule["event"]
        and e.occurred_at <= as_of
        and (low is None or e.occurred_at > low)
        and all(
            compare(e.properties.get(w["property"], MISSING), w["op"], w.get("value"), as_of)
            for w in rule.get("where", [])
        )
    ]
    aggregate = rule.get("aggregate", "count")
    if aggregate == "count":
        return Decimal(len(chosen))
    numbers = [typed(e.properties.get(rule["property"], MISSING), "number") for e in chosen]
    numbers = [n for n in numbers if n is not MISSING]
    if aggregate == "sum":
        return sum(numbers, Decimal(0))
    if not numbers:
        return None
    return {
        "avg": lambda: sum(numbers, Decimal(0)) / len(numbers),
        "min": lambda: min(numbers),
        "max": lambda: max(numbers),
    }[aggregate]()


def latest_status(data: Data, profile: Profile, channel: str, as_of: datetime) -> str:
    records = [
        s for s in data.subscriptions if s.profile_id == profile.id and s.channel == channel and s.updated_at <= as_of
    ]
    if not records:
        return "subscribed"
    return max(records, key=lambda s: (s.updated_at, s.id)).status


@dataclass
class Interpreter:
    data: Data
    as_of: datetime
    segments: Mapping[str, Any] = field(default_factory=dict)

    def members(self, rule: Any) -> set[str]:
        return {p.external_id for p in self.data.profiles if self.matches(rule, p)}

    def matches(self, rule: Mapping[str, Any], profile: Profile) -> bool:
        if "all" in rule:
            return all(self.matches(child, profile) for child in rule["all"])
        if "any" in rule:
            return any(self.matches(child, profile) for child in rule["any"])
        if "not" in rule:
            return not self.matches(rule["not"], profile)
        if "segment" in rule:
            return self.matches(self.segments[rule["segment"]], profile)
        if "subscription" in rule:
            return latest_status(self.data, profile, rule["subscription"], self.as_of) == rule["status"]
        if "event" in rule:
            return self._event(rule, profile)
        name = rule["attribute"]
        actual = attribute_value(profile, name)
        return compare(actual, rule["op"], rule.get("value"), self.as_of, time_typed=name == "created_at")

    def _event(self, rule: Mapping[str, Any], profile: Profile) -> bool:
        events = [e for e in self.data.events if e.profile_id == profile.id]
        value = event_value(rule, events, self.as_of)
        if value is None:
            return False
        return compare(value, rule.get("op", "gte"), rule.get("value", 1), self.as_of)
