"""The public point check, `segpipe.is_member(...)`: settings in, one short transaction, a bool out."""

from __future__ import annotations

from datetime import datetime

from segpipe.config import Settings
from segpipe.db.engine import get_engine
from segpipe.refresh import profile_check


def is_member(
    external_id: str, segment_key: str, as_of: datetime | None = None, *, settings: Settings | None = None
) -> bool:
    """Whether profile `external_id` matches segment `segment_key`'s rules as of `as_of` (default: now).

    Evaluated live from the stored rules (no refresh needed, memberships untouched). Raises NotFound for an
    unknown segment or profile.
    """
    engine = get_engine(settings or Settings.from_env())
    with engine.connect() as conn:
        return profile_check.is_member(conn, external_id, segment_key, as_of)
