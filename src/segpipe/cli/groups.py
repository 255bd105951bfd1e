"""Command groups shared by several command modules (`segpipe segment ...`, `segpipe db ...`)."""

from __future__ import annotations

import typer

segment = typer.Typer(help="Inspect and manage segments: list, show, members, usage, lifecycle.", no_args_is_help=True)
db = typer.Typer(help="The embedded Postgres server: status, stop, url.", no_args_is_help=True)
deletion = typer.Typer(help="Audited bulk profile deletion jobs.", no_args_is_help=True)
campaign = typer.Typer(help="Campaigns: message-activity statistics.", no_args_is_help=True)

GROUPS = {"segment": segment, "db": db, "deletion": deletion, "campaign": campaign}
