"""Contract §7: the command surface of round 2 (names, arguments, options) and the README's command table agreeing
with `--help` (every command and option the README names exists)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

from segpipe.cli.main import app

ROOT = typer.main.get_command(app)
README = Path(__file__).resolve().parents[2] / "README.md"

ROUND2: list[tuple[tuple[str, ...], set[str], int]] = [
    # (command path, options that must exist, number of positional arguments)
    (("permissions",), {"--json"}, 1),
    (("grant",), {"--by", "--json"}, 2),
    (("revoke",), {"--by", "--json"}, 2),
    (("refresh",), {"--all", "--as-of", "--accept-drop", "--rewind", "--json"}, 1),
    (("presend",), {"--as-of", "--json"}, 1),
    (("segment", "members"), {"--as-of", "--no-refresh", "--format", "--fields", "--limit", "--json"}, 1),
    (("segment", "explain"), {"--as-of", "--json"}, 2),
    (("segment", "sql"), {"--json"}, 1),
    (("segment", "history"), {"--json"}, 1),
    (("segment", "deactivate"), {"--json", "--actor"}, 1),
    (("apply",), {"--prune", "--dry-run", "--json"}, 1),
    (("delete-profiles",), {"--confirm", "--expect", "--actor", "--dry-run", "--hold-days", "--json"}, 1),
    (("deletion", "list"), {"--json"}, 0),
    (("deletion", "lookup"), {"--json"}, 1),
    (("deletion", "cancel"), {"--json"}, 1),
    (("deletion", "show"), {"--json"}, 1),
    (("alerts", "install"), {"--webhook", "--json"}, 0),
    (("catalog",), {"--host", "--port", "--show-members", "--json"}, 0),
    (("serve",), {"--no-catalog", "--json"}, 0),
]


def _group(cmd: Any) -> bool:
    return isinstance(getattr(cmd, "commands", None), dict)


def _argument(param: Any) -> bool:
    return getattr(param, "param_type_name", None) == "argument"


def command(path: tuple[str, ...]) -> Any:
    cmd: Any = ROOT
    for name in path:
        assert _group(cmd) and name in cmd.commands, f"no command `segpipe {' '.join(path)}`"
        cmd = cmd.commands[name]
    return cmd


@pytest.mark.parametrize(
    ("path", "options", "arguments"), ROUND2, ids=lambda v: " ".join(v) if isinstance(v, tuple) else None
)
def test_round2_command_has_its_options(path: tuple[str, ...], options: set[str], arguments: int) -> None:
    cmd = command(path)
    have = {opt for param in cmd.params for opt in param.opts}
    assert options <= have, options - have
    assert len([p for p in cmd.params if _argument(p)]) == arguments


def test_segment_explain_takes_key_then_external_id() -> None:
    names = [p.name for p in command(("segment", "explain")).params if _argument(p)]
    assert [n.lower() for n in names] == ["key", "external_id"]


def _readme_commands() -> list[str]:
    rows = [line for line in README.read_text(encoding="utf-8").splitlines() if line.startswith("| `segpipe ")]
    assert rows, "the README has a command table"
    return [code for row in rows for code in re.findall(r"`(segpipe [^`]*)`", row.split("|")[1])]


def _expand(cmd: Any, words: list[str], path: tuple[str, ...]) -> list[tuple[tuple[str, ...], list[str]]]:
    """`segment archive\\|unarchive KEY [--x]` → one (path, rest) per alternative."""
    if not words or not _group(cmd):
        return [(path, words)]
    names = words[0].replace("\\|", "|").split("|")
    if not all(name in cmd.commands for name in names):
        return [(path, words)]
    return [hit for name in names for hit in _expand(cmd.commands[name], words[1:], (*path, name))]


@pytest.mark.parametrize("code", _readme_commands())
def test_readme_command_table_agrees_with_help(code: str) -> None:
    for path, rest in _expand(ROOT, code.split()[1:], ()):
        cmd = command(path)
        assert not _group(cmd) or not rest or rest[0].startswith(("[", "-")) or rest[0].isupper(), (
            f"README names an unknown subcommand: {code}"
        )
        named = set(re.findall(r"--[a-z][a-z-]*", " ".join(rest)))
        have = {opt for param in cmd.params for opt in param.opts}
        assert named <= have, f"README `{code}` names options `segpipe {' '.join(path)} --help` lacks: {named - have}"


@pytest.mark.parametrize(
    "word",
    [
        "permissions",
        "--accept-drop",
        "--rewind",
        "explain",
        "segment sql",
        "history",
        "deactivate",
        "keep_active",
        "--prune",
        "segpipe catalog",
        "--no-catalog",
        "--hold-days",
        "lookup",
        "cancel",
        "segpipe alerts install",
    ],
)
def test_readme_mentions_every_round2_addition(word: str) -> None:
    assert word in README.read_text(encoding="utf-8")
