"""Hostile input to the real `leadflow` command: one line naming the file or flag, exit 2, nothing stored whole."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.kafka_fixture import LocalKafka
from tests.integration.processes import REPO, base_env, leadflow
from tests.integration.test_collector_kafka import visit
from tests.security.collector_attacker import read_topic

pytestmark = pytest.mark.integration

NOT_UTF8 = b"name: 2026-H2\xff\xfe\n"
NOT_UTF8_READ = "cannot read: not UTF-8 (byte 13: invalid start byte)"


def one_line_error(args: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run a command that must fail cleanly; return its one line of stderr."""
    done = leadflow(args, env, cwd, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture
def bad_agreements(tmp_path: Path) -> Path:
    """A folder with a good agreement and one whose bytes are not UTF-8."""
    folder = tmp_path / "agreements"
    folder.mkdir()
    (folder / "2026-H2.yaml").write_bytes((REPO / "agreements" / "2026-H2.yaml").read_bytes())
    (folder / "broken.yaml").write_bytes(NOT_UTF8)
    return folder


@pytest.mark.parametrize(
    "args",
    [
        ["report", "--from", "2026-11-01", "--to", "2026-12-01"],
        ["replay", "events.jsonl"],
        ["plan"],
    ],
)
def test_an_agreement_that_is_not_utf8_is_named(args: list[str], bad_agreements: Path, tmp_path: Path) -> None:
    (tmp_path / "events.jsonl").write_text(json.dumps(visit("v1")) + "\n")
    env = base_env(LEADFLOW_AGREEMENTS=str(bad_agreements), LEADFLOW_STORE=f"chdb:{tmp_path / 'store'}")
    line = one_line_error(args, env, tmp_path)
    assert line == f"leadflow {args[0]}: error: {bad_agreements / 'broken.yaml'}: {NOT_UTF8_READ}"


def test_agreement_check_names_the_file_that_is_not_utf8(bad_agreements: Path, tmp_path: Path) -> None:
    done = leadflow(["agreement", "check", str(bad_agreements)], base_env(), tmp_path, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"{bad_agreements / 'broken.yaml'}: cannot read: not UTF-8 (byte 13: invalid start byte)"
    ]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["report", "--from", "0001-01-01", "--to", "2026-12-01"], "argument --from: 0001-01-01 is outside"),
        (["report", "--from", "2026-11-01", "--to", "9999-12-01"], "argument --to: 9999-12-01 is outside"),
        (["report", "--month", "0001-01"], "--month 0001-01: 0001-01-01 is outside"),
        (["report", "--month", "2026-11", "--as-of", "0001-01-01T00:00:00+00:00"], "argument --as-of: 0001-01-01"),
        (["plan", "--from-actuals", "--months", "100000"], "--months must be 1 to 120"),
        (["plan", "--from-actuals", "--maturity-days", "10000000"], "--maturity-days 0 to 3660"),
        (["board", "--interval", "-1"], "--interval must be seconds above 0"),
        (["board", "--from", "2026-02-01", "--to", "2026-01-01"], "--to (2026-01-01) must be after --from"),
        (["simulate", "--start", "9999-12-31T00:00:00+00:00", "--out", "x.jsonl"], "argument --start: 9999-12-31"),
        (["simulate", "--days", "100000000", "--out", "x.jsonl"], "days: 100000000 days from 2026-11-02"),
    ],
)
def test_days_and_numbers_the_store_cannot_hold_are_named(args: list[str], named: str, tmp_path: Path) -> None:
    env = base_env(LEADFLOW_STORE=f"chdb:{tmp_path / 'store'}")
    line = one_line_error(args, env, tmp_path)
    assert line.startswith(f"leadflow {args[0]}: error: ") and named in line, line
    assert not (tmp_path / "x.jsonl").exists()


def test_a_collector_key_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    (tmp_path / "keys.yaml").write_bytes(b"crm: \xff\n")
    line = one_line_error(["collector"], base_env(LEADFLOW_COLLECTOR_KEYS_FILE="keys.yaml"), tmp_path)
    variable = "LEADFLOW_COLLECTOR_KEYS_FILE"
    assert line == f"leadflow collector: error: {variable}: keys.yaml is not UTF-8 (byte 5: invalid start byte)"


STORED = """
import json, sys
from pipelines.settings import load_settings
from pipelines.store.client import open_store
store = open_store(load_settings())
rows = store.query("SELECT offset, reason, length(raw) FROM dead_letters FINAL ORDER BY offset")
events = store.query("SELECT id FROM events FINAL ORDER BY id")
print(json.dumps({"dead": [list(r) for r in rows], "events": [r[0] for r in events]}))
store.close()
"""


def test_replay_dead_letters_a_50_mb_line_instead_of_storing_it(tmp_path: Path) -> None:
    huge = json.dumps({**visit("huge"), "padding": "x" * 50_000_000})
    lines = [json.dumps(visit("v1")), huge, json.dumps(visit("v2"))]
    (tmp_path / "events.jsonl").write_text("\n".join(lines) + "\n")
    env = base_env(LEADFLOW_STORE=f"chdb:{tmp_path / 'store'}")
    done = leadflow(["replay", "--no-progress", "events.jsonl"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    assert (stats["lines"], stats["valid"], stats["invalid"]) == (3, 2, 1)
    probe = subprocess.run([sys.executable, "-c", STORED], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
    stored = json.loads(probe.stdout.strip().splitlines()[-1])
    assert stored["events"] == ["v1", "v2"]
    [(line, reason, kept)] = stored["dead"]
    assert line == 2 and kept <= 1024
    assert reason == f"line of {len(huge)} bytes exceeds the collector's body limit of 1048576 bytes"


def test_produce_sends_a_line_over_the_limit_to_the_dead_letter_topic(
    kafka: LocalKafka, worker_env: dict[str, str], tmp_path: Path
) -> None:
    huge = json.dumps({**visit("huge"), "padding": "x" * 3_000_000})
    (tmp_path / "events.jsonl").write_text(f"{json.dumps(visit('v1'))}\n{huge}\n")
    done = leadflow(["produce", "events.jsonl"], worker_env, tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    prefix = worker_env["LEADFLOW_TOPIC_PREFIX"]
    [visit_message] = read_topic(kafka, prefix + "leadflow.visits", 1)
    [letter] = read_topic(kafka, prefix + "leadflow.deadletter", 1)
    assert json.loads(visit_message.value)["id"] == "v1" and letter.value == huge.encode()[:1024]
    assert letter.headers == {
        "reason": f"line of {len(huge)} bytes exceeds the collector's body limit of 1048576 bytes",
        "source": "produce",
    }
