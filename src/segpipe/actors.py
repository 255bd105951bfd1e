"""Who is acting: the database session's role, never a name typed on the command line (docs/security.md).

`--actor` (or `--by`, or a flow's `actor` parameter) may only name someone else when the session's role is an
admin (a superuser, the owner of the `segpipe` schema, or a member of `segpipe_admin`); the command then acts
*on behalf of* that actor and both names are recorded. A non-admin naming someone else is refused (exit 3,
gate `actor`) and the attempt is written to `segpipe.security_audit` in its own transaction, so the record
outlives the refusal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from segpipe.errors import GateRefused, InvalidInput

_WHO = sa.text("SELECT session_role, admin FROM segpipe.session_actor()")


@dataclass(frozen=True)
class Actor:
    session: str
    """The authenticated role (`session_user`)."""
    actor: str
    """The effective actor: whose permissions are checked (the session role, or whom an admin acts for)."""
    admin: bool
    """Whether the *session* role is an admin."""

    @property
    def on_behalf(self) -> bool:
        return self.actor != self.session

    @property
    def label(self) -> str:
        """What single-name records keep: `alice`, or `root on behalf of alice`."""
        return f"{self.session} on behalf of {self.actor}" if self.on_behalf else self.session

    def to_json(self) -> dict[str, Any]:
        return {"session": self.session, "actor": self.actor, "admin": self.admin, "label": self.label}


def resolve_actor(conn: Connection, claimed: str | None = None, command: str = "") -> Actor:
    """The actor of this command: the session role, or `claimed` when the session role is an admin.

    One small query (`segpipe.session_actor()`); a refusal costs one more, committed on its own connection.
    """
    if claimed is not None:
        check_actor(claimed, where="--actor")
    session, admin = conn.execute(_WHO).one()
    if claimed is None or claimed == session:
        return Actor(session, session, bool(admin))
    if not admin:
        message = (
            f"role '{session}' may not act as '{claimed}': only an admin acts on behalf of another actor; "
            f"leave out --actor (you act as '{session}') or ask an admin"
        )
        record_refusal(conn, "actor", command, claimed, {"message": message})
        raise GateRefused("actor", message, details={"session": session, "claimed": claimed})
    return Actor(session, claimed, True)


def record_refusal(
    conn: Connection, gate: str, command: str, claimed: str | None, detail: dict[str, Any] | None = None
) -> None:
    """Append a refusal to `segpipe.security_audit`, committed now on a connection of its own (the caller's
    transaction is about to be rolled back). The row names the session role, which the caller cannot choose."""
    statement = sa.text("SELECT segpipe.record_refusal(:claimed, :gate, :command, CAST(:detail AS jsonb))")
    params = {"claimed": claimed, "gate": gate, "command": command or "segpipe", "detail": _json(detail or {})}
    with conn.engine.begin() as own:
        own.execute(statement, params)


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, default=str)


def check_actor(actor: str, where: str = "actor") -> str:
    """An actor is a non-empty printable name without surrounding spaces (else exit 2)."""
    if not actor.strip() or actor != actor.strip() or not actor.isprintable():
        raise InvalidInput("an actor is a non-empty printable name without surrounding spaces", where=where)
    return actor
