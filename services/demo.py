"""`leadflow demo`: Kafka from Maven on loopback, a worker on embedded chDB, the simulator, and the live board.

The simulator backfills two weeks up to now, then goes on live (`leadflow simulate --live`): new visitors,
leads and MQLs at a human pace, each event sent when its time comes. The demo's agreements
(services/demo_agreements.py) promise an MQL follow-up within `--follow-up-minutes`, around the clock, so
the board shows live clocks run, warn and breach within minutes at any hour.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from rich.console import Console

from pipelines.store.owner import read_owner
from services.demo_agreements import today_in_force, write_demo_agreements

REPO = Path(__file__).resolve().parents[1]
KAFKA_SCRIPT = REPO / "deploy" / "local" / "kafka.sh"
CONSOLE = Console(stderr=True)
BACKFILL_DAYS = 14


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


def simulator_command(rate: float, now: datetime, follow_up_minutes: int) -> list[str]:
    """Return the simulator's command: two weeks up to `now` at `rate` events/s, then live."""
    start = (now - timedelta(days=BACKFILL_DAYS)).replace(microsecond=0).isoformat()
    window = ["--start", start, "--days", str(BACKFILL_DAYS)]
    live = ["--live", "--follow-up-minutes", str(follow_up_minutes)]
    return [_leadflow(), "simulate", "--kafka", "--rate", str(rate), *window, *live]


def demo_env(folder: Path, kafka_port: int, agreements: Path) -> dict[str, str]:
    """Return the environment of the demo's processes: its broker, store, state and agreements."""
    return {
        **os.environ,
        "LEADFLOW_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka_port}",
        "LEADFLOW_STORE": f"chdb:{folder / 'chdb'}",
        "LEADFLOW_STATE_DIR": str(folder / "faust"),
        "LEADFLOW_AGREEMENTS": str(agreements),
    }


def hints(env: dict[str, str], follow_up_minutes: int, today: date, token: str) -> list[str]:
    """Return the lines that say what to watch and where to find breached leads (the store pages ask `token`)."""
    web = f"http://127.0.0.1:{env.get('LEADFLOW_WEB_PORT', '6066')}"
    curl = f"curl -s -H 'Authorization: Bearer {token}'"
    store = f"LEADFLOW_STORE={env['LEADFLOW_STORE']} LEADFLOW_AGREEMENTS={env['LEADFLOW_AGREEMENTS']}"
    window = f"--from {today} --to {today + timedelta(days=1)}"
    return [
        f"live traffic: new visitors, leads and MQLs every few seconds; agreement demo-live promises an MQL "
        f"follow-up within {follow_up_minutes} min around the clock (warning at half), so live clocks run, warn "
        f"and breach within minutes",
        f"metrics:        {web}/metrics  (leadflow_sla_open_clocks, leadflow_sla_warnings_total, "
        "leadflow_sla_breaches_total)",
        f"breached leads: {store} {_leadflow()} report {window}  (worst breaches; --format json: worst_breaches)",
        f'           or:  {curl} {web}/leadflow/query -d \'{{"sql": "{BREACHED_SQL}"}}\'',
        ONE_LEAD_HINT.format(store=store, leadflow=_leadflow()),
    ]


ONE_LEAD_HINT = (
    "one lead:       {store} {leadflow} lead LEAD_ID  (why it breached: its events, stages, owners and clocks on "
    "one timeline; --format json)"
)
BREACHED_SQL = (
    "SELECT lead_id, owner_id, deadline FROM sla_clocks WHERE deadline < now64(3) AND "
    "(stopped_at IS NULL OR stopped_at > deadline) ORDER BY deadline DESC LIMIT 10"
)


def run_demo(rate: float, kafka_port: int, follow_up_minutes: int = 2) -> int:
    """Start everything, show the board, and stop everything it started on Ctrl-C (or a closed terminal)."""
    signal.signal(signal.SIGHUP, _hang_up)
    signal.signal(signal.SIGTERM, _hang_up)
    folder = REPO / "data" / "demo"
    if (folder / "kafka" / "kafka.pid").exists():
        subprocess.run(["bash", str(KAFKA_SCRIPT), "stop", "--port", str(kafka_port), "--dir", str(folder / "kafka")])
    shutil.rmtree(folder, ignore_errors=True)  # every demo starts from an empty broker and store
    folder.mkdir(parents=True)
    now = datetime.now(UTC)
    env = demo_env(folder, kafka_port, write_demo_agreements(folder / "agreements", now, follow_up_minutes))
    kafka_args = ["--port", str(kafka_port), "--dir", str(folder / "kafka")]
    worker = simulator = None
    CONSOLE.print(f"[bold]leadflow demo[/] · starting Kafka on 127.0.0.1:{kafka_port} …")
    subprocess.run(["bash", str(KAFKA_SCRIPT), "start", *kafka_args], check=True)
    try:
        CONSOLE.print("starting the worker (embedded chDB at data/demo/chdb, agreements in data/demo/agreements) …")
        with (folder / "worker.log").open("ab") as log:
            worker = subprocess.Popen([_leadflow(), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
        _wait_for_worker(int(env.get("LEADFLOW_WEB_PORT", "6066")), worker)
        now = datetime.now(UTC)
        CONSOLE.print(f"simulating two weeks up to now at {rate:.0f} events/s, then live (data/demo/simulate.log) …")
        with (folder / "simulate.log").open("ab") as log:
            command = simulator_command(rate, now, follow_up_minutes)
            simulator = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        owner = read_owner(Path(env["LEADFLOW_STORE"].removeprefix("chdb:")).resolve())
        token = owner.token if owner is not None and owner.token else "TOKEN"
        for line in hints(env, follow_up_minutes, today_in_force(now), token):
            CONSOLE.print(line, highlight=False, soft_wrap=True)
        subprocess.run([_leadflow(), "board", "--interval", "3"], env=env, check=False)
    except KeyboardInterrupt:
        pass
    finally:
        _stop(simulator)
        _stop(worker)
        subprocess.run(["bash", str(KAFKA_SCRIPT), "stop", *kafka_args], check=False, capture_output=True)
        with contextlib.suppress(OSError):  # the terminal may be gone already
            CONSOLE.print("stopped the simulator, the worker and Kafka; the store stays in data/demo/chdb")
    return 0
