"""Running leadflow commands as the users do: subprocesses with their own environment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipelines.store.client import RemoteStore
from pipelines.store.owner import read_owner
from tests.integration.kafka_fixture import free_port

REPO = Path(__file__).resolve().parents[2]
LEADFLOW = str(Path(sys.executable).with_name("leadflow"))
SCENARIO_SKEW_SECONDS = 400 * 86400


def leadflow(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a leadflow command to completion."""
    return subprocess.run([LEADFLOW, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def leadflow_json(args: list[str], env: dict[str, str], cwd: Path) -> Any:
    """Run a leadflow command that prints JSON and return it parsed; fail with its stderr otherwise."""
    done = leadflow(args, env, cwd)
    assert done.returncode == 0, f"leadflow {' '.join(args)} failed: {done.stderr[-2000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def produce_lines(env: dict[str, str], cwd: Path, lines: list[bytes]) -> None:
    """Send events to their input topics with `leadflow produce`, through a file of their lines."""
    path = cwd / f"batch-{time.monotonic_ns()}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    leadflow_json(["produce", str(path)], env, cwd)


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    every: float = 0.5,
    explain: Callable[[], str] | None = None,
) -> None:
    """Poll `check` until it is true, or fail after `timeout` seconds saying what was awaited (and, given
    `explain`, what was last seen instead)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    seen = f"; {explain()}" if explain else ""
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{seen}")


class Managed:
    """A leadflow subprocess a test started: killed at once, or stopped gracefully with a deadline."""

    process: subprocess.Popen[bytes] | None = None

    def kill(self) -> None:
        """SIGKILL the process: a crash, nothing flushed."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """Stop the process gracefully (SIGTERM), killing it if it does not end in 30 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


class Worker(Managed):
    """A `leadflow worker` subprocess with its log file."""

    def __init__(self, env: dict[str, str], cwd: Path, name: str = "worker") -> None:
        self.env = env
        self.cwd = cwd
        self.log = cwd / f"{name}.log"
        self.port = int(env["LEADFLOW_WEB_PORT"])
        self.process: subprocess.Popen[bytes] | None = None
        self.command = [LEADFLOW, "worker"]

    def start(self) -> Worker:
        """Start the worker and wait until its web port answers."""
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            self.command, env=self.env, cwd=self.cwd, stdout=handle, stderr=subprocess.STDOUT
        )
        wait_until(self.answers, 90, f"the worker's web port {self.port} ({self.log})")
        return self

    def answers(self) -> bool:
        """Say whether /metrics answers (and fail at once if the process died)."""
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"worker exited with {self.process.returncode}: {self.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def metrics(self) -> str:
        """Return the worker's Prometheus exposition."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
            return response.read().decode()

    def store(self, timeout: float = 30) -> RemoteStore:
        """Return the store this worker holds, through its store pages (with the token of its owner file)."""
        store = held_store(self.env, timeout)
        assert store.url == f"http://127.0.0.1:{self.port}", f"the store is held at {store.url}, not by this worker"
        return store


def held_store(env: dict[str, str], timeout: float = 30) -> RemoteStore:
    """Return the embedded store of an environment through the process that holds it, as its owner file says."""
    path = Path(env["LEADFLOW_STORE"].removeprefix("chdb:")).resolve()
    owner = read_owner(path)
    assert owner is not None and owner.token is not None, f"no process names itself and its token for {path}"
    return RemoteStore(owner.url, owner.token, timeout, owner_of=path)


def base_env(**values: str) -> dict[str, str]:
    """The environment of a leadflow subprocess: this one's, without LEADFLOW_*, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADFLOW_")}
    # LEADFLOW_TEST_LOG_LEVEL=DEBUG makes the workers a test starts log what Faust and aiokafka do
    level = os.environ.get("LEADFLOW_TEST_LOG_LEVEL", "WARNING")
    env.update({"LEADFLOW_AGREEMENTS": str(REPO / "agreements"), "LEADFLOW_LOG_LEVEL": level})
    # the simulated scenarios run weeks past today's date: accept their times (the tests of the rule set their own)
    env["LEADFLOW_MAX_CLOCK_SKEW"] = str(SCENARIO_SKEW_SECONDS)
    env.update(values)
    return env


def group_env(bootstrap: str, folder: Path, name: str = "worker", partitions: int = 4, **values: str) -> dict[str, str]:
    """Environment of a worker group of its own: fresh topics (prefix), consumer group, store, state dir, web port."""
    tag = f"{name}{uuid.uuid4().hex[:8]}"
    return base_env(
        LEADFLOW_KAFKA_BOOTSTRAP=bootstrap,
        LEADFLOW_TOPIC_PREFIX=f"{tag}.",
        LEADFLOW_APP_ID=f"leadflow-{tag}",
        LEADFLOW_PARTITIONS=str(partitions),
        LEADFLOW_STORE=f"chdb:{folder / f'{name}-store'}",
        LEADFLOW_STATE_DIR=str(folder / f"{name}-faust"),
        LEADFLOW_WEB_PORT=str(free_port()),
        **values,
    )
