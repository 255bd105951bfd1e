"""Every route and status code over HTTP (Starlette's TestClient, the real app over a real read-only database)."""

from __future__ import annotations

import re
from html import unescape

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from segpipe.catalog.app import create_app
from segpipe.catalog.options import CatalogOptions
from segpipe.config import Settings
from tests.catalog.world import FLOW_RUN_ID, HOSTILE_DESCRIPTION, HOSTILE_NAME


def keys(html: str) -> list[str]:
    """The segment keys of the index table, in page order."""
    return re.findall(r'<tr data-key="([^"]+)">', html)


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_reports_an_unreachable_database(settings: Settings, db_url: str) -> None:
    missing = sa.create_engine(db_url.rsplit("/", 1)[0] + "/segpipe_no_such_database", pool_pre_ping=True)
    response = TestClient(create_app(missing)).get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def test_root_redirects_to_the_index(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 307
    assert response.headers["location"] == "/segments"


def last_change(engine: Engine, key: str) -> int:
    """The member count of the segment's latest trend point minus that of the one before."""
    query = sa.text(
        "SELECT c.member_count FROM segpipe.segment_counts c JOIN segpipe.segments s ON s.id = c.segment_id"
        " WHERE s.key = :k ORDER BY c.at DESC, c.member_count DESC LIMIT 2"
    )
    with engine.connect() as conn:
        latest, previous = conn.execute(query, {"k": key}).scalars().all()
    return latest - previous


def test_index_lists_active_segments_by_key_with_refresh_facts(client: TestClient, world: Engine) -> None:
    response = client.get("/segments")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert keys(response.text) == ["de", "gold", "gold-de", "hostile"]
    row = re.search(r'<tr data-key="gold">(.*?)</tr>', response.text, re.S)
    assert row is not None
    assert "Gold customers" in row.group(1) and "succeeded" in row.group(1)
    change = last_change(world, "gold")
    assert f">{change:+d}<" in row.group(1) if change else ">±0<" in row.group(1)
    assert "3, 4, 5, 6, 7, 8, 9, 10, 11" in row.group(1)
    held = re.search(r'<tr data-key="de">(.*?)</tr>', response.text, re.S)
    assert held is not None and "status-held" in held.group(1) and ">full<" in held.group(1)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=all", ["de", "gold", "gold-de", "hostile", "old-promo"]),
        ("status=archived", ["old-promo"]),
        ("status=inactive", []),
        ("status=held", ["de"]),
        ("search=GERMANY", ["de", "gold-de"]),
        ("search=any+country", ["gold"]),
        ("search=%25", []),
        ("sort=-key", ["hostile", "gold-de", "gold", "de"]),
        ("sort=name:desc&status=all", ["old-promo", "gold-de", "gold", "de", "hostile"]),
        ("sort=status&status=all", ["gold", "gold-de", "hostile", "old-promo", "de"]),
        ("sort=-refresh_status", ["gold", "gold-de", "hostile", "de"]),
        ("sort=mode", ["de", "gold", "gold-de", "hostile"]),
    ],
)
def test_index_filters_searches_and_sorts(client: TestClient, query: str, expected: list[str]) -> None:
    response = client.get(f"/segments?{query}")
    assert response.status_code == 200
    assert keys(response.text) == expected


@pytest.mark.parametrize("sort", ["member_count", "-member_count", "change", "change:desc"])
def test_index_sorts_by_counts(client: TestClient, world: Engine, sort: str) -> None:
    """Numbers sort by value (descending with `-` or `:desc`), ties by key."""
    active = ["de", "gold", "gold-de", "hostile"]
    if sort.startswith("member_count") or sort.startswith("-member_count"):
        with world.connect() as conn:
            query = sa.text("SELECT key, member_count FROM segpipe.segments")
            values = dict(conn.execute(query).tuples().all())
    else:
        values = {key: last_change(world, key) for key in active}
    assert len(set(values[k] for k in active)) > 2, values
    descending = sort.startswith("-") or sort.endswith(":desc")
    expected = sorted(active, key=lambda k: (-values[k] if descending else values[k], k))
    assert keys(client.get(f"/segments?sort={sort}").text) == expected


