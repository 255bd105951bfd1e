"""Numbers and check results written for people: `2,459`, `850 ms`, `0 unexpected of 89 rows`, `≥ 1`.

Shared by the CLI's text output and the Prefect artifacts and logs (tasks.narration), so both read the same.
"""

from __future__ import annotations

import re
from typing import Any


def count(n: int | None) -> str:
    """`2,459`; `-` for unknown."""
    return "-" if n is None else f"{n:,}"


def duration(ms: float | None) -> str:
    """`850 ms`, `2.4 s`, `3 min 05 s`; `-` for unknown."""
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def plain(value: Any) -> str:
    """An observed value as plain text: `0 unexpected of 89 rows`, `a: 1, b: 2`, numbers with separators."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return count(value)
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, dict):
        if set(value) == {"unexpected", "rows"}:
            return f"{plain(value['unexpected'])} unexpected of {plain(value['rows'])} rows"
        return ", ".join(f"{k}: {plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value)
    return str(value)


def words(expectation: str) -> str:
    """An expectation in words, numbers with separators and no Markdown-sensitive comparison signs (`>= 1`
    renders as a block quote): `between 23,951 and 71,853`, `≥ 1`."""
    text = expectation.replace(">=", "≥").replace("<=", "≤").replace(">", "more than ").replace("<", "less than ")
    return re.sub(r"\b\d{4,}\b", lambda m: count(int(m.group())), text)
