"""What `leadflow dashboards push` does to each board, decided from the boards and what a Grafana holds (no I/O).

A board is left alone when someone changed it in Grafana since the last push. Grafana keeps every saved version
of a board with its author and commit message; a push saves with the message `leadflow dashboards push
sha256:…` (a digest of what it wrote). So the newest version of a board tells whether the push wrote it last,
and whether it wrote this very content: nothing is stored outside Grafana, any number of people can push, and a
board that Grafana normalised on save is not mistaken for one that someone edited.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dashboards.build import panels
from dashboards.exceptions import GrafanaError
from dashboards.sdk import CLICKHOUSE, CLICKHOUSE_PLUGIN, PROMETHEUS

FOLDER_UID = "leadflow"
FOLDER_TITLE = "leadflow"
MESSAGE_PREFIX = "leadflow dashboards push "
# the names deploy/grafana/provisioning/datasources/leadflow.yml gives them; --datasource KIND=NAME says otherwise
DEFAULT_SOURCE_NAMES = {"clickhouse": "leadflow ClickHouse", "prometheus": "leadflow Prometheus"}
# kind -> (the uid the committed boards refer to, the plugin type the panels' queries are written for)
PLACEHOLDERS = {
    "clickhouse": (str(CLICKHOUSE.uid), CLICKHOUSE_PLUGIN),
    "prometheus": (str(PROMETHEUS.uid), "prometheus"),
}


@dataclass(frozen=True)
class DataSource:
    """A data source of the target Grafana."""

    name: str
    uid: str
    type: str


@dataclass(frozen=True)
class SavedVersion:
    """One entry of a board's version history in Grafana."""

    version: int
    created_by: str
    created: str
    message: str


@dataclass(frozen=True)
class Remote:
    """A board as the target Grafana holds it, with the newest entry of its version history."""

    dashboard: dict[str, Any]
    version: int
    folder_uid: str
    provisioned: bool
    newest: SavedVersion | None


class Action(StrEnum):
    """What a push does to one board."""

    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    OVERWRITE = "overwrite"
    REFUSED = "refused"


@dataclass(frozen=True)
class Step:
    """The decision for one board: what to do, why, and the board to write."""

    uid: str
    action: Action
    detail: str
    board: dict[str, Any]
    digest: str
    remote_version: int | None

    @property
    def writes(self) -> bool:
        """Whether this step saves the board."""
        return self.action in (Action.CREATE, Action.UPDATE, Action.OVERWRITE)

    @property
    def message(self) -> str:
        """The commit message the save leaves in the board's version history."""
        return MESSAGE_PREFIX + self.digest


def shown(text: object, limit: int = 200) -> str:
    """Return text from Grafana fit for one line of a terminal: no control characters, at most `limit` long."""
    return "".join(c if c.isprintable() else "?" for c in str(text))[:limit]


def source_names(flags: Sequence[str]) -> dict[str, str]:
    """Return kind → data source name from the defaults and `--datasource KIND=NAME` flags."""
    names = dict(DEFAULT_SOURCE_NAMES)
    for flag in flags:
        kind, sep, name = flag.partition("=")
        if not sep or kind not in PLACEHOLDERS or not name.strip():
            raise GrafanaError(f"--datasource expects clickhouse=NAME or prometheus=NAME, got {flag!r}")
        names[kind] = name.strip()
    return names


def resolve_sources(found: Sequence[DataSource], names: Mapping[str, str]) -> dict[str, DataSource]:
    """Return kind → the target's data source of that name; a missing or mistyped one names what exists."""
    by_name = {source.name: source for source in found}
    resolved = {}
    for kind, name in names.items():
        placeholder_type = PLACEHOLDERS[kind][1]
        source = by_name.get(name)
        if source is None:
            exist = ", ".join(f"{shown(s.name)!r} ({shown(s.type)})" for s in found) or "none"
            raise GrafanaError(
                f"no {kind} data source named {shown(name)!r} in Grafana (it has: {exist}); name one with --datasource "
                f"{kind}=NAME"
            )
        if source.type != placeholder_type:
            raise GrafanaError(
                f"data source {shown(name)!r} is of type {shown(source.type)}; the boards' {kind} panels need "
                f"{placeholder_type}"
            )
        resolved[kind] = source
    return resolved


