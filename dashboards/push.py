"""`leadflow dashboards push`: the boards into a Grafana people already run, through its HTTP API.

Every decision is taken before anything is written: if one board was changed in Grafana since the last push
(and --force is not given), no board is written at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dashboards.grafana import Grafana
from dashboards.push_plan import (
    FOLDER_TITLE,
    FOLDER_UID,
    Action,
    DataSource,
    Step,
    decide,
    resolve_sources,
    shown,
    with_sources,
)
from services.errors import UsageError


@dataclass(frozen=True)
class Pushed:
    """What a push found, decided and wrote."""

    url: str
    grafana_version: str
    sources: dict[str, DataSource]
    folder_uid: str
    folder_exists: bool
    steps: list[Step]
    dry_run: bool
    versions: dict[str, int] = field(default_factory=dict)

    @property
    def refused(self) -> list[Step]:
        """The boards changed in Grafana since the last push, which block the push."""
        return [step for step in self.steps if step.action == Action.REFUSED]


def read_boards(folder: Path) -> list[dict[str, Any]]:
    """Return the boards' JSON from a folder of `leadflow dashboards build`."""
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        raise UsageError(f"no board JSON in {folder}: run `leadflow dashboards build` first")
    boards = []
    for path in files:
        try:
            board = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UsageError(f"{path}: not readable board JSON ({exc})") from None
        if not isinstance(board, dict) or not isinstance(board.get("uid"), str) or not board.get("title"):
            raise UsageError(f"{path}: not a board (a JSON object with a uid and a title)")
        boards.append(board)
    return boards


def push(
    grafana: Grafana, boards: Sequence[Mapping[str, Any]], names: Mapping[str, str], *, force: bool, dry_run: bool
) -> Pushed:
    """Decide what to do to every board, then (unless a dry run, or a board is refused) do it."""
    version = grafana.check()
    sources = resolve_sources(grafana.data_sources(), names)
    existing = grafana.folder_uid(FOLDER_UID, FOLDER_TITLE)
    folder = existing or FOLDER_UID
    steps = [decide(with_sources(b, sources), grafana.board(str(b["uid"])), folder, force=force) for b in boards]
    pushed = Pushed(grafana.url, version, sources, folder, existing is not None, steps, dry_run)
    if dry_run or pushed.refused:
        return pushed
    if existing is None:
        grafana.create_folder(FOLDER_UID, FOLDER_TITLE)
    for step in steps:
        if step.writes:
            pushed.versions[step.uid] = grafana.save(step, folder)
    return pushed


def report(pushed: Pushed) -> list[str]:
    """Return the lines that tell what the push found and did (or would do)."""
    sources = ", ".join(f"{kind} = {shown(s.name)!r} (uid {shown(s.uid)})" for kind, s in pushed.sources.items())
    lines = [f"Grafana {pushed.grafana_version} at {pushed.url}: {sources}"]
    writes = not pushed.dry_run and not pushed.refused
    if not pushed.folder_exists:
        lines.append(f"folder {pushed.folder_uid}: {'created' if writes else 'would be created'}")
    lines.extend(_line(step, pushed.versions.get(step.uid), pushed.dry_run) for step in pushed.steps)
    return lines


_DONE = {Action.CREATE: "created", Action.UPDATE: "updated", Action.OVERWRITE: "overwritten"}


def _line(step: Step, saved: int | None, dry_run: bool) -> str:
    if step.action in (Action.UNCHANGED, Action.REFUSED):
        return f"{step.uid}: {step.action} ({step.detail})"
    if saved is None:
        verb = f"would {step.action}" if dry_run else f"not {_DONE[step.action]}"
        return f"{step.uid}: {verb} ({step.detail})"
    return f"{step.uid}: {_DONE[step.action]} as version {saved} ({step.detail})"
