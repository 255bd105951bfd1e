"""Fuzzed load files of every kind and format: exit 0 or 2, one `error: FILE:ROW: reason` line, nothing partial."""

from __future__ import annotations

import itertools
import json

import pytest
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
from tests.reliability.loadfiles import CORRUPTIONS, FORMATS, KINDS, corrupt, records, render, write

pytestmark = pytest.mark.reliability
FUZZ = fuzz_settings(180)
_cases: dict[str, int] = {}
_watch: dict[int, StateWatch] = {}
_serial = itertools.count()


def _check_load(cli, engine, path, kind):
    watch = _watch.setdefault(id(engine), StateWatch(engine))
    watch.before()
    result = cli("load", kind, str(path))
    assert_clean_outcome(result.exit_code, result.stderr, result.stdout)
    if result.exit_code == 2:
        assert result.stderr.startswith(f"error: {path}"), result.stderr
    watch.check(result.exit_code)
    return result


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(data=st.data(), fmt=st.sampled_from(FORMATS), how=st.sampled_from(CORRUPTIONS))
def test_load_of_hostile_files(cli, engine, tmp_path, kind, data, fmt, how):
    _cases[kind] = _cases.get(kind, 0) + 1
    rows = data.draw(records(kind))
    cut = data.draw(st.floats(min_value=0, max_value=1))
    garbage = data.draw(st.binary(min_size=1, max_size=64))
    path = write(tmp_path, kind, fmt, corrupt(render(kind, fmt, rows), how, cut, garbage), next(_serial))
    _check_load(cli, engine, path, kind)


def test_zz_report_load_cases():
    report("fuzz", target="load files", cases=sum(_cases.values()), per_kind=_cases)
    assert sum(_cases.values()) >= min(4 * fuzz_examples(180), 100)


def test_a_50_mb_line(cli, engine, tmp_path):
    """One line of 50 MB (a huge attribute) loads or is refused cleanly; never a crash or a partial write."""
    big = {"external_id": "big", "attributes": {"blob": "x" * (50 * 1024 * 1024)}}
    for fmt in ("jsonl", "csv"):
        path = tmp_path / f"big.{fmt}"
        if fmt == "jsonl":
            path.write_text(json.dumps(big) + "\n", encoding="utf-8")
        else:
            path.write_text('external_id,attributes\nbig,"' + json.dumps(big["attributes"]).replace('"', '""') + '"\n')
        _check_load(cli, engine, path, "profiles")


def test_hostile_files_through_the_real_command(engine, db_url, tmp_path):
    """A few cases through the `segpipe` executable."""
    cases = [
        ("profiles", "parquet", b"PAR1" + b"\x00" * 40),
        ("events", "jsonl", b'{"external_id":"u1","event":"a\\u0000","occurred_at":"2024-01-01T00:00:00Z"}\n'),
        ("activity", "csv", b"\xff\xfe\x00garbage\r\n"),
    ]
    for n, (kind, fmt, data) in enumerate(cases):
        path = write(tmp_path, kind, fmt, data, 1000 + n)
        before = checksums(engine)
        done = run_segpipe("load", kind, str(path), db_url=db_url, home=tmp_path)
        assert_clean_outcome(done.returncode, done.stderr, done.stdout)
        if done.returncode == 2:
            assert done.stderr.startswith(f"error: {path}"), done.stderr
            assert checksums(engine) == before
