"""`segpipe campaign stats KEY`: activity counts by kind, unchanged when profiles are deleted."""

from __future__ import annotations

import json

import sqlalchemy as sa

from tests.load.helpers import load_json, write_jsonl

KINDS = ["sent", "delivered", "open", "click", "bounce", "unsubscribe"]


def _activity(external_id: str, campaign: str, kind: str) -> dict[str, str]:
    return {"external_id": external_id, "campaign": campaign, "kind": kind, "occurred_at": "2024-01-01T00:00:00Z"}


def _stats(cli, key: str) -> dict[str, int]:
    result = cli("campaign", "stats", key, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _profiles(cli, tmp_path, *external_ids: str) -> None:
    load_json(cli, "profiles", write_jsonl(tmp_path / "p.jsonl", [{"external_id": x} for x in external_ids]))


def test_counts_by_kind_survive_profile_deletion(clean, cli, tmp_path):
    _profiles(cli, tmp_path, "a", "b")
    records = [_activity("a", "spring", "sent"), _activity("b", "spring", "sent"), _activity("a", "spring", "open"),
               _activity("a", "spring", "click"), _activity("a", "autumn", "sent")]  # fmt: skip
    load_json(cli, "activity", write_jsonl(tmp_path / "a.jsonl", records))
    stats = _stats(cli, "spring")
    assert list(stats) == KINDS
    assert stats == {"sent": 2, "delivered": 0, "open": 1, "click": 1, "bounce": 0, "unsubscribe": 0}
    with clean.begin() as conn:  # what a profile deletion does to activity
        conn.execute(sa.text("UPDATE segpipe.activity SET profile_id = NULL, anonymized_at = now()"))
        conn.execute(sa.text("DELETE FROM segpipe.profiles"))
    assert _stats(cli, "spring") == stats
    assert _stats(cli, "autumn")["sent"] == 1


def test_human_output_is_a_table(clean, cli, tmp_path):
    _profiles(cli, tmp_path, "a")
    load_json(cli, "activity", write_jsonl(tmp_path / "a.jsonl", [_activity("a", "c", "bounce")]))
    result = cli("campaign", "stats", "c")
    assert result.exit_code == 0 and "bounce" in result.stdout and "1" in result.stdout


def test_applied_campaign_without_activity_has_zeros(clean, cli):
    with clean.begin() as conn:
        conn.execute(sa.text("DELETE FROM segpipe.consumers WHERE kind = 'campaign' AND key = 'quiet'"))
        conn.execute(
            sa.text("INSERT INTO segpipe.consumers (kind, key, spec) VALUES ('campaign', 'quiet', '{}'::jsonb)")
        )
    assert _stats(cli, "quiet") == dict.fromkeys(KINDS, 0)


def test_unknown_campaign_is_exit_2(clean, cli):
    result = cli("campaign", "stats", "nope")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: campaign 'nope' not found")
