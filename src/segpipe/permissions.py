"""Who may do what: grants per actor, denied by default; every grant and revoke is recorded in `grant_audit`.

Grants change only through the SECURITY DEFINER functions `segpipe.grant_permission` / `revoke_permission`,
which refuse unless `session_user` is an admin (docs/security.md); the checks here say it first, with an audit
row, and Postgres says it again for anyone who goes around the CLI.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Connection

from segpipe.actors import Actor, check_actor, record_refusal, resolve_actor
from segpipe.db import schema as t
from segpipe.errors import GateRefused, InvalidInput

PROFILES_VIEW = "profiles:view"
PROFILES_EDIT = "profiles:edit"
SEGMENTS_EDIT = "segments:edit"
PERMISSIONS = (PROFILES_VIEW, PROFILES_EDIT, SEGMENTS_EDIT)
DELETE_PROFILES = (PROFILES_VIEW, PROFILES_EDIT)
"""What deleting the profiles of a segment needs (seed 001: View and Edit access)."""
_HOLDS = sa.text("SELECT segpipe.holds_permission(:who, :wanted)")
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


def grant(conn: Connection, actor: str, permissions: Iterable[str], on_behalf: str | None = None) -> GrantChange:
    """Give `actor` the permissions. Only an admin may (`segpipe.grant_permission` checks `session_user` again
    in Postgres); each permission newly granted gets a `grant_audit` row in the same transaction."""
    return _change(conn, "grant", actor, permissions, on_behalf)


def revoke(conn: Connection, actor: str, permissions: Iterable[str], on_behalf: str | None = None) -> GrantChange:
    """Take the permissions away (admins only); each one actually held gets a `grant_audit` row."""
    return _change(conn, "revoke", actor, permissions, on_behalf)


def _change(
    conn: Connection, action: str, actor: str, permissions: Iterable[str], on_behalf: str | None
) -> GrantChange:
    check_actor(actor)
    wanted = check_permissions(permissions)
    who = resolve_actor(conn, on_behalf, command=action)
    require_admin(conn, who, action)
    function = "segpipe.grant_permission" if action == "grant" else "segpipe.revoke_permission"
    query = sa.text(f"SELECT p FROM unnest(CAST(:wanted AS text[])) AS p WHERE {function}(:actor, p, :on_behalf)")
    params = {"wanted": sorted(wanted), "actor": actor, "on_behalf": who.actor if who.on_behalf else None}
    changed = sorted(conn.execute(query, params).scalars())
    return GrantChange(actor, action, changed, permissions_of(conn, actor))


def require_admin(conn: Connection, who: Actor, command: str) -> None:
    """Refuse (exit 3, gate `permission`, with a security_audit row) unless the session role is an admin."""
    if who.admin:
        return
    message = f"role '{who.session}' is not an admin: only an admin may {command} permissions (docs/security.md)"
    record_refusal(conn, "admin", command, None, {"message": message})
    raise GateRefused("permission", message, details={"session": who.session, "needs": "admin"})


def missing_permissions(conn: Connection, actor: str, needed: Iterable[str]) -> list[str]:
    held = set(permissions_of(conn, actor))
    return [p for p in needed if p not in held]


def require_permission(conn: Connection, actor: Actor, permission: str, command: str = "") -> None:
    """Refuse (exit 3, gate `permission`, naming the permission; audited) unless the effective actor holds it.

    An admin acting as itself holds every `segments:` permission implicitly; acting on behalf of someone, that
    actor's grants count. `profiles:` permissions are always explicit grants (deny by default, admins too).
    """
    if actor.admin and not actor.on_behalf and permission.startswith("segments:"):
        return
    held = conn.execute(_HOLDS, {"who": actor.actor, "wanted": permission}).scalar()
    if held:
        return
    message = (
        f"actor '{actor.actor}' lacks {permission}"
        + (f" (acting: {actor.label})" if actor.on_behalf else "")
        + f"; an admin grants it with `segpipe grant {actor.actor} {permission}`"
    )
    record_refusal(conn, "permission", command, actor.actor, {"missing": [permission], "label": actor.label})
    raise GateRefused("permission", message, details={"actor": actor.actor, "missing": [permission]})


def require_permissions(conn: Connection, actor: str, needed: Iterable[str]) -> None:
    """Deny by default: raise GateRefused('permission') (exit 3) unless `actor` holds every permission."""
    missing = missing_permissions(conn, actor, needed)
    if missing:
        raise GateRefused(
            "permission",
            f"actor '{actor}' lacks {', '.join(missing)}; grant it with `segpipe grant {actor} {' '.join(missing)}`",
            details={"actor": actor, "missing": missing},
        )


def list_grants(conn: Connection, actor: str | None = None) -> list[dict[str, object]]:
    """Each actor with grants (or just `actor`, even with none): its permissions and whether it is an admin role."""
    g = t.grants
    query = sa.select(g.c.actor, sa.func.array_agg(aggregate_order_by(g.c.permission, g.c.permission)))
    if actor is not None:
        query = query.where(g.c.actor == check_actor(actor, where="ACTOR"))
    held = dict(conn.execute(query.group_by(g.c.actor)).tuples().all())
    names = sorted(held) if actor is None else [actor]
    admins = _admins(conn, names)
    return [{"actor": name, "permissions": list(held.get(name, [])), "admin": name in admins} for name in names]


def _admins(conn: Connection, names: list[str]) -> set[str]:
    query = sa.text("SELECT n FROM unnest(CAST(:names AS text[])) AS n WHERE segpipe.is_admin(n::name)")
    return set(conn.execute(query, {"names": names}).scalars()) if names else set()
