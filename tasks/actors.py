"""The acting role of a flow run: the worker's database role, or whom an admin worker acts for (docs/security.md)."""

from __future__ import annotations

from prefect import task

from segpipe.actors import resolve_actor
from tasks import db
from tasks.policy import db_task


@task(name="resolve-actor", **db_task("security", run_name="resolve actor {claimed}"))
def resolve_actor_task(claimed: str | None, command: str) -> str:
    """The effective actor; a non-admin worker naming someone else is refused (GateRefused, audited)."""
    with db.engine().connect() as conn:
        return resolve_actor(conn, claimed, command).actor
