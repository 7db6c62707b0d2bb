"""Bad configuration and unreachable services end a command with one clear line, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.kafka_fixture import free_port
from tests.integration.processes import base_env, leadflow

pytestmark = pytest.mark.integration


def _one_line_error(args: list[str], env: dict[str, str], cwd: Path) -> str:
    done = leadflow(args, env, cwd, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LEADFLOW_PARTITIONS", "zero"),
        ("LEADFLOW_STORE", "mysql://nope"),
        ("LEADFLOW_KAFKA_BOOTSTRAP", "no-port-here"),
        ("LEADFLOW_WEB_PORT", "70000"),
    ],
)
def test_bad_variable_is_named(variable: str, value: str, tmp_path: Path) -> None:
    line = _one_line_error(["worker"], base_env(**{variable: value}), tmp_path)
    assert line.startswith(f"leadflow worker: error: {variable}:")


def test_unreachable_broker(tmp_path: Path) -> None:
    env = base_env(LEADFLOW_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}", LEADFLOW_STORE=f"chdb:{tmp_path / 's'}")
    line = _one_line_error(["worker"], env, tmp_path)
    assert "does not answer" in line and "127.0.0.1" in line


def test_unreachable_store(tmp_path: Path) -> None:
    env = base_env(LEADFLOW_STORE=f"http://default:@127.0.0.1:{free_port()}/default")
    line = _one_line_error(["report", "--from", "2026-11-01", "--to", "2026-12-01"], env, tmp_path)
    assert "cannot reach ClickHouse" in line


def test_bad_agreement_names_file_and_field(tmp_path: Path) -> None:
    folder = tmp_path / "agreements"
    folder.mkdir()
    (folder / "bad.yaml").write_text(
        (Path(__file__).resolve().parents[2] / "agreements" / "2026-H2.yaml").read_text().replace("0.4", "4.0")
    )
    env = base_env(LEADFLOW_AGREEMENTS=str(folder), LEADFLOW_STORE=f"chdb:{tmp_path / 's'}")
    line = _one_line_error(["report", "--from", "2026-11-01", "--to", "2026-12-01"], env, tmp_path)
    assert "bad.yaml" in line and "goals.rates.lead_to_mql" in line
