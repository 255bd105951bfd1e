"""Who may do what: grants per actor, denied by default; every grant and revoke is recorded in `grant_audit`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection

from segpipe.db import schema as t
from segpipe.errors import GateRefused, InvalidInput

PROFILES_VIEW = "profiles:view"
PROFILES_EDIT = "profiles:edit"
SEGMENTS_EDIT = "segments:edit"
PERMISSIONS = (PROFILES_VIEW, PROFILES_EDIT, SEGMENTS_EDIT)
DELETE_PROFILES = (PROFILES_VIEW, PROFILES_EDIT)
"""What deleting the profiles of a segment needs (seed 001: View and Edit access)."""
WILDCARDS = {"*": PERMISSIONS, "profiles:*": DELETE_PROFILES, "segments:*": (SEGMENTS_EDIT,)}


@dataclass(frozen=True)
class GrantChange:
    actor: str
    action: str
    """`grant` or `revoke`."""
    changed: list[str]
    """The permissions this call actually changed (granting a held permission changes nothing)."""
    permissions: list[str]
    """Everything the actor holds afterwards."""


def check_actor(actor: str, where: str = "actor") -> str:
    if not actor.strip() or actor != actor.strip() or not actor.isprintable():
        raise InvalidInput("an actor is a non-empty printable name without surrounding spaces", where=where)
    return actor


def check_permissions(permissions: Iterable[str], where: str = "permission") -> list[str]:
    """The distinct permissions in order of first mention; an unknown one is invalid input (exit 2).

    `profiles:*` (as the contract writes "both `profiles:*`") stands for every `profiles:` permission, `*` for all.
    """
    wanted: list[str] = []
    for permission in permissions:
        expanded = WILDCARDS.get(permission, (permission,) if permission in PERMISSIONS else ())
        if not expanded:
            raise InvalidInput(f"unknown permission '{permission}'; known: {', '.join(PERMISSIONS)}", where=where)
        wanted += expanded
    if not wanted:
        raise InvalidInput(f"name at least one permission ({', '.join(PERMISSIONS)})", where=where)
    return list(dict.fromkeys(wanted))


def permissions_of(conn: Connection, actor: str) -> list[str]:
    g = t.grants
    query = sa.select(g.c.permission).where(g.c.actor == actor).order_by(g.c.permission)
    return list(conn.execute(query).scalars())


def grant(conn: Connection, actor: str, permissions: Iterable[str], changed_by: str | None = None) -> GrantChange:
    """Give `actor` the permissions; each one newly granted gets a `grant_audit` row in the same transaction."""
    check_actor(actor)
    wanted = check_permissions(permissions)
    rows = [{"actor": actor, "permission": p} for p in wanted]
    insert = pg_insert(t.grants).values(rows).on_conflict_do_nothing().returning(t.grants.c.permission)
    changed = sorted(conn.execute(insert).scalars())
    _audit(conn, "grant", actor, changed, changed_by)
    return GrantChange(actor, "grant", changed, permissions_of(conn, actor))


def revoke(conn: Connection, actor: str, permissions: Iterable[str], changed_by: str | None = None) -> GrantChange:
    """Take the permissions away; each one actually held gets a `grant_audit` row in the same transaction."""
    check_actor(actor)
    wanted = check_permissions(permissions)
    g = t.grants
    delete = sa.delete(g).where(g.c.actor == actor, g.c.permission.in_(wanted)).returning(g.c.permission)
    changed = sorted(conn.execute(delete).scalars())
    _audit(conn, "revoke", actor, changed, changed_by)
    return GrantChange(actor, "revoke", changed, permissions_of(conn, actor))


def _audit(conn: Connection, action: str, actor: str, permissions: list[str], changed_by: str | None) -> None:
    if permissions:
        rows = [{"action": action, "actor": actor, "permission": p, "changed_by": changed_by} for p in permissions]
        conn.execute(sa.insert(t.grant_audit).values(rows))


def missing_permissions(conn: Connection, actor: str, needed: Iterable[str]) -> list[str]:
    held = set(permissions_of(conn, actor))
    return [p for p in needed if p not in held]


def require_permissions(conn: Connection, actor: str, needed: Iterable[str]) -> None:
    """Deny by default: raise GateRefused('permission') (exit 3) unless `actor` holds every permission."""
    missing = missing_permissions(conn, actor, needed)
    if missing:
        raise GateRefused(
            "permission",
            f"actor '{actor}' lacks {', '.join(missing)}; grant it with `segpipe grant {actor} {' '.join(missing)}`",
            details={"actor": actor, "missing": missing},
        )
