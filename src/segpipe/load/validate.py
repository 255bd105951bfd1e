"""One input record → the values of one staging row, or a RowError saying why the row is invalid.

Python checks only what Postgres would otherwise reject without a row number (types, timestamps, JSON objects,
NUL characters, invalid UTF-8) and what the contract defines (required fields, channel/status/kind values).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson

from segpipe.timeutil import parse_timestamp, shown

CHANNELS = ("email", "sms", "push")
STATUSES = ("subscribed", "unsubscribed")
ACTIVITY_KINDS = ("sent", "delivered", "open", "click", "bounce", "unsubscribe")

_ABSENT: Any = object()
MAX_KEY_BYTES = 1024
"""external_id, event_id, event and campaign are indexed: Postgres refuses an index entry over ~2.7 kB (exit 1,
no row number), so a longer key is an invalid row instead."""
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
# Digits → b"0", any other byte → b"x": a run of 19 digits is then a substring search (4x faster than a regex).
_DIGIT_MAP = bytes(ord("0") if 48 <= i <= 57 else ord("x") for i in range(256))
_LONG_RUN = b"0" * 19


class RowError(ValueError):
    """An invalid input row; the message is the reason (the loader adds `file:row`)."""


@dataclass(frozen=True)
class Dialect:
    """How an input format spells "not given" and JSON objects."""

    name: str
    blank_is_absent: bool
    """CSV and Parquet: an empty string means the field is not given."""
    null_is_absent: bool
    """CSV and Parquet: a null cannot be told apart from a missing column, so it means "not given"."""
    objects_as_text: bool
    """CSV and Parquet: `attributes`/`properties` may be JSON-encoded text."""


JSONL = Dialect("jsonl", blank_is_absent=False, null_is_absent=False, objects_as_text=False)
CSV = Dialect("csv", blank_is_absent=True, null_is_absent=True, objects_as_text=True)
PARQUET = Dialect("parquet", blank_is_absent=True, null_is_absent=True, objects_as_text=True)


def type_name(value: object) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _value(record: Mapping[str, Any], name: str, dialect: Dialect) -> Any:
    value = record.get(name, _ABSENT)
    if value is None and dialect.null_is_absent:
        return _ABSENT
    if dialect.blank_is_absent and isinstance(value, str) and value == "":
        return _ABSENT
    return value


def _required(record: Mapping[str, Any], name: str) -> Any:
    value = record.get(name, _ABSENT)
    if value is _ABSENT:
        raise RowError(f"missing required field '{name}'")
    if value is None:
        raise RowError(f"missing required field '{name}' (null)")
    return value


def clean_text(name: str, text: str) -> str:
    """Refuse what a Postgres text value cannot hold: NUL characters and invalid UTF-8 (lone surrogates)."""
    if "\x00" in text:
        raise RowError(f"{name} contains a NUL character")
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            raise RowError(f"{name} is not valid UTF-8") from None
    return text


def key_text(name: str, text: str) -> str:
    """clean_text for an indexed key, which must also fit an index entry."""
    text = clean_text(name, text)
    if len(text) > MAX_KEY_BYTES // 4 and len(text.encode()) > MAX_KEY_BYTES:
        raise RowError(f"{name} is longer than {MAX_KEY_BYTES} bytes")
    return text


def external_id(record: Mapping[str, Any]) -> str:
    """A non-empty string; an integer is taken as its decimal text (JSON `42` is external id "42")."""
    value = _required(record, "external_id")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    elif not isinstance(value, str):
        raise RowError(f"external_id must be a string, got {type_name(value)}")
    if not value.strip():
        raise RowError("empty external_id")
    return key_text("external_id", value)


def required_text(record: Mapping[str, Any], name: str) -> str:
    value = _required(record, name)
    if not isinstance(value, str):
        raise RowError(f"{name} must be a string, got {type_name(value)}")
    if not value.strip():
        raise RowError(f"empty {name}")
    return key_text(name, value)


def choice(record: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = _required(record, name)
    if not isinstance(value, str) or value not in allowed:
        raise RowError(f"unknown {name} {shown(value)}: expected one of {', '.join(allowed)}")
    return value


def timestamp(record: Mapping[str, Any], name: str, dialect: Dialect, *, required: bool) -> datetime | None:
    """An aware UTC datetime; ISO-8601 text without an offset is UTC (Parquet timestamps are taken as they are)."""
    value = _required(record, name) if required else _value(record, name, dialect)
    if value is _ABSENT or value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str):
        raise RowError(f"bad {name}: expected an ISO-8601 date-time string, got {type_name(value)}")
    try:
        return parse_timestamp(value)
    except (ValueError, OverflowError) as exc:
        raise RowError(f"bad {name}: {exc}") from None


def optional_email(record: Mapping[str, Any], dialect: Dialect) -> tuple[str | None, bool]:
    """(email, given). JSON `null` or `""` is given and clears the email; a missing field keeps it."""
    value = _value(record, "email", dialect)
    if value is _ABSENT:
        return None, False
    if value is None or value == "":
        return None, True
    if not isinstance(value, str):
        raise RowError(f"email must be a string, got {type_name(value)}")
    return clean_text("email", value), True


def optional_id(record: Mapping[str, Any], name: str, dialect: Dialect) -> str | None:
    """A client-supplied row id (`event_id`, `activity_id`): text, or an integer taken as its digits."""
    value = _value(record, name, dialect)
    if value is _ABSENT or value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise RowError(f"{name} must be a string, got {type_name(value)}")
    return key_text(name, value)


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not valid JSON")


def loads(text: str | bytes) -> Any:
    """Strict JSON (no NaN/Infinity, valid UTF-8, no lone surrogates); raises ValueError.

    orjson is 5-7x faster than the standard library, but reads integers beyond 64 bits as floats: a document
    with a run of 19+ digits goes to the standard library, which keeps them exact (jsonb does too).
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if _LONG_RUN in data.translate(_DIGIT_MAP):
        return json.loads(data.decode(), parse_constant=_reject_constant)
    return orjson.loads(data)


