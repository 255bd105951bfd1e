"""Small helpers for the load tests: write input files, read back table contents with plain SQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.load.conftest import CUSTOMER_TABLES


def write_jsonl(path: Path, records: list[dict[str, Any] | str]) -> Path:
    """One line per record; a str is written as it is (for malformed lines)."""
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM segpipe.{t}")).scalar_one() for t in CUSTOMER_TABLES}


def data_version(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT last_value FROM segpipe.data_version")).scalar_one()


def profile(engine: Engine, external_id: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = (
            conn.execute(sa.text("SELECT * FROM segpipe.profiles WHERE external_id = :x"), {"x": external_id})
            .mappings()
            .first()
        )
    return dict(row) if row else None


def rows(engine: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def load_json(cli: Any, kind: str, path: Path | str, *extra: str, input: str | None = None) -> dict[str, Any]:
    """`segpipe load KIND PATH --json` that must succeed (exit 2 when --skip-invalid skipped rows); its JSON output."""
    result = cli("load", kind, str(path), "--json", *extra, input=input)
    out = json.loads(result.stdout)
    expected = 2 if out.get("rejected") else 0
    assert result.exit_code == expected, result.output + result.stderr
    return out
