"""The target Grafana, through grafana-client: its health, data sources, folders and boards, each failure one line.

The token goes only where `--url` says: redirects are not followed (a redirect would carry the bearer token to
whatever host it names, or turn a save into a GET), and the token is never part of a message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import requests
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException, GrafanaServerError, TokenAuth
from pydantic import SecretStr

from dashboards.exceptions import GrafanaError
from dashboards.push_plan import Action, DataSource, Remote, SavedVersion, Step, shown

TIMEOUT_S = 10.0


def check_url(url: str) -> tuple[str, str, int | None, str]:
    """Return (scheme, host, port, path prefix) of a Grafana URL, or raise GrafanaError saying what is wrong."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise GrafanaError(f"--url {url!r}: the port must be a number from 1 to 65535") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise GrafanaError(f"--url {url!r}: expected http(s)://host[:port][/path] of a Grafana")
    if parts.username is not None or parts.password is not None:
        raise GrafanaError("--url carries a user or password: the push signs in with LEADFLOW_GRAFANA_TOKEN only")
    if parts.query or parts.fragment:
        raise GrafanaError(f"--url {url!r}: expected no query or fragment")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    prefix = parts.path.strip("/")
    return parts.scheme, host, port, f"{prefix}/" if prefix else ""


class Grafana:
    """One Grafana organisation, as the service account of a token sees it."""

    def __init__(self, url: str, token: SecretStr, timeout: float = TIMEOUT_S) -> None:
        scheme, host, port, prefix = check_url(url)
        self.url = url
        self.timeout = timeout
        auth = TokenAuth(token.get_secret_value())
        self.api = GrafanaApi(auth, host=host, port=port, url_path_prefix=prefix, protocol=scheme, timeout=timeout)
        self.api.client.s.max_redirects = 0

    def check(self) -> str:
        """Return Grafana's version, or raise if the URL is not a Grafana that answers."""
        health: Any = None
        with self._call("answer GET /api/health", missing_ok=True):
            health = self.api.health.check()
        if not isinstance(health, dict) or "database" not in health:
            raise GrafanaError(f"{self.url} does not answer as Grafana (GET /api/health gave no Grafana health)")
        return shown(health.get("version") or "unknown", 40)

    def data_sources(self) -> list[DataSource]:
        """Return the organisation's data sources."""
        with self._call("list the data sources (GET /api/datasources)"):
            found = self.api.datasource.list_datasources()
        return [DataSource(str(s.get("name")), str(s.get("uid")), str(s.get("type"))) for s in _objects(found)]

    def folder_uid(self, uid: str, title: str) -> str | None:
        """Return the uid of the folder `uid`, else of a folder titled `title`, else None."""
        with self._call(f"read folder {uid}", missing_ok=True):
            return str(self.api.folder.get_folder(uid)["uid"])
        with self._call("list the folders"):
            folders = self.api.folder.get_all_folders()
        return next((str(f["uid"]) for f in _objects(folders) if f.get("title") == title), None)

    def create_folder(self, uid: str, title: str) -> None:
        """Create a folder at the organisation's top level."""
        with self._call(f"create folder {title}"):
            self.api.folder.create_folder(title, uid=uid)

    def board(self, uid: str) -> Remote | None:
        """Return a board with the newest entry of its version history, or None if there is no such board."""
        found = None
        with self._call(f"read board {uid}", missing_ok=True):
            found = self.api.dashboard.get_dashboard(uid)
        if found is None:
            return None
        with self._call(f"read the version history of board {uid}"):
            remote = _remote(found, self._newest_version(uid))
        return remote

    def save(self, step: Step, folder_uid: str) -> int:
        """Save a board into a folder (overwriting only for --force) and return the version Grafana gave it."""
        board = {**step.board, "id": None, "version": step.remote_version or 0}
        body = {"dashboard": board, "folderUid": folder_uid, "message": step.message, "overwrite": _forced(step)}
        with self._call(f"save board {step.uid}"):
            saved = self.api.dashboard.update_dashboard(body)
            version = int(saved["version"])
        return version

    def _newest_version(self, uid: str) -> SavedVersion | None:
        # grafana-client sends `limit` in a GET body, where Grafana does not read it: ask through the query string
        found = self.api.client.GET(f"/dashboards/uid/{uid}/versions?limit=1")
        entries = found.get("versions") if isinstance(found, dict) else found  # Grafana 12 wraps the list
        newest = max(_objects(entries), key=lambda e: int(e.get("version", 0)), default=None)
        if newest is None:
            return None
        by, at = str(newest.get("createdBy") or ""), str(newest.get("created") or "")
        return SavedVersion(int(newest.get("version", 0)), by, at, str(newest.get("message") or ""))

    @contextmanager
    def _call(self, what: str, *, missing_ok: bool = False) -> Iterator[None]:
        """Turn what can go wrong in one exchange with Grafana into one line naming it (a 404 passes if allowed)."""
        try:
            yield
        except GrafanaClientError as exc:
            if not (missing_ok and exc.status_code == 404):
                raise GrafanaError(_refusal(self.url, what, exc)) from None
        except GrafanaServerError as exc:
            raise GrafanaError(f"Grafana at {self.url} failed to {what} ({exc.status_code}: {_said(exc)})") from None
        except requests.exceptions.RequestException as exc:
            if isinstance(exc, requests.exceptions.InvalidJSONError):
                raise GrafanaError(f"{self.url} does not answer as Grafana's HTTP API (asked to {what})") from None
            raise GrafanaError(_unreachable(self.url, self.timeout, exc)) from None
        except (ValueError, KeyError, TypeError, AttributeError):
            raise GrafanaError(f"{self.url} does not answer as Grafana's HTTP API (asked to {what})") from None


