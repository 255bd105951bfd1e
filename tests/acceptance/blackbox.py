"""A black-box driver of the `segpipe` CLI for the contract acceptance tests: real files, `--json` outputs.

Every test works in its own namespace: external ids are prefixed with a fresh tag and every segment's rules
are ANDed with `external_id starts_with <tag>`, so the tests of one module can share its database.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

_counter = itertools.count(1)


class Segpipe:
    def __init__(self, cli: Any, tmp_path: Path) -> None:
        self.cli = cli
        self.dir = tmp_path
        self.tag = f"t{next(_counter)}-"
        self._files = itertools.count(1)

    # ids and files ------------------------------------------------------------------------------------------
    def id(self, name: str) -> str:
        return self.tag + name

    def ids(self, *names: str) -> set[str]:
        return {self.id(n) for n in names}

    def names(self, external_ids: set[str] | list[str]) -> set[str]:
        return {e[len(self.tag) :] for e in external_ids if e.startswith(self.tag)}

    def path(self, suffix: str) -> Path:
        return self.dir / f"input{next(self._files)}{suffix}"

    def jsonl(self, records: list[dict[str, Any] | str], suffix: str = ".jsonl") -> Path:
        path = self.path(suffix)
        lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def csv(self, header: list[str], rows: list[list[Any]]) -> Path:
        path = self.path(".csv")
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        return path

    def parquet(self, records: list[dict[str, Any]], schema: pa.Schema | None = None) -> Path:
        path = self.path(".parquet")
        pq.write_table(pa.Table.from_pylist(records, schema=schema), path)
        return path

    # commands -----------------------------------------------------------------------------------------------
    def run(self, *args: Any, input: str | None = None):
        return self.cli(*[str(a) for a in args], input=input)

    def ok(self, *args: Any, input: str | None = None) -> Any:
        result = self.run(*args, "--json", input=input)
        assert result.exit_code == 0, f"{args}: exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
        return json.loads(result.stdout)

    def load(self, kind: str, path: Path | str, *extra: str, input: str | None = None) -> dict[str, Any]:
        return self.ok("load", kind, path, *extra, input=input)

    def load_rows(self, kind: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        return self.load(kind, self.jsonl(records))

    def profiles(self, *names: str, **attributes: Any) -> None:
        """Create profiles (tagged ids) with the same attributes."""
        self.load_rows("profiles", [{"external_id": self.id(n), "attributes": attributes} for n in names])

    def apply_docs(self, *docs: dict[str, Any], dry_run: bool = False):
        path = self.path(".yaml")
        path.write_text(yaml.safe_dump_all(list(docs), sort_keys=False), encoding="utf-8")
        args = ["apply", path, "--json"] + (["--dry-run"] if dry_run else [])
        return self.run(*args)

    def segment(self, key: str, rules: dict[str, Any], *, scoped: bool = True, name: str | None = None) -> str:
        """Apply a segment (key prefixed with the tag) whose rules are ANDed with the tag scope."""
        key = self.tag + key
        if scoped:
            rules = {"all": [{"attribute": "external_id", "op": "starts_with", "value": self.tag}, rules]}
        result = self.apply_docs({"kind": "Segment", "key": key, "name": name or key, "rules": rules})
        assert result.exit_code == 0, result.stdout + result.stderr
        return key

    def refresh(self, key: str, as_of: str) -> dict[str, Any]:
        rows = self.ok("refresh", key, "--as-of", as_of)
        return next(r for r in rows if r["key"] == key)

    def stored_members(self, key: str) -> set[str]:
        result = self.run("segment", "members", key, "--no-refresh", "--format", "csv", "--fields", "external_id")
        assert result.exit_code == 0, result.stdout + result.stderr
        rows = list(csv.reader(io.StringIO(result.stdout)))
        assert rows[0] == ["external_id"]
        return {r[0] for r in rows[1:]}

    def match_many(self, cases: dict[str, dict[str, Any]], as_of: str = "2026-03-01T00:00:00Z") -> dict[str, set[str]]:
        """Several rules at once (one apply, one refresh run): {case: names matching}."""
        keys = {case: f"{self.tag}m{next(self._files)}" for case in cases}
        scope = {"attribute": "external_id", "op": "starts_with", "value": self.tag}
        docs = [
            {"kind": "Segment", "key": keys[c], "name": keys[c], "rules": {"all": [scope, rules]}}
            for c, rules in cases.items()
        ]
        result = self.apply_docs(*docs)
        assert result.exit_code == 0, result.stdout + result.stderr
        rows = {r["key"]: r for r in self.ok("refresh", *keys.values(), "--as-of", as_of)}
        found = {}
        for case, key in keys.items():
            assert rows[key]["status"] == "succeeded", rows[key]
            found[case] = self.names(self.stored_members(key))
            assert rows[key]["member_count"] == len(found[case])
        return found

    def match(self, rules: dict[str, Any], as_of: str = "2026-03-01T00:00:00Z") -> set[str]:
        """The profiles of this test (names without tag) matching `rules` as of `as_of`."""
        key = self.segment(f"s{next(self._files)}", rules)
        row = self.refresh(key, as_of)
        assert row["status"] == "succeeded", row
        members = self.stored_members(key)
        assert row["member_count"] == len(members)
        return self.names(members)


def error_line(result: Any) -> str:
    """The one `error: ...` line a failed command writes to stderr."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    return lines[0]


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def view(sp: Segpipe, fields: str = "external_id,email,created_at,attributes") -> dict[str, dict[str, Any]]:
    """Every profile of this test, refreshed now, exported as JSON Lines: {name without tag: row}."""
    key = sp.tag + "everyone"
    if not getattr(sp, "_everyone", False):
        sp.segment("everyone", {"attribute": "external_id", "op": "exists"})
        sp._everyone = True  # type: ignore[attr-defined]
    result = sp.run("segment", "members", key, "--format", "jsonl", "--fields", fields)
    assert result.exit_code == 0, result.stdout + result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return {row["external_id"][len(sp.tag) :]: row for row in rows}
