"""`identify` and `track`: one profile or one event, through the same validation and merge SQL as file loads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from segpipe.config import Settings
from segpipe.db.engine import get_engine
from segpipe.db.schema import profiles
from segpipe.errors import InvalidInput
from segpipe.load import append, copy, merge, resolve, validate
from segpipe.timeutil import now


@dataclass(frozen=True)
class Identified:
    profile_id: int
    external_id: str
    created: bool
    """True when this call created the profile (new, or identified again after a deletion)."""
    updated: bool


@dataclass(frozen=True)
class Tracked:
    profile_id: int
    external_id: str
    event: str
    recorded: bool
    """False when the event_id was seen before (the first copy is kept)."""
    profile_created: bool


def _one_row(table: sa.Table, row: tuple[Any, ...]) -> sa.FromClause:
    """A one-row source with the staging table's columns, every value a typed bound parameter.

    JSON is already serialized text here, so it travels as text; the merge casts it (see append._jsonb).
    """
    values = []
    for column, value in zip(table.columns, row, strict=True):
        kind = sa.Text() if isinstance(column.type, JSONB) else column.type
        values.append(sa.cast(sa.literal(value, kind), kind).label(column.name))
    return sa.select(*values).subquery("staged")


def _convert(convert: Any, record: Mapping[str, Any], where: str) -> tuple[Any, ...]:
    try:
        return convert(record, validate.JSONL)
    except validate.RowError as exc:
        raise InvalidInput(str(exc), where=where) from None


def _profile_id(conn: Connection, external_id: str) -> int:
    return conn.execute(sa.select(profiles.c.id).where(profiles.c.external_id == external_id)).scalar_one()


def identify(
    external_id: str,
    attributes: Mapping[str, Any] | None = None,
    email: str | None = None,
    *,
    settings: Settings | None = None,
) -> Identified:
    """Create or update one profile. Attributes merge key by key; a key set to None is removed.

    `email=None` leaves the email as it is. A profile that was deleted comes back as a new profile.
    """
    record: dict[str, Any] = {"external_id": external_id}
    if attributes is not None:
        record["attributes"] = attributes
    if email is not None:
        record["email"] = email
    row = _convert(validate.profile_row, record, "identify")
    engine = get_engine(settings or Settings.from_env())
    with engine.begin() as conn:
        source = _one_row(copy.PROFILES, (1, *row))
        counts = resolve.retry_deadlocks(conn, lambda: merge.merge_profiles(conn, source, 1, materialize=False))
        profile_id = _profile_id(conn, row[0])
        if counts.inserted or counts.updated:
            merge.bump_data_version(conn)
    return Identified(profile_id, row[0], created=counts.inserted == 1, updated=counts.updated == 1)


def track(
    external_id: str,
    event: str,
    properties: Mapping[str, Any] | None = None,
    occurred_at: datetime | str | None = None,
    event_id: str | None = None,
    *,
    settings: Settings | None = None,
) -> Tracked:
    """Record one event (occurred_at defaults to now); an unknown external_id creates the profile."""
    record: dict[str, Any] = {
        "external_id": external_id,
        "event": event,
        "occurred_at": now() if occurred_at is None else occurred_at,
    }
    if properties is not None:
        record["properties"] = properties
    if event_id is not None:
        record["event_id"] = event_id
    row = _convert(validate.event_row, record, "track")
    engine = get_engine(settings or Settings.from_env())
    with engine.begin() as conn:
        source = _one_row(copy.EVENTS, (1, *row))
        counts = resolve.retry_deadlocks(conn, lambda: append.merge_events(conn, source, 1))
        profile_id = _profile_id(conn, row[0])
        if counts.inserted or counts.profiles_created:
            merge.bump_data_version(conn)
    return Tracked(profile_id, row[0], row[1], counts.inserted == 1, counts.profiles_created == 1)
