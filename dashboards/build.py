"""Build the four boards from the agreements, write their JSON, and list their ClickHouse and PromQL queries."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from dashboards import funnel, goals, health, sla
from dashboards.sdk import Board, PanelQuery, dumps
from dashboards.targets import targets
from schemas.agreement import Agreement

JSON_DIR = Path(__file__).resolve().parent / "json"


def boards(agreements: Sequence[Agreement]) -> list[Board]:
    """Return every board, built for these agreements."""
    goal = targets(agreements)
    return [funnel.build(goal), sla.build(goal), goals.build(goal, agreements), health.build()]


def rendered(agreements: Sequence[Agreement]) -> dict[str, str]:
    """Return file name → committed JSON text of every board."""
    return {f"{board.uid}.json": dumps(board.to_json()) for board in boards(agreements)}


def write(agreements: Sequence[Agreement], folder: Path = JSON_DIR) -> list[Path]:
    """Write every board's JSON into `folder`, removing boards that no longer exist; return the files."""
    folder.mkdir(parents=True, exist_ok=True)
    files = rendered(agreements)
    for stale in folder.glob("*.json"):
        if stale.name not in files:
            stale.unlink()
    written = []
    for name, text in files.items():
        path = folder / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def differences(agreements: Sequence[Agreement], folder: Path = JSON_DIR) -> list[str]:
    """Return the names of committed board files that differ from what the code builds (or are missing/extra)."""
    files = rendered(agreements)
    present = {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.json")} if folder.is_dir() else {}
    return sorted(name for name in {*files, *present} if files.get(name) != present.get(name))


def clickhouse_queries(agreements: Sequence[Agreement]) -> list[PanelQuery]:
    """Return every ClickHouse panel query of every board."""
    return [query for board in boards(agreements) for query in board.queries]


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield every panel of a dashboard's JSON, rows' nested panels too."""
    for panel in board.get("panels") or []:
        yield panel
        yield from panel.get("panels") or []


def promql_expressions(board_jsons: Sequence[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """Return (board uid, panel title, expr) of every Prometheus target in the boards."""
    found = []
    for board in board_jsons:
        for panel in panels(board):
            for target in panel.get("targets") or []:
                if (target.get("datasource") or {}).get("type") == "prometheus":
                    found.append((board["uid"], panel.get("title", ""), target["expr"]))
    return found
