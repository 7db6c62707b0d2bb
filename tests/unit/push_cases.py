"""What the tests of `leadflow dashboards push` share: the stand-in's accounts and data sources, the committed
boards, and someone who edits a board in Grafana."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from dashboards.build import JSON_DIR
from services.cli import main
from tests.unit.grafana_standin import State

REPO = Path(__file__).resolve().parents[2]
TOKEN = "glsa_PushPushPushPushPushPushPushPush_0a1b2c3d"
ALICE = "glsa_AliceAliceAliceAliceAliceAlice_0a1b2c3d"
VIEWER = "glsa_ViewerViewerViewerViewerViewer_0a1b2c3d"
UIDS = {"leadflow-funnel", "leadflow-sla", "leadflow-goals", "leadflow-health"}
SOURCES = [
    {"id": 1, "uid": "P8E80F9AEF21F6940", "name": "leadflow ClickHouse", "type": "grafana-clickhouse-datasource"},
    {"id": 2, "uid": "PBFA97CFB590B2093", "name": "leadflow Prometheus", "type": "prometheus"},
    {"id": 3, "uid": "ch-prod", "name": "ClickHouse prod", "type": "grafana-clickhouse-datasource"},
    {"id": 4, "uid": "prom-prod", "name": "Mimir", "type": "prometheus"},
    {"id": 5, "uid": "altinity", "name": "Altinity CH", "type": "vertamedia-clickhouse-datasource"},
]


def standin_state(**values: Any) -> State:
    """A stand-in Grafana's state: the push's Admin token, Alice (Editor), a viewer, and SOURCES."""
    accounts = {TOKEN: ("sa-1-leadflow-push", "Admin"), ALICE: ("alice", "Editor"), VIEWER: ("viewer", "Viewer")}
    return State(accounts=accounts, datasources=[dict(s) for s in SOURCES], **values)


def push_cli(url: str, *flags: str) -> int:
    """Run `leadflow dashboards push --url URL FLAGS...` in this process; return its exit code."""
    return main(["dashboards", "push", "--url", url, *flags])


def refs(node: Any) -> Iterator[dict[str, Any]]:
    """Every data source reference ({type, uid}) in a board."""
    if isinstance(node, dict):
        if set(node) == {"type", "uid"}:
            yield node
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def committed() -> dict[str, dict[str, Any]]:
    """The committed boards by uid."""
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in JSON_DIR.glob("*.json")}


def alice_edits(state: State, url: str, uid: str) -> None:
    """Someone saves a board in Grafana's UI (a panel retitled), through the same API."""
    held = state.boards[uid]["dashboard"]
    edited = {**held, "panels": [{**held["panels"][0], "title": "Alice's panel"}, *held["panels"][1:]]}
    body = {"dashboard": edited, "folderUid": state.boards[uid]["folderUid"], "message": "tweak", "overwrite": False}
    answer = requests.post(f"{url}/api/dashboards/db", json=body, headers={"Authorization": f"Bearer {ALICE}"})
    assert answer.status_code == 200, answer.text


def edited_copy(tmp_path: Path, uid: str) -> Path:
    """The committed boards with one panel of `uid` retitled, as after editing dashboards/ and building."""
    folder = tmp_path / "boards"
    shutil.copytree(JSON_DIR, folder)
    path = folder / f"{uid}.json"
    board = json.loads(path.read_text(encoding="utf-8"))
    board["panels"][1]["title"] = "Retitled"
    path.write_text(json.dumps(board), encoding="utf-8")
    return folder


def one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("leadflow dashboards: error: "), captured.err
    assert TOKEN not in captured.err + captured.out and "Traceback" not in captured.err
    return lines[0]
