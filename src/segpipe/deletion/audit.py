"""The deletion audit: append-only rows (a trigger refuses UPDATE, DELETE and TRUNCATE) with no personal data.

External ids appear only as salted SHA-256 hashes; the salt lives in `segpipe.settings`, outside the audit,
generated once per database. The manifest digest is the SHA-256 of the sorted external ids (code-point order,
one per line), taken before anything is deleted.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from segpipe.db import schema as t

SALT_SETTING = "deletion.audit_salt"
_audit = t.deletion_audit
_DIGEST_CHUNK = 10_000


@dataclass(frozen=True)
class AuditRow:
    id: int
    job_id: uuid.UUID
    at: datetime
    step: str
    detail: dict[str, Any]


def append(conn: Connection, job_id: uuid.UUID, step: str, detail: dict[str, Any] | None = None) -> None:
    """Add one audit row in the caller's transaction (so it commits or vanishes with the work it records)."""
    conn.execute(sa.insert(_audit).values(job_id=job_id, step=step, detail=detail or {}))


def audit_rows(conn: Connection, job_id: uuid.UUID) -> list[AuditRow]:
    query = sa.select(_audit).where(_audit.c.job_id == job_id).order_by(_audit.c.id)
    return [AuditRow(**row._mapping) for row in conn.execute(query)]


def audit_salt(conn: Connection) -> str:
    """The database's salt for external-id hashes, created on first use (concurrent first uses agree)."""
    s = t.settings
    conn.execute(
        pg_insert(s)
        .values(name=SALT_SETTING, value=secrets.token_hex(32))
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return conn.execute(sa.select(s.c.value).where(s.c.name == SALT_SETTING)).scalar_one()


def salted_hash(salt: str, external_id: ColumnElement[str] | str) -> ColumnElement[str]:
    """hex(SHA-256(salt || external_id)) computed in Postgres."""
    data = sa.func.convert_to(sa.literal(salt, sa.Text) + external_id, "UTF8")
    return sa.func.encode(sa.func.sha256(data), "hex")


def hash_external_id(salt: str, external_id: str) -> str:
    """The same hash in Python: to answer "was this external id deleted, and by which job?"."""
    return hashlib.sha256((salt + external_id).encode()).hexdigest()


def manifest_digest(conn: Connection, job_id: uuid.UUID) -> str:
    """SHA-256 of the manifest's external ids sorted by code point, joined by newlines; streamed (flat memory)."""
    m, p = t.deletion_manifest, t.profiles
    external_id = p.c.external_id.collate("C")
    query = (
        sa.select(p.c.external_id).join(m, m.c.profile_id == p.c.id).where(m.c.job_id == job_id).order_by(external_id)
    )
    digest = hashlib.sha256()
    first = True
    result = conn.execute(query.execution_options(stream_results=True, yield_per=_DIGEST_CHUNK))
    for chunk in result.scalars().partitions():
        digest.update(("" if first else "\n").encode() + "\n".join(chunk).encode())
        first = False
    return digest.hexdigest()
