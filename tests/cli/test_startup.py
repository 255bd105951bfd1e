"""Start-up stays cheap: importing the CLI loads no domain, no SQLAlchemy and none of the heavy libraries, and
`segpipe --help` still lists every command with its help text (issue 12: `--help` ≤ 0.3 s on a quiet machine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import typer.main

from segpipe.cli.main import app

HEAVY = ("prefect", "great_expectations", "pandas", "pyarrow", "matplotlib", "sqlalchemy", "psycopg", "yaml")
"""Modules a command imports when it runs, never at start-up."""


def _modules_after_import() -> set[str]:
    code = "import json, sys; import segpipe.cli.main; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out))


def test_importing_the_cli_loads_no_heavy_library() -> None:
    loaded = _modules_after_import()
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert not heavy, f"imported at start-up (import them inside the command that needs them): {heavy[:10]}"
    domain = sorted(
        m
        for m in loaded
        if m.startswith("segpipe.") and m.split(".")[1] not in ("cli", "errors", "progress", "defaults", "timeutil")
    )
    assert not domain, f"domain modules imported at start-up: {domain}"


def test_help_lists_every_command_with_its_help() -> None:
    group = typer.main.get_command(app)
    result = subprocess.run(
        [sys.executable, "-m", "segpipe.cli.main", "--help"], capture_output=True, text=True, check=True,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        short = command.get_short_help_str(limit=60)
        assert name in result.stdout, name
        assert short and short.split()[0] in result.stdout, (name, short)
