from __future__ import annotations

import threading

import sqlalchemy as sa

from segpipe.db import migrate as migrate_module
from segpipe.db.migrate import available_migrations, migrate


def test_migrations_are_ordered_and_recorded(engine):
    versions = [m.version for m in available_migrations()]
    assert versions == sorted(versions) and versions[0] == 1
    with engine.connect() as conn:
        recorded = conn.execute(sa.text("SELECT version FROM segpipe_meta.schema_migrations ORDER BY 1")).scalars()
        assert list(recorded) == versions


def test_migrate_is_idempotent(engine):
    migrate_module._applied_for.clear()
    assert migrate(engine) == []


def test_concurrent_migrations_apply_once(server_url, tmp_path):
    import uuid

    name = f"segpipe_mig_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(server_url).set(database=name)
    engines = [sa.create_engine(url) for _ in range(4)]
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def run(e):
        try:
            results.append(migrate(e))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    migrate_module._applied_for.clear()
    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert not errors
        applied = sorted(v for r in results for v in r)
        assert applied == [m.version for m in available_migrations()]
    finally:
        for e in engines:
            e.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
