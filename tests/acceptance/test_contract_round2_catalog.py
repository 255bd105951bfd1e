"""Contract §7 `segpipe catalog` (issue 14), black box: the real command in its own process, read over HTTP.

Read-only pages `/segments` (the query parameters of `segment list`), `/segments/{key}`, `/campaigns/{key}`;
127.0.0.1 by default; no external id or email unless `--show-members`; a hostile name renders as text; an unknown
key is a 404 page.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.acceptance.contract_driver import Driver, attr, campaign, seg
from tests.catalog.helpers import free_port

HOSTILE = "<script>alert('x')</script> \"quoted\" & co"


@pytest.fixture(scope="module")
def catalog_world(db_url: str, settings, tmp_path_factory) -> dict[str, str]:
    """Segments and a campaign made through the CLI; the secret external ids the pages must not show."""
    from typer.testing import CliRunner

    from segpipe.cli.main import app

    base = {"SEGPIPE_DATABASE_URL": db_url, "SEGPIPE_HOME": str(settings.home), "SEGPIPE_ORCHESTRATION": "direct"}

    def cli(*args: str, input: str | None = None, env: dict[str, str] | None = None):
        merged = {**base, **(env or {})}
        return CliRunner().invoke(app, [str(a) for a in args], env=merged, input=input, catch_exceptions=False)

    sp = Driver(cli, tmp_path_factory.mktemp("catalog"))
    rows = [
        {"external_id": f"secret-{i}", "email": f"s{i}@hidden.test", "attributes": {"tier": "gold"}} for i in range(3)
    ]
    sp.ok("load", "profiles", sp.file("p.jsonl", "".join(json.dumps(r) + "\n" for r in rows)))
    big, small, hostile, old = sp.k("big"), sp.k("small"), sp.k("hostile"), sp.k("old")
    sp.apply(
        seg(big, rules=attr("tier", "gold"), description="every gold profile"),
        seg(small, rules=attr("tier", "none")),
        seg(hostile, name=HOSTILE, rules={"segment": big}),
        seg(old),
        campaign(sp.k("promo"), "scheduled", include=[big]),
    )
    sp.ok("refresh", big, small, hostile, old)
    sp.ok("segment", "archive", old)
    return {"big": big, "small": small, "hostile": hostile, "old": old, "promo": sp.k("promo")}


def _start(args: list[str], db_url: str, settings, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {**os.environ, "SEGPIPE_DATABASE_URL": db_url, "SEGPIPE_HOME": str(settings.home)}
    with log.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "segpipe.cli.main", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            start_new_session=True,
        )
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    assert line, log.read_text()
    return process, line


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _ready(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/segments", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"catalog at {base} never answered")


@pytest.fixture(scope="module")
def catalog(catalog_world, db_url: str, settings, tmp_path_factory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("catalog-log") / "catalog.log"
    process, line = _start(["catalog", "--port", str(port), "--json"], db_url, settings, log)
    try:
        assert f"http://127.0.0.1:{port}" in line  # binds to 127.0.0.1 unless told otherwise
        base = f"http://127.0.0.1:{port}"
        _ready(base)
        yield base
    finally:
        _stop(process)
    assert "Traceback" not in log.read_text()


def get(base: str, path: str, **params: str) -> httpx.Response:
    return httpx.get(base + path, params=params, timeout=15)


def test_the_index_lists_segments_with_the_segment_list_parameters(catalog: str, catalog_world) -> None:
    page = get(catalog, "/segments")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for name in ("big", "small", "hostile"):
        assert catalog_world[name] in page.text
    assert catalog_world["old"] not in page.text  # archived: not in the default folder
    assert catalog_world["old"] in get(catalog, "/segments", status="all").text
    assert catalog_world["old"] in get(catalog, "/segments", status="archived").text
    found = get(catalog, "/segments", search="EVERY GOLD").text  # description, case-insensitive
    assert catalog_world["big"] in found and catalog_world["small"] not in found
    ordered = get(catalog, "/segments", sort="-member_count").text
    assert ordered.index(catalog_world["big"]) < ordered.index(catalog_world["small"])
    assert get(catalog, "/segments", status="bogus").status_code == 400
    assert get(catalog, "/segments", sort="bogus").status_code == 400


def test_details_and_campaign_pages_and_404s(catalog: str, catalog_world) -> None:
    big = get(catalog, f"/segments/{catalog_world['big']}")
    assert big.status_code == 200
    assert catalog_world["promo"] in big.text and catalog_world["hostile"] in big.text  # usage both ways
    assert "<svg" in big.text or "trend.svg" in big.text
    promo = get(catalog, f"/campaigns/{catalog_world['promo']}")
    assert promo.status_code == 200 and catalog_world["big"] in promo.text
    assert get(catalog, "/segments/no-such-segment").status_code == 404
    assert get(catalog, "/campaigns/no-such-campaign").status_code == 404


def test_a_hostile_name_renders_as_text(catalog: str, catalog_world) -> None:
    for path in ("/segments", f"/segments/{catalog_world['hostile']}", f"/segments/{catalog_world['big']}"):
        text = get(catalog, path).text
        assert "<script>alert" not in text, path
    assert "&lt;script&gt;" in get(catalog, f"/segments/{catalog_world['hostile']}").text


def test_no_member_appears_without_show_members_and_pages_are_read_only(catalog: str, catalog_world) -> None:
    paths = ["/segments", "/segments?status=all"] + [f"/segments/{catalog_world[n]}" for n in ("big", "hostile")]
    paths.append(f"/campaigns/{catalog_world['promo']}")
    for path in paths:
        text = httpx.get(catalog + path, timeout=15).text
        assert "secret-" not in text and "hidden.test" not in text, path
    response = httpx.post(catalog + f"/segments/{catalog_world['big']}", timeout=15)
    assert response.status_code in (404, 405)


def test_show_members_shows_them(catalog_world, db_url: str, settings, tmp_path: Path) -> None:
    port = free_port()
    process, _ = _start(
        ["catalog", "--port", str(port), "--show-members", "--json"], db_url, settings, tmp_path / "c.log"
    )
    try:
        _ready(f"http://127.0.0.1:{port}")
        text = httpx.get(f"http://127.0.0.1:{port}/segments/{catalog_world['big']}", timeout=15).text
        assert "secret-0" in text
    finally:
        _stop(process)
