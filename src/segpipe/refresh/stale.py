"""When a stored membership no longer answers "members as of T": the staleness rule, as a pure function."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from segpipe.store.segments import SegmentRow


@dataclass(frozen=True)
class DependencyState:
    key: str
    last_refreshed_at: datetime | None


def stale_reason(
    segment: SegmentRow, as_of: datetime, data_version: int, deps: Sequence[DependencyState] = ()
) -> str | None:
    """Why the segment must be recomputed for `as_of`, or None when its stored members are already the answer.

    Members are a function of (rules, customer data, as_of, the referenced segments' members): stale when
    never refreshed, refreshed for another as_of, the definition changed since, the data version moved, or a
    referenced segment was refreshed after it.
    """
    refreshed = segment.last_refreshed_at
    if refreshed is None or segment.last_refresh_as_of is None:
        return "never refreshed"
    if segment.last_refresh_as_of != as_of:
        return "as_of changed"
    if segment.definition_changed_at > refreshed:
        return "definition changed"
    if segment.refreshed_data_version != data_version:
        return "data changed"
    for dep in deps:
        if dep.last_refreshed_at is None or dep.last_refreshed_at > refreshed:
            return f"dependency {dep.key} refreshed"
    return None
