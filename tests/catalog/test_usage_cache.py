"""Pages reuse usage between requests, and never show usage older than the request: every change is seen."""

from __future__ import annotations

import textwrap
from pathlib import Path

import sqlalchemy as sa
from starlette.testclient import TestClient

from segpipe.catalog.app import create_app
from segpipe.catalog.server import catalog_engine
from segpipe.catalog.usage_cache import usage_fingerprint

SEGMENT = "kind: Segment\nkey: vip\nname: VIPs\nrules: {attribute: vip, op: eq, value: true}\n"
CAMPAIGN = "kind: Campaign\nkey: {key}\nname: C {key}\nchannel: email\nstatus: {status}\ninclude: [vip]\n"


def _apply(cli, folder: Path, *documents: str) -> None:
    path = folder / "objects.yaml"
    path.write_text("---\n".join(textwrap.dedent(d) for d in documents))
    result = cli("apply", path)
    assert result.exit_code == 0, result.output


def _used_by(client: TestClient) -> str:
    html = client.get("/segments/vip").text
    start = html.find("<h2>Used by</h2>")
    return html[start : html.find("<h2>Uses</h2>")]


def test_usage_follows_every_change(cli, engine, settings, tmp_path: Path) -> None:
    _apply(cli, tmp_path, SEGMENT)
    client = TestClient(create_app(catalog_engine(settings)))
    assert "Nothing uses this segment" in _used_by(client)
    _apply(cli, tmp_path, SEGMENT, CAMPAIGN.format(key="a", status="draft"))
    assert '<a href="/campaigns/a">a</a>' in _used_by(client) and "<td>yes</td>" not in _used_by(client)
    _apply(cli, tmp_path, SEGMENT, CAMPAIGN.format(key="a", status="scheduled"))
    assert "<td>yes</td>" in _used_by(client)
    assert client.get("/campaigns/a").status_code == 200
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM segpipe.consumer_segments"))
        conn.execute(sa.text("DELETE FROM segpipe.consumers"))
    assert "Nothing uses this segment" in _used_by(client)
    assert client.get("/campaigns/a").status_code == 404


def test_fingerprint_changes_with_every_committed_insert_update_and_delete(engine) -> None:
    """Each change is its own transaction, as the catalog sees others' changes: a new xid on every row version."""
    insert = (
        "INSERT INTO segpipe.consumers (kind, key, name, status, spec, created_at, updated_at)"
        " VALUES ('journey', 'fp', 'Fp', 'draft', '{}', now(), now())"
    )
    statements = [insert, "UPDATE segpipe.consumers SET status = 'live' WHERE key = 'fp'"]
    statements.append("DELETE FROM segpipe.consumers WHERE key = 'fp'")
    with engine.connect() as conn:
        seen = [usage_fingerprint(conn)]
        conn.commit()
    for statement in statements:
        with engine.begin() as conn:
            conn.execute(sa.text(statement))
        with engine.connect() as conn:
            seen.append(usage_fingerprint(conn))
    assert len(set(seen[:3])) == 3 and seen[3] != seen[2]
