"""The two ways segpipe reads a time from text.

- `parse_timestamp`: input files, `--as-of`, `before`/`after` values. ISO-8601 date-time; without an offset it
  is UTC. A bare date means midnight UTC.
- `strict_time`: attribute *values* in rules (contract §4). A time only when it is a full ISO-8601 date-time
  with `Z` or `±hh:mm` (optional fraction), a real calendar date and clock time and a real offset (hh ≤ 23,
  mm ≤ 59); anything else is a plain string.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

STRICT_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)\Z", re.ASCII
)
_LOOSE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|z|[+-]\d{2}(:?\d{2})?)?$")


def shown(value: object, limit: int = 60) -> str:
    """The repr of an input value for an error line, cut to `limit` characters (a 50 MB field stays one line)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_timestamp(text: str) -> datetime:
    """Parse an input timestamp; raises ValueError with a short reason."""
    value = text.strip()
    if not _LOOSE_RE.match(value):
        raise ValueError(f"not an ISO-8601 date-time: {shown(text)}")
    if value[-1] in "Zz":
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except ValueError:
        raise ValueError(f"not a valid date-time: {shown(text)}") from None
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError(f"out of the representable range in UTC: {shown(text)}") from None


def strict_time(value: object) -> datetime | None:
    """The time an attribute value denotes under the rule semantics, or None when it is not a time."""
    if not isinstance(value, str) or not STRICT_TIME_RE.match(value):
        return None
    try:
        parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def now() -> datetime:
    return datetime.now(UTC)
