"""Driver errors are classified once, by the engine: a real terminated backend and a real serialization failure
are transient, a real constraint violation is terminal; both stay the SQLAlchemy errors they replace."""

from __future__ import annotations

import pickle
import threading
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segpipe.db import schema as t
from segpipe.errors import DbError, SegpipeError, TransientDbError, is_transient


def _profile(external_id: str) -> dict[str, object]:
    return {"external_id": external_id, "created_at": sa.func.now(), "updated_at": sa.func.now(), "attributes": {}}


def test_a_terminated_backend_is_transient(engine: Engine, server_url: str) -> None:
    admin = sa.create_engine(server_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        pid = conn.execute(sa.select(sa.func.pg_backend_pid())).scalar_one()
        conn.rollback()
        with admin.begin() as other:
            assert other.execute(sa.select(sa.func.pg_terminate_backend(pid))).scalar_one()
        with pytest.raises(TransientDbError) as caught:
            conn.execute(sa.select(1))
    admin.dispose()
    error = caught.value
    assert is_transient(error) and isinstance(error, sa.exc.OperationalError)
    assert error.sqlstate in ("57P01", None) and error.connection_invalidated
    assert "\n" not in str(error) and "SELECT" not in str(error)
    with engine.connect() as conn:  # the pool drops the dead connection; the next one works
        assert conn.execute(sa.select(1)).scalar_one() == 1


def _unique_violation(engine: Engine) -> DbError:
    """A real constraint violation: the same external_id inserted twice."""
    external_id = f"dup-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.insert(t.profiles).values(_profile(external_id)))
    with pytest.raises(DbError) as caught, engine.begin() as conn:
        conn.execute(sa.insert(t.profiles).values(_profile(external_id)))
    return caught.value


def test_a_constraint_violation_is_terminal(engine: Engine) -> None:
    error = _unique_violation(engine)
    assert not is_transient(error) and not isinstance(error, TransientDbError)
    assert isinstance(error, sa.exc.IntegrityError) and isinstance(error, SegpipeError) and error.exit_code == 1
    assert error.sqlstate == "23505" and str(error).startswith("UniqueViolation: duplicate key value")
    copy = pickle.loads(pickle.dumps(error))  # Prefect may carry a task's failure across processes
    assert type(copy) is type(error) and str(copy) == str(error) and copy.sqlstate == "23505"


def test_a_serialization_failure_is_transient(engine: Engine) -> None:
    external_id = f"ser-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.insert(t.profiles).values(_profile(external_id)))
    update = sa.update(t.profiles).where(t.profiles.c.external_id == external_id).values(email="x@example.com")
    with engine.connect() as first, engine.connect() as second:
        for conn in (first, second):
            conn.execution_options(isolation_level="REPEATABLE READ")
            conn.execute(sa.select(1))  # both snapshots are taken before either update
        first.execute(update)
        waiter = threading.Timer(0.5, first.commit)  # the second update waits on the row, then fails
        waiter.start()
        with pytest.raises(TransientDbError) as caught:
            second.execute(update)
        waiter.join()
        second.rollback()
    assert caught.value.sqlstate == "40001" and isinstance(caught.value, sa.exc.OperationalError)


def test_the_task_retry_policy_follows_the_classification(engine: Engine) -> None:
    from prefect.states import Failed

    from tasks.policy import retry_transient

    terminal = _unique_violation(engine)
    with pytest.raises(TransientDbError) as transient, engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL lock_timeout = '1ms'"))
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(1)"))
        with engine.begin() as other:  # the same lock from a second session: 55P03 lock_not_available
            other.execute(sa.text("SET LOCAL lock_timeout = '1ms'"))
            other.execute(sa.text("SELECT pg_advisory_xact_lock(1)"))
    assert transient.value.sqlstate == "55P03"
    assert retry_transient(None, None, Failed(data=transient.value))
    assert not retry_transient(None, None, Failed(data=terminal))
