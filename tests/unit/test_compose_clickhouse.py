"""The compose stack's ClickHouse users and networks: the workers' profile of deploy/clickhouse/users.d/leadflow.xml,
loaded into ClickHouse's own engine (chDB with that users configuration), refuses every setting that would lift its
bounds; and no store page nor worker port is reachable from the Grafana or simulator containers.

Grafana's profile uses `changeable_in_readonly`, which needs `settings_constraints_replace_previous` (on in the
server image's config.xml); clickhouse-local reads the users before it applies that switch, so chDB cannot load
that profile, and its test reads the file."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.store.reader import QueryLimits

REPO = Path(__file__).resolve().parents[2]
USERS = REPO / "deploy" / "clickhouse" / "users.d" / "leadflow.xml"
COMPOSE = REPO / "docker-compose.yml"
WORKERS = ("worker-1", "worker-2")

# Run in a process of its own (chDB hosts one engine per process, configured when it starts); prints one JSON
# object: each statement's outcome, "ok" or ClickHouse's error name.
PROBE = """
import json, re, sys
import clickhouse_connect
config, store, statements = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
client = clickhouse_connect.get_client(interface="chdb", path=store, chdb_options={"config-file": config})
outcomes = {}
for sql in statements:
    try:
        outcomes[sql] = ["ok", client.query(sql).result_rows]
    except Exception as exc:
        found = re.search(r"\\(([A-Z_]+)\\)", str(exc))
        outcomes[sql] = [found.group(1) if found else str(exc)[:200], None]
print(json.dumps(outcomes, default=str))
"""


def run_as(profile: str, statements: list[str], folder: Path) -> dict[str, list[Any]]:
    """Run statements in chDB as a user whose profile is `profile` of the stack's users file."""
    profiles = ET.Element("profiles")
    profiles.append(ET.parse(USERS).getroot().find(f"profiles/{profile}"))  # type: ignore[arg-type]
    ET.SubElement(profiles, "default")  # the engine's own default profile, which every configuration has
    user = f"<default><no_password/><profile>{profile}</profile><quota>default</quota></default>"
    users = f"<clickhouse>{ET.tostring(profiles, encoding='unicode')}<users>{user}</users><quotas><default/></quotas>"
    (folder / "users.xml").write_text(users + "</clickhouse>")
    config = folder / "config.xml"
    config.write_text(f"<clickhouse><users_config>{folder / 'users.xml'}</users_config></clickhouse>")
    args = [sys.executable, "-c", PROBE, str(config), str(folder / "store"), json.dumps(statements)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def settings_clause(settings: dict[str, Any]) -> str:
    return ", ".join(f"{name} = {json.dumps(value) if isinstance(value, int | float) else repr(value)}"
                     for name, value in settings.items())  # fmt: skip


def test_the_workers_profile_bounds_time_and_memory_and_no_session_lifts_the_bounds(tmp_path: Path) -> None:
    lifts = [
        "SELECT 1 SETTINGS max_execution_time = 0",
        "SELECT 1 SETTINGS max_execution_time = 601",
        "SELECT 1 SETTINGS max_memory_usage = 0",
        "SELECT 1 SETTINGS max_memory_usage = 10000000000",
        "SELECT 1 SETTINGS max_result_rows = 0",
        "SELECT 1 SETTINGS result_overflow_mode = 'break'",
        "SELECT 1 SETTINGS allow_introspection_functions = 1",
    ]
    reader = f"SELECT 1 SETTINGS {settings_clause(QueryLimits().settings('leadflow-read-x'))}"
    defaults = "SELECT getSetting('max_execution_time'), getSetting('max_memory_usage'), getSetting('readonly')"
    writes = ["CREATE TABLE IF NOT EXISTS t (a UInt8) ENGINE = MergeTree ORDER BY a", "INSERT INTO t VALUES (1)"]
    outcomes = run_as("leadflow_worker", [*lifts, reader, defaults, *writes], tmp_path)
    assert {sql: outcomes[sql][0] for sql in lifts} == dict.fromkeys(lifts, "SETTING_CONSTRAINT_VIOLATION")
    assert outcomes[reader][0] == "ok", "the constraints must allow what leadflow's read sessions set"
    assert outcomes[defaults] == ["ok", [[300.0, 4294967296, 0]]]
    assert [outcomes[sql][0] for sql in writes] == ["ok", "ok"], "the workers write and apply the DDL"


def test_grafanas_profile_is_read_only_and_its_time_limit_changeable_only_within_bounds() -> None:
    profile = ET.parse(USERS).getroot().find("profiles/grafana_readonly")
    assert profile is not None and profile.findtext("readonly") == "1"
    limit = profile.find("constraints/max_execution_time")
    assert limit is not None and limit.find("changeable_in_readonly") is not None
    assert (limit.findtext("min"), limit.findtext("max")) == ("1", "60"), "0 would mean no limit at all"


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text(encoding="utf-8")))


def _reaches(services: dict[str, Any]) -> set[frozenset[str]]:
    """Return the pairs of services that share a network (each can open a connection to the other)."""
    return {frozenset(pair) for pair in combinations(services, 2)
            if set(services[pair[0]]["networks"]) & set(services[pair[1]]["networks"])}  # fmt: skip


def test_every_service_joins_only_declared_networks_and_none_the_default_one() -> None:
    compose = _compose()
    declared = set(compose["networks"])
    for name, service in compose["services"].items():
        assert service.get("networks"), f"{name} would join the default network, shared by every service"
        assert set(service["networks"]) <= declared and "default" not in service["networks"], name


@pytest.mark.parametrize("outsider", ["grafana", "simulator", "webhook-receiver", "alertmanager"])
def test_the_workers_web_port_is_out_of_reach_of_what_does_not_need_it(outsider: str) -> None:
    reaches = _reaches(_compose()["services"])
    for worker in WORKERS:
        assert frozenset((outsider, worker)) not in reaches, f"{outsider} can reach {worker}:6066"


def test_each_service_reaches_what_it_talks_to() -> None:
    reaches = _reaches(_compose()["services"])
    needed = [("grafana", "clickhouse"), ("grafana", "prometheus"), ("simulator", "kafka"),
              ("prometheus", "lag-exporter"), ("prometheus", "alertmanager"), ("lag-exporter", "kafka"),
              ("alertmanager", "webhook-receiver")]  # fmt: skip
    needed += [(w, other) for w in WORKERS for other in ("kafka", "clickhouse", "prometheus")]
    assert [pair for pair in needed if frozenset(pair) not in reaches] == []


def test_the_workers_publish_no_port_and_serve_no_store_page() -> None:
    services = _compose()["services"]
    for worker in WORKERS:
        assert "ports" not in services[worker]
        # on a ClickHouse server every process reaches the store itself: a worker serves store pages only
        # while it holds an embedded store (pipelines/web.py)
        assert services[worker]["environment"]["LEADFLOW_STORE"].startswith("http://")