def _forced(step: Step) -> bool:
    return step.action == Action.OVERWRITE


def _objects(found: Any) -> list[dict[str, Any]]:
    if not isinstance(found, list):
        raise ValueError("expected a JSON list")
    return [item for item in found if isinstance(item, dict)]


def _remote(found: dict[str, Any], newest: SavedVersion | None) -> Remote:
    dashboard, meta = found["dashboard"], found.get("meta") or {}
    version = int(dashboard.get("version") or meta.get("version") or 0)
    folder = str(meta.get("folderUid") or "")
    return Remote(dashboard, version, folder, bool(meta.get("provisioned")), newest)


def _said(exc: GrafanaException) -> str:
    response = exc.response
    message = response.get("message") if isinstance(response, dict) else response
    return shown(" ".join(str(message or "no message").split()))


def _refusal(url: str, what: str, exc: GrafanaClientError) -> str:
    status = exc.status_code
    if status == 401:
        return f"Grafana at {url} refused the token (401: {_said(exc)}): is LEADFLOW_GRAFANA_TOKEN a live token of it?"
    if status == 403:
        return (
            f"the token's service account may not {what} (403: {_said(exc)}): it needs the Admin role of the "
            "organisation (Grafana shows data sources to admins only)"
        )
    if status == 412:
        return f"Grafana refused to {what} (412: {_said(exc)}): it changed meanwhile; push again to see how"
    return f"Grafana at {url} refused to {what} ({status}: {_said(exc)})"


def _unreachable(url: str, timeout: float, exc: requests.exceptions.RequestException) -> str:
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        where = shown(exc.response.headers.get("Location", "elsewhere")) if exc.response is not None else "elsewhere"
        return f"{url} redirects to {where}: give Grafana's own URL (redirects are not followed with the token)"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"Grafana at {url} did not answer within {timeout:g} s"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"cannot reach Grafana at {url}: TLS failed ({_reason(exc)})"
    return f"cannot reach Grafana at {url}: {_reason(exc)}"


def _reason(exc: BaseException) -> str:
    """Return the innermost operating-system reason of a connection failure (e.g. 'Connection refused')."""
    seen: list[BaseException] = []
    todo: list[object] = [exc]
    while todo:
        current = todo.pop()
        if isinstance(current, BaseException) and current not in seen:
            seen.append(current)
            todo.extend([current.__cause__, current.__context__, getattr(current, "reason", None), *current.args])
    causes = [e for e in seen if isinstance(e, OSError) and e.strerror]
    return shown(causes[-1].strerror) if causes else type(seen[-1]).__name__
