"""End to end: a worker on real Kafka breaks an SLA, Prometheus fires, Alertmanager notifies a webhook.

Prometheus, Alertmanager (Debian's packages), the webhook logger of deploy/alertmanager and the lag exporter
run on free loopback ports with their own data directories. Their configuration is the committed one with
test overrides only: 1 s scrape and evaluation intervals, 1 s group waits, loopback targets and URLs. Every
PromQL expression of the boards and the rules is then evaluated against this Prometheus.
"""

from __future__ import annotations

import copy
import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards.build import JSON_DIR, promql_expressions
from dashboards.macros import expand_promql
from tests.integration.agreements import around_the_clock
from tests.integration.kafka_fixture import LocalKafka, free_port
from tests.integration.processes import REPO, Worker, produce_lines, wait_until
from tests.unit.factories import activity_event, form_event, stage_event

pytestmark = pytest.mark.integration

PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
RULES = REPO / "deploy" / "prometheus" / "rules"
ALERTMANAGER_CONFIG = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
WEBHOOK_LOGGER = REPO / "deploy" / "alertmanager" / "webhook_logger.py"
BUDGET = 180.0  # seconds for the whole test body


class Service:
    """A subprocess this test started, stopped by its PID."""

    def __init__(self, name: str, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log = log
        with log.open("ab") as handle:
            self.process = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=REPO)

    def alive(self) -> None:
        """Fail at once, with its log, if the process has exited."""
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.process.returncode}: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def _get(url: str, timeout: float = 3) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body[:1] in (b"{", b"[") else body.decode()


def _answers(service: Service, url: str) -> bool:
    service.alive()
    try:
        _get(url)
    except OSError:
        return False
    return True


