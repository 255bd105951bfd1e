"""Reading apply inputs: YAML 1.2 scalars, multi-document YAML, JSON objects and lists, folders. No database."""

from __future__ import annotations

from pathlib import Path

from segpipe.apply.files import read_documents
from tests.apply.helpers import write


def test_yaml_scalars_follow_yaml_1_2(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.yaml",
        """
        country: NO
        flag: yes
        on: off
        at: 2026-03-01T00:00:00Z
        day: 2026-03-01
        octal: 010
        hex: 0x1F
        real: 1.5e3
        t: true
        n: ~
        """,
    )
    (doc,) = read_documents([str(path)])
    assert doc.data == {
        "country": "NO",
        "flag": "yes",
        "on": "off",
        "at": "2026-03-01T00:00:00Z",
        "day": "2026-03-01",
        "octal": 10,
        "hex": 31,
        "real": 1500.0,
        "t": True,
        "n": None,
    }


def test_multi_document_yaml_numbers_documents_from_one(tmp_path: Path) -> None:
    path = write(tmp_path, "s.yaml", "---\nkind: A\n---\n---\nkind: B\n")
    docs = read_documents([str(path)])
    assert [(d.source, d.data) for d in docs] == [(f"{path}#1", {"kind": "A"}), (f"{path}#3", {"kind": "B"})]


def test_json_object_and_list(tmp_path: Path) -> None:
    one = write(tmp_path, "one.json", '{"kind": "A"}')
    many = write(tmp_path, "many.json", '[{"kind": "B"}, {"kind": "C"}]')
    docs = read_documents([str(one), str(many)])
    assert [(d.source, d.data["kind"]) for d in docs] == [(f"{one}#1", "A"), (f"{many}#1", "B"), (f"{many}#2", "C")]


def test_folders_are_read_recursively_sorted_and_once(tmp_path: Path) -> None:
    write(tmp_path, "objs/b.yml", "kind: B\n")
    write(tmp_path, "objs/a.json", '{"kind": "A"}')
    write(tmp_path, "objs/sub/c.yaml", "kind: C\n")
    write(tmp_path, "objs/notes.txt", "ignored")
    write(tmp_path, "objs/.hidden/d.yaml", "kind: D\n")
    folder = tmp_path / "objs"
    docs = read_documents([str(folder), str(folder / "b.yml")])
    assert [d.data["kind"] for d in docs] == ["A", "B", "C"]


def test_unreadable_inputs_become_faults(tmp_path: Path) -> None:
    dup = write(tmp_path, "dup.yaml", "a: 1\na: 2\n")
    dup_json = write(tmp_path, "dup.json", '{"a": 1, "a": 2}')
    nan = write(tmp_path, "nan.json", '{"a": NaN}')
    broken = write(tmp_path, "broken.yaml", "a: [1\n")
    scalar = write(tmp_path, "scalar.json", "3")
    text = write(tmp_path, "x.txt", "kind: A")
    empty = tmp_path / "empty"
    empty.mkdir()
    paths = [dup, dup_json, nan, broken, scalar, text, empty, tmp_path / "missing.yaml"]
    errors = [d.error for d in read_documents([str(p) for p in paths])]
    assert "duplicate key 'a'" in errors[0] and f"{dup}:2:1" in errors[0]
    assert "duplicate key 'a'" in errors[1]
    assert "NaN is not a JSON number" in errors[2]
    assert errors[3].startswith(f"invalid YAML at {broken}:2")
    assert errors[4] == "a JSON file must hold an object or a list of objects"
    assert errors[5] == "not a .yaml, .yml or .json file"
    assert errors[6].startswith("no .yaml, .yml or .json files")
    assert errors[7] == "no such file or folder"
