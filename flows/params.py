"""Typed flow parameters: pydantic constraints become the form a UI user fills in (and are validated)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# No pattern on keys: an unknown or malformed key is refused by segpipe itself, with the same message as the CLI's.
SegmentKey = Annotated[str, Field(min_length=1, max_length=200, description="A segment key, e.g. high-value-de.")]
SegmentKeys = Annotated[list[SegmentKey], Field(min_length=1, description="Segments to refresh.")]
CampaignKey = Annotated[str, Field(min_length=1, max_length=200, description="The campaign's key.")]
Concurrency = Annotated[
    int, Field(ge=1, le=32, description="Segments refreshed at the same time (Postgres does the work: ≤ its cores).")
]
MaxChange = Annotated[
    float, Field(ge=0, description="Largest accepted change against the previous ready snapshot (0.5 = ±50%).")
]

DEFAULT_CONCURRENCY = 2