def json_error(exc: Exception) -> str:
    """A JSON parse error without the "line 1 column 7 (char 6)" tail (inputs are single-line documents)."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    return str(exc)


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"a {type(value).__name__} value is not JSON")


def _dump_exact(name: str, value: dict[str, Any]) -> str:
    """The standard library's JSON: integers of any size; refuses NaN/Infinity."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_default)
    except (ValueError, TypeError, RecursionError) as exc:
        raise RowError(f"{name} cannot be stored as JSON: {exc}") from None
    return clean_text(name, text)


def dump_object(name: str, value: dict[str, Any]) -> str:
    """JSON text that Postgres jsonb accepts, or a RowError. (orjson writes a float NaN as null.)"""
    try:
        text = orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError as exc:
        if "surrogates" in str(exc):
            raise RowError(f"{name} is not valid UTF-8") from None
        text = _dump_exact(name, value)  # integers beyond 64 bits, or nesting deeper than orjson's limit
    if "\\u0000" in text and _NUL_ESCAPE.search(text):
        raise RowError(f"{name} contains a NUL character (\\u0000), which Postgres jsonb cannot store")
    return text


def json_object(record: Mapping[str, Any], name: str, dialect: Dialect) -> tuple[str, bool] | None:
    """(JSON text, has a top-level null) of an object field, or None when not given."""
    value = _value(record, name, dialect)
    if value is _ABSENT or value is None:
        return None
    if isinstance(value, str) and dialect.objects_as_text:
        try:
            value = loads(value)
        except (ValueError, RecursionError) as exc:
            raise RowError(f"{name} is not valid JSON: {json_error(exc)}") from None
    elif isinstance(value, list) and dialect is PARQUET and all(isinstance(i, tuple) for i in value):
        value = dict(value)  # a Parquet map column arrives as (key, value) pairs
    if not isinstance(value, dict):
        raise RowError(f"{name} must be a JSON object, got {type_name(value)}")
    return dump_object(name, value), any(_written_as_null(v) for v in value.values())


def _written_as_null(value: object) -> bool:
    """None, or a float NaN/Infinity (which the JSON dump writes as null): a top-level one removes the key."""
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def profile_row(record: Mapping[str, Any], dialect: Dialect) -> tuple[Any, ...]:
    """(external_id, email, has_email, created_at, attrs, has_null)."""
    eid = external_id(record)
    email, has_email = optional_email(record, dialect)
    created_at = timestamp(record, "created_at", dialect, required=False)
    attrs, has_null = json_object(record, "attributes", dialect) or ("{}", False)
    return eid, email, has_email, created_at, attrs, has_null


def event_row(record: Mapping[str, Any], dialect: Dialect) -> tuple[Any, ...]:
    """(external_id, name, occurred_at, properties, event_id)."""
    eid = external_id(record)
    name = required_text(record, "event")
    occurred_at = timestamp(record, "occurred_at", dialect, required=True)
    properties = json_object(record, "properties", dialect)
    return eid, name, occurred_at, properties[0] if properties else "{}", optional_id(record, "event_id", dialect)


def subscription_row(record: Mapping[str, Any], dialect: Dialect) -> tuple[Any, ...]:
    """(external_id, channel, status, updated_at)."""
    eid = external_id(record)
    channel = choice(record, "channel", CHANNELS)
    status = choice(record, "status", STATUSES)
    return eid, channel, status, timestamp(record, "updated_at", dialect, required=True)


def activity_row(record: Mapping[str, Any], dialect: Dialect) -> tuple[Any, ...]:
    """(external_id, campaign, kind, occurred_at, activity_id)."""
    eid = external_id(record)
    campaign = required_text(record, "campaign")
    kind = choice(record, "kind", ACTIVITY_KINDS)
    occurred_at = timestamp(record, "occurred_at", dialect, required=True)
    return eid, campaign, kind, occurred_at, optional_id(record, "activity_id", dialect)
