from __future__ import annotations

import csv
import hashlib
import io
import json

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from tests.refresh.helpers import add_profiles, add_segment, set_attributes

AS_OF = "2026-03-01T00:00:00Z"
PEOPLE = [
    ("b-2", "Bee@Example.com", {"tier": "gold", "n": 2, "note": 'say "hi", \\ok\nbye'}),
    ("B-1", None, {"tier": "gold", "n": 1.5}),
    ("ä-3", "ä@x.io", {"tier": "gold", "nested": {"a": [1, 2]}}),
    ("c-4", "c@x.io", {"tier": "silver"}),
]


@pytest.fixture()
def world(clean):
    with clean.begin() as conn:
        add_profiles(conn, PEOPLE)
        stamp = "UPDATE segpipe.profiles SET created_at = :t WHERE (external_id = 'b-2') = :b2"
        conn.execute(sa.text(stamp), {"t": "2026-01-02T03:04:05.25Z", "b2": True})
        conn.execute(sa.text(stamp), {"t": "2026-01-02T03:04:05Z", "b2": False})
        add_segment(conn, "gold", {"attribute": "tier", "op": "eq", "value": "gold"})
    return clean


def _csv(text):
    return list(csv.reader(io.StringIO(text)))


def test_csv_to_stdout_has_header_external_id_first_and_code_point_order(world, cli):
    result = cli("segment", "members", "gold", "--as-of", AS_OF)
    assert result.exit_code == 0, result.stderr
    assert _csv(result.stdout) == [
        ["external_id", "email"],
        ["B-1", ""],
        ["b-2", "Bee@Example.com"],
        ["ä-3", "ä@x.io"],
    ]


def test_fields_attributes_and_created_at(world, cli):
    args = ("--fields", "external_id,created_at,n,attributes.note,nested,missing", "--as-of", AS_OF)
    rows = _csv(cli("segment", "members", "gold", *args).stdout)
    assert rows[0] == ["external_id", "created_at", "n", "attributes.note", "nested", "missing"]
    assert rows[1] == ["B-1", "2026-01-02T03:04:05Z", "1.5", "", "", ""]
    assert rows[2] == ["b-2", "2026-01-02T03:04:05.250000Z", "2", 'say "hi", \\ok\nbye', "", ""]
    assert rows[3][4] == '{"a": [1, 2]}'


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_hash_replaces_external_id_and_email_by_hex_digests(world, cli, algorithm):
    result = cli("segment", "members", "gold", "--hash", algorithm, "--fields", "external_id,email,tier")
    digest = lambda text: hashlib.new(algorithm, text.encode()).hexdigest()  # noqa: E731
    assert _csv(result.stdout) == [
        ["external_id", "email", "tier"],
        [digest("B-1"), "", "gold"],
        [digest("b-2"), digest("Bee@Example.com"), "gold"],
        [digest("ä-3"), digest("ä@x.io"), "gold"],
    ]


def test_limit(world, cli):
    assert len(_csv(cli("segment", "members", "gold", "--limit", "2").stdout)) == 3
    assert _csv(cli("segment", "members", "gold", "--limit", "0").stdout) == [["external_id", "email"]]


def test_jsonl_keeps_json_types(world, cli):
    result = cli("segment", "members", "gold", "--format", "jsonl", "--fields", "external_id,n,note,nested,email")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["external_id"] for r in rows] == ["B-1", "b-2", "ä-3"]
    assert rows[0] == {"external_id": "B-1", "n": 1.5, "note": None, "nested": None, "email": None}
    assert rows[1]["note"] == 'say "hi", \\ok\nbye' and rows[1]["n"] == 2
    assert rows[2]["nested"] == {"a": [1, 2]}
    assert list(rows[0]) == ["external_id", "n", "note", "nested", "email"]


def test_json_flag_on_stdout_writes_json_lines(world, cli):
    result = cli("segment", "members", "gold", "--json")
    assert [json.loads(line)["external_id"] for line in result.stdout.splitlines()] == ["B-1", "b-2", "ä-3"]


def test_parquet_file_and_json_summary(world, cli, tmp_path):
    path = tmp_path / "gold.parquet"
    result = cli("segment", "members", "gold", "--output", path, "--fields", "external_id,created_at,n", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["rows"], summary["format"], summary["path"]) == (3, "parquet", str(path))
    table = pq.read_table(path)
    assert table.column_names == ["external_id", "created_at", "n"]
    assert table.column("external_id").to_pylist() == ["B-1", "b-2", "ä-3"]
    assert str(table.schema.field("created_at").type) == "timestamp[us, tz=UTC]"
    assert list(tmp_path.iterdir()) == [path]


def test_csv_and_jsonl_files(world, cli, tmp_path):
    result = cli("segment", "members", "gold", "--output", tmp_path / "a.csv", "--hash", "md5", "--json")
    assert json.loads(result.stdout)["rows"] == 3
    assert _csv((tmp_path / "a.csv").read_text())[0] == ["external_id", "email"]
    result = cli("segment", "members", "gold", "--output", tmp_path / "a.out", "--format", "jsonl", "--json")
    assert json.loads(result.stdout)["rows"] == 3
    assert len((tmp_path / "a.out").read_text().splitlines()) == 3


def test_refreshes_first_unless_no_refresh(world, cli, engine):
    cli("refresh", "gold", "--as-of", AS_OF)
    with engine.begin() as conn:
        set_attributes(conn, "c-4", {"tier": "gold"})
    stale = _csv(cli("segment", "members", "gold", "--no-refresh").stdout)
    assert [r[0] for r in stale[1:]] == ["B-1", "b-2", "ä-3"]
    fresh = _csv(cli("segment", "members", "gold", "--as-of", AS_OF).stdout)
    assert [r[0] for r in fresh[1:]] == ["B-1", "b-2", "c-4", "ä-3"]


def test_as_of_is_used_by_the_refresh(world, cli, engine):
    with engine.begin() as conn:
        add_segment(conn, "early", {"attribute": "created_at", "op": "before", "value": "2026-01-01T00:00:00Z"})
        add_segment(conn, "new", {"attribute": "created_at", "op": "within_last", "value": {"days": 30}})
    assert len(_csv(cli("segment", "members", "new", "--as-of", "2026-01-15T00:00:00Z").stdout)) == 5
    assert len(_csv(cli("segment", "members", "new", "--as-of", "2026-06-01T00:00:00Z").stdout)) == 1


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (("nope",), "unknown segment 'nope'"),
        (("gold", "--format", "xml"), "--format"),
        (("gold", "--hash", "sha1"), "--hash"),
        (("gold", "--no-refresh", "--as-of", AS_OF), "--as-of"),
        (("gold", "--as-of", "soon"), "--as-of"),
        (("gold", "--fields", "external_id,,email"), "--fields"),
        (("gold", "--json", "--format", "csv"), "--format"),
        (("gold", "--output", "/no/such/dir/x.csv"), "--output"),
    ],
)
def test_members_usage_errors_exit_2(world, cli, args, where):
    result = cli("segment", "members", *args)
    assert result.exit_code == 2, result.output
    assert where in result.stderr


def test_failed_refresh_exports_nothing_and_exits_1(world, cli, engine):
    with engine.begin() as conn:
        add_segment(conn, "broken", {"attribute": "tier", "op": "bogus", "value": 1})
    result = cli("segment", "members", "broken")
    assert result.exit_code == 1
    assert result.stdout == "" and "refresh failed" in result.stderr
