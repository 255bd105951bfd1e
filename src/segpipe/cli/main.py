"""The `segpipe` command: assembles the command groups; each lives in its own module."""

from __future__ import annotations

import logging

import typer

from segpipe.cli import commands
from segpipe.cli.groups import GROUPS
from segpipe.cli.usage import SegpipeGroup

app = typer.Typer(
    name="segpipe",
    cls=SegpipeGroup,
    help="Segment-lifecycle pipeline over Postgres: load, apply, refresh, lifecycle, audited deletion.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
commands.register(app)
for _name, _group in GROUPS.items():
    app.add_typer(_group, name=_name)


def main() -> None:
    # SQLAlchemy logs its own clean-up failures (e.g. "Error closing cursor" after Postgres terminated the session)
    # with a traceback; without a handler Python prints them on stderr. The error itself reaches the user as one
    # line through the CLI's error handler, so those log records are not shown.
    logging.getLogger("sqlalchemy").addHandler(logging.NullHandler())
    app()


if __name__ == "__main__":
    main()