@pytest.mark.parametrize("query", ["status=bogus", "sort=bogus", "sort=key:sideways"])
def test_index_refuses_unknown_parameters_with_400(client: TestClient, query: str) -> None:
    response = client.get(f"/segments?{query}")
    assert response.status_code == 400
    assert "Invalid request" in response.text


def test_segment_page(client: TestClient) -> None:
    response = client.get("/segments/gold-de")
    assert response.status_code == 200
    html = unescape(response.text)
    assert "kind: Segment" in html and "key: gold-de" in html
    assert "sum of amount over purchase events in the last 90 days ≥ 100" in html
    assert 'member of segment <a href="/segments/gold">gold</a>' in html
    assert '<a href="/campaigns/spring">spring</a>' in html
    assert "/segments/gold-de/trend.svg" in html
    assert "hourly (test)" in html
    assert "Member preview off" in html and "@example.com" not in html and "u03" not in html


def test_segment_page_links_flow_runs_and_shows_history(client: TestClient) -> None:
    html = client.get("/segments/de").text
    assert f'href="http://prefect.test:4200/runs/flow-run/{FLOW_RUN_ID}"' in html
    assert "would remove 5 of 6 members" in html
    gold = client.get("/segments/gold").text
    assert re.search(r"<td>2</td><td>updated</td><td>alice</td>", gold)
    assert re.search(r"<td>1</td><td>created</td><td>[^<]+</td>", gold)
    assert '<a href="/segments/gold-de">gold-de</a>' in gold


def test_members_only_when_the_catalog_shows_them(read_only: Engine) -> None:
    html = TestClient(create_app(read_only, CatalogOptions(show_members=True))).get("/segments/gold").text
    assert "u03@example.com" in html and "Member preview off" not in html


def test_trend_chart_is_svg(client: TestClient) -> None:
    response = client.get("/segments/gold/trend.svg")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.text.lstrip().startswith("<?xml") and "<svg" in response.text
    hostile = client.get("/segments/hostile/trend.svg")
    assert hostile.status_code == 200 and "<script" not in hostile.text


def test_campaign_page(client: TestClient) -> None:
    response = client.get("/campaigns/spring")
    assert response.status_code == 200
    html = unescape(response.text)
    assert '<a href="/segments/gold-de">gold-de</a>' in html and '<a href="/segments/hostile">hostile</a>' in html
    assert re.search(r"status-ready\">ready</span>", html)
    assert "✔ empty" in html or "✔" in html
    assert re.search(r'<td class="num">3</td><td class="num">2</td><td class="num">1</td>', html), html


@pytest.mark.parametrize(
    "path", ["/segments/no-such", "/segments/no-such/trend.svg", "/campaigns/no-such", "/campaigns/weekly", "/nope"]
)
def test_unknown_pages_are_404_pages(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Not found" in response.text and '<a href="/segments">' in response.text


def test_hostile_segment_renders_as_text(client: TestClient) -> None:
    for path in ("/segments/hostile", "/segments?search=hostile", "/campaigns/spring"):
        html = client.get(path).text
        assert "<script>" not in html and "<img src=x" not in html and "<b>bold" not in html
    page = client.get("/segments/hostile").text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &#39;quoted&#39; &amp; $x$" in page
    assert unescape(re.search(r'<h1 id="segment-name">(.*?)</h1>', page).group(1)) == HOSTILE_NAME
    assert unescape(re.search(r'<p id="description">(.*?)</p>', page).group(1)) == HOSTILE_DESCRIPTION
    assert "script-src" not in client.get("/segments").headers["content-security-policy"]
    assert "default-src 'none'" in client.get("/segments").headers["content-security-policy"]


def test_catalog_engine_is_read_only(read_only: Engine) -> None:
    with read_only.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="read-only"):
        conn.execute(sa.text("UPDATE segpipe.segments SET name = name"))
