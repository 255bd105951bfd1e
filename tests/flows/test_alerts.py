"""`segpipe alerts` (issue 13.4) against the session's real Prefect server: install (idempotent), list, and a
refused pre-send run through the flow whose alert reaches a local webhook receiver; uninstall."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from tests.flows.helpers import last_json

PREFECT = {"SEGPIPE_ORCHESTRATION": "prefect"}


class Receiver(ThreadingHTTPServer):
    messages: list[dict]


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.messages.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    server = Receiver(("127.0.0.1", 0), _Handler)
    server.messages = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_alerts_install_list_and_deliver_a_refused_presend(world, cli, flow_env, receiver):
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    assert cli("alerts", "install", "--webhook", "ftp://x").exit_code == 2
    first = cli("alerts", "install", "--webhook", url, "--json")
    assert first.exit_code == 0, first.output
    again = cli("alerts", "install", "--webhook", url, "--json")
    installed = last_json(again)["automations"]
    names = [a["name"] for a in installed]
    assert names == sorted(set(names)) and "segpipe-snapshot-refused" in names and "segpipe-refresh-held" in names
    assert last_json(cli("alerts", "list", "--json")) == installed
    with world.begin() as conn:
        conn.execute(sa.text("UPDATE segpipe.consumers SET status = 'cancelled' WHERE key = 'bf'"))
    try:
        assert _delivered(cli, receiver), "no alert reached the webhook within 90 s"
    finally:
        removed = cli("alerts", "uninstall", "--json")
    assert set(last_json(removed)["removed"]) == set(names)
    assert last_json(cli("alerts", "list", "--json")) == []


def _delivered(cli, receiver: Receiver) -> dict | None:
    """Run the refused presend through the flow until its alert arrives (the server's trigger service picks up a new
    automation within seconds; an event before that finds none)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        refused = cli("presend", "bf", "--json", env=PREFECT)
        assert refused.exit_code == 3 and last_json(refused)["gate"] == "campaign-status"
        for _ in range(20):
            for message in receiver.messages:
                if "segpipe.audience.snapshot-refused" in message["subject"]:
                    assert "pre-send of campaign 'bf' refused" in message["body"], message
                    assert message["text"].startswith(message["subject"]), message
                    return message
            time.sleep(0.5)
    return None
