"""`leadflow dashboards push` against a stand-in of Grafana's HTTP API on loopback (tests/unit/grafana_standin.py):
folder, data source mapping, first and repeated pushes, boards changed in Grafana, --force, --dry-run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from dashboards.exceptions import GrafanaError
from dashboards.grafana import Grafana
from dashboards.push import push, read_boards
from dashboards.push_plan import DEFAULT_SOURCE_NAMES, MESSAGE_PREFIX, PLACEHOLDERS, DataSource, Step, with_sources
from tests.unit.grafana_standin import State, serving
from tests.unit.push_cases import (
    REPO,
    TOKEN,
    UIDS,
    alice_edits,
    committed,
    edited_copy,
    one_line_error,
    push_cli,
    refs,
    standin_state,
)


def test_first_push_creates_the_folder_and_every_board_on_the_targets_data_sources(
    grafana: tuple[State, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = grafana
    assert push_cli(url) == 0
    out = capsys.readouterr().out
    assert "folder leadflow: created" in out and out.count("created as version 1") == 4
    writes = [(r.method, r.path) for r in state.writes()]
    assert writes == [("POST", "/api/folders")] + [("POST", "/api/dashboards/db")] * 4
    assert state.folders["leadflow"]["title"] == "leadflow"
    assert set(state.boards) == UIDS and all(b["folderUid"] == "leadflow" for b in state.boards.values())
    boards = committed()
    for uid, held in state.boards.items():
        mapped, placeholders = list(refs(held["dashboard"])), list(refs(boards[uid]))
        assert len(mapped) == len(placeholders) > 0
        assert {r["uid"] for r in mapped} <= {"P8E80F9AEF21F6940", "PBFA97CFB590B2093"}, uid
        assert {"leadflow-clickhouse", "leadflow-prometheus"}.isdisjoint(json.dumps(held["dashboard"]).split('"'))
        assert held["dashboard"]["panels"][0]["title"] == boards[uid]["panels"][0]["title"]
        (entry,) = state.history[uid]
        assert entry["createdBy"] == "sa-1-leadflow-push" and entry["message"].startswith(MESSAGE_PREFIX + "sha256:")
    assert all(r.authorization == f"Bearer {TOKEN}" for r in state.requests if r.path != "/api/health")


def test_datasource_flags_choose_other_data_sources_by_name(grafana: tuple[State, str]) -> None:
    state, url = grafana
    assert push_cli(url, "--datasource", "clickhouse=ClickHouse prod", "--datasource", "prometheus=Mimir") == 0
    uids = {r["uid"] for held in state.boards.values() for r in refs(held["dashboard"])}
    assert uids == {"ch-prod", "prom-prod"}


def test_a_second_push_of_the_same_boards_writes_nothing(
    grafana: tuple[State, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = grafana
    assert push_cli(url) == 0
    writes = len(state.writes())
    capsys.readouterr()
    assert push_cli(url) == 0
    assert len(state.writes()) == writes
    out = capsys.readouterr().out
    assert out.count("unchanged (version 1)") == 4 and "folder" not in out


def test_a_board_changed_in_grafana_since_the_push_is_refused_and_force_overwrites_it(
    grafana: tuple[State, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    state, url = grafana
    assert push_cli(url) == 0
    alice_edits(state, url, "leadflow-sla")
    boards = edited_copy(tmp_path, "leadflow-funnel")  # another board would be updated: it waits too
    writes = len(state.writes())
    capsys.readouterr()
    assert push_cli(url, "--boards", str(boards)) == 1
    captured = capsys.readouterr()
    assert len(state.writes()) == writes, "nothing is written while a board is refused"
    assert "leadflow-sla: refused (version 2 was saved by alice at " in captured.out
    assert "('tweak'), not by a push; --force overwrites it)" in captured.out
    assert "leadflow-funnel: not updated" in captured.out
    assert captured.err.strip().splitlines() == [
        "leadflow dashboards: 1 board changed in Grafana since the last push: nothing written (--force overwrites)"
    ]
    assert push_cli(url, "--boards", str(boards), "--force") == 0
    assert "leadflow-sla: overwritten as version 3" in capsys.readouterr().out
    sla = state.boards["leadflow-sla"]["dashboard"]
    assert sla["panels"][0]["title"] == committed()["leadflow-sla"]["panels"][0]["title"]
    assert state.history["leadflow-sla"][-1]["createdBy"] == "sa-1-leadflow-push"
    assert push_cli(url, "--boards", str(boards)) == 0
    assert capsys.readouterr().out.count("unchanged") == 4


def test_an_update_says_which_panels_change_and_a_dry_run_writes_nothing(
    grafana: tuple[State, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    state, url = grafana
    assert push_cli(url, "--dry-run") == 0
    out = capsys.readouterr().out
    assert not state.writes() and not state.boards and not state.folders
    assert "folder leadflow: would be created" in out and out.count("would create (into folder leadflow)") == 4
    assert push_cli(url) == 0
    boards, writes = edited_copy(tmp_path, "leadflow-goals"), len(state.writes())
    title = committed()["leadflow-goals"]["panels"][1]["title"]
    capsys.readouterr()
    assert push_cli(url, "--boards", str(boards), "--dry-run") == 0
    out = capsys.readouterr().out
    assert len(state.writes()) == writes
    assert f"leadflow-goals: would update (version 1: 1 panel added (Retitled); 1 panel removed ({title}))" in out
    assert push_cli(url, "--boards", str(boards)) == 0
    assert "leadflow-goals: updated as version 2" in capsys.readouterr().out
    assert state.boards["leadflow-goals"]["dashboard"]["panels"][1]["title"] == "Retitled"


def test_a_change_in_grafana_between_reading_and_saving_is_refused_by_its_version(
    grafana: tuple[State, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    state, url = grafana
    assert push_cli(url) == 0
    racing = Grafana(url, SecretStr(TOKEN))
    save = racing.save

    def alice_first(step: Step, folder_uid: str) -> int:
        alice_edits(state, url, step.uid)  # she saves after the push read version 1, before it writes
        return save(step, folder_uid)

    monkeypatch.setattr(racing, "save", alice_first)
    boards = read_boards(edited_copy(tmp_path, "leadflow-sla"))
    with pytest.raises(GrafanaError, match=r"save board leadflow-sla \(412: The dashboard has been changed by some"):
        push(racing, boards, DEFAULT_SOURCE_NAMES, force=False, dry_run=False)
    assert state.history["leadflow-sla"][-1]["createdBy"] == "alice"
    assert state.boards["leadflow-sla"]["dashboard"]["panels"][0]["title"] == "Alice's panel"


def test_grafana_12s_wrapped_version_list_is_read_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEADFLOW_GRAFANA_TOKEN", TOKEN)
    state = standin_state(version="12.2.0", wrapped_versions=True)
    with serving(state) as url:
        assert push_cli(url) == 0
        alice_edits(state, url, "leadflow-health")
        capsys.readouterr()
        assert push_cli(url) == 1
    assert "leadflow-health: refused (version 2 was saved by alice" in capsys.readouterr().out


def test_a_grafana_without_version_history_by_uid_is_one_line(
    grafana: tuple[State, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = grafana
    assert push_cli(url) == 0
    state.uid_versions, writes = False, len(state.writes())
    capsys.readouterr()
    line = one_line_error(["dashboards", "push", "--url", url], capsys)
    assert "refused to read the version history of board leadflow-" in line and "(404: Not found)" in line
    assert len(state.writes()) == writes


def test_a_folder_titled_leadflow_with_another_uid_is_used(grafana: tuple[State, str]) -> None:
    state, url = grafana
    state.folders["abc123"] = {"id": 99, "uid": "abc123", "title": "leadflow"}
    assert push_cli(url) == 0
    assert set(state.folders) == {"abc123"} and {b["folderUid"] for b in state.boards.values()} == {"abc123"}


def test_the_default_names_are_the_provisioned_data_sources() -> None:
    provisioning = yaml.safe_load((REPO / "deploy/grafana/provisioning/datasources/leadflow.yml").read_text())
    provisioned = {d["uid"]: (d["name"], d["type"]) for d in provisioning["datasources"]}
    for kind, (uid, plugin) in PLACEHOLDERS.items():
        assert provisioned[uid] == (DEFAULT_SOURCE_NAMES[kind], plugin)


def test_mapping_touches_only_data_source_references() -> None:

    board = committed()["leadflow-funnel"]
    sources = {"clickhouse": DataSource("a", "CH", "x"), "prometheus": DataSource("b", "PR", "y")}
    mapped = with_sources(board, sources)
    assert mapped["uid"] == "leadflow-funnel" and board == committed()["leadflow-funnel"]
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
