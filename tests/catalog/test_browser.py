"""The catalog in a real browser: the system's Chromium driven by Playwright, against a real uvicorn serving the
app over this module's database. Each test writes a screenshot of its page under its tmp dir."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from segpipe.catalog.options import CatalogOptions
from segpipe.catalog.server import start_catalog_thread
from segpipe.config import Settings
from tests.catalog.helpers import free_port
from tests.catalog.world import HOSTILE_DESCRIPTION, HOSTILE_NAME

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def base_url(world, settings: Settings) -> Iterator[str]:
    port = free_port()
    options = CatalogOptions(prefect_ui_url="http://127.0.0.1:9/prefect")
    server = start_catalog_thread(settings, "127.0.0.1", port, options)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    deadline = time.monotonic() + 10
    while server.started and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    """A fresh page; any JavaScript dialog (an injected alert) fails the test."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()
    assert dialogs == []


def row_keys(page: Page) -> list[str]:
    return page.locator("#segments tbody tr[data-key]").evaluate_all("rows => rows.map(r => r.dataset.key)")


def shot(page: Page, folder: Path, name: str) -> Path:
    path = folder / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def test_index_filters_searches_and_sorts(page: Page, tmp_path: Path) -> None:
    page.goto("/segments")
    assert row_keys(page) == ["de", "gold", "gold-de", "hostile"]
    page.select_option("select[name=status]", "all")
    page.click("button[type=submit]")
    page.wait_for_url("**/segments?status=all*")
    assert row_keys(page) == ["de", "gold", "gold-de", "hostile", "old-promo"]
    assert page.locator('tr[data-key="old-promo"] td.segment-status').inner_text() == "archived"
    assert page.locator('tr[data-key="de"] td.segment-status').inner_text() == "held"
    page.fill("input[name=search]", "germany")
    page.click("button[type=submit]")
    page.wait_for_url("**search=germany*")
    assert row_keys(page) == ["de", "gold-de"]
    page.click("th a[data-sort=key]")
    page.wait_for_url("**sort=-key*")
    assert row_keys(page) == ["gold-de", "de"]
    assert page.locator("select[name=status]").input_value() == "all"
    page.click("th a[data-sort=key]")
    page.wait_for_url("**sort=key*")
    assert row_keys(page) == ["de", "gold-de"]
    page.goto("/segments?status=all")
    shot(page, tmp_path, "index.png")


def test_segment_page_shows_the_trend_chart(page: Page, tmp_path: Path) -> None:
    page.goto("/segments/gold")
    chart = page.locator("img#trend-chart")
    chart.wait_for()
    page.wait_for_function("() => document.querySelector('#trend-chart').complete")
    assert chart.evaluate("img => img.naturalWidth") > 100
    assert page.locator("#rule-tree").inner_text().strip() == 'tier = "gold"'
    assert "key: gold" in page.locator("#definition").inner_text()
    shot(page, tmp_path, "segment.png")


def test_usage_links_work(page: Page, tmp_path: Path) -> None:
    page.goto("/segments/gold")
    page.locator("#used-by a", has_text="gold-de").click()
    page.wait_for_url("**/segments/gold-de")
    assert page.locator("h1").inner_text() == "Gold customers in Germany"
    page.locator("#uses a", has_text="de").first.click()
    page.wait_for_url("**/segments/de")
    page.go_back()
    page.locator("#used-by a", has_text="spring").click()
    page.wait_for_url("**/campaigns/spring")
    assert page.locator("h1").inner_text() == "Spring sale"
    assert page.locator("#snapshots tbody tr").count() >= 1
    shot(page, tmp_path, "campaign.png")
    page.locator("#audience a", has_text="hostile").click()
    page.wait_for_url("**/segments/hostile")
    assert page.locator("h1").inner_text() == HOSTILE_NAME


def test_hostile_name_is_escaped(page: Page, tmp_path: Path) -> None:
    page.goto("/segments/hostile")
    assert page.locator("h1").inner_text() == HOSTILE_NAME
    assert page.locator("#description").inner_text() == HOSTILE_DESCRIPTION
    assert page.evaluate("() => document.querySelectorAll('script, img:not(#trend-chart), b').length") == 0
    assert page.title().startswith(HOSTILE_NAME)
    shot(page, tmp_path, "hostile.png")
    page.goto("/segments?search=hostile")
    assert page.locator('tr[data-key="hostile"] td.name').inner_text() == HOSTILE_NAME


def test_unknown_key_shows_the_404_page(page: Page, tmp_path: Path) -> None:
    response = page.goto("/segments/no-such-segment")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    page.click("text=Back to the segment index")
    page.wait_for_url("**/segments")
    page.goto("/segments/no-such-segment")
    shot(page, tmp_path, "not-found.png")
