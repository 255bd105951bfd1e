"""`segpipe quickstart` loads the demo, applies the demo objects, refreshes everything; a second run reuses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_quickstart_then_again(cli):
    first = cli("quickstart", "--profiles", "500", "--json")
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert {load["kind"] for load in data["loads"]} == {"profiles", "events", "subscriptions", "activity"}
    assert data["objects"] == {"created": 15}
    statuses = {row["key"]: row["status"] for row in data["refresh"]}
    assert statuses["high-value-de"] == "succeeded"
    assert set(statuses.values()) <= {"succeeded", "skipped"}

    again = json.loads(cli("quickstart", "--json").stdout)
    assert again["loads"] == [] and again["objects"] == {"unchanged": 15}
    members = {row["key"]: row["member_count"] for row in again["refresh"]}
    assert members == {row["key"]: row["member_count"] for row in data["refresh"]}


def test_temporary_prefect_server_keeps_its_data_under_segpipe_home(db_url, tmp_path):
    """No Prefect API configured: the flow runs on a temporary server whose database lives in $SEGPIPE_HOME/prefect,
    not in the user's ~/.prefect (where its runs would show up in their own server later)."""
    home, user_home = tmp_path / "segpipe-home", tmp_path / "user"
    user_home.mkdir()
    keep = ("PATH", "SEGPIPE_TEST_DATABASE_URL", "PYTHONPATH", "LANG")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env |= {"HOME": str(user_home), "SEGPIPE_HOME": str(home), "SEGPIPE_DATABASE_URL": db_url}
    env |= {"DO_NOT_TRACK": "1", "SEGPIPE_ORCHESTRATION": "auto"}
    command = [sys.executable, "-m", "segpipe.cli.main", "quickstart", "--profiles", "200", "--json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (home / "prefect" / "prefect.db").exists()
    assert not (user_home / ".prefect").exists()