def _prometheus_config(folder: Path, ports: dict[str, int]) -> Path:
    """The committed Prometheus config with 1 s intervals and loopback targets."""
    config = copy.deepcopy(yaml.safe_load(PROMETHEUS_CONFIG.read_text()))
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(RULES / "*.yml")]
    config["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": [f"127.0.0.1:{ports['alertmanager']}"]}]
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [f"127.0.0.1:{ports[job['job_name']]}"]}]
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _alertmanager_config(folder: Path, webhook_port: int) -> Path:
    """The committed Alertmanager config with 1 s group waits and the loopback webhook."""
    config = copy.deepcopy(yaml.safe_load(ALERTMANAGER_CONFIG.read_text()))
    for route in [config["route"], *config["route"]["routes"]]:
        route.update(group_wait="1s", group_interval="1s")
    for receiver in config["receivers"]:
        for hook in receiver["webhook_configs"]:
            path = urllib.parse.urlsplit(hook["url"]).path
            hook["url"] = f"http://127.0.0.1:{webhook_port}{path}"
    path = folder / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def monitoring(tmp_path: Path, worker_env: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Webhook logger, Alertmanager, lag exporter and Prometheus on loopback (the worker comes later)."""
    prometheus, alertmanager = shutil.which("prometheus"), shutil.which("prometheus-alertmanager")
    assert prometheus and alertmanager, "apt-get install -y prometheus prometheus-alertmanager"
    ports = {
        name: free_port() for name in ("prometheus", "alertmanager", "webhook", "leadflow-lag", "leadflow-conversion")
    }
    ports["leadflow-worker"] = int(worker_env["LEADFLOW_WEB_PORT"])
    notifications = tmp_path / "notifications.jsonl"
    services: list[Service] = []
    try:
        webhook = Service("webhook", [sys.executable, str(WEBHOOK_LOGGER), "--port", str(ports["webhook"]),
                                      "--out", str(notifications)], tmp_path / "webhook.log")  # fmt: skip
        services.append(webhook)
        am_args = [alertmanager, f"--config.file={_alertmanager_config(tmp_path, ports['webhook'])}",
                   f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
                   "--cluster.listen-address="]  # fmt: skip
        services.append(Service("alertmanager", am_args, tmp_path / "alertmanager.log"))
        lag_args = [sys.executable, "-m", "pipelines.lag", "--port", str(ports["leadflow-lag"])]
        services.append(Service("lag exporter", lag_args, tmp_path / "lag.log", env=worker_env))
        conversion_args = [sys.executable, "-m", "services.conversion_exporter", "--port",
                           str(ports["leadflow-conversion"]), "--cache-seconds", "1"]  # fmt: skip
        services.append(Service("conversion exporter", conversion_args, tmp_path / "conversion.log", env=worker_env))
        prom_args = [prometheus, f"--config.file={_prometheus_config(tmp_path, ports)}",
                     f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                     f"--web.listen-address=127.0.0.1:{ports['prometheus']}"]  # fmt: skip
        services.append(Service("prometheus", prom_args, tmp_path / "prometheus.log"))
        urls = {
            "webhook": f"http://127.0.0.1:{ports['webhook']}/",
            "alertmanager": f"http://127.0.0.1:{ports['alertmanager']}/-/ready",
            "lag exporter": f"http://127.0.0.1:{ports['leadflow-lag']}/metrics",
            "conversion exporter": f"http://127.0.0.1:{ports['leadflow-conversion']}/metrics",
            "prometheus": f"http://127.0.0.1:{ports['prometheus']}/-/ready",
        }
        for service in services:
            wait_until(lambda s=service: _answers(s, urls[s.name]), 30, f"{service.name} ({service.log})")
        yield {"ports": ports, "notifications": notifications, "services": services}
    finally:
        for service in reversed(services):
            service.stop()


def _notifications(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _breach_notified(path: Path) -> bool:
    return any(
        n["path"] == "/sla"
        and n["notification"]["status"] == "firing"
        # without an owners file the owners are in no team: owner_team "none"
        and n["notification"]["groupLabels"]
        == {"alertname": "LeadflowSlaBreach", "handoff": "mql_follow_up", "owner_team": "none"}
        for n in _notifications(path)
    )


def _query(port: int, expr: str) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        answer: dict[str, Any] = _get(url, timeout=10)
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"Prometheus refused {expr!r}: {exc.read().decode()[:500]}") from None
    assert answer["status"] == "success", (expr, answer)
    return answer


def _rule_expressions() -> list[tuple[str, str]]:
    found = []
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            found += [(rule.get("alert") or rule["record"], rule["expr"]) for rule in group["rules"]]
    return found


def test_an_sla_breach_reaches_the_webhook_and_every_promql_expression_evaluates(
    kafka: LocalKafka, worker_env: dict[str, str], monitoring: dict[str, Any], tmp_path: Path
) -> None:
    began = time.monotonic()
    env = {
        **worker_env,
        "LEADFLOW_AGREEMENTS": str(around_the_clock(tmp_path / "agreements", datetime.now(UTC), "alerting-test")),
    }
    worker = Worker(env, tmp_path).start()
    prometheus = monitoring["ports"]["prometheus"]
    try:
        t0 = datetime.now(UTC).replace(microsecond=0)
        produce_lines(env, tmp_path, [
            form_event("lead-late", "v-late", t0, id="f-late"),
            stage_event("lead-late", "mql", t0 + timedelta(seconds=0.5), id="m-late"),
            form_event("lead-early", "v-early", t0, id="f-early"),
            stage_event("lead-early", "mql", t0 + timedelta(seconds=0.5), id="m-early"),
            activity_event("lead-early", t0 + timedelta(seconds=2), automated=False, id="a-early"),
            b"this is not an event",  # one dead letter, so the dead-letter series exist
        ])  # fmt: skip
        wait_until(lambda: _breach_notified(monitoring["notifications"]), 120, "the SLA breach at the webhook")
        alerts = _query(prometheus, 'ALERTS{alertname="LeadflowSlaBreach", alertstate="firing"}')["data"]["result"]
        assert [a["metric"]["handoff"] for a in alerts] == ["mql_follow_up"]
        sla = next(n["notification"] for n in _notifications(monitoring["notifications"]) if n["path"] == "/sla")
        alert = sla["alerts"][0]
        assert alert["labels"]["agreement"] == "alerting-test" and alert["labels"]["severity"] == "page"
        assert "mql_follow_up" in alert["annotations"]["summary"]
        assert alert["annotations"]["runbook_url"] == "docs/operations.md#leadflowslabreach"

        boards = [json.loads(p.read_text()) for p in sorted(JSON_DIR.glob("*.json"))]
        expressions = [(f"{uid} / {title}", expand_promql(e, "2s", "10s", "5m"))
                       for uid, title, e in promql_expressions(boards)]  # fmt: skip
        expressions += _rule_expressions()
        assert len(expressions) >= 30
        results = [(name, _query(prometheus, expr)["data"]["result"]) for name, expr in expressions]
        with_data = {name for name, result in results if result}  # a panel of several targets: any of them
        for must in ("leadflow-health / Workers up", "leadflow-health / Events/s by type",
                     "leadflow-health / Consumer lag by topic", "leadflow-health / Dead letters, last hour",
                     "leadflow-sla / SLA events published", "LeadflowSlaBreach"):  # fmt: skip
            assert must in with_data, f"{must} returned no data"
        up = _query(prometheus, 'up{job=~"leadflow-.*"} == 1')["data"]["result"]
        assert {u["metric"]["job"] for u in up} == {"leadflow-worker", "leadflow-lag", "leadflow-conversion"}
        # the conversion exporter reads the store through the worker that holds it
        wait_until(lambda: _query(prometheus, "leadflow_conversion_up == 1")["data"]["result"], 30, "conversion up")
    finally:
        worker.stop()
    elapsed = time.monotonic() - began
    print(f"SLA breach to webhook and {len(expressions)} PromQL expressions in {elapsed:.0f} s")
    assert elapsed < BUDGET


def test_lag_counts_from_the_committed_offset_or_the_earliest_one() -> None:
    from kafka import TopicPartition

    from pipelines.lag import partition_lag, topic_partitions

    a, b, c = TopicPartition("t", 0), TopicPartition("t", 1), TopicPartition("u", 0)
    assert partition_lag({a: 100, b: 50, c: 7}, {a: 90, b: 60}, {a: 0, b: 0, c: 2}) == {a: 10, b: 0, c: 5}
    described = [
        {"name": "t", "error_code": 0, "partitions": [{"partition_index": 0}, {"partition_index": 1}]},
        {"name": "missing", "error_code": 3, "partitions": []},
    ]
    assert topic_partitions(described) == [a, b]
