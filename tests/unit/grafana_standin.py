"""A stand-in for Grafana's HTTP API on loopback (Grafana itself cannot run on the test machines).

It answers the endpoints `leadflow dashboards push` uses as Grafana 11's documented API does: GET /api/health
without a token; every other call with `Authorization: Bearer <token>` of a service account (401 otherwise);
data sources readable by the Admin role only (403 otherwise, as Grafana's fixed roles grant); folders; boards
saved through POST /api/dashboards/db with optimistic locking on `version` (412 version-mismatch unless
`overwrite`), provisioned boards refused, and every save kept in the version history with its author and message.
It records every request it is sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROLES = ("Viewer", "Editor", "Admin")


@dataclass(frozen=True)
class Recorded:
    """One request the stand-in was sent."""

    method: str
    path: str
    authorization: str | None
    body: Any


@dataclass
class State:
    """What the stand-in Grafana holds."""

    accounts: dict[str, tuple[str, str]]  # token -> (service account name, role)
    datasources: list[dict[str, Any]]
    version: str = "11.2.0"
    wrapped_versions: bool = False  # Grafana 12 answers the version list as {"continueToken", "versions"}
    uid_versions: bool = True  # Grafana 8 has no version list by board uid (404)
    redirect_api_to: str | None = None  # as a proxy might: every call but /api/health redirected there
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    boards: dict[str, dict[str, Any]] = field(default_factory=dict)  # uid -> {"dashboard", "folderUid", ...}
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_id: int = 1

    def writes(self) -> list[Recorded]:
        """Every request that asked to change something."""
        return [r for r in self.requests if r.method != "GET"]

    def take_id(self) -> int:
        """Return the next numeric id, as Grafana's database gives them."""
        taken, self.next_id = self.next_id, self.next_id + 1
        return taken


