"""A strict black-box driver of `segpipe` for the contract tests of apply, lifecycle and the CLI surface.

Only the CLI is used: documents are written to files, outputs read with `--json`. Every error is checked the
way the contract states it: the exit code, exactly one `error: ...` line on stderr, no traceback, and with
`--json` a JSON object with `error` on stdout. Keys get a per-test prefix so the tests of a module can share
its database.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

_tags = itertools.count(1)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def now() -> datetime:
    return datetime.now(UTC)


def days_from_now(days: float) -> str:
    return iso(now() + timedelta(days=days))


class Driver:
    def __init__(self, cli: Any, folder: Path) -> None:
        self.cli = cli
        self.folder = folder
        self.tag = f"c{next(_tags)}-"
        self._files = itertools.count(1)

    def k(self, name: str) -> str:
        """A key (or a name) private to this test."""
        return self.tag + name

    # running ------------------------------------------------------------------------------------------------
    def run(self, *args: Any, input: str | None = None, env: dict[str, str] | None = None) -> Any:
        result = self.cli(*[str(a) for a in args], input=input, env=env)
        assert "Traceback" not in result.output, result.output
        return result

    def ok(self, *args: Any, input: str | None = None, env: dict[str, str] | None = None) -> Any:
        """Run with --json, expect exit 0 and a clean stderr, return the parsed stdout."""
        result = self.run(*args, "--json", input=input, env=env)
        assert result.exit_code == 0, f"{args}: exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
        assert not result.stderr.strip().startswith("error"), result.stderr
        return json.loads(result.stdout)

    def fails(self, code: int, *args: Any, input: str | None = None, env: dict[str, str] | None = None) -> str:
        """Expect exit `code` both without and with --json; the error contract both ways; returns the line."""
        plain = self.run(*args, input=input, env=env)
        line = error_line(plain, code)
        as_json = self.run(*args, "--json", input=input, env=env)
        assert error_line(as_json, code) == line
        data = json.loads(as_json.stdout)
        assert isinstance(data, dict) and isinstance(data.get("error"), str) and data["error"], as_json.stdout
        return line

    # files and documents ------------------------------------------------------------------------------------
    def file(self, name: str, text: str) -> Path:
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def yaml_file(self, *docs: dict[str, Any], name: str | None = None) -> Path:
        text = yaml.safe_dump_all(list(docs), sort_keys=False)
        return self.file(name or f"docs{next(self._files)}.yaml", text)

    def apply(self, *docs: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
        """Apply documents (one YAML file); expect success; the --json plan."""
        extra = ["--dry-run"] if dry_run else []
        return self.ok("apply", self.yaml_file(*docs), *extra)

    def apply_fails(self, code: int, *docs: dict[str, Any], dry_run: bool = False) -> str:
        extra = ["--dry-run"] if dry_run else []
        return self.fails(code, "apply", self.yaml_file(*docs), *extra)

    def segment(self, name: str, rules: Any = None, **fields: Any) -> str:
        """Apply one segment keyed `tag+name` (named the same unless `name=` is given); returns its key."""
        key = self.k(name)
        doc = {"kind": "Segment", "key": key, "name": fields.pop("display", key), "rules": rules or everyone()}
        self.apply({**doc, **fields})
        return key

    # reading ------------------------------------------------------------------------------------------------
    def show(self, key: str) -> dict[str, Any]:
        return self.ok("segment", "show", key)

    def exists(self, key: str) -> bool:
        result = self.run("segment", "show", key, "--json")
        assert result.exit_code in (0, 2), result.output
        return result.exit_code == 0

    def listed(self, *options: Any) -> list[str]:
        """Keys of this test in `segment list OPTIONS`, in output order."""
        return [row["key"] for row in self.ok("segment", "list", *options) if row["key"].startswith(self.tag)]

    def classify(self, *options: Any) -> dict[str, dict[str, Any]]:
        rows = self.ok("classify", *options)
        assert isinstance(rows, list)
        return {row["key"]: row for row in rows}

    def status(self, key: str) -> str:
        return self.show(key)["status"]


def error_line(result: Any, code: int) -> str:
    """The contract's error form: exit `code`, exactly one stderr line `error: ...`, no traceback."""
    assert result.exit_code == code, f"exit {result.exit_code} != {code}\n{result.stdout}\n{result.stderr}"
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), f"stderr: {result.stderr!r}"
    assert "Traceback" not in result.output
    return lines[0]


def everyone() -> dict[str, Any]:
    return {"attribute": "external_id", "op": "exists"}


def attr(name: str, value: Any, op: str = "eq") -> dict[str, Any]:
    return {"attribute": name, "op": op, "value": value}


def seg(key: str, name: str | None = None, rules: Any = None, **fields: Any) -> dict[str, Any]:
    return {"kind": "Segment", "key": key, "name": name or key, "rules": rules or everyone(), **fields}


def campaign(key: str, status: str = "draft", include: list[str] = (), exclude: list[str] = (), **fields: Any):  # type: ignore[assignment]
    doc = {"kind": "Campaign", "key": key, "name": key, "channel": "email", "status": status}
    return {**doc, "include": list(include), "exclude": list(exclude), **fields}
