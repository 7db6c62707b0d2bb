"""`leadflow collector` as users run it, against the real broker: events land in their topics, Kafka down is 503."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer

from services.collector.hubspot_signature import signature_v3
from services.collector.keys import hash_key
from tests.integration.kafka_fixture import LocalKafka, free_port
from tests.integration.processes import LEADFLOW, base_env, wait_until
from tests.unit.factories import T0, envelope
from tests.unit.test_hubspot_mapping import LIFECYCLE

pytestmark = pytest.mark.integration

SERVER_KEY = "lf_crm_integration_0123456789abcdefghij"
BROWSER_KEY = "lf_website_integration_0123456789abcdefg"
HUBSPOT_SECRET = "hubspot-integration-secret"


def keys_file(folder: Path, origins: list[str] | None = None) -> Path:
    """Write a keys file with a server key and a browser key (web events only)."""
    browser: dict[str, Any] = {
        "key_sha256": hash_key(BROWSER_KEY),
        "browser": True,
        "types": ["web.visit", "web.form_submitted"],
        "sources": ["/web/*"],
    }
    if origins is not None:
        browser["origins"] = origins
    path = folder / "keys.json"
    path.write_text(json.dumps({"crm": {"key_sha256": hash_key(SERVER_KEY)}, "website": browser}))
    return path


class Collector:
    """A `leadflow collector` subprocess on a free port, with its log file."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {"LEADFLOW_COLLECTOR_HUBSPOT_CLIENT_SECRET": HUBSPOT_SECRET, **env}
        self.env.setdefault("LEADFLOW_COLLECTOR_KEYS_FILE", str(keys_file(cwd)))
        self.log = cwd / f"collector-{self.port}.log"
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready: bool = True) -> Collector:
        """Start it; wait until it answers (and, if `ready`, until Kafka is ready for it)."""
        handle = self.log.open("ab")
        args = [LEADFLOW, "collector", "--port", str(self.port)]
        self.process = subprocess.Popen(args, env=self.env, cwd=self.cwd, stdout=handle, stderr=subprocess.STDOUT)
        wait_until(lambda: self.status("/healthz") == 200, 30, f"the collector on {self.port} ({self.log})")
        if ready:
            wait_until(lambda: self.status("/readyz") == 200, 60, f"the collector's Kafka ({self.log})")
        return self

    def status(self, path: str) -> int | None:
        """Return the status of a GET, None while nothing listens (fail at once if the process died)."""
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"collector exited with {self.process.returncode}: {self.log.read_text()[-3000:]}")
        try:
            return self.request("GET", path)[0]
        except OSError:
            return None

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
        """Return (status, parsed JSON or bytes) of a request."""
        request = urllib.request.Request(self.url + path, body, headers or {}, method=method)
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                status, raw, kind = response.status, response.read(), response.headers.get_content_type()
        except urllib.error.HTTPError as exc:
            status, raw, kind = exc.code, exc.read(), exc.headers.get_content_type()
        return status, json.loads(raw) if kind == "application/json" else raw

    def post(self, path: str, document: Any, headers: dict[str, str] | None = None) -> Any:
        """POST a JSON document with the server key."""
        base = {"Authorization": f"Bearer {SERVER_KEY}", "Content-Type": "application/json"}
        return self.request("POST", path, json.dumps(document).encode(), {**base, **(headers or {})})

    def stop(self) -> None:
        """Stop it with SIGTERM (SIGKILL after 20 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def collector(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Collector]:
    """A ready collector on the test's topics (the worker_env prefix)."""
    running = Collector(worker_env, tmp_path).start()
    yield running
    running.stop()


def messages(kafka: LocalKafka, topic: str, expected: int, last_id: str | None = None) -> list[Any]:
    """Read a topic from the start until `expected` messages (or the event `last_id`) came, or 20 s passed."""
    consumer = KafkaConsumer(topic, bootstrap_servers=[kafka.bootstrap], auto_offset_reset="earliest")
    found: list[Any] = []
    deadline = time.monotonic() + 20

    def done() -> bool:
        if last_id is not None:
            return any(json.loads(m.value).get("id") == last_id for m in found)
        return len(found) >= expected

    try:
        while not done() and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                found.extend(batch)
    finally:
        consumer.close()
    return found


def visit(id: str) -> dict[str, Any]:
    data = {"visitor_id": "vis-1", "url": "https://shop.test/?utm_source=news"}
    return envelope("web.visit", "vis-1", data, T0, id=id, source="/web/shop.test")


