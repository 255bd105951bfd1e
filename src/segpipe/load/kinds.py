"""The four kinds of customer data a file can load: fields, row conversion, staging table, merge."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.db import schema
from segpipe.errors import InvalidInput
from segpipe.load import append, copy, merge, validate
from segpipe.load.validate import Dialect


@dataclass(frozen=True)
class Kind:
    name: str
    fields: frozenset[str]
    """The fields this kind reads; any other column or key is ignored (and reported)."""
    convert: Callable[[Mapping[str, Any], Dialect], tuple[Any, ...]]
    stage: sa.Table
    merge: Callable[[Connection, sa.FromClause, int], merge.MergeCounts]
    tables: tuple[sa.Table, ...]
    """The tables a load of this kind writes (ANALYZE candidates)."""
    known_profiles_only: bool = False
    """Rows of an unknown external_id are invalid (activity) instead of creating the profile."""


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            "profiles",
            frozenset({"external_id", "email", "created_at", "attributes"}),
            validate.profile_row,
            copy.PROFILES,
            partial(merge.merge_profiles, materialize=True),
            (schema.profiles,),
        ),
        Kind(
            "events",
            frozenset({"external_id", "event", "occurred_at", "properties", "event_id"}),
            validate.event_row,
            copy.EVENTS,
            append.merge_events,
            (schema.events, schema.event_ids, schema.profiles),
        ),
        Kind(
            "subscriptions",
            frozenset({"external_id", "channel", "status", "updated_at"}),
            validate.subscription_row,
            copy.SUBSCRIPTIONS,
            append.merge_subscriptions,
            (schema.subscriptions, schema.profiles),
        ),
        Kind(
            "activity",
            frozenset({"external_id", "campaign", "kind", "occurred_at", "activity_id"}),
            validate.activity_row,
            copy.ACTIVITY,
            append.merge_activity,
            (schema.activity,),
            known_profiles_only=True,
        ),
    )
}


def get_kind(name: str) -> Kind:
    kind = KINDS.get(name)
    if kind is None:
        raise InvalidInput(f"unknown kind '{name}': use one of {', '.join(KINDS)}")
    return kind
