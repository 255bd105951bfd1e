"""Contract §2 (input files, identify): the traps of real-world files, checked through the CLI only."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.acceptance.blackbox import Segpipe, error_line, view


@pytest.fixture()
def sp(cli, tmp_path):
    return Segpipe(cli, tmp_path)


def _fails(sp: Segpipe, kind: str, path, where: str, *, reason: str = "") -> str:
    """A refused load: exit 2, one `error:` line naming `where`, the JSON error on stdout, nothing written."""
    result = sp.run("load", kind, path, "--json")
    assert result.exit_code == 2, result.stdout + result.stderr
    line = error_line(result)
    assert line.startswith(f"error: {where}"), line
    assert reason in line, line
    assert json.loads(result.stdout)["error"] == line.removeprefix("error: ")
    assert view(sp) == {}
    return line


def _raw(sp: Segpipe, suffix: str, data: bytes):
    path = sp.path(suffix)
    path.write_bytes(data)
    return path


# --- CSV ---------------------------------------------------------------------------------------------------------


def test_csv_blank_and_space_only_lines_are_not_data_rows(sp):
    text = f"external_id,email\r\n\r\n{sp.id('a')},a@x.io\r\n   \r\n\r\n{sp.id('b')},b@x.io\r\n,c@x.io\r\n\r\n"
    path = _raw(sp, ".csv", text.encode())
    _fails(sp, "profiles", path, f"{path}:3: ", reason="empty external_id")
    result = sp.run("load", "profiles", path, "--skip-invalid", "--json")
    assert result.exit_code == 2
    out = json.loads(result.stdout)
    assert (out["rows"], out["inserted"], out["rejected"]) == (3, 2, 1)
    with open(out["rejects_file"], encoding="utf-8") as handle:
        assert [json.loads(line)["row"] for line in handle] == [3]


def test_csv_bom_quoted_newlines_and_commas_keep_cells_whole(sp):
    header = "\ufeffexternal_id,email,attributes\r\n"
    rows = f'"{sp.id("a")}","multi\nline, with comma","{{""note"":\n""x, y"", ""n"": 1}}"\r\n{sp.id("b")},,\r\n'
    out = sp.load("profiles", _raw(sp, ".csv", (header + rows).encode()))
    assert out["inserted"] == 2 and out["rows"] == 2
    rows_seen = view(sp)
    assert rows_seen["a"]["email"] == "multi\nline, with comma"
    assert rows_seen["a"]["attributes"] == {"note": "x, y", "n": 1}
    assert rows_seen["b"]["email"] is None and rows_seen["b"]["attributes"] == {}


@pytest.mark.parametrize(
    ("tail", "row"),
    [
        ('b,"never closed\nc,x\n', 2),  # an unterminated quote would swallow the rest of the file
        ('b,"ab"c\n', 2),  # text after a closing quote
    ],
)
def test_csv_broken_quoting_is_a_file_error_not_silent_data(sp, tail, row):
    path = _raw(sp, ".csv", f"external_id,email\n{sp.id('a')},a@x.io\n{sp.tag}{tail}".encode())
    _fails(sp, "profiles", path, f"{path}:{row}: ", reason="malformed CSV")
    result = sp.run("load", "profiles", path, "--skip-invalid")
    assert result.exit_code == 2 and view(sp) == {}  # file errors are never skipped


def test_csv_unnamed_trailing_columns_are_ignored(sp):
    text = f"external_id,email,,\n{sp.id('a')},a@x.io,,\n"
    out = sp.load("profiles", _raw(sp, ".csv", text.encode()))
    assert out["inserted"] == 1 and out["ignored_fields"] == [""]
    assert view(sp)["a"]["email"] == "a@x.io"


def test_csv_extra_columns_are_ignored_not_attributes_and_empty_cells_change_nothing(sp):
    sp.load_rows("profiles", [{"external_id": sp.id("a"), "email": "a@x.io", "attributes": {"k": 1}}])
    path = sp.csv(["external_id", "email", "attributes", "Country", "plan"], [[sp.id("a"), "", "", "DE", "pro"]])
    out = sp.load("profiles", path)
    assert out["ignored_fields"] == ["Country", "plan"] and out["unchanged"] == 1
    assert view(sp)["a"]["email"] == "a@x.io" and view(sp)["a"]["attributes"] == {"k": 1}


@pytest.mark.parametrize("cell", ['"x"', "42", "null", "true", "[]", '{"a":1', "NaN"])
def test_csv_attributes_cell_must_be_a_json_object(sp, cell):
    path = sp.csv(["external_id", "attributes"], [[sp.id("ok"), "{}"], [sp.id("a"), cell]])
    _fails(sp, "profiles", path, f"{path}:2: ", reason="attributes")


def test_uppercase_extensions_are_recognised(sp):
    assert sp.load("profiles", _raw(sp, ".CSV", f"external_id\n{sp.id('a')}\n".encode()))["inserted"] == 1
    line = json.dumps({"external_id": sp.id("b")}) + "\n"
    assert sp.load("profiles", _raw(sp, ".NDJSON", line.encode()))["inserted"] == 1
    assert set(view(sp)) == {"a", "b"}


@pytest.mark.parametrize(("suffix", "data"), [(".csv", b""), (".csv", b"external_id,email"), (".jsonl", b"\n\n")])
def test_empty_inputs_load_nothing(sp, suffix, data):
    out = sp.load("profiles", _raw(sp, suffix, data))
    assert out["rows"] == 0 and out["inserted"] == 0


# --- JSON Lines ----------------------------------------------------------------------------------------------------


def test_jsonl_line_numbers_count_blank_lines_and_non_objects_are_rows_errors(sp):
    good = json.dumps({"external_id": sp.id("a")})
    path = _raw(sp, ".jsonl", f"{good}  \n\n \t\n[1, 2]\n".encode())
    _fails(sp, "profiles", path, f"{path}:4: ", reason="not a JSON object (got array)")


def test_jsonl_attributes_as_json_text_is_not_an_object(sp):
    path = sp.jsonl([{"external_id": sp.id("a"), "attributes": '{"plan": "pro"}'}])
    _fails(sp, "profiles", path, f"{path}:1: ", reason="attributes must be a JSON object, got string")


def test_duplicate_rows_merge_in_order_nested_objects_replace_and_nested_nulls_stay(sp):
    eid = sp.id("a")
    path = sp.jsonl(
        [
            {"external_id": eid, "attributes": {"a": 1, "n": {"x": 1, "y": 2}}},
            {"external_id": eid, "attributes": {"n": {"z": None}, "b": 2}},
            {"external_id": eid, "attributes": {"a": None}},
        ]
    )
    out = sp.load("profiles", path)
    assert out["inserted"] == 1 and out["rows"] == 3
    assert view(sp)["a"]["attributes"] == {"b": 2, "n": {"z": None}}


# --- timestamps ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-03-01t10:00:00z", "2026-03-01T10:00:00"),
        ("2026-03-01T10:00:00.123456789Z", "2026-03-01T10:00:00.123456"),
        ("2026-03-01T12:00:00+0200", "2026-03-01T10:00:00"),
        ("2026-03-01T05:15:00-04:45", "2026-03-01T10:00:00"),
        ("2026-03-01T10:00:00.5", "2026-03-01T10:00:00.5"),
    ],
)
def test_timestamp_spellings(sp, text, utc):
    sp.load_rows("profiles", [{"external_id": sp.id("a"), "created_at": text}])
    created = view(sp)["a"]["created_at"]
    assert created.removesuffix("Z").removesuffix("+00:00").startswith(utc), created


@pytest.mark.parametrize("bad", ["2026-02-29T00:00:00Z", "2026-03-01T24:00:00Z", "2026-03-01T10:00:00+25:00"])
def test_impossible_times_are_row_errors(sp, bad):
    path = sp.jsonl([{"external_id": sp.id("ok")}, {"external_id": sp.id("a"), "created_at": bad}])
    _fails(sp, "profiles", path, f"{path}:2: ", reason="created_at")


# --- Parquet -------------------------------------------------------------------------------------------------------


def test_parquet_nanosecond_and_zoned_timestamps(sp):
    schema = pa.schema([("external_id", pa.string()), ("created_at", pa.timestamp("ns", tz="Asia/Kolkata"))])
    path = sp.path(".parquet")
    table = pa.table(
        {"external_id": [sp.id("a")], "created_at": pa.array([1_772_359_200_123_456_789], pa.timestamp("ns"))}
    ).cast(schema)
    pq.write_table(table, path)
    sp.load("profiles", path)
    assert view(sp)["a"]["created_at"].startswith("2026-03-01T10:00:00.12345")


def test_parquet_nan_at_the_top_of_a_struct_removes_the_attribute(sp):
    sp.load_rows("profiles", [{"external_id": sp.id("a"), "attributes": {"score": 1.5, "keep": True}}])
    schema = pa.schema([("external_id", pa.string()), ("attributes", pa.struct([("score", pa.float64())]))])
    sp.load("profiles", sp.parquet([{"external_id": sp.id("a"), "attributes": {"score": float("nan")}}], schema))
    assert view(sp)["a"]["attributes"] == {"keep": True}


# --- identify ------------------------------------------------------------------------------------------------------


def test_identify_attr_values_that_are_not_json_stay_text(sp):
    out = sp.ok("identify", sp.id("a"), "--attr", "x=NaN", "--attr", "y=Infinity", "--attr", "z=01234")
    assert out["created"] is True
    sp.ok("identify", sp.id("a"), "--attr", "n=3", "--attr", 'tags=["a"]', "--attr", "url=a=b", "--attr", "z=null")
    assert view(sp)["a"]["attributes"] == {"x": "NaN", "y": "Infinity", "n": 3, "tags": ["a"], "url": "a=b"}


@pytest.mark.parametrize("args", [["   "], [""], ["X", "--attr", "novalue"], ["X", "--attr", "=v"]])
def test_identify_invalid_input_is_exit_2_one_line(sp, args):
    result = sp.run("identify", *args, "--json")
    assert result.exit_code == 2
    line = error_line(result)
    assert json.loads(result.stdout) == {"error": line.removeprefix("error: "), "exit_code": 2}
