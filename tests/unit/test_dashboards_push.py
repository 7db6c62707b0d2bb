"""`leadflow dashboards push` against a stand-in of Grafana's HTTP API on loopback (tests/unit/grafana_standin.py):
folder, data source mapping, first and repeated pushes, boards changed in Grafana, --force, --dry-run, errors."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from pydantic import SecretStr

from dashboards.build import JSON_DIR
from dashboards.exceptions import GrafanaError
from dashboards.grafana import Grafana
from dashboards.push import push, read_boards
from dashboards.push_plan import DEFAULT_SOURCE_NAMES, MESSAGE_PREFIX, PLACEHOLDERS, Step, with_sources
from services.cli import main
from tests.integration.kafka_fixture import free_port
from tests.unit.grafana_standin import State, answering, provision, serving

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


def _state(**values: Any) -> State:
    accounts = {TOKEN: ("sa-1-leadflow-push", "Admin"), ALICE: ("alice", "Editor"), VIEWER: ("viewer", "Viewer")}
    return State(accounts=accounts, datasources=[dict(s) for s in SOURCES], **values)


@pytest.fixture
def grafana(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[State, str]]:
    """A stand-in Grafana with the compose stack's data source names, and the push's token in the environment."""
    monkeypatch.setenv("LEADFLOW_GRAFANA_TOKEN", TOKEN)
    state = _state()
    with serving(state) as url:
        yield state, url


def _push(url: str, *flags: str) -> int:
    return main(["dashboards", "push", "--url", url, *flags])


def _refs(node: Any) -> Iterator[dict[str, Any]]:
    """Every data source reference ({type, uid}) in a board."""
    if isinstance(node, dict):
        if set(node) == {"type", "uid"}:
            yield node
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _committed() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in JSON_DIR.glob("*.json")}


def _alice_edits(state: State, url: str, uid: str) -> None:
    """Someone saves a board in Grafana's UI (a panel retitled), through the same API."""
    held = state.boards[uid]["dashboard"]
    edited = {**held, "panels": [{**held["panels"][0], "title": "Alice's panel"}, *held["panels"][1:]]}
    body = {"dashboard": edited, "folderUid": state.boards[uid]["folderUid"], "message": "tweak", "overwrite": False}
    answer = requests.post(f"{url}/api/dashboards/db", json=body, headers={"Authorization": f"Bearer {ALICE}"})
    assert answer.status_code == 200, answer.text


