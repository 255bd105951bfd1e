"""Prefect artifacts link segments and campaigns to their catalog pages when SEGPIPE_CATALOG_URL is set."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from segpipe.config import Settings
from segpipe.refresh.engine import RefreshRunResult
from segpipe.refresh.membership import SegmentRefreshResult
from tasks import reporting

RESULT = RefreshRunResult(
    run_id=7,
    as_of=datetime(2026, 3, 1, tzinfo=UTC),
    segments=[SegmentRefreshResult("gold", "succeeded", 8, 8, 0), SegmentRefreshResult("bad", "failed", error="boom")],
)


def test_settings_read_the_catalog_url() -> None:
    assert Settings.from_env({"SEGPIPE_CATALOG_URL": "http://cat.internal:4300/"}).catalog_url == (
        "http://cat.internal:4300"
    )
    assert Settings.from_env({}).catalog_url is None


def test_links_when_a_catalog_url_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGPIPE_CATALOG_URL", "http://cat.internal:4300/")
    rows = reporting.refresh_rows(RESULT.segments)
    assert [row["catalog"] for row in rows] == [
        "http://cat.internal:4300/segments/gold",
        "http://cat.internal:4300/segments/bad",
    ]
    summary = reporting.refresh_summary(RESULT, "Refresh")
    assert "- [`bad`](http://cat.internal:4300/segments/bad): boom" in summary
    assert "[the catalog](http://cat.internal:4300/segments)" in summary
    assert reporting.catalog_link("campaigns", "a b/c") == "http://cat.internal:4300/campaigns/a%20b%2Fc"


def test_no_links_without_a_catalog_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEGPIPE_CATALOG_URL", raising=False)
    assert all("catalog" not in row for row in reporting.refresh_rows(RESULT.segments))
    summary = reporting.refresh_summary(RESULT, "Refresh")
    assert "- `bad`: boom" in summary and "catalog" not in summary
