"""Attacks on a real worker's web port: Faust's own pages are gone, health and metrics stay; the store pages are
served only by the worker that holds the embedded store, only to callers that show its token, and a long read
through them does not hold the worker's stop back."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.integration.processes import Worker
from tests.integration.store_processes import Running, StoreService
from tests.security.attacks import CANARY, Answer, Pages, get, long_read, post

pytestmark = [pytest.mark.security, pytest.mark.integration, pytest.mark.timeout(600)]
FAUST_PAGES = ["/router/", "/router/leads/get/", "/table/", "/table/leads/", "/table/leads/k/", "/graph/",
               "/stats/", "/assignment/", "/performance/", "/signal/", "/static/"]  # fmt: skip


def test_the_web_port_serves_health_and_metrics_and_no_faust_page(
    worker_env: dict[str, str], tmp_path: Path, running: Running
) -> None:
    worker = running.start(Worker(worker_env, tmp_path))
    base = f"http://127.0.0.1:{worker.port}"
    status, health = get(base + "/")
    assert status == 200 and json.loads(health) == {"status": "OK"}
    status, metrics = get(base + "/metrics")
    assert status == 200 and "leadflow_events_total" in metrics
    assert {page: get(base + page)[0] for page in FAUST_PAGES} == dict.fromkeys(FAUST_PAGES, 404)


def test_the_holders_store_pages_ask_for_the_token_and_keep_its_guards(
    worker_env: dict[str, str], tmp_path: Path, running: Running
) -> None:
    canary = tmp_path / "canary.txt"
    canary.write_text(CANARY)
    worker = running.start(Worker(worker_env, tmp_path))
    pages = Pages.of(Path(worker_env["LEADFLOW_STORE"].removeprefix("chdb:")))
    assert pages.url == f"http://127.0.0.1:{worker.port}"
    for token in (None, "", "x" * 43):
        assert pages.query(f"SELECT file('{canary}')", token=token).status == 401
        forged = {"table": "store_runs", "columns": ["kind"], "rows": [["replay"]]}
        assert pages.insert(forged, token=token).status == 401
    assert pages.query("SELECT count() FROM store_runs WHERE kind = 'live'").body == {"rows": [[1]]}
    refused = pages.query(f"SELECT file('{canary}')")
    assert refused.status == 400 and CANARY not in refused.text
    assert pages.query("SELECT * FROM system.settings").status == 400
    assert pages.query("SELECT count() FROM events SETTINGS readonly = 0").status == 400


def test_a_worker_that_uses_another_processs_store_serves_no_store_page(
    worker_env: dict[str, str], tmp_path: Path, running: Running
) -> None:
    service = running.start(StoreService(worker_env, tmp_path))
    worker = running.start(Worker(worker_env, tmp_path))
    token = Pages.of(Path(worker_env["LEADFLOW_STORE"].removeprefix("chdb:"))).token  # the service's own
    for page in ("/leadflow/query", "/leadflow/insert"):
        answer = post(f"http://127.0.0.1:{worker.port}{page}", {"sql": "SELECT 1"}, token)
        assert answer.status == 404, f"{page} answered {answer.status}: {answer.text[:200]}"
    assert service.query("SELECT count() FROM store_runs WHERE kind = 'live'") == [(1,)]


def test_sigterm_during_a_long_read_on_the_holders_pages_stops_the_worker(
    worker_env: dict[str, str], tmp_path: Path, running: Running
) -> None:
    env = {**worker_env, "LEADFLOW_STORE_QUERY_TIMEOUT": "3600"}
    worker = running.start(Worker(env, tmp_path))
    pages = Pages.of(Path(env["LEADFLOW_STORE"].removeprefix("chdb:")))
    answers: list[Answer] = []
    reading = long_read(pages, answers)
    assert worker.process is not None
    began = time.monotonic()
    worker.process.send_signal(signal.SIGTERM)
    worker.process.wait(timeout=30)
    assert time.monotonic() - began < 20, "the long read held the worker's stop back"
    reading.join(10)
    assert answers and "QUERY_WAS_CANCELLED" in answers[0].text, answers
