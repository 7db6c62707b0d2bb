"""`leadflow dashboards push` ends with one line, writing nothing, for a wrong URL, a refused token, a missing
data source, a bad board file, a provisioned board (stand-in Grafana on loopback: tests/unit/grafana_standin.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.kafka_fixture import free_port
from tests.unit.grafana_standin import State, answering, provision, serving
from tests.unit.push_cases import ALICE, SOURCES, TOKEN, VIEWER, committed, edited_copy, one_line_error, standin_state


def test_unreachable_url_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LEADFLOW_GRAFANA_TOKEN", TOKEN)
    url = f"http://127.0.0.1:{free_port()}"
    line = one_line_error(["dashboards", "push", "--url", url], capsys)
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
        line = one_line_error(["dashboards", "push", "--url", url], capsys)
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
    state = standin_state()
    with serving(state) as url:
        line = one_line_error(["dashboards", "push", "--url", url], capsys)
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
    line = one_line_error(["dashboards", "push", "--url", url, *flags], capsys)
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
        line = one_line_error(["dashboards", "push", "--url", url], capsys)
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
    line = one_line_error(["dashboards", "push", "--url", url], capsys)
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
    folder = edited_copy(tmp_path, "leadflow-sla")
    (folder / "leadflow-x.json").write_bytes(content)
    line = one_line_error(["dashboards", "push", "--url", url, "--boards", str(folder)], capsys)
    assert f"{folder / 'leadflow-x.json'}: {expected}" in line
    assert not state.requests
    line = one_line_error(["dashboards", "push", "--url", url, "--boards", str(tmp_path / "none")], capsys)
    assert f"no board JSON in {tmp_path / 'none'}" in line


def test_no_token_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("LEADFLOW_GRAFANA_TOKEN", raising=False)
    line = one_line_error(["dashboards", "push", "--url", "http://127.0.0.1:1"], capsys)
    assert "LEADFLOW_GRAFANA_TOKEN is not set" in line


def test_a_board_provisioned_from_files_is_one_line(
    grafana: tuple[State, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = grafana
    state.folders["leadflow"] = {"id": 1, "uid": "leadflow", "title": "leadflow"}
    provision(state, committed()["leadflow-funnel"], "leadflow")
    line = one_line_error(["dashboards", "push", "--url", url, "--force"], capsys)
    assert "leadflow-funnel is provisioned from files in that Grafana" in line
    assert not state.writes()