class Answer(Exception):
    """An HTTP answer other than 200, with Grafana's JSON error body."""

    def __init__(self, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.body = {"message": message, **extra}


def _health(state: State, account: tuple[str, str] | None, query: dict[str, str], body: Any) -> Any:
    return {"commit": "0123456789", "database": "ok", "version": state.version}


def _require(account: tuple[str, str] | None, role: str, permission: str) -> tuple[str, str]:
    if account is None:
        raise Answer(401, "invalid API key")
    if ROLES.index(account[1]) < ROLES.index(role):
        raise Answer(
            403,
            f"You'll need additional permissions to perform this action. Permissions needed: {permission}",
            title="Access denied",
        )
    return account


def _datasources(state: State, account: tuple[str, str] | None, query: dict[str, str], body: Any) -> Any:
    _require(account, "Admin", "datasources:read")
    return state.datasources


def _folders(state: State, account: tuple[str, str] | None, query: dict[str, str], body: Any) -> Any:
    _require(account, "Viewer", "folders:read")
    return [{"id": f["id"], "uid": f["uid"], "title": f["title"]} for f in state.folders.values()]


def _folder(state: State, account: tuple[str, str] | None, uid: str) -> Any:
    _require(account, "Viewer", "folders:read")
    if uid not in state.folders:
        raise Answer(404, "folder not found", status="not-found")
    return state.folders[uid]


def _create_folder(state: State, account: tuple[str, str] | None, query: dict[str, str], body: Any) -> Any:
    _require(account, "Editor", "folders:create")
    uid, title = str(body.get("uid") or f"f{state.next_id}"), str(body.get("title") or "")
    if not title:
        raise Answer(400, "folder title cannot be empty")
    if uid in state.folders or any(f["title"] == title for f in state.folders.values()):
        raise Answer(409, "a folder with the same name or uid already exists")
    folder = {"id": state.take_id(), "uid": uid, "title": title, "url": f"/dashboards/f/{uid}/", "version": 1}
    state.folders[uid] = folder
    return folder


def _board(state: State, account: tuple[str, str] | None, uid: str) -> Any:
    _require(account, "Viewer", "dashboards:read")
    if uid not in state.boards:
        raise Answer(404, "Dashboard not found")
    held = state.boards[uid]
    folder = state.folders.get(held["folderUid"], {})
    meta = {"slug": uid, "url": f"/d/{uid}/{uid}", "folderUid": held["folderUid"], "folderTitle": folder.get("title"),
            "version": held["dashboard"]["version"], "provisioned": held["provisioned"], "canSave": True}  # fmt: skip
    return {"dashboard": held["dashboard"], "meta": meta}


def _versions(state: State, account: tuple[str, str] | None, uid: str, query: dict[str, str]) -> Any:
    _require(account, "Viewer", "dashboards:read")
    if uid not in state.boards:
        raise Answer(404, "Dashboard not found")
    limit = int(query.get("limit") or 1000)
    entries = sorted(state.history[uid], key=lambda e: e["version"], reverse=True)[:limit]
    return {"continueToken": "", "versions": entries} if state.wrapped_versions else entries


def _save(state: State, account: tuple[str, str] | None, query: dict[str, str], body: Any) -> Any:
    name, _ = _require(account, "Editor", "dashboards:write")
    dashboard, folder_uid = dict(body.get("dashboard") or {}), str(body.get("folderUid") or "")
    if not dashboard.get("title"):
        raise Answer(400, "Dashboard title cannot be empty")
    if folder_uid and folder_uid not in state.folders:
        raise Answer(400, "folder not found")
    uid = str(dashboard.get("uid") or f"d{state.next_id}")
    held = state.boards.get(uid)
    _check_save(state, held, dashboard, folder_uid, overwrite=bool(body.get("overwrite")))
    version = held["dashboard"]["version"] + 1 if held else 1
    dashboard.update(uid=uid, version=version, id=held["dashboard"]["id"] if held else state.take_id())
    state.boards[uid] = {"dashboard": dashboard, "folderUid": folder_uid, "provisioned": False}
    entry = {"id": state.take_id(), "dashboardId": dashboard["id"], "uid": uid, "parentVersion": version - 1,
             "restoredFrom": 0, "version": version, "created": datetime.now(UTC).isoformat(timespec="seconds"),
             "createdBy": name, "message": str(body.get("message") or "")}  # fmt: skip
    state.history.setdefault(uid, []).append(entry)
    return {"id": dashboard["id"], "uid": uid, "url": f"/d/{uid}/{uid}", "status": "success", "version": version,
            "slug": uid}  # fmt: skip


def _check_save(
    state: State, held: dict[str, Any] | None, dashboard: dict[str, Any], folder_uid: str, *, overwrite: bool
) -> None:
    if held is not None and held["provisioned"]:
        raise Answer(400, "Cannot save provisioned dashboard")
    if held is not None and not overwrite and dashboard.get("version") != held["dashboard"]["version"]:
        raise Answer(412, "The dashboard has been changed by someone else", status="version-mismatch")
    twins = [u for u, b in state.boards.items() if b["folderUid"] == folder_uid and u != dashboard.get("uid")
             and b["dashboard"]["title"] == dashboard["title"]]  # fmt: skip
    if twins and not overwrite:
        raise Answer(412, "A dashboard with the same name in the folder already exists", status="name-exists")


ROUTES = {
    ("GET", "/api/health"): _health,
    ("GET", "/api/datasources"): _datasources,
    ("GET", "/api/folders"): _folders,
    ("POST", "/api/folders"): _create_folder,
    ("POST", "/api/dashboards/db"): _save,
}


def route(
    state: State, method: str, path: str, account: tuple[str, str] | None, body: Any, query: dict[str, str]
) -> Any:
    """Answer one API call as Grafana does (raising Answer for anything but 200)."""
    handler = ROUTES.get((method, path))
    if handler is not None:
        if handler is not _health:
            _require(account, "Viewer", "")
        return handler(state, account, query, body)
    parts = path.strip("/").split("/")
    if method == "GET" and parts[:2] == ["api", "folders"] and len(parts) == 3:
        return _folder(state, account, parts[2])
    if method == "GET" and parts[:3] == ["api", "dashboards", "uid"] and len(parts) == 4:
        return _board(state, account, parts[3])
    if (
        method == "GET"
        and parts[:3] == ["api", "dashboards", "uid"]
        and parts[4:] == ["versions"]
        and state.uid_versions
    ):
        return _versions(state, account, parts[3], query)
    raise Answer(404, "Not found")


class _Handler(BaseHTTPRequestHandler):
    state: State

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def _answer(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw and method == "POST" else None
        auth = self.headers.get("Authorization")
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        with self.state.lock:
            self.state.requests.append(Recorded(method, url.path, auth, body))
            if self.state.redirect_api_to and url.path != "/api/health":
                return self._redirect(self.state.redirect_api_to + self.path)
            account = self.state.accounts.get(auth.removeprefix("Bearer ")) if auth else None
            try:
                status, answer = 200, route(self.state, method, url.path, account, body, query)
            except Answer as refused:
                status, answer = refused.code, refused.body
        self._send(status, answer)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, status: int, answer: Any) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@contextmanager
def serving(state: State) -> Iterator[str]:
    """Serve the stand-in on a free loopback port for the duration of the block; yield its URL."""
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def answering(status: int, headers: dict[str, str], body: bytes) -> Iterator[tuple[str, list[tuple[str, str | None]]]]:
    """Serve a fixed answer to every request on loopback (a web server that is not Grafana, or a redirect);
    yield its URL and the (path, Authorization header) of every request it was sent."""
    asked: list[tuple[str, str | None]] = []

    class Fixed(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._fixed()

        def do_POST(self) -> None:
            self._fixed()

        def _fixed(self) -> None:
            asked.append((self.path, self.headers.get("Authorization")))
            self.send_response(status)
            for name, value in {"Content-Length": str(len(body)), **headers}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Fixed)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def provision(state: State, board: dict[str, Any], folder_uid: str) -> None:
    """Hold a board as Grafana's file provider would (saves over the API are refused)."""
    with state.lock:
        state.boards[board["uid"]] = {"dashboard": {**board, "id": state.take_id(), "version": 1},
                                      "folderUid": folder_uid, "provisioned": True}  # fmt: skip
        state.history[board["uid"]] = [{"version": 1, "createdBy": "", "created": "", "message": ""}]
