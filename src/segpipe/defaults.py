"""Defaults and choices shared by the domain and the CLI's option help, in a module that is cheap to import (no
SQLAlchemy): the CLI shows them in `--help` without loading the domain."""

from __future__ import annotations

from datetime import timedelta

DEFAULT_GRACE = timedelta(days=14)
"""How long a segment may go without live use before `classify` makes it inactive (contract §5)."""

DEFAULT_MAX_CHANGE = 0.5
"""Largest accepted change of a campaign's audience against its previous snapshot in `presend` (±50%)."""

SORT_FIELDS = ("key", "name", "member_count", "last_refreshed_at", "created_at", "updated_at", "status")
"""The fields `segment list --sort` orders by."""

DEFAULT_SORT = "key"
