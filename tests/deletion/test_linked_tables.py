"""The tables holding a profile's rows come from the schema, and deletion says what to do with every one."""

from __future__ import annotations

import sqlalchemy as sa

from segpipe.db import schema as t
from segpipe.deletion.rows import HANDLING, LINKED_TABLES, Handling, profile_tables, unhandled_tables

PROFILE_ID_TABLES = sa.text(
    "SELECT table_name FROM information_schema.columns"
    " WHERE table_schema = 'segpipe' AND column_name = 'profile_id'"
    " AND table_name IN (SELECT table_name FROM information_schema.tables"
    "                    WHERE table_schema = 'segpipe' AND table_type = 'BASE TABLE')"
)


def _database_profile_tables(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(PROFILE_ID_TABLES).scalars()) | {t.profiles.name}


def test_every_table_with_profile_id_in_the_migrated_database_is_handled(engine):
    in_database = _database_profile_tables(engine)
    assert in_database - set(HANDLING) == set(), "a table with profile_id that deletion does not handle"
    assert in_database == {table.name for table in profile_tables()}, "schema.py and the migrations disagree"
    assert {table.name for table in LINKED_TABLES} == {n for n, h in HANDLING.items() if h is not Handling.KEEP}


def test_a_new_table_with_profile_id_is_caught(engine):
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE segpipe.loyalty_points (profile_id bigint, points integer)"))
    try:
        assert _database_profile_tables(engine) - set(HANDLING) == {"loyalty_points"}
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE segpipe.loyalty_points"))
    metadata = sa.MetaData(schema="segpipe")
    for table in t.metadata.sorted_tables:
        table.to_metadata(metadata)
    sa.Table("loyalty_points", metadata, sa.Column("profile_id", sa.BigInteger))
    assert unhandled_tables() == [] and unhandled_tables(metadata) == ["loyalty_points"]


def test_the_batch_function_handles_every_linked_table(engine):
    with engine.connect() as conn:
        body = conn.execute(
            sa.text("SELECT pg_get_functiondef('segpipe.delete_profile_batch(uuid, integer, boolean)'::regprocedure)")
        ).scalar_one()
    deletes = {table.name for table in LINKED_TABLES if HANDLING[table.name] is Handling.DELETE}
    assert {name for name in deletes if f"DELETE FROM segpipe.{name} " not in body} == set()
    anonymized = {table.name for table in LINKED_TABLES if HANDLING[table.name] is Handling.ANONYMIZE}
    assert {name for name in anonymized if f"UPDATE segpipe.{name} " not in body} == set()
