"""The real `leadflow dashboards push` process against a stand-in Grafana on loopback, and against hosts that try
to take its token or forge its output: the token goes only to --url, and what Grafana says stays on one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.processes import base_env, leadflow
from tests.unit.grafana_standin import State, answering, serving
from tests.unit.push_cases import SOURCES, TOKEN, UIDS

pytestmark = pytest.mark.security


def _state() -> State:
    return State(accounts={TOKEN: ("sa-1-leadflow-push", "Admin")}, datasources=[dict(s) for s in SOURCES])


def _run(args: list[str], cwd: Path, token: str = TOKEN) -> tuple[int, str, str]:
    done = leadflow(["dashboards", "push", *args], base_env(LEADFLOW_GRAFANA_TOKEN=token), cwd, timeout=120)
    return done.returncode, done.stdout, done.stderr


def test_the_command_pushes_the_boards_then_finds_nothing_to_do(tmp_path: Path) -> None:
    state = _state()
    with serving(state) as url:
        code, out, err = _run(["--url", url, "--dry-run"], tmp_path)
        assert (code, err) == (0, "") and not state.writes()
        assert out.count("would create (into folder leadflow)") == 4
        code, out, err = _run(["--url", url], tmp_path)
        assert (code, err) == (0, ""), err
        assert set(state.boards) == UIDS and "folder leadflow: created" in out
        writes = len(state.writes())
        code, out, _ = _run(["--url", url], tmp_path)
    assert code == 0 and out.count("unchanged (version 1)") == 4 and len(state.writes()) == writes
    assert TOKEN not in out


def _one_line(code: int, out: str, err: str) -> str:
    assert code == 2 and out == "", (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("leadflow dashboards: error: "), err
    assert TOKEN not in err and "Traceback" not in err
    return lines[0]


def test_a_redirect_never_carries_the_token_to_another_host(tmp_path: Path) -> None:
    with answering(200, {"Content-Type": "application/json"}, b'{"database": "ok"}') as (elsewhere, taken):
        location = {"Location": f"{elsewhere}/api/health"}
        with answering(302, location, b"") as (url, asked):
            line = _one_line(*_run(["--url", url], tmp_path))
    assert f"{url} redirects to {elsewhere}/api/health" in line
    assert taken == [], "the host a redirect names was never asked, so it never saw the token"
    assert [path for path, _ in asked] == ["/api/health"]


def test_a_redirect_of_the_calls_that_carry_the_token_stops_the_push(tmp_path: Path) -> None:
    # a proxy in front of Grafana that answers /api/health itself but sends the API calls elsewhere
    state = _state()
    with answering(200, {"Content-Type": "application/json"}, b"[]") as (elsewhere, taken), serving(state) as url:
        state.redirect_api_to = elsewhere
        line = _one_line(*_run(["--url", url], tmp_path))
    assert f"{url} redirects to {elsewhere}/api/datasources" in line
    assert [(r.path, r.authorization) for r in state.requests][-1] == ("/api/datasources", f"Bearer {TOKEN}")
    assert taken == [] and not state.writes()


def test_names_from_grafana_cannot_forge_lines_or_colours(tmp_path: Path) -> None:
    state = _state()
    forged = "x\nleadflow dashboards: all boards pushed\x1b[32m"
    state.datasources = [{"id": 1, "uid": "u", "name": forged, "type": "prometheus\r\x1b[2K"}]
    with serving(state) as url:
        line = _one_line(*_run(["--url", url], tmp_path))
    assert "\x1b" not in line and "\r" not in line and "x?leadflow dashboards: all boards pushed?[32m" in line


def test_a_wrong_token_is_refused_and_never_echoed(tmp_path: Path) -> None:
    wrong = "glsa_WrongWrongWrongWrongWrongWrong_0a1b2c3d"
    with serving(_state()) as url:
        code, out, err = _run(["--url", url], tmp_path, token=wrong)
    line = _one_line(code, out, err)
    assert "refused the token (401" in line and wrong not in line


def test_a_token_that_could_break_the_header_is_refused_at_start_up(tmp_path: Path) -> None:
    with serving(_state()) as url:
        code, out, err = _run(["--url", url], tmp_path, token="glsa_abc\r\nX-Admin: yes_0a1b2c3d")
    line = _one_line(code, out, err)
    assert line.startswith("leadflow dashboards: error: LEADFLOW_GRAFANA_TOKEN: ") and "X-Admin" not in line
