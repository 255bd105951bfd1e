"""The rule tree as frozen pydantic models (contract §4).

A node is exactly one of `all`, `any`, `not`, `attribute`, `event`, `subscription`, `segment`; the kind is the
key present (a callable discriminator). Values are checked against their operator here, so the compiler never
sees an ill-typed tree. `parse.py` turns pydantic's errors into `InvalidInput` with a JSON path.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from segpipe.timeutil import parse_timestamp

KINDS = ("all", "any", "not", "attribute", "event", "subscription", "segment")
TAG_PREFIX = "node:"
SEGMENT_KEY_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
"""A segment key (contract §3); the one definition, used by rules, apply and the lifecycle."""
SEGMENT_KEY_PATTERN = rf"^{SEGMENT_KEY_RE.pattern}$"

AttributeOp = Literal[
    "eq", "neq", "gt", "gte", "lt", "lte", "between", "in", "not_in", "contains", "starts_with", "ends_with",
    "exists", "not_exists", "before", "after", "within_last", "not_within_last",
]  # fmt: skip
AggregateOp = Literal["eq", "neq", "gt", "gte", "lt", "lte", "between", "in", "not_in"]
Aggregate = Literal["count", "sum", "avg", "min", "max"]
Channel = Literal["email", "sms", "push"]
SubscriptionStatus = Literal["subscribed", "unsubscribed"]

LIST_OPS = frozenset({"in", "not_in"})
TEXT_OPS = frozenset({"contains", "starts_with", "ends_with"})
PRESENCE_OPS = frozenset({"exists", "not_exists"})
INSTANT_OPS = frozenset({"before", "after"})
WINDOW_OPS = frozenset({"within_last", "not_within_last"})
TIME_COLUMN = "created_at"
Scalar = int | float | str | bool


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("rule_value", message)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class Duration(_Strict):
    """`{days|hours|minutes: N}`; keys may be combined, N is a whole number ≥ 0."""

    days: int | None = Field(default=None, ge=0)
    hours: int | None = Field(default=None, ge=0)
    minutes: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _some_key(self) -> Duration:
        if self.days is None and self.hours is None and self.minutes is None:
            raise _fail("a duration needs days, hours or minutes")
        try:
            self.delta()
        except OverflowError:
            raise _fail("duration too large") from None
        return self

    def delta(self) -> timedelta:
        return timedelta(days=self.days or 0, hours=self.hours or 0, minutes=self.minutes or 0)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if _number(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return "number"
    return "string" if isinstance(value, str) else None


def _time(value: Any) -> datetime:
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str | datetime):
        raise _fail("expected an ISO-8601 time")
    try:
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return parse_timestamp(value)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    except OverflowError:
        raise _fail(f"time out of range: {value!r}") from None


def _duration(value: Any, op: str) -> Duration:
    if isinstance(value, Duration):
        return value
    try:
        return Duration.model_validate(value)
    except ValueError:
        raise _fail(f"'{op}' needs a duration {{days|hours|minutes: N}} with whole N ≥ 0") from None


def _scalar(value: Any, op: str) -> Scalar:
    if isinstance(value, date) and not isinstance(value, datetime):
        value = value.isoformat()
    kind = _kind_of(value)
    if kind is None:
        raise _fail(f"'{op}' needs a number, string or boolean value")
    if kind == "boolean" and op not in {"eq", "neq", "in", "not_in"}:
        raise _fail(f"'{op}' does not compare booleans (use eq, neq, in or not_in)")
    return value


def _scalar_list(value: Any, op: str, *, size: int | None = None) -> tuple[Scalar, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise _fail(f"'{op}' needs a non-empty list" if size is None else f"'{op}' needs [low, high]")
    if size is not None and len(value) != size:
        raise _fail(f"'{op}' needs [low, high]")
    items = tuple(_scalar(item, op) for item in value)
    if size is not None and len({_kind_of(item) for item in items}) > 1:
        raise _fail(f"the values of '{op}' must all have one type")
    return items


def check_value(op: str, value: Any, *, time_typed: bool = False) -> Any:
    """The value normalized for `op`, or a PydanticCustomError saying what `op` needs.

    `time_typed` is true for `created_at`: its comparisons take ISO-8601 times.
    """
    if op in PRESENCE_OPS:
        return None
    if value is None:
        raise _fail(f"'{op}' needs a value")
    if op in WINDOW_OPS:
        return _duration(value, op)
    if op in INSTANT_OPS:
        return _time(value)
    if op in TEXT_OPS:
        if time_typed or not isinstance(value, str):
            raise _fail(f"'{op}' needs a string" + (" attribute (created_at is a time)" if time_typed else ""))
        return value
    if time_typed:
        return _time_values(op, value)
    if op == "between":
        return _scalar_list(value, op, size=2)
    if op in LIST_OPS:
        return _scalar_list(value, op)
    return _scalar(value, op)


def _time_values(op: str, value: Any) -> Any:
    if op == "between" or op in LIST_OPS:
        if not isinstance(value, list | tuple) or not value or (op == "between" and len(value) != 2):
            raise _fail(f"'{op}' needs [low, high]" if op == "between" else f"'{op}' needs a non-empty list")
        return tuple(_time(item) for item in value)
    return _time(value)


class All(_Strict):
    all: list[Node] = Field(min_length=1)


class Any_(_Strict):
    model_config = ConfigDict(title="Any")

    any: list[Node] = Field(min_length=1)


class Not(_Strict):
    not_: Node = Field(alias="not")


class Attribute(_Strict):
    attribute: str = Field(min_length=1)
    op: AttributeOp
    value: Any = Field(default=None, validate_default=True)

    @field_validator("value", mode="after")
    @classmethod
    def _value_fits_op(cls, value: Any, info: ValidationInfo) -> Any:
        if "op" not in info.data or "attribute" not in info.data:
            return value
        return check_value(info.data["op"], value, time_typed=info.data["attribute"] == TIME_COLUMN)


class Where(_Strict):
    """One event filter: the attribute semantics applied to the event's `properties`."""

    property: str = Field(min_length=1)
    op: AttributeOp
    value: Any = Field(default=None, validate_default=True)

    @field_validator("value", mode="after")
    @classmethod
    def _value_fits_op(cls, value: Any, info: ValidationInfo) -> Any:
        return check_value(info.data["op"], value) if "op" in info.data else value