def with_sources(board: Mapping[str, Any], sources: Mapping[str, DataSource]) -> dict[str, Any]:
    """Return a copy of a board whose data source references point at the target Grafana's uids."""
    uids = {PLACEHOLDERS[kind][0]: (PLACEHOLDERS[kind][1], source.uid) for kind, source in sources.items()}
    mapped = copy.deepcopy(dict(board))
    _remap(mapped, uids)
    return mapped


def _remap(node: Any, uids: Mapping[str, tuple[str, str]]) -> None:
    if isinstance(node, dict):
        uid = node.get("uid")
        placeholder = uids.get(uid) if isinstance(uid, str) else None
        if placeholder is not None and node.get("type") == placeholder[0]:
            node["uid"] = placeholder[1]
        for value in node.values():
            _remap(value, uids)
    elif isinstance(node, list):
        for value in node:
            _remap(value, uids)


def digest(board: Mapping[str, Any]) -> str:
    """Return a short digest of a board's content, as the push's commit message carries it."""
    text = json.dumps(board, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def decide(board: Mapping[str, Any], remote: Remote | None, folder_uid: str, *, force: bool) -> Step:
    """Return what a push does to this board (already mapped to the target's data sources)."""
    body, mark = dict(board), digest(board)
    uid = str(body["uid"])
    if remote is None:
        return Step(uid, Action.CREATE, f"into folder {folder_uid}", body, mark, None)
    if remote.provisioned:
        raise GrafanaError(
            f"{uid} is provisioned from files in that Grafana, which refuses saves over its HTTP API: "
            "take it out of the file provider first (README: Boards into a Grafana you already run)"
        )
    if not _pushed_last(remote):
        return _changed_elsewhere(uid, body, mark, remote, force=force)
    if remote.newest is not None and remote.newest.message == MESSAGE_PREFIX + mark and remote.folder_uid == folder_uid:
        return Step(uid, Action.UNCHANGED, f"version {remote.version}", body, mark, remote.version)
    what = changes(remote.dashboard, body) if remote.folder_uid == folder_uid else f"move into folder {folder_uid}"
    return Step(uid, Action.UPDATE, f"version {remote.version}: {what}", body, mark, remote.version)


def _pushed_last(remote: Remote) -> bool:
    newest = remote.newest
    return newest is not None and newest.version == remote.version and newest.message.startswith(MESSAGE_PREFIX)


def _changed_elsewhere(uid: str, body: dict[str, Any], mark: str, remote: Remote, *, force: bool) -> Step:
    newest = remote.newest
    who = f"saved by {shown(newest.created_by or 'someone')} at {shown(newest.created)}" if newest else "saved"
    said = f" ({shown(newest.message)!r})" if newest and newest.message else ""
    saved = f"version {remote.version} was {who}{said}, not by a push"
    if force:
        return Step(uid, Action.OVERWRITE, saved, body, mark, remote.version)
    detail = f"{saved}; --force overwrites it"
    return Step(uid, Action.REFUSED, detail, body, mark, remote.version)


def changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """Return which panels a save changes, adds and removes (by title), and whether the rest changes."""
    before = {str(p.get("title", "")): _without(p, "id") for p in panels(dict(old))}
    after = {str(p.get("title", "")): _without(p, "id") for p in panels(dict(new))}
    parts = []
    for label, titles in (
        ("changed", [t for t in after if t in before and before[t] != after[t]]),
        ("added", [t for t in after if t not in before]),
        ("removed", [t for t in before if t not in after]),
    ):
        if titles:
            named = shown(", ".join(titles))
            parts.append(f"{len(titles)} panel{'s' if len(titles) > 1 else ''} {label} ({named})")
    ignored = ("id", "version", "panels")
    if _without(old, *ignored) != _without(new, *ignored):
        parts.append("board settings changed")
    return "; ".join(parts) or "content differs"


def _without(node: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k not in keys}
