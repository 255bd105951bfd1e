# ruff: noqa: E501  (hostile cases read best one per line)
"""Fuzzed rule documents through `segpipe apply`: exit 0 or 2, one error line, and a refusal writes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.reliability.helpers import (
    StateWatch,
    assert_clean_outcome,
    checksums,
    fuzz_examples,
    fuzz_settings,
    report,
    run_segpipe,
)
from tests.reliability.strategies import INJECTION, segment_documents

pytestmark = pytest.mark.reliability
FUZZ = fuzz_settings(300)
_cases = {"rules": 0}
_watch: dict[int, StateWatch] = {}


def _write(path: Path, documents: list[Any], as_json: bool) -> Path:
    if as_json:
        path = path.with_suffix(".json")
        path.write_text(json.dumps(documents[0] if len(documents) == 1 else documents), encoding="utf-8")
    else:
        path = path.with_suffix(".yaml")
        path.write_text(yaml.safe_dump_all(documents, allow_unicode=False), encoding="utf-8")
    return path


@FUZZ
@given(documents=st.lists(segment_documents, min_size=1, max_size=3), as_json=st.booleans())
def test_apply_of_hostile_rule_documents(cli, engine, tmp_path, documents, as_json):
    _cases["rules"] += 1
    path = _write(tmp_path / "doc", documents, as_json and len(documents) == 1)
    watch = _watch.setdefault(id(engine), StateWatch(engine))
    watch.before()
    result = cli("apply", str(path))
    assert_clean_outcome(result.exit_code, result.stderr, result.stdout)
    if result.exit_code == 2:
        assert str(path) in result.stderr
    watch.check(result.exit_code)


def test_zz_report_rules_cases():
    report("fuzz", target="apply rule documents", cases=_cases["rules"])
    assert _cases["rules"] >= min(fuzz_examples(300), 100)


def test_hostile_documents_through_the_real_command(engine, db_url, tmp_path):
    """A few cases through the `segpipe` executable: the same outcome as in-process, no traceback."""
    documents = [
        {"kind": "Segment", "key": "fz-real", "name": INJECTION, "rules": {"attribute": INJECTION, "op": "eq", "value": INJECTION}},
        {"kind": "Segment", "key": INJECTION, "name": "x", "rules": {"attribute": "a", "op": "eq", "value": 1}},
        {"kind": "Segment", "key": "fz-nan", "name": "nan", "rules": {"attribute": "a", "op": "gt", "value": float("nan")}},
    ]  # fmt: skip
    for n, doc in enumerate(documents):
        path = _write(tmp_path / f"real{n}", [doc], as_json=False)
        before = checksums(engine)
        done = run_segpipe("apply", str(path), db_url=db_url, home=tmp_path)
        assert_clean_outcome(done.returncode, done.stderr, done.stdout)
        if done.returncode == 2:
            assert checksums(engine) == before
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM segpipe.profiles").scalar_one() >= 0  # the table survived