def test_valid_events_land_in_their_topics_keyed_by_subject(
    collector: Collector, kafka: LocalKafka, worker_env: dict[str, str]
) -> None:
    stage = envelope(
        "crm.lifecycle_changed", "lead-1", {"lead_id": "lead-1", "stage": "mql"}, T0, id="s1", source="/crm/x"
    )
    invalid = {**visit("v2"), "type": "web.click"}
    status, body = collector.post("/v1/events", [visit("v1"), stage, invalid])
    assert status == 207, body
    assert [r["status"] for r in body["results"]] == ["accepted", "accepted", "rejected"]
    prefix = worker_env["LEADFLOW_TOPIC_PREFIX"]
    [visit_message] = messages(kafka, prefix + "leadflow.visits", 1)
    assert visit_message.key == b"vis-1" and json.loads(visit_message.value) == visit("v1")
    [stage_message] = messages(kafka, prefix + "leadflow.stages", 1)
    assert stage_message.key == b"lead-1" and json.loads(stage_message.value)["id"] == "s1"
    metrics = collector.request("GET", "/metrics")[1].decode()
    assert "leadflow_collector_kafka_ready 1.0" in metrics
    assert 'leadflow_collector_events_total{outcome="rejected",type="unknown"} 1.0' in metrics


def test_hubspot_delivery_lands_as_a_lifecycle_event(
    collector: Collector, kafka: LocalKafka, worker_env: dict[str, str]
) -> None:
    body = json.dumps([LIFECYCLE]).encode()
    stamp = str(int(time.time() * 1000))
    signature = signature_v3(HUBSPOT_SECRET, "POST", f"{collector.url}/v1/hubspot", body, stamp)
    headers = {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": stamp}
    status, answer = collector.request("POST", "/v1/hubspot", body, {"Content-Type": "application/json", **headers})
    assert (status, answer["accepted"]) == (200, 1), answer
    [message] = messages(kafka, worker_env["LEADFLOW_TOPIC_PREFIX"] + "leadflow.stages", 1)
    event = json.loads(message.value)
    assert message.key == b"hubspot-contact-1246965" and event["source"] == "/crm/hubspot"
    assert event["data"]["stage"] == "lead"


def test_kafka_down_means_503(tmp_path: Path) -> None:
    env = base_env(LEADFLOW_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}")
    down = Collector(env, tmp_path).start(ready=False)
    try:
        assert down.request("GET", "/healthz") == (200, {"status": "ok"})
        assert down.request("GET", "/readyz") == (503, {"status": "unavailable", "kafka": "unavailable"})
        assert down.post("/v1/events", visit("v1")) == (
            503,
            {"error": "kafka_unavailable", "message": "Kafka is unavailable; nothing was accepted, retry later"},
        )
        status, body = down.post("/v1/events", {**visit("v1"), "type": "web.click"})
        assert (status, body["rejected"]) == (422, 1)  # a client's mistake is still told as such
        assert "leadflow_collector_kafka_ready 0.0" in down.request("GET", "/metrics")[1].decode()
    finally:
        down.stop()
    assert down.process is not None and down.process.returncode == 0


UNAVAILABLE = {"error": "kafka_unavailable", "message": "Kafka is unavailable; nothing was accepted, retry later"}


def test_kafka_lost_then_back(tmp_path: Path) -> None:
    """A broker that dies under a ready collector: 503 until it is back, then events are accepted again."""
    own = LocalKafka(free_port(), tmp_path / "kafka")
    own.start()
    env = base_env(
        LEADFLOW_KAFKA_BOOTSTRAP=own.bootstrap, LEADFLOW_PARTITIONS="2", LEADFLOW_COLLECTOR_PRODUCE_TIMEOUT="1.5"
    )
    collector = Collector(env, tmp_path)
    try:
        collector.start()
        assert collector.post("/v1/events", visit("before"))[0] == 200
        own.kill()
        answers: list[Any] = []

        def refused_plainly() -> bool:
            answers.append(collector.post("/v1/events", visit(f"during-{len(answers)}")))
            return bool(answers[-1][1] == UNAVAILABLE)

        wait_until(refused_plainly, 30, "the collector to refuse with kafka_unavailable", every=0.2)
        assert all(status == 503 for status, _ in answers), answers  # never a 2xx while the broker is gone
        assert collector.status("/readyz") == 503
        own.start()
        wait_until(lambda: collector.status("/readyz") == 200, 60, "the collector to see Kafka again")
        after = collector.post("/v1/events", visit("after"))
        assert after[0] == 200, (after, collector.log.read_text()[-3000:])
        # a write the collector answered as failed may still land later: clients retry, (source, id) dedupes
        ids = [json.loads(m.value)["id"] for m in messages(own, "leadflow.visits", 2, "after")]
        assert ids[0] == "before" and "after" in ids
    finally:
        collector.stop()
        own.stop()
