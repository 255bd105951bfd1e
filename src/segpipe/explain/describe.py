"""How explain words a rule node and a value: `sum(amount) over 90 days`, `≥ 500`, `"DE"`, `2026-03-01T00:00:00Z`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from segpipe.rules.model import Duration, Event, Where

SYMBOLS = {"eq": "=", "neq": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}


def show(value: Any) -> str:
    """A value as a person reads it: strings quoted, whole decimals without `.0`, times in ISO-8601 UTC."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Duration):
        return duration(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(show(item) for item in value) + "]"
    if isinstance(value, str | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _decimal(value: Decimal) -> str:
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    text = format(value.normalize(), "f")
    return text if len(text) <= 20 else f"{float(value):.10g}"


def duration(value: Duration) -> str:
    parts = [(value.days, "day"), (value.hours, "hour"), (value.minutes, "minute")]
    words = [f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts if n is not None]
    return " ".join(words)


def test_text(op: str, value: Any) -> str:
    """`op value` as a requirement: `≥ 500`, `between 1 and 5`, `in ["a", "b"]`, `within the last 7 days`."""
    if op in SYMBOLS:
        return f"{SYMBOLS[op]} {show(value)}"
    if op == "between":
        return f"between {show(value[0])} and {show(value[1])}"
    if op in {"in", "not_in"}:
        return f"{op.replace('_', ' ')} {show(value)}"
    if op == "exists":
        return "present"
    if op == "not_exists":
        return "missing"
    if op in {"within_last", "not_within_last"}:
        return f"{'not ' if op.startswith('not') else ''}within the last {duration(value)}"
    return f"{op.replace('_', ' ')} {show(value)}"


def where_text(where: tuple[Where, ...] | list[Where]) -> str:
    return " and ".join(f"{w.property} {test_text(w.op, w.value)}" for w in where)


def measure_text(node: Event) -> str:
    """`sum(amount) over 90 days`, `count (all time)`."""
    measure = "count" if node.aggregate == "count" else f"{node.aggregate}({node.property})"
    window = f"over {duration(node.within)}" if node.within is not None else "(all time)"
    return f"{measure} {window}"


def event_subject(node: Event) -> str:
    """`event purchase where plan = "pro": sum(amount) over 90 days`."""
    where = f" where {where_text(node.where)}" if node.where else ""
    return f"event {node.event}{where}: {measure_text(node)}"
