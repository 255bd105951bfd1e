"""Running the catalog: a read-only engine, uvicorn in the foreground (`segpipe catalog`) or in a background
thread beside the Prefect deployments (`segpipe serve`)."""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segpipe.catalog.options import CatalogOptions
from segpipe.config import Settings
from segpipe.db.engine import get_engine
from segpipe.errors import InvalidInput

if TYPE_CHECKING:
    import uvicorn

READ_ONLY = "-c default_transaction_read_only=on -c statement_timeout=10000"
"""Every transaction of the catalog is read-only (a write fails in Postgres), and no query runs past 10 s."""
STARTUP_TIMEOUT_S = 15


def catalog_engine(settings: Settings) -> Engine:
    """A read-only engine for the settings' database; the schema is brought up to date first (contract §1)."""
    url = get_engine(settings).url
    return sa.create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=8, connect_args={"options": READ_ONLY})


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a taken port is a clear error (exit 2) before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}", "--port") from exc


def _server(settings: Settings, host: str, port: int, options: CatalogOptions) -> uvicorn.Server:
    import uvicorn

    from segpipe.catalog.app import create_app

    app = create_app(catalog_engine(settings), options)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    return uvicorn.Server(config)


def run_catalog(settings: Settings, sock: socket.socket, options: CatalogOptions) -> None:
    """Serve the catalog on `sock` (from `listen`) until interrupted (Ctrl-C or SIGTERM)."""
    host, port = sock.getsockname()[:2]
    _server(settings, host, port, options).run(sockets=[sock])


def start_catalog_thread(settings: Settings, host: str, port: int, options: CatalogOptions) -> uvicorn.Server:
    """Serve the catalog in a daemon thread (it ends with the process, or when the returned server's
    `should_exit` is set); returns once it accepts connections."""
    sock = listen(host, port)
    server = _server(settings, host, port, options)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="segpipe-catalog", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise InvalidInput(f"the catalog did not start on {host}:{port}", "--catalog-port")
        time.sleep(0.05)
    return server
