from __future__ import annotations

import pytest
import sqlalchemy as sa


@pytest.fixture()
def clean(engine):
    """Empty every table the refresh tests write, before the test (tests of one module share a database)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "TRUNCATE segpipe.profiles, segpipe.events, segpipe.subscriptions, segpipe.segments,"
                " segpipe.memberships, segpipe.consumers, segpipe.refresh_runs CASCADE"
            )
        )
    return engine
