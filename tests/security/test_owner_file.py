"""A planted owner file (`PATH.worker.json` naming another process and a server of the attacker's): a report refuses
a file someone else could have written, and an owner that does not answer as a leadflow store is one clear line."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipelines.store.owner import owner_file
from tests.integration.processes import base_env, leadflow
from tests.security.attacks import Listener, one_line

pytestmark = [pytest.mark.security, pytest.mark.timeout(300)]
REPORT = ["report", "--from", "2026-11-01", "--to", "2026-12-01"]


def plant(path: Path, url: str, mode: int = 0o600) -> None:
    """Write an owner file naming this (live) test process and `url`."""
    file = owner_file(path)
    file.write_text(json.dumps({"pid": os.getpid(), "url": url, "kind": "store", "token": "planted-" + "t" * 40}))
    file.chmod(mode)


@pytest.mark.parametrize("mode", [0o666, 0o622, 0o660])
def test_an_owner_file_others_could_have_written_is_not_used(tmp_path: Path, listener: Listener, mode: int) -> None:
    plant(tmp_path / "store", f"http://{listener.address}", mode)
    done = leadflow(REPORT, base_env(LEADFLOW_STORE=f"chdb:{tmp_path / 'store'}"), tmp_path)
    assert done.returncode == 2 and one_line(done.stderr), done.stderr
    assert "may be written by other users" in done.stderr and "not used" in done.stderr
    assert listener.heard == [], "the report sent its queries to the planted address"


def test_an_owner_file_that_is_a_symbolic_link_is_not_used(tmp_path: Path, listener: Listener) -> None:
    planted = tmp_path / "elsewhere.json"
    plant(tmp_path / "elsewhere", f"http://{listener.address}")
    owner_file(tmp_path / "elsewhere").rename(planted)
    owner_file(tmp_path / "store").symlink_to(planted)
    done = leadflow(REPORT, base_env(LEADFLOW_STORE=f"chdb:{tmp_path / 'store'}"), tmp_path)
    assert done.returncode == 2 and one_line(done.stderr) and "symbolic link" in done.stderr, done.stderr
    assert listener.heard == []


@contextlib.contextmanager
def foreign_server(status: int, body: bytes) -> Iterator[str]:
    """An HTTP server that is not a leadflow store: every POST gets `status` and `body`."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (200, b"", "unreadable answer"),
        (200, b"{}", "did not answer as a leadflow store"),
        (200, b"[]", "did not answer as a leadflow store"),
        (200, b'{"rows": [[1]]', "unreadable answer"),
        (401, b"", "refused this process's token"),
        (404, b"<html>not found</html>", "refused it: HTTP 404"),
        (500, b"\xff\xfe", "refused it: HTTP 500"),
    ],
)
def test_an_owner_that_does_not_answer_as_a_leadflow_store_is_one_clear_line(
    tmp_path: Path, status: int, body: bytes, said: str
) -> None:
    with foreign_server(status, body) as url:
        plant(tmp_path / "store", url)
        done = leadflow(REPORT, base_env(LEADFLOW_STORE=f"chdb:{tmp_path / 'store'}"), tmp_path)
    assert done.returncode == 2 and one_line(done.stderr) and said in done.stderr, done.stderr


def test_an_owner_that_does_not_speak_http_is_an_outage_in_one_line(tmp_path: Path) -> None:
    silent = Listener()  # takes the connection, reads, answers nothing
    try:
        plant(tmp_path / "store", f"http://{silent.address}")
        done = leadflow(REPORT, base_env(LEADFLOW_STORE=f"chdb:{tmp_path / 'store'}"), tmp_path)
    finally:
        silent.close()
    assert done.returncode == 2 and one_line(done.stderr) and "does not answer" in done.stderr, done.stderr
