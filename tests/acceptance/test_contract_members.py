"""Contract §6 for `refresh` and `segment members` (and the help texts) checked through the CLI only."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.acceptance.blackbox import Segpipe, csv_rows

AS_OF = "2026-03-01T00:00:00Z"
PEOPLE = [
    ("b", "Bee@Example.com", {"tier": "gold", "n": 2}),
    ("B", None, {"tier": "gold", "n": 1.5}),
    ("ä", "Zoë.Ünïcødé@exämple.org", {"tier": "gold"}),
    ("日本", "用户@例子.广告", {"tier": "gold"}),
    ("c", "c@x.io", {"tier": "silver"}),
]


@pytest.fixture()
def sp(cli, tmp_path):
    return Segpipe(cli, tmp_path)


@pytest.fixture()
def gold(sp):
    rows = [{"external_id": sp.id(n), "email": e, "attributes": a} for n, e, a in PEOPLE]
    sp.load_rows("profiles", [{k: v for k, v in r.items() if v is not None} for r in rows])
    return sp.segment("gold", {"attribute": "tier", "op": "eq", "value": "gold"})


def _gold_ids(sp: Segpipe) -> list[str]:
    return sorted((sp.id(n) for n, _, a in PEOPLE if a["tier"] == "gold"), key=lambda s: s.encode("utf-32-be"))


def _emails(sp: Segpipe) -> dict[str, str | None]:
    return {sp.id(n): e for n, e, _ in PEOPLE}


# --- refresh ---------------------------------------------------------------------------------------------------


def test_refresh_json_fields(sp, gold):
    rows = sp.ok("refresh", gold, "--as-of", AS_OF)
    assert isinstance(rows, list) and len(rows) == 1
    row = rows[0]
    assert {"key", "status", "member_count", "added", "removed"} <= set(row)
    assert (row["key"], row["status"], row["member_count"], row["added"], row["removed"]) == (
        gold,
        "succeeded",
        4,
        4,
        0,
    )
    sp.load_rows("profiles", [{"external_id": sp.id("b"), "attributes": {"tier": "silver"}}])
    again = sp.ok("refresh", gold, "--as-of", AS_OF)[0]
    assert (again["member_count"], again["added"], again["removed"]) == (3, 0, 1)


def test_refresh_unknown_key_is_exit_2(sp, gold):
    result = sp.run("refresh", sp.tag + "nope", "--json")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
    assert "error" in json.loads(result.stdout)
    assert sp.run("refresh", gold, sp.tag + "nope").exit_code == 2
    assert sp.run("refresh").exit_code == 2


def test_refresh_bad_as_of_is_exit_2(sp, gold):
    result = sp.run("refresh", gold, "--as-of", "tomorrow")
    assert result.exit_code == 2 and result.stderr.startswith("error: ")


# --- segment members -------------------------------------------------------------------------------------------


def test_csv_to_stdout_has_header_and_external_id_first_in_code_point_order(sp, gold):
    result = sp.run("segment", "members", gold)
    assert result.exit_code == 0, result.stderr
    rows = csv_rows(result.stdout)
    assert rows[0][0] == "external_id"
    assert rows[0] == ["external_id", "email"]
    assert [r[0] for r in rows[1:]] == _gold_ids(sp)
    emails = _emails(sp)
    assert all(r[1] == (emails[r[0]] or "") for r in rows[1:])


def test_external_id_stays_first_whatever_the_fields(sp, gold):
    rows = csv_rows(sp.run("segment", "members", gold, "--fields", "email,tier,external_id").stdout)
    assert rows[0] == ["external_id", "email", "tier"]
    assert [r[0] for r in rows[1:]] == _gold_ids(sp)
    rows = csv_rows(sp.run("segment", "members", gold, "--fields", "email").stdout)
    assert rows[0] == ["external_id", "email"]


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_hash_replaces_external_id_and_email_by_hex_digest_of_utf8(sp, gold, algorithm):
    result = sp.run("segment", "members", gold, "--hash", algorithm, "--fields", "external_id,email,tier")
    assert result.exit_code == 0, result.stderr
    rows = csv_rows(result.stdout)
    assert rows[0] == ["external_id", "email", "tier"]

    def digest(text: str) -> str:
        return hashlib.new(algorithm, text.encode("utf-8")).hexdigest()

    emails = _emails(sp)
    expected = {digest(i): ("" if emails[i] is None else digest(emails[i])) for i in _gold_ids(sp)}
    assert {r[0]: r[1] for r in rows[1:]} == expected
    assert all(r[2] == "gold" for r in rows[1:])
    assert all(c == c.lower() for r in rows[1:] for c in r[:2])


def test_hash_applies_to_jsonl_and_parquet(sp, gold, tmp_path):
    sp.refresh(gold, AS_OF)
    out = sp.run("segment", "members", gold, "--hash", "sha256", "--format", "jsonl", "--no-refresh")
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    ids = {hashlib.sha256(i.encode()).hexdigest() for i in _gold_ids(sp)}
    assert {r["external_id"] for r in lines} == ids
    path = tmp_path / "m.parquet"
    sp.ok("segment", "members", gold, "--hash", "md5", "--output", path, "--no-refresh")
    table = pq.read_table(path).to_pylist()
    assert {r["external_id"] for r in table} == {hashlib.md5(i.encode()).hexdigest() for i in _gold_ids(sp)}


def test_limit_and_formats(sp, gold, tmp_path):
    rows = csv_rows(sp.run("segment", "members", gold, "--limit", "2").stdout)
    assert len(rows) == 3 and [r[0] for r in rows[1:]] == _gold_ids(sp)[:2]
    assert csv_rows(sp.run("segment", "members", gold, "--limit", "0").stdout) == [["external_id", "email"]]
    jsonl = sp.run("segment", "members", gold, "--format", "jsonl", "--fields", "external_id,n,created_at")
    records = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert [r["external_id"] for r in records] == _gold_ids(sp)
    assert records[0]["n"] == 1.5
    path = tmp_path / "out.csv"
    summary = sp.ok("segment", "members", gold, "--output", path)
    assert summary["rows"] == 4
    assert csv_rows(path.read_text())[0] == ["external_id", "email"]
    parquet = tmp_path / "out.parquet"
    sp.ok("segment", "members", gold, "--format", "parquet", "--output", parquet)
    assert [r["external_id"] for r in pq.read_table(parquet).to_pylist()] == _gold_ids(sp)


def test_members_refreshes_first_unless_no_refresh(sp, gold):
    sp.refresh(gold, AS_OF)
    sp.load_rows("profiles", [{"external_id": sp.id("new"), "attributes": {"tier": "gold"}}])
    stale = csv_rows(sp.run("segment", "members", gold, "--no-refresh").stdout)
    assert sp.id("new") not in {r[0] for r in stale}
    fresh = csv_rows(sp.run("segment", "members", gold).stdout)
    assert sp.id("new") in {r[0] for r in fresh}


def test_members_as_of_refreshes_at_that_time(sp):
    sp.load_rows("events", [{"external_id": sp.id("a"), "event": "e", "occurred_at": "2026-02-01T00:00:00Z"}])
    key = sp.segment("did", {"event": "e"})
    before = csv_rows(sp.run("segment", "members", key, "--as-of", "2026-01-01T00:00:00Z").stdout)
    after = csv_rows(sp.run("segment", "members", key, "--as-of", "2026-02-01T00:00:00").stdout)
    assert before == [["external_id", "email"]]
    assert [r[0] for r in after[1:]] == [sp.id("a")]


def test_members_unknown_key_and_bad_options_are_exit_2(sp, gold):
    for args in (
        (sp.tag + "nope",),
        (gold, "--format", "xml"),
        (gold, "--hash", "sha1"),
        (gold, "--limit", "-1"),
    ):
        result = sp.run("segment", "members", *args)
        assert result.exit_code == 2, args
        assert result.stderr.strip().splitlines()[-1].startswith("error: ") or "Usage" in result.stderr
    result = sp.run("segment", "members", sp.tag + "nope", "--json")
    assert "error" in json.loads(result.stdout)


def test_preview_is_100_rows_on_a_terminal(sp, db_url, settings):
    sp.load_rows("profiles", [{"external_id": sp.id(f"p{i:03}"), "attributes": {"k": 1}} for i in range(150)])
    key = sp.segment("many", {"attribute": "k", "op": "eq", "value": 1})
    sp.refresh(key, AS_OF)
    env = {**os.environ, "SEGPIPE_DATABASE_URL": db_url, "SEGPIPE_HOME": str(settings.home)}
    env["SEGPIPE_ORCHESTRATION"] = "direct"
    segpipe = str(Path(sys.executable).with_name("segpipe"))
    args = [segpipe, "segment", "members", key, "--no-refresh"]
    main, replica = pty.openpty()
    proc = subprocess.Popen(args, stdout=replica, stderr=subprocess.PIPE, env=env)
    os.close(replica)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, stderr
    os.close(main)
    lines = [line for line in b"".join(chunks).decode().splitlines() if line.strip()]
    assert lines[0] == "external_id,email"
    assert len(lines) == 101
    # piped (not a terminal): every member
    piped = subprocess.run(args, capture_output=True, env=env, timeout=60, check=True)
    assert len(piped.stdout.decode().splitlines()) == 151


# --- help texts ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((), ["load", "refresh", "apply", "segment"]),
        (("load",), ["profiles", "events", "subscriptions", "activity", ".csv", ".parquet", "--skip-invalid"]),
        (("refresh",), ["--all", "--as-of", "--json"]),
        (("segment", "members"), ["--limit", "--fields", "--format", "--hash", "--output", "--no-refresh", "--as-of"]),
        (("identify",), ["--attr"]),
    ],
)
def test_help(sp, args, words):
    result = sp.run(*args, "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for word in words:
        assert word in text, word


def test_fields_attributes_is_the_whole_object(sp, gold):
    rows = csv_rows(sp.run("segment", "members", gold, "--fields", "attributes,n").stdout)
    assert rows[0] == ["external_id", "attributes", "n"]
    by_id = {r[0]: r for r in rows[1:]}
    assert json.loads(by_id[sp.id("b")][1]) == {"tier": "gold", "n": 2}
    assert by_id[sp.id("b")][2] == "2"
    lines = sp.run("segment", "members", gold, "--no-refresh", "--format", "jsonl", "--fields", "attributes").stdout
    records = {r["external_id"]: r for r in map(json.loads, lines.splitlines())}
    assert records[sp.id("B")]["attributes"] == {"tier": "gold", "n": 1.5}
