"""A `leadflow store serve` subprocess, and what the store tests share: a small simulation, counts, diagnostics."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from pipelines.lag import LagCollector
from pipelines.settings import Settings
from pipelines.store.client import RemoteStore
from pipelines.store.owner import read_owner
from services.simulate import SimulationConfig, SimulationSummary, write_jsonl
from tests.integration.kafka_fixture import free_port
from tests.integration.processes import LEADFLOW, Managed, Worker, wait_until


def small_simulation(folder: Path) -> tuple[Path, SimulationSummary]:
    """About 4,000 events over two weeks, with duplicates, late and malformed ones and SLA clocks."""
    path = folder / "events.jsonl"
    summary = write_jsonl(SimulationConfig(visitors=1000), path)
    assert 3000 <= summary.total <= 6000 and summary.duplicates and summary.late and summary.malformed
    return path, summary


def store_path(env: dict[str, str]) -> Path:
    """Return the embedded store's path of an environment."""
    return Path(env["LEADFLOW_STORE"].removeprefix("chdb:")).resolve()


class StoreService(Managed):
    """A `leadflow store serve` subprocess on a port of its own, with its log file (`kill`: the store goes away at
    once, the owner file stays behind)."""

    def __init__(self, env: dict[str, str], cwd: Path, name: str = "store") -> None:
        self.env = env
        self.cwd = cwd
        self.log = cwd / f"{name}.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Return the service's address."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StoreService:
        """Start the service and wait until the owner file names it."""
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [LEADFLOW, "store", "serve", "--port", str(self.port)],
            env=self.env,
            cwd=self.cwd,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        wait_until(self.ready, 90, f"the store service on port {self.port} ({self.log})")
        return self

    def ready(self) -> bool:
        """Say whether the owner file names this service (and fail at once if the process died)."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"store service exited with {self.process.returncode}: {tail(self.log)}")
        owner = read_owner(store_path(self.env))
        return owner is not None and owner.pid == self.process.pid and owner.url == self.url

    def store(self) -> RemoteStore:
        """Return the store through this service's pages, with the token of its owner file."""
        owner = read_owner(store_path(self.env))
        assert owner is not None and owner.token is not None and owner.url == self.url, f"{self.url} holds no store"
        return RemoteStore(self.url, owner.token, timeout=30)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run a read query on the store through the service."""
        return self.store().query(sql)

    def count(self, table: str) -> int:
        """Return the rows of a table, replaced rows counted once."""
        return int(self.query(f"SELECT count() FROM {table} FINAL")[0][0])


def metric_total(worker: Worker, name: str) -> float:
    """Return the sum of a metric's samples over all its labels on a worker's /metrics."""
    pattern = re.compile(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", re.MULTILINE)
    return sum(float(value) for value in pattern.findall(worker.metrics()))


def workers_holding_partitions(env: dict[str, str]) -> int:
    """Return how many members of the worker group hold partitions, as the group's coordinator describes it."""
    group = env["LEADFLOW_APP_ID"]
    admin = KafkaAdminClient(bootstrap_servers=env["LEADFLOW_KAFKA_BOOTSTRAP"].split(","))
    try:
        members = admin.describe_groups([group])[group]["members"]
    except KafkaError:
        return 0  # the coordinator is still loading the group: nobody holds partitions yet
    finally:
        admin.close()
    return sum(1 for member in members if _holds_input(member.get("member_assignment") or {}))


def _holds_input(assignment: dict[str, Any]) -> bool:
    """Say whether a member's assignment names partitions of an input topic (changelogs may be standbys)."""
    held = assignment.get("assigned_partitions") or []
    return any(p["partitions"] for p in held if not str(p["topic"]).endswith("-changelog"))


def tail(log: Path, lines: int = 40) -> str:
    """Return the last `lines` distinct lines of a log file, oldest first, each with how often it recurs.

    Lines that differ only in their digits (time stamps, offsets, "started 3.70 minutes ago") count as one, so a
    warning repeated every few seconds does not push what led up to it out of the tail.
    """
    if not log.exists():
        return f"({log} does not exist)"
    kept: dict[str, list[Any]] = {}
    for line in reversed(log.read_text(errors="replace").splitlines()):
        shape = re.sub(r"\d+", "#", line)
        if shape in kept:
            kept[shape][1] += 1
        elif len(kept) < lines:
            kept[shape] = [line, 1]
    return "\n".join(line if n == 1 else f"{line}  [{n} like it]" for line, n in reversed(kept.values()))


class Process(Protocol):
    """A leadflow subprocess of a test: Worker or StoreService."""

    log: Path

    def stop(self) -> None:
        """Stop it if it runs."""
        ...


P = TypeVar("P", Worker, StoreService)


class Running:
    """The processes a test started: stopped at its end (newest first); their logs explain a failure."""

    def __init__(self) -> None:
        self.processes: list[Process] = []
        self.diagnostics: list[Callable[[], str]] = []

    def start(self, process: P) -> P:
        """Start a process, which is stopped at the end even if it fails to start."""
        self.processes.append(process)
        return process.start()

    def stop_all(self) -> None:
        """Stop every process, newest first."""
        for process in reversed(self.processes):
            process.stop()

    @contextmanager
    def explained(self) -> Iterator[None]:
        """Add the tails of every process's log to a failed assertion's message."""
        try:
            yield
        except AssertionError as exc:
            logs = dict.fromkeys(p.log for p in self.processes)
            tails = [f"--- {log.name} (last lines) ---\n{tail(log)}" for log in logs]
            raise AssertionError("\n".join([str(exc), *map(_run, self.diagnostics), *tails])) from exc


def _run(diagnostic: Callable[[], str]) -> str:
    try:
        return diagnostic()
    except Exception as exc:  # a diagnostic must not hide the failure it explains
        return f"(diagnostic failed: {exc!r})"


def group_lag(env: dict[str, str]) -> str:
    """Describe the consumer group's uncommitted messages per partition (measured as the lag exporter does)."""
    settings = Settings(
        kafka_bootstrap=env["LEADFLOW_KAFKA_BOOTSTRAP"],
        topic_prefix=env.get("LEADFLOW_TOPIC_PREFIX", ""),
        app_id=env.get("LEADFLOW_APP_ID", "leadflow"),
    )
    collector = LagCollector(settings)
    try:
        lag = collector.measure()
    finally:
        collector._reset()
    behind = ", ".join(f"{tp.topic}[{tp.partition}]: {n}" for tp, n in sorted(lag.items()) if n > 0) or "none"
    return f"--- consumer group {settings.app_id}: uncommitted messages ---\n{behind}"
