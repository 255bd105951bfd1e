from __future__ import annotations

import pytest
import sqlalchemy as sa

CUSTOMER_TABLES = ("profiles", "events", "event_ids", "subscriptions", "activity", "loaded_contents")


@pytest.fixture()
def clean(engine):
    """Empty the customer-data tables before the test (the tests of one module share a database)."""
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE " + ", ".join(f"segpipe.{t}" for t in CUSTOMER_TABLES)))
    return engine