def test_first_push_creates_the_folder_and_every_board_on_the_targets_data_sources(
    grafana: tuple[State, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = grafana
    assert _push(url) == 0
    out = capsys.readouterr().out
    assert "folder leadflow: created" in out and out.count("created as version 1") == 4
    writes = [(r.method, r.path) for r in state.writes()]
    assert writes == [("POST", "/api/folders")] + [("POST", "/api/dashboards/db")] * 4
    assert state.folders["leadflow"]["title"] == "leadflow"
    assert set(state.boards) == UIDS and all(b["folderUid"] == "leadflow" for b in state.boards.values())
    committed = _committed()
    for uid, held in state.boards.items():
        refs, placeholders = list(_refs(held["dashboard"])), list(_refs(committed[uid]))
        assert len(refs) == len(placeholders) > 0
        assert {r["uid"] for r in refs} <= {"P8E80F9AEF21F6940", "PBFA97CFB590B2093"}, uid
        assert {"leadflow-clickhouse", "leadflow-prometheus"}.isdisjoint(json.dumps(held["dashboard"]).split('"'))
        assert held["dashboard"]["panels"][0]["title"] == committed[uid]["panels"][0]["title"]
        (entry,) = state.history[uid]
        assert entry["createdBy"] == "sa-1-leadflow-push" and entry["message"].startswith(MESSAGE_PREFIX + "sha256:")
    assert all(r.authorization == f"Bearer {TOKEN}" for r in state.requests if r.path != "/api/health")


def test_datasource_flags_choose_other_data_sources_by_name(grafana: tuple[State, str]) -> None:
    state, url = grafana
    assert _push(url, "--datasource", "clickhouse=ClickHouse prod", "--datasource", "prometheus=Mimir") == 0
    uids = {r["uid"] for held in state.boards.values() for r in _refs(held["dashboard"])}
    assert uids == {"ch-prod", "prom-prod"}


def test_a_second_push_of_the_same_boards_writes_nothing(
    grafana: tuple[State, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = grafana
    assert _push(url) == 0
    writes = len(state.writes())
    capsys.readouterr()
    assert _push(url) == 0
    assert len(state.writes()) == writes
    out = capsys.readouterr().out
    assert out.count("unchanged (version 1)") == 4 and "folder" not in out


def test_a_board_changed_in_grafana_since_the_push_is_refused_and_force_overwrites_it(
    grafana: tuple[State, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    state, url = grafana
    assert _push(url) == 0
    _alice_edits(state, url, "leadflow-sla")
    boards = _edited_copy(tmp_path, "leadflow-funnel")  # another board would be updated: it waits too
    writes = len(state.writes())
    capsys.readouterr()
    assert _push(url, "--boards", str(boards)) == 1
    captured = capsys.readouterr()
    assert len(state.writes()) == writes, "nothing is written while a board is refused"
    assert "leadflow-sla: refused (version 2 was saved by alice at " in captured.out
    assert "('tweak'), not by a push; --force overwrites it)" in captured.out
    assert "leadflow-funnel: not updated" in captured.out
    assert captured.err.strip().splitlines() == [
        "leadflow dashboards: 1 board changed in Grafana since the last push: nothing written (--force overwrites)"
    ]
    assert _push(url, "--boards", str(boards), "--force") == 0
    assert "leadflow-sla: overwritten as version 3" in capsys.readouterr().out
    sla = state.boards["leadflow-sla"]["dashboard"]
    assert sla["panels"][0]["title"] == _committed()["leadflow-sla"]["panels"][0]["title"]
    assert state.history["leadflow-sla"][-1]["createdBy"] == "sa-1-leadflow-push"
    assert _push(url, "--boards", str(boards)) == 0
    assert capsys.readouterr().out.count("unchanged") == 4


def _edited_copy(tmp_path: Path, uid: str) -> Path:
    """The committed boards with one panel of `uid` retitled, as after editing dashboards/ and building."""
    folder = tmp_path / "boards"
    shutil.copytree(JSON_DIR, folder)
    path = folder / f"{uid}.json"
    board = json.loads(path.read_text(encoding="utf-8"))
    board["panels"][1]["title"] = "Retitled"
    path.write_text(json.dumps(board), encoding="utf-8")
    return folder


def test_an_update_says_which_panels_change_and_a_dry_run_writes_nothing(
    grafana: tuple[State, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    state, url = grafana
    assert _push(url, "--dry-run") == 0
    out = capsys.readouterr().out
    assert not state.writes() and not state.boards and not state.folders
    assert "folder leadflow: would be created" in out and out.count("would create (into folder leadflow)") == 4
    assert _push(url) == 0
    boards, writes = _edited_copy(tmp_path, "leadflow-goals"), len(state.writes())
    title = _committed()["leadflow-goals"]["panels"][1]["title"]
    capsys.readouterr()
    assert _push(url, "--boards", str(boards), "--dry-run") == 0
    out = capsys.readouterr().out
    assert len(state.writes()) == writes
    assert f"leadflow-goals: would update (version 1: 1 panel added (Retitled); 1 panel removed ({title}))" in out
    assert _push(url, "--boards", str(boards)) == 0
    assert "leadflow-goals: updated as version 2" in capsys.readouterr().out
    assert state.boards["leadflow-goals"]["dashboard"]["panels"][1]["title"] == "Retitled"


def test_a_change_in_grafana_between_reading_and_saving_is_refused_by_its_version(
    grafana: tuple[State, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    state, url = grafana
    assert _push(url) == 0
    racing = Grafana(url, SecretStr(TOKEN))
    save = racing.save

    def alice_first(step: Step, folder_uid: str) -> int:
        _alice_edits(state, url, step.uid)  # she saves after the push read version 1, before it writes
        return save(step, folder_uid)

    monkeypatch.setattr(racing, "save", alice_first)
    boards = read_boards(_edited_copy(tmp_path, "leadflow-sla"))
    with pytest.raises(GrafanaError, match=r"save board leadflow-sla \(412: The dashboard has been changed by some"):
        push(racing, boards, DEFAULT_SOURCE_NAMES, force=False, dry_run=False)
    assert state.history["leadflow-sla"][-1]["createdBy"] == "alice"
    assert state.boards["leadflow-sla"]["dashboard"]["panels"][0]["title"] == "Alice's panel"


def test_grafana_12s_wrapped_version_list_is_read_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEADFLOW_GRAFANA_TOKEN", TOKEN)
    state = _state(version="12.2.0", wrapped_versions=True)
    with serving(state) as url:
        assert _push(url) == 0
        _alice_edits(state, url, "leadflow-health")
        capsys.readouterr()
        assert _push(url) == 1
    assert "leadflow-health: refused (version 2 was saved by alice" in capsys.readouterr().out


def test_a_grafana_without_version_history_by_uid_is_one_line(
    grafana: tuple[State, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = grafana
    assert _push(url) == 0
    state.uid_versions, writes = False, len(state.writes())
    capsys.readouterr()
    line = _one_line_error(["dashboards", "push", "--url", url], capsys)
    assert "refused to read the version history of board leadflow-" in line and "(404: Not found)" in line
    assert len(state.writes()) == writes


def test_a_folder_titled_leadflow_with_another_uid_is_used(grafana: tuple[State, str]) -> None:
    state, url = grafana
    state.folders["abc123"] = {"id": 99, "uid": "abc123", "title": "leadflow"}
    assert _push(url) == 0
    assert set(state.folders) == {"abc123"} and {b["folderUid"] for b in state.boards.values()} == {"abc123"}


def _one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("leadflow dashboards: error: "), captured.err
    assert TOKEN not in captured.err + captured.out and "Traceback" not in captured.err
    return lines[0]


def test_unreachable_url_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LEADFLOW_GRAFANA_TOKEN", TOKEN)
    url = f"http://127.0.0.1:{free_port()}"
    line = _one_line_error(["dashboards", "push", "--url", url], capsys)
    assert line.endswith(f"cannot reach Grafana at {url}: Connection refused")


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (404, "text/html", b"<html>nginx: not found</html>"),
        (200, "text/html", b"<html>a web shop</html>"),
        (200, "application/json", b'{"status": "ok"}'),
        (200, "application/json", b"not json at all"),
    ],
)
def test_a_url_that_is_not_grafana_is_one_line(
    status: int, content_type: str, body: bytes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEADFLOW_GRAFANA_TOKEN", TOKEN)
    with answering(status, {"Content-Type": content_type}, body) as (url, asked):
        line = _one_line_error(["dashboards", "push", "--url", url], capsys)
    assert f"{url} does not answer as Grafana" in line
    assert [path for path, _ in asked] == ["/api/health"]


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("glsa_WrongWrongWrongWrongWrongWrong_0a1b2c3d", "refused the token (401: invalid API key)"),
        (ALICE, "may not list the data sources (GET /api/datasources) (403: You'll need additional permissions"),
        (VIEWER, "needs the Admin role of the organisation"),
    ],
)
def test_a_token_grafana_refuses_is_one_line(
    token: str, expected: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEADFLOW_GRAFANA_TOKEN", token)
    state = _state()
    with serving(state) as url:
        line = _one_line_error(["dashboards", "push", "--url", url], capsys)
    assert expected in line and token not in line
    assert not state.writes()


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--datasource", "clickhouse=Nope"], "no clickhouse data source named 'Nope' in Grafana (it has: "),
        (["--datasource", "clickhouse=Altinity CH"], "'Altinity CH' is of type vertamedia-clickhouse-datasource"),
        (["--datasource", "prometheus=ClickHouse prod"], "the boards' prometheus panels need prometheus"),
        (["--datasource", "loki=Logs"], "--datasource expects clickhouse=NAME or prometheus=NAME, got 'loki=Logs'"),
    ],
)
def test_a_missing_or_wrong_data_source_is_one_line_naming_what_exists(
    flags: list[str], expected: str, grafana: tuple[State, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = grafana
    line = _one_line_error(["dashboards", "push", "--url", url, *flags], capsys)
    assert expected in line
    if "it has" in line:
        assert all(f"{s['name']!r} ({s['type']})" in line for s in SOURCES)
    assert not state.writes()


def test_missing_data_sources_with_an_empty_grafana(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEADFLOW_GRAFANA_TOKEN", TOKEN)
    state = State(accounts={TOKEN: ("sa", "Admin")}, datasources=[])
    with serving(state) as url:
        line = _one_line_error(["dashboards", "push", "--url", url], capsys)
    assert "no clickhouse data source named 'leadflow ClickHouse' in Grafana (it has: none)" in line


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ftp://grafana.example.com", "expected http(s)://host[:port][/path] of a Grafana"),
        ("http://admin:admin@127.0.0.1:3000", "--url carries a user or password"),
        ("http://127.0.0.1:99999", "the port must be a number from 1 to 65535"),
        ("http://127.0.0.1:3000/?orgId=2", "expected no query or fragment"),
    ],
)
def test_a_bad_url_is_refused_before_any_request(
    url: str, expected: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEADFLOW_GRAFANA_TOKEN", TOKEN)
    line = _one_line_error(["dashboards", "push", "--url", url], capsys)
    assert expected in line and "admin:admin" not in line.replace(url, "")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfe{}", "not readable board JSON ('utf-8' codec can't decode byte 0xff"),
        (b"{ not json", "not readable board JSON (Expecting property name"),
        (b'["a", "list"]', "not a board (a JSON object with a uid and a title)"),
        (b'{"uid": 7, "title": "x"}', "not a board (a JSON object with a uid and a title)"),
    ],
)
def test_a_bad_board_file_is_one_line_naming_it_and_nothing_is_asked(
    content: bytes, expected: str, grafana: tuple[State, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    state, url = grafana
    folder = _edited_copy(tmp_path, "leadflow-sla")
    (folder / "leadflow-x.json").write_bytes(content)
    line = _one_line_error(["dashboards", "push", "--url", url, "--boards", str(folder)], capsys)
    assert f"{folder / 'leadflow-x.json'}: {expected}" in line
    assert not state.requests
    line = _one_line_error(["dashboards", "push", "--url", url, "--boards", str(tmp_path / "none")], capsys)
    assert f"no board JSON in {tmp_path / 'none'}" in line


def test_no_token_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("LEADFLOW_GRAFANA_TOKEN", raising=False)
    line = _one_line_error(["dashboards", "push", "--url", "http://127.0.0.1:1"], capsys)
    assert "LEADFLOW_GRAFANA_TOKEN is not set" in line


def test_a_board_provisioned_from_files_is_one_line(
    grafana: tuple[State, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = grafana
    state.folders["leadflow"] = {"id": 1, "uid": "leadflow", "title": "leadflow"}
    provision(state, _committed()["leadflow-funnel"], "leadflow")
    line = _one_line_error(["dashboards", "push", "--url", url, "--force"], capsys)
    assert "leadflow-funnel is provisioned from files in that Grafana" in line
    assert not state.writes()


def test_the_default_names_are_the_provisioned_data_sources() -> None:
    provisioning = yaml.safe_load((REPO / "deploy/grafana/provisioning/datasources/leadflow.yml").read_text())
    provisioned = {d["uid"]: (d["name"], d["type"]) for d in provisioning["datasources"]}
    for kind, (uid, plugin) in PLACEHOLDERS.items():
        assert provisioned[uid] == (DEFAULT_SOURCE_NAMES[kind], plugin)


def test_mapping_touches_only_data_source_references() -> None:
    from dashboards.push_plan import DataSource

    board = _committed()["leadflow-funnel"]
    sources = {"clickhouse": DataSource("a", "CH", "x"), "prometheus": DataSource("b", "PR", "y")}
    mapped = with_sources(board, sources)
    assert mapped["uid"] == "leadflow-funnel" and board == _committed()["leadflow-funnel"]
    text = json.dumps(mapped).replace('"uid": "CH"', '"uid": "leadflow-clickhouse"')
    assert text.replace('"uid": "PR"', '"uid": "leadflow-prometheus"') == json.dumps(board)
    assert '"uid": "CH"' in json.dumps(mapped)


def test_the_grafana_client_leaves_urllib3_to_clickhouse_connect() -> None:
    # grafana-client from 4.0 brings urllib3-future, which overwrites urllib3 for every package (pyproject.toml)
    import importlib.metadata

    import urllib3

    assert urllib3.__version__ == importlib.metadata.version("urllib3")
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.version("urllib3-future")
