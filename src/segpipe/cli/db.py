"""`segpipe db status|stop|url`: the embedded Postgres (or, with SEGPIPE_DATABASE_URL, the configured database).

None of these commands starts a server or migrates a schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from segpipe.cli import context, groups
from segpipe.cli.output import JsonOption, emit, handle_errors

if TYPE_CHECKING:
    from segpipe.config import Settings


def register(app: typer.Typer) -> None:
    """The commands live on the `db` group (segpipe.cli.groups); importing this module adds them."""


@groups.db.command("status")
def status_command(as_json: bool = JsonOption) -> None:
    """Show whether the database runs and where: pid, data directory, socket, URL, version."""
    with handle_errors(as_json):
        settings = context.settings()
        data = _configured_status(settings) if settings.database_url else _embedded_status(settings)
        emit(data, as_json, _render_status)


@groups.db.command("url")
def url_command(
    show_password: bool = typer.Option(False, "--show-password", help="Print the password instead of ***."),
    as_json: bool = JsonOption,
) -> None:
    """Print the SQLAlchemy URL segpipe uses (the embedded server's unless SEGPIPE_DATABASE_URL is set).

    A password in the URL is masked as *** unless --show-password is given."""
    with handle_errors(as_json):
        settings = context.settings()
        if settings.database_url:
            import sqlalchemy as sa

            from segpipe.db.engine import normalize_url

            url = sa.engine.make_url(normalize_url(settings.database_url))
            data = {"mode": "configured", "url": url.render_as_string(hide_password=not show_password)}
        else:
            from segpipe.db import embedded

            data = {"mode": "embedded", "url": embedded.status(settings.home).url}
        emit(data, as_json, lambda d: typer.echo(d["url"]))


@groups.db.command("stop")
def stop_command(as_json: bool = JsonOption) -> None:
    """Stop the embedded server (fast shutdown); succeeds when it is not running."""
    with handle_errors(as_json):
        from segpipe.db import embedded

        settings = context.settings()
        pgdata = embedded.status(settings.home).pgdata
        was_running = embedded.stop(settings.home)
        mode = "configured" if settings.database_url else "embedded"
        data = {"mode": mode, "was_running": was_running, "running": False, "pgdata": str(pgdata)}
        emit(data, as_json, _render_stop)


def _embedded_status(settings: Settings) -> dict[str, Any]:
    from segpipe.db import embedded

    state = embedded.status(settings.home)
    return {
        "mode": "embedded",
        "running": state.running,
        "state": "running" if state.running else ("stopped" if state.initialized else "not initialized"),
        "pid": state.pid,
        "pgdata": str(state.pgdata),
        "socket_dir": str(state.socket_dir),
        "url": state.url,
        "version": state.version,
        "log": str(state.log),
        "server_user": state.server_user,
        "home": str(settings.home),
    }


def _configured_status(settings: Settings) -> dict[str, Any]:
    """Connect once (5 s timeout) to report whether the configured database answers, and its version."""
    import sqlalchemy as sa

    from segpipe.db.engine import normalize_url

    url = sa.engine.make_url(normalize_url(settings.database_url or ""))
    data: dict[str, Any] = {"mode": "configured", "url": url.render_as_string(hide_password=True)}
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            version = conn.execute(sa.text("SELECT current_setting('server_version')")).scalar()
        data |= {"running": True, "state": "running", "version": version, "database": url.database}
    except sa.exc.SQLAlchemyError as exc:
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
        data |= {"running": False, "state": "unreachable", "version": None, "error": reason}
    finally:
        engine.dispose()
    return data


def _render_status(data: dict[str, Any]) -> None:
    if data["mode"] == "configured":
        typer.echo(f"configured database (SEGPIPE_DATABASE_URL): {data['state']}")
        keys = ["url", "version", "error"]
    else:
        pid = f" (pid {data['pid']})" if data["pid"] else ""
        typer.echo(f"embedded Postgres: {data['state']}{pid}")
        keys = ["pgdata", "socket_dir", "url", "version", "server_user", "log"]
    for key in keys:
        if data.get(key) is not None:
            typer.echo(f"  {key + ':':<12} {data[key]}")


def _render_stop(data: dict[str, Any]) -> None:
    if data["was_running"]:
        typer.echo(f"stopped embedded Postgres at {data['pgdata']}")
    elif data["mode"] == "configured":
        typer.echo("SEGPIPE_DATABASE_URL is set: segpipe uses that database; no embedded server is running")
    else:
        typer.echo(f"embedded Postgres at {data['pgdata']} is not running")
