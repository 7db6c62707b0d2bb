"""Prometheus, Alertmanager, Grafana and ClickHouse configuration of the stack, checked by their own tools.

promtool and amtool come from Debian's `prometheus` and `prometheus-alertmanager` packages; without them
these tests fail (install them: apt-get install -y prometheus prometheus-alertmanager).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml

from dashboards.targets import COMPLIANCE_TARGET

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO / "deploy" / "prometheus"
ALERTMANAGER = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
OPERATIONS = REPO / "docs" / "operations.md"


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: apt-get install -y prometheus prometheus-alertmanager"
    return path


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, cwd=REPO)


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((PROMETHEUS / "rules" / "leadflow.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_check_config() -> None:
    done = _run(_tool("promtool"), "check", "config", PROMETHEUS / "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 rule files found" in done.stdout


def test_promtool_check_rules() -> None:
    done = _run(_tool("promtool"), "check", "rules", *sorted((PROMETHEUS / "rules").glob("*.yml")))
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_of_every_alert() -> None:
    tests = sorted((PROMETHEUS / "tests").glob("*_test.yml"))
    done = _run(_tool("promtool"), "test", "rules", *tests)
    assert done.returncode == 0, done.stdout + done.stderr
    text = "".join(t.read_text() for t in tests)
    for rule in _rules():
        if "alert" in rule:
            # each alert is expected to fire somewhere and to stay silent somewhere (exp_alerts: [])
            firing = re.findall(rf"alertname: {rule['alert']}\n\s+exp_alerts:\n", text)
            silent = re.findall(rf"alertname: {rule['alert']}\n\s+exp_alerts: \[\]", text)
            assert firing and silent, f"{rule['alert']} needs a firing and a not-firing unit test"


def test_every_alert_has_a_summary_a_description_and_a_runbook() -> None:
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in OPERATIONS.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    }
    alerts = [r for r in _rules() if "alert" in r]
    assert len(alerts) >= 8
    for rule in alerts:
        notes = rule["annotations"]
        assert notes["summary"] and notes["description"], rule["alert"]
        page, _, anchor = notes["runbook_url"].partition("#")
        assert page == "docs/operations.md" and anchor in anchors, f"{rule['alert']}: no runbook section {anchor}"
        assert rule["labels"]["severity"] in ("page", "warning") and rule["labels"]["team"] in ("sales", "ops")


def test_compliance_alert_uses_the_boards_target() -> None:
    rule = next(r for r in _rules() if r.get("alert") == "LeadflowSlaComplianceLow")
    assert f"< {COMPLIANCE_TARGET}" in rule["expr"]


def test_worker_down_is_up_equals_zero() -> None:
    rule = next(r for r in _rules() if r.get("alert") == "LeadflowWorkerDown")
    assert rule["expr"].strip() == 'up{job="leadflow-worker"} == 0'


def test_amtool_check_config() -> None:
    done = _run(_tool("amtool"), "check-config", ALERTMANAGER)
    assert done.returncode == 0, done.stdout + done.stderr


def test_sla_breaches_route_to_the_sales_webhook_grouped_by_handoff() -> None:
    amtool = _tool("amtool")
    labels = ["alertname=LeadflowSlaBreach", "team=sales", "handoff=mql_follow_up", "severity=page"]
    done = _run(amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER}", "--verify.receivers=leadflow-sla",
                *labels)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    done = _run(amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER}", "--verify.receivers=leadflow-ops",
                "alertname=LeadflowWorkerDown", "team=ops", "instance=worker-1:6066")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    config = yaml.safe_load(ALERTMANAGER.read_text())
    managers = next(r for r in config["route"]["routes"] if r["receiver"] == "leadflow-sla-managers")
    assert managers["group_by"] == ["alertname", "owner_team"]
    sla_route = next(r for r in config["route"]["routes"] if r["receiver"] == "leadflow-sla")
    assert sla_route["group_by"] == ["alertname", "handoff", "owner_team"]
    assert sla_route["repeat_interval"] in ("12h", "24h") and sla_route["group_interval"] == "5m"
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["leadflow-sla"]["webhook_configs"][0]["url"].startswith("http://webhook-receiver:")


def test_sla_escalations_route_to_the_managers_grouped_by_team_and_breaches_to_the_owners() -> None:
    amtool = _tool("amtool")
    common = ["config", "routes", "test", f"--config.file={ALERTMANAGER}"]
    escalation = ["alertname=LeadflowSlaEscalated", "team=sales", "severity=page", "handoff=mql_follow_up"]
    for team in ("emea", "amer", "none"):
        done = _run(amtool, *common, "--verify.receivers=leadflow-sla-managers", *escalation, f"owner_team={team}")
        assert done.returncode == 0, done.stdout + done.stderr
    breach = ["alertname=LeadflowSlaBreach", "team=sales", "severity=page", "handoff=mql_follow_up", "owner_team=emea"]
    done = _run(amtool, *common, "--verify.receivers=leadflow-sla-managers", *breach)
    assert done.returncode != 0, "a breach went to the managers"
    done = _run(amtool, *common, "--verify.receivers=leadflow-sla", *breach)
    assert done.returncode == 0, done.stdout + done.stderr


def test_clickhouse_users_give_grafana_read_only_access() -> None:
    root = ET.parse(REPO / "deploy" / "clickhouse" / "users.d" / "leadflow.xml").getroot()
    grafana = root.find("users/grafana")
    assert grafana is not None and grafana.findtext("profile") == "grafana_readonly"
    assert grafana.find("password").get("from_env") == "CLICKHOUSE_GRAFANA_PASSWORD"  # type: ignore[union-attr]
    profile = root.find("profiles/grafana_readonly")
    assert profile is not None and profile.findtext("readonly") == "1"
    assert profile.find("constraints/max_execution_time/changeable_in_readonly") is not None
    assert [d.text for d in grafana.findall("allow_databases/database")] == ["leadflow"]
