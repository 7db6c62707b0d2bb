"""A long read cannot keep `leadflow store serve` alive: SIGTERM stops it within 10 s even during a read that would
run for hours, and the same path is served again at once, as it is after SIGKILL."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from pipelines.store.owner import owner_file
from tests.integration.processes import base_env, leadflow_json
from tests.integration.store_processes import Running, StoreService
from tests.security.attacks import Answer, Pages, long_read

pytestmark = [pytest.mark.security, pytest.mark.timeout(300)]


def store_env(tmp_path: Path) -> dict[str, str]:
    return base_env(LEADFLOW_STORE=f"chdb:{tmp_path / 'store'}", LEADFLOW_STORE_QUERY_TIMEOUT="3600")


def test_sigterm_during_a_long_read_stops_the_service_within_10_s_and_the_path_opens_again_at_once(
    tmp_path: Path, running: Running
) -> None:
    env = store_env(tmp_path)
    first = running.start(StoreService(env, tmp_path, "store-1"))
    answers: list[Answer] = []
    reading = long_read(Pages.of(tmp_path / "store"), answers)
    assert first.process is not None
    began = time.monotonic()
    first.process.send_signal(signal.SIGTERM)
    code = first.process.wait(timeout=10)
    stopped = time.monotonic() - began
    assert stopped < 10 and code == 0, f"stopped after {stopped:.1f} s with exit code {code}"
    reading.join(10)
    assert answers[0].status == 400 and "QUERY_WAS_CANCELLED" in answers[0].text, "the read is cancelled, answered"
    assert not owner_file(tmp_path / "store").exists()
    began = time.monotonic()
    second = running.start(StoreService(env, tmp_path, "store-2"))
    assert time.monotonic() - began < 30
    assert second.query("SELECT 1") == [(1,)]


def test_after_sigkill_the_path_is_served_again_at_once(tmp_path: Path, running: Running) -> None:
    env = store_env(tmp_path)
    events = tmp_path / "one.jsonl"
    events.write_text("")
    first = running.start(StoreService(env, tmp_path, "store-1"))
    answers: list[Answer] = []
    long_read(Pages.of(tmp_path / "store"), answers)
    first.kill()  # nothing flushed, the owner file left behind naming a dead process
    assert owner_file(tmp_path / "store").exists()
    second = running.start(StoreService(env, tmp_path, "store-2"))
    assert second.query("SELECT count() FROM events") == [(0,)]
    second.stop()
    stats = leadflow_json(["replay", str(events), "--no-progress"], env, tmp_path)  # the store to itself again
    assert stats["lines"] == 0
