from __future__ import annotations

import pytest

from tests.cleanup import truncate_written
from tests.deletion.helpers import SEGMENTS_YAML, seed_world


@pytest.fixture()
def clean(engine):
    """Empty the tables these tests write (the audits are append-only and keep their rows)."""
    return truncate_written(engine)


@pytest.fixture()
def world(clean, cli, tmp_path):
    """20 profiles u01..u20 (u01-u06 in DE) with events, subscriptions, activity, a snapshot; segments applied
    and refreshed; alice may delete profiles, bob may only view them."""
    seed_world(clean)
    path = tmp_path / "segments.yaml"
    path.write_text(SEGMENTS_YAML)
    assert cli("apply", str(path)).exit_code == 0
    assert cli("refresh", "--all").exit_code == 0
    assert cli("grant", "alice", "profiles:view", "profiles:edit").exit_code == 0
    assert cli("grant", "bob", "profiles:view").exit_code == 0
    return clean
