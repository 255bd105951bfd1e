"""`segpipe.quality.run_checks`: GX 1.x in Postgres, reusable by any gate (the pre-send audience check too)."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from segpipe.db import schema as t
from segpipe.errors import GateRefused
from segpipe.quality import ColumnMax, ColumnNotNull, ColumnUnique, NoRows, RowCount, raise_for_failure, run_checks
from segpipe.quality.checks import query_sql

QUERY = "SELECT g AS id, CASE WHEN g = 3 THEN NULL ELSE mod(g, 4) END AS v FROM generate_series(1, 5) AS g"


def test_each_check_kind_passes_and_fails(engine):
    checks = [
        RowCount(name="five", query=QUERY, equals=5, description="five rows"),
        RowCount(name="not_empty", query=QUERY, min_value=1, description="not empty"),
        RowCount(name="too_many", query=QUERY, max_value=4, description="at most four"),
        ColumnUnique(name="id_unique", query=QUERY, column="id", description="ids unique"),
        ColumnUnique(name="v_unique", query=QUERY, column="v", description="v unique"),
        ColumnNotNull(name="v_not_null", query=QUERY, column="v", description="v not null"),
        ColumnMax(
            name="ratio",
            query="SELECT 0.4::float8 AS ratio",
            column="ratio",
            min_value=0.5,
            max_value=1.5,
            description="within ±50%",
        ),
        NoRows(name="none", query="SELECT 1 AS x WHERE false", description="nothing offends"),
        NoRows(name="warn", query="SELECT 1 AS x", description="a warning", blocking=False),
    ]
    report = run_checks(engine, checks, name="test")
    outcome = {c.name: c.success for c in report.checks}
    assert outcome == {
        "five": True,
        "not_empty": True,
        "too_many": False,
        "id_unique": True,
        "v_unique": False,
        "v_not_null": False,
        "ratio": False,
        "none": True,
        "warn": False,
    }
    assert {c.name for c in report.failed} == {"too_many", "v_unique", "v_not_null", "ratio"}
    assert [c.name for c in report.warnings] == ["warn"]
    assert report.result("five").observed == 5 and report.result("ratio").observed == 0.4
    assert report.result("v_not_null").observed == {"unexpected": 1, "rows": 5}
    with pytest.raises(GateRefused) as refused:
        raise_for_failure(report, "campaign 'bf'")
    assert refused.value.exit_code == 3 and refused.value.gate == "quality"
    assert "v_not_null" in str(refused.value) and "warn" not in str(refused.value)


def test_a_check_that_cannot_run_fails(engine):
    report = run_checks(engine, [NoRows(name="broken", query="SELECT nope FROM missing", description="x")])
    assert not report.success and "missing" in report.checks[0].error


def test_core_queries_are_rendered_with_literal_values():
    query = sa.select(t.memberships.c.profile_id).where(t.memberships.c.segment_id == 42)
    assert query_sql(query).endswith("WHERE segpipe.memberships.segment_id = 42")
    with pytest.raises(ValueError, match="SELECT"):
        query_sql("DELETE FROM segpipe.profiles")


def test_unix_socket_urls_work(engine, db_url):
    with engine.connect() as conn:
        directory = conn.execute(sa.text("SELECT current_setting('unix_socket_directories')")).scalar().split(",")[0]
        port = conn.execute(sa.text("SELECT current_setting('port')")).scalar()
    if not os.path.exists(os.path.join(directory.strip(), f".s.PGSQL.{port}")):
        pytest.skip("the test server has no local unix socket")
    url = make_url(db_url).set(host=None, port=None, query={"host": directory.strip(), "port": port})
    report = run_checks(
        url.render_as_string(hide_password=False),
        [RowCount(name="one", query="SELECT 1 AS x", equals=1, description="one row")],
    )
    assert report.success


def test_percent_signs_are_refused():
    with pytest.raises(ValueError, match="'%'"):
        query_sql("SELECT 5 % 4 AS x")
