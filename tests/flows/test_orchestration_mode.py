"""SEGPIPE_ORCHESTRATION: which commands run their flow (no Prefect import needed to decide)."""

from __future__ import annotations

import pytest

from segpipe.cli.orchestration import mode, prefect_api_configured, use_prefect
from segpipe.errors import InvalidInput

PROFILES = """
active = "local"

[profiles.local]
PREFECT_API_URL = "http://127.0.0.1:4200/api"

[profiles.ephemeral]
PREFECT_SERVER_ALLOW_EPHEMERAL_MODE = "true"
"""


def test_auto_follows_the_api_url_or_the_active_profile(tmp_path):
    (tmp_path / "profiles.toml").write_text(PROFILES)
    home = {"PREFECT_HOME": str(tmp_path)}
    assert use_prefect({"PREFECT_API_URL": "http://x/api"})
    assert prefect_api_configured(home)
    assert not prefect_api_configured({**home, "PREFECT_PROFILE": "ephemeral"})
    assert not use_prefect({"PREFECT_HOME": str(tmp_path / "none")})
    assert not use_prefect({**home, "SEGPIPE_ORCHESTRATION": "direct"})
    assert use_prefect({"PREFECT_HOME": str(tmp_path / "none"), "SEGPIPE_ORCHESTRATION": "prefect"})


def test_an_unknown_mode_is_invalid_input():
    with pytest.raises(InvalidInput, match="SEGPIPE_ORCHESTRATION"):
        mode({"SEGPIPE_ORCHESTRATION": "sometimes"})
