"""`leadflow demo`: Kafka from Maven on loopback, a worker on embedded chDB, the simulator, and the live board."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

REPO = Path(__file__).resolve().parents[1]
KAFKA_SCRIPT = REPO / "deploy" / "local" / "kafka.sh"
CONSOLE = Console(stderr=True)


def _leadflow() -> str:
    return str(Path(sys.executable).with_name("leadflow"))


def _wait_for_worker(port: int, worker: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode}; see data/demo/worker.log")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise RuntimeError("the worker did not answer within 2 minutes; see data/demo/worker.log")


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def _hang_up(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_demo(rate: float, kafka_port: int) -> int:
    """Start everything, show the board, and stop everything it started on Ctrl-C (or a closed terminal)."""
    signal.signal(signal.SIGHUP, _hang_up)
    signal.signal(signal.SIGTERM, _hang_up)
    folder = REPO / "data" / "demo"
    if (folder / "kafka" / "kafka.pid").exists():
        subprocess.run(["bash", str(KAFKA_SCRIPT), "stop", "--port", str(kafka_port), "--dir", str(folder / "kafka")])
    shutil.rmtree(folder, ignore_errors=True)  # every demo starts from an empty broker and store
    folder.mkdir(parents=True)
    env = {
        **os.environ,
        "LEADFLOW_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka_port}",
        "LEADFLOW_STORE": f"chdb:{folder / 'chdb'}",
        "LEADFLOW_STATE_DIR": str(folder / "faust"),
        "LEADFLOW_AGREEMENTS": os.environ.get("LEADFLOW_AGREEMENTS", str(REPO / "agreements")),
    }
    kafka_args = ["--port", str(kafka_port), "--dir", str(folder / "kafka")]
    worker = simulator = None
    CONSOLE.print(f"[bold]leadflow demo[/] · starting Kafka on 127.0.0.1:{kafka_port} …")
    subprocess.run(["bash", str(KAFKA_SCRIPT), "start", *kafka_args], check=True)
    try:
        CONSOLE.print("starting the worker (embedded chDB at data/demo/chdb) …")
        with (folder / "worker.log").open("ab") as log:
            worker = subprocess.Popen([_leadflow(), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
        _wait_for_worker(int(env.get("LEADFLOW_WEB_PORT", "6066")), worker)
        start = (datetime.now(UTC) - timedelta(days=14)).replace(microsecond=0).isoformat()
        CONSOLE.print(f"simulating two weeks of traffic from {start} at {rate:.0f} events/s …")
        with (folder / "simulate.log").open("ab") as log:
            simulator = subprocess.Popen(
                [_leadflow(), "simulate", "--kafka", "--rate", str(rate), "--start", start, "--days", "14"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        subprocess.run([_leadflow(), "board", "--interval", "3"], env=env, check=False)
    except KeyboardInterrupt:
        pass
    finally:
        _stop(simulator)
        _stop(worker)
        subprocess.run(["bash", str(KAFKA_SCRIPT), "stop", *kafka_args], check=False, capture_output=True)
        with contextlib.suppress(OSError):  # the terminal may be gone already
            CONSOLE.print("stopped the simulator, the worker and Kafka")
    return 0