class Event(_Strict):
    event: str = Field(min_length=1)
    where: list[Where] = Field(default_factory=list)
    within: Duration | None = None
    aggregate: Aggregate = "count"
    property: str | None = Field(default=None, min_length=1)
    op: AggregateOp = "gte"
    value: Any = 1

    @model_validator(mode="before")
    @classmethod
    def _op_with_value(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("op" in data) != ("value" in data):
            raise _fail("an event test needs both op and value (default: op gte, value 1)")
        return data

    @field_validator("value", mode="after")
    @classmethod
    def _numeric_test(cls, value: Any, info: ValidationInfo) -> Any:
        op = info.data.get("op")
        if op is None:
            return value
        checked = check_value(op, value)
        if not all(_kind_of(item) == "number" for item in (checked if isinstance(checked, tuple) else [checked])):
            raise _fail(f"an event test compares numbers: '{op}' needs number values")
        return checked

    @model_validator(mode="after")
    def _property_for_aggregate(self) -> Event:
        if self.aggregate != "count" and self.property is None:
            raise PydanticCustomError("rule_value", "'{agg}' needs a property", {"agg": self.aggregate})
        if self.aggregate == "count" and self.property is not None:
            raise _fail("'property' is used only with sum, avg, min or max")
        return self


class Subscription(_Strict):
    subscription: Channel
    status: SubscriptionStatus


class SegmentRef(_Strict):
    segment: str = Field(pattern=SEGMENT_KEY_PATTERN)


def node_kind(value: Any) -> str | None:
    """The discriminator: the tag of the one kind key present, else None (pydantic reports `node_kind`)."""
    if isinstance(value, dict):
        found = [key for key in KINDS if key in value]
        return TAG_PREFIX + found[0] if len(found) == 1 else None
    for kind, model in MODELS.items():
        if isinstance(value, model):
            return TAG_PREFIX + kind
    return None


Node = Annotated[
    Union[  # noqa: UP007 - pydantic needs the Union form for tagged members
        Annotated[All, Tag("node:all")],
        Annotated[Any_, Tag("node:any")],
        Annotated[Not, Tag("node:not")],
        Annotated[Attribute, Tag("node:attribute")],
        Annotated[Event, Tag("node:event")],
        Annotated[Subscription, Tag("node:subscription")],
        Annotated[SegmentRef, Tag("node:segment")],
    ],
    Discriminator(node_kind, custom_error_type="node_kind", custom_error_message="not a rule node"),
]
RuleNode = All | Any_ | Not | Attribute | Event | Subscription | SegmentRef
MODELS: dict[str, type[BaseModel]] = {
    "all": All,
    "any": Any_,
    "not": Not,
    "attribute": Attribute,
    "event": Event,
    "subscription": Subscription,
    "segment": SegmentRef,
}
for _model in (All, Any_, Not):
    _model.model_rebuild()
