"""docker-compose.yml: valid against the Compose Specification, images pinned, every mounted file in the repo.

check-jsonschema needs click >= 8.5 and faust-streaming pins click < 8.4, so it lives in its own virtual
environment, `.cache/tools-venv`, which this module creates on first use (pip, from PyPI).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
PUSH_TARGET = REPO / "deploy" / "grafana" / "push-target.yml"
TOOLS = REPO / ".cache" / "tools-venv"
CHECK_JSONSCHEMA = "check-jsonschema==0.39.0"
PINNED = re.compile(r"^[\w./-]+:(v?\d+(\.\d+)+[\w.-]*)(@sha256:[0-9a-f]{64})?$")


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def check_jsonschema() -> Path:
    """The check-jsonschema executable of the tools environment, installed if missing."""
    exe = TOOLS / "bin" / "check-jsonschema"
    version = subprocess.run([exe, "--version"], capture_output=True, text=True) if exe.exists() else None
    if version is None or version.returncode != 0 or "0.39.0" not in version.stdout:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(TOOLS)], check=True)
        install = [str(TOOLS / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", CHECK_JSONSCHEMA]
        done = subprocess.run(install, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"cannot install {CHECK_JSONSCHEMA}: {done.stderr[-2000:]}"
    return exe


def test_compose_file_follows_the_compose_specification(check_jsonschema: Path) -> None:
    for path in (COMPOSE, PUSH_TARGET):
        done = subprocess.run(
            [check_jsonschema, "--builtin-schema", "vendor.compose-spec", str(path)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr


def _docker_engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    version = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    engine = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, timeout=30)
    return version.returncode == 0 and engine.returncode == 0


def test_docker_compose_config_where_docker_runs() -> None:
    if not _docker_engine_answers():
        # The one place a missing tool is tolerated: no Docker engine here; the schema test above always runs.
        return
    done = subprocess.run(["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    both = ["docker", "compose", "-f", str(COMPOSE), "-f", str(PUSH_TARGET), "config", "--format", "json"]
    merged = subprocess.run(both, capture_output=True, text=True)
    assert merged.returncode == 0, merged.stderr
    targets = [v["target"] for v in json.loads(merged.stdout)["services"]["grafana"]["volumes"]]
    assert "/etc/grafana/provisioning/dashboards" in targets and targets.count("/var/lib/grafana") == 1


def test_the_push_target_drops_the_board_files_and_keeps_the_data_sources() -> None:
    # compose merges a service's volumes by their target: the override's mounts replace or cover the base's
    override = yaml.safe_load(PUSH_TARGET.read_text(encoding="utf-8"))
    mounts = {v.split(":")[1]: v.split(":")[0] for v in override["services"]["grafana"]["volumes"]}
    hidden = REPO / mounts["/etc/grafana/provisioning/dashboards"]
    assert hidden.is_dir() and not [p for p in hidden.iterdir() if p.suffix in (".yaml", ".yml")]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in _compose()["services"]["grafana"]["volumes"]
    assert (REPO / "deploy/grafana/provisioning/datasources/leadflow.yml").is_file()
    assert mounts["/var/lib/grafana"] in override["volumes"] and mounts["/var/lib/grafana"] != "grafana-data"


def test_every_image_is_pinned() -> None:
    for name, service in _compose()["services"].items():
        image = service.get("image", "")
        if "build" in service:
            assert image == "leadflow:local", f"{name}: built services are tagged leadflow:local"
            continue
        assert PINNED.match(image), f"{name}: image {image!r} is not pinned to a version"
        assert ":latest" not in image


def _bind_sources(compose: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith((".", "/")):
                found.append((name, source))
    return found


def test_every_mounted_file_is_in_the_repo() -> None:
    compose = _compose()
    mounts = _bind_sources(compose)
    assert len(mounts) >= 8
    for name, source in mounts:
        assert (REPO / source).exists(), f"{name} mounts {source}, which is not in the repository"
    for name, service in compose["services"].items():
        if "build" in service:
            assert (REPO / service["build"] / "Dockerfile").is_file(), name
    named = {
        v.split(":")[0]
        for s in compose["services"].values()
        for v in s.get("volumes", [])
        if "/" not in v.split(":")[0]
    }
    assert named <= set(compose["volumes"]), named - set(compose["volumes"])


def test_services_of_the_stack_with_health_checks() -> None:
    services = _compose()["services"]
    expected = {"kafka", "clickhouse", "worker-1", "worker-2", "simulator", "lag-exporter", "prometheus",
                "alertmanager", "grafana", "webhook-receiver"}  # fmt: skip
    assert expected <= set(services)
    for name, service in services.items():
        if name != "simulator":
            assert service["healthcheck"]["test"], name
    assert "KAFKA_PROCESS_ROLES" in services["kafka"]["environment"]  # KRaft, no ZooKeeper
    assert "grafana-clickhouse-datasource" in services["grafana"]["environment"]["GF_INSTALL_PLUGINS"]


def test_prometheus_scrapes_every_worker_of_the_compose_file() -> None:
    services = _compose()["services"]
    config = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {j["job_name"]: [t for s in j["static_configs"] for t in s["targets"]] for j in config["scrape_configs"]}
    workers = sorted(n for n, s in services.items() if s.get("command") == ["worker"])
    assert jobs["leadflow-worker"] == [f"{w}:6066" for w in workers]
    assert jobs["leadflow-lag"] == ["lag-exporter:9308"]


def test_grafana_mounts_the_generated_boards_where_the_provider_reads() -> None:
    grafana = _compose()["services"]["grafana"]
    provider = yaml.safe_load((REPO / "deploy/grafana/provisioning/dashboards/leadflow.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert f"./dashboards/json:{path}:ro" in grafana["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    env = grafana["environment"]
    datasources = (REPO / "deploy/grafana/provisioning/datasources/leadflow.yml").read_text()
    for variable in re.findall(r"\$\{(\w+)\}", datasources):
        assert variable in env, f"the data source provisioning reads {variable}, which compose does not set"


def test_dockerfile_installs_leadflow() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11\.\d+-slim-bookworm$", dockerfile, re.M)
    assert 'ENTRYPOINT ["leadflow"]' in dockerfile
    # leadflow-native is built from native/ in a Rust stage of its own; the image installs its wheel with leadflow
    assert re.search(r"^FROM rust:1\.\d+-slim-bookworm AS native$", dockerfile, re.M)
    assert "maturin build --release --locked --manifest-path /native/Cargo.toml" in dockerfile
    assert "COPY --from=native /wheels /wheels" in dockerfile and "pip install /wheels/*.whl ." in dockerfile
    ignored = (REPO / ".dockerignore").read_text().split()
    assert "native/target" in ignored
    assert ".venv" in ignored and ".git" in ignored
