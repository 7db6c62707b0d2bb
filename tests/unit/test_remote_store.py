"""RemoteStore and the owner file: a restarted owner found again, outages raised as StoreUnavailable, clear refusals."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pipelines.settings import Settings
from pipelines.store import remote
from pipelines.store.client import RemoteStore, open_store
from pipelines.store.exceptions import StoreError, StoreLocked, StoreUnavailable
from pipelines.store.owner import STORE_SERVICE, live_owner, owner_file, read_owner, remove_owner, write_owner
from pipelines.store.protocol import STORE_RUN_COLUMNS, UNAUTHORIZED, Answer, answer_insert, answer_query
from tests.unit.test_store_protocol import SCHEMA, TOKEN, FakeStore

T = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
Page = Callable[[bytes], Answer]


class StoreServer:
    """A loopback HTTP server answering the store pages from a FakeStore (or a page of the test's own) to callers
    that show its token."""

    def __init__(self, store: FakeStore, page: Page | None = None, token: str = TOKEN) -> None:
        self.store = store
        self.bodies: list[bytes] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                payload = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Authorization") != f"Bearer {token}":
                    answer = UNAUTHORIZED
                else:
                    server.bodies.append(payload)
                    answer = page(payload) if page else server.answer(self.path, payload)
                data = json.dumps(answer.body).encode()
                with contextlib.suppress(ConnectionError):  # a client that timed out has gone
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def answer(self, path: str, payload: bytes) -> Answer:
        if path.endswith("/insert"):
            return answer_insert(self.store, SCHEMA, payload)
        return answer_query(self.store, payload)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers() -> Iterator[list[StoreServer]]:
    started: list[StoreServer] = []
    yield started
    for server in started:
        server.close()


def start(
    servers: list[StoreServer], store: FakeStore | None = None, page: Page | None = None, token: str = TOKEN
) -> StoreServer:
    server = StoreServer(store or FakeStore(), page, token)
    servers.append(server)
    return server


def dead_pid() -> int:
    """The PID of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def write_foreign_owner(path: Path, pid: int, url: str, token: str = TOKEN) -> None:
    owner_file(path).write_text(json.dumps({"pid": pid, "url": url, "token": token}), encoding="utf-8")
    owner_file(path).chmod(0o600)


def closed_url() -> str:
    """The address of a loopback port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_queries_and_inserts_go_through_with_their_types(servers: list[StoreServer]) -> None:
    server = start(servers, FakeStore([(T, ("mql", 2))]))
    store = RemoteStore(server.url, TOKEN)
    assert store.query("SELECT x FROM t WHERE at >= {at:DateTime64(3)}", {"at": T}) == [(T, ("mql", 2))]
    store.insert("store_runs", [(T, "live", None)], STORE_RUN_COLUMNS)
    assert server.store.queries[0][1] == {"at": T}
    assert server.store.inserts == [("store_runs", [[T, "live", None]], STORE_RUN_COLUMNS)]


def test_a_large_insert_is_split_and_every_row_arrives_in_order(
    servers: list[StoreServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote, "MAX_INSERT_BYTES", 2000)
    server = start(servers)
    rows = [(f"event-{n}", "/web") for n in range(100)]
    RemoteStore(server.url, TOKEN).insert("events", rows, ("id", "source"))
    assert len(server.bodies) > 1 and all(len(b) <= 2000 for b in server.bodies)
    assert [tuple(r) for _, part, _ in server.store.inserts for r in part] == rows


def test_nothing_to_insert_sends_nothing(servers: list[StoreServer]) -> None:
    server = start(servers)
    RemoteStore(server.url, TOKEN).insert("events", [], ("id",))
    assert server.bodies == []


def test_a_restarted_owner_at_another_address_is_found_in_the_owner_file(
    servers: list[StoreServer], tmp_path: Path
) -> None:
    path = tmp_path / "chdb"
    store = RemoteStore(closed_url(), TOKEN, owner_of=path)
    restarted = start(servers)
    write_owner(path, restarted.url, STORE_SERVICE, TOKEN)  # this process stands in for the restarted owner
    store.insert("store_runs", [(T, "live", None)], STORE_RUN_COLUMNS)
    assert store.url == restarted.url
    assert len(restarted.store.inserts) == 1


def test_an_owner_that_died_is_an_outage(tmp_path: Path) -> None:
    path = tmp_path / "chdb"
    url = closed_url()
    write_foreign_owner(path, dead_pid(), url)
    with pytest.raises(StoreUnavailable, match=r"does not answer .*no live process holds"):
        RemoteStore(url, TOKEN, owner_of=path).insert("store_runs", [(T, "live", None)], STORE_RUN_COLUMNS)


def test_an_unreachable_store_without_an_owner_file_is_an_outage() -> None:
    with pytest.raises(StoreUnavailable, match="does not answer"):
        RemoteStore(closed_url(), TOKEN).query("SELECT 1")


def test_a_store_that_does_not_answer_in_time_is_an_outage(servers: list[StoreServer]) -> None:
    def slow(payload: bytes) -> Answer:
        time.sleep(1.0)
        return Answer(200, {"rows": []})

    server = start(servers, page=slow)
    with pytest.raises(StoreUnavailable):
        RemoteStore(server.url, TOKEN, timeout=0.2).query("SELECT 1")


def test_a_refusal_is_a_store_error_with_its_reason_not_an_outage(servers: list[StoreServer]) -> None:
    server = start(servers)
    with pytest.raises(StoreError, match="leadflow's tables") as caught:
        RemoteStore(server.url, TOKEN).insert("system.users", [("root",)], ("name",))
    assert not isinstance(caught.value, StoreUnavailable)


def test_a_failing_store_behind_the_owner_is_a_store_error(servers: list[StoreServer]) -> None:
    server = start(servers, FakeStore(fail=True))
    with pytest.raises(StoreError, match="disk full"):
        RemoteStore(server.url, TOKEN).insert("store_runs", [(T, "live", None)], STORE_RUN_COLUMNS)


def test_an_error_answer_without_a_reason_is_a_store_error_with_its_status(servers: list[StoreServer]) -> None:
    server = start(servers, page=lambda payload: Answer(502, {}))
    with pytest.raises(StoreError, match="HTTP 502"):
        RemoteStore(server.url, TOKEN).query("SELECT 1")


def settings_for(path: Path) -> Settings:
    return Settings(store=f"chdb:{path}")


def test_open_store_uses_a_live_owner_for_reads_and_writes(servers: list[StoreServer], tmp_path: Path) -> None:
    path = tmp_path / "chdb"
    server = start(servers)
    write_owner(path, server.url, STORE_SERVICE, TOKEN)
    store = open_store(settings_for(path))
    assert isinstance(store, RemoteStore) and store.url == server.url
    store.insert("store_runs", [(T, "live", None)], STORE_RUN_COLUMNS)
    assert len(server.store.inserts) == 1


def test_a_command_that_needs_the_store_to_itself_names_the_live_owner(tmp_path: Path) -> None:
    path = tmp_path / "chdb"
    write_owner(path, "http://127.0.0.1:6070", STORE_SERVICE, TOKEN)
    with pytest.raises(StoreLocked) as caught:
        open_store(settings_for(path), exclusive=True)
    message = str(caught.value)
    assert f"PID {os.getpid()}" in message and "leadflow store serve" in message and "stop it first" in message


def test_a_stale_owner_file_names_no_live_owner(tmp_path: Path) -> None:
    path = tmp_path / "chdb"
    write_foreign_owner(path, dead_pid(), "http://127.0.0.1:6070")
    assert read_owner(path) is not None and live_owner(path) is None


def test_an_unreadable_owner_file_names_no_owner(tmp_path: Path) -> None:
    path = tmp_path / "chdb"
    owner_file(path).write_text('{"pid": ', encoding="utf-8")
    assert read_owner(path) is None


def test_a_process_removes_only_its_own_owner_file(tmp_path: Path) -> None:
    path = tmp_path / "chdb"
    write_foreign_owner(path, 1, "http://127.0.0.1:6070")
    remove_owner(path)
    assert owner_file(path).exists()
    write_owner(path, "http://127.0.0.1:6071", STORE_SERVICE, TOKEN)
    remove_owner(path)
    assert not owner_file(path).exists()
    assert list(tmp_path.iterdir()) == []


def test_an_owner_restarted_with_another_token_is_found_in_the_owner_file(
    servers: list[StoreServer], tmp_path: Path
) -> None:
    path = tmp_path / "chdb"
    restarted = start(servers, token="n" * 43)  # the same address would do; a new process has a new token
    store = RemoteStore(restarted.url, TOKEN, owner_of=path)
    write_owner(path, restarted.url, STORE_SERVICE, "n" * 43)
    store.insert("store_runs", [(T, "live", None)], STORE_RUN_COLUMNS)
    assert len(restarted.store.inserts) == 1


def test_a_refused_token_is_a_store_error_that_says_so_not_an_outage(
    servers: list[StoreServer], tmp_path: Path
) -> None:
    path = tmp_path / "chdb"
    server = start(servers, token="n" * 43)
    write_owner(path, server.url, STORE_SERVICE, TOKEN)  # the owner file names no other token
    with pytest.raises(StoreError, match="refused this process's token") as caught:
        RemoteStore(server.url, TOKEN, owner_of=path).query("SELECT 1")
    assert not isinstance(caught.value, StoreUnavailable) and "\n" not in str(caught.value)
    assert server.bodies == []


@pytest.mark.parametrize("answer", [Answer(200, {}), Answer(200, {"rows": "x"}), Answer(200, {"rows": [1]})])
def test_an_owner_that_does_not_answer_as_a_leadflow_store_is_one_clear_error(
    servers: list[StoreServer], answer: Answer
) -> None:
    server = start(servers, page=lambda payload: answer)
    with pytest.raises(StoreError, match="did not answer as a leadflow store") as caught:
        RemoteStore(server.url, TOKEN).query("SELECT 1")
    assert "\n" not in str(caught.value)
    with pytest.raises(StoreError, match="did not answer as a leadflow store"):
        RemoteStore(server.url, TOKEN).insert("store_runs", [(T, "live", None)], STORE_RUN_COLUMNS)


def test_an_owner_with_a_configured_token_needs_it_here_too(
    servers: list[StoreServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "chdb"
    server = start(servers)
    write_owner(path, server.url, STORE_SERVICE, None)  # its token came from LEADFLOW_STORE_TOKEN
    with pytest.raises(StoreError, match="set it here too"):
        open_store(settings_for(path))
    configured = Settings(store=f"chdb:{path}", store_token=TOKEN)
    open_store(configured).insert("store_runs", [(T, "live", None)], STORE_RUN_COLUMNS)
    assert len(server.store.inserts) == 1
