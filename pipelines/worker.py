"""`leadflow worker`: topics first, then the store, then the Faust worker until it is told to stop."""

from __future__ import annotations

import logging
import socket
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import faust

from pipelines import metrics
from pipelines.absences import preload
from pipelines.agents import FAILED_EXIT
from pipelines.agents import failure as agent_failure
from pipelines.agreements import fingerprint, load_judge
from pipelines.core.rows import OWNER_TEAM_COLUMNS, to_owner_team_rows
from pipelines.faust_app import create_app, install_event_loop
from pipelines.heap import settle_heap
from pipelines.kafka_admin import ensure_topics
from pipelines.log_limits import limit_kafka_client_logs
from pipelines.settings import ConfigError, Settings
from pipelines.store.client import ClickHouseStore, Store, open_store
from pipelines.store.exceptions import StoreUnavailable
from pipelines.store.owner import WORKER, holder_token, remove_owner, write_owner
from pipelines.store.protocol import STORE_RUN_COLUMNS, StorePages
from pipelines.web import HeldStore
from schemas.owners import Team

START_ATTEMPTS = 15  # a worker started while the store's owner (re)starts waits this many times ...
START_PAUSE = 2.0  # ... this many seconds apart before it gives up


def _check_web_port(settings: Settings) -> None:
    """Fail at start-up, with the variable's name, when the web port is taken."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.web_host, settings.web_port))
        except OSError as exc:
            raise ConfigError(
                f"LEADFLOW_WEB_PORT: cannot listen on {settings.web_host}:{settings.web_port} ({exc.strerror})"
            ) from None


def _record_start(store: Store, teams: Mapping[str, Team]) -> None:
    """Say in `store_runs` that a live worker writes to the store, and which teams its owners file sets.

    Waits a while for a store owner that restarts.
    """
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            now = datetime.now(UTC)
            store.insert("store_runs", [(now, "live", None)], STORE_RUN_COLUMNS)
            store.insert("owner_teams", to_owner_team_rows(teams, now), OWNER_TEAM_COLUMNS)
            return
        except StoreUnavailable as exc:
            if attempt == START_ATTEMPTS:
                raise
            print(f"leadflow worker: waiting for the store: {exc}", file=sys.stderr)
            time.sleep(START_PAUSE)


@dataclass(frozen=True)
class Holding:
    """What a worker that holds the embedded store serves, and the owner file that says so."""

    path: Path
    store: HeldStore
    owner_token: str | None  # the token written in the owner file (None: LEADFLOW_STORE_TOKEN)

    def announce(self, settings: Settings) -> None:
        """Name this worker, its address and token in the owner file."""
        write_owner(self.path, f"http://{settings.web_host}:{settings.web_port}", WORKER, self.owner_token)

    def release(self) -> None:
        """Remove the owner file and wait for the read threads."""
        remove_owner(self.path)
        self.store.close()


def _holding(settings: Settings, store: Store, writes: ThreadPoolExecutor) -> Holding | None:
    """Return what this worker serves if it holds the embedded store (rather than using another process's)."""
    path = settings.chdb_path
    if path is None or not isinstance(store, ClickHouseStore):
        return None
    token, owner_token = holder_token(settings.store_token)
    return Holding(path, HeldStore.serving(StorePages(store, token, store.insert_schema()), writes), owner_token)


def run_worker(settings: Settings) -> int:
    """Run one worker of the consumer group; returns its exit code."""
    _check_web_port(settings)
    ensure_topics(settings)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("faust", "aiokafka", "mode", "kafka"):
        # their per-message debug calls cost real time when a root handler lets DEBUG through
        logging.getLogger(chatty).setLevel(settings.log_level)
    if settings.log_level != "DEBUG":  # who asks for DEBUG wants every line
        limit_kafka_client_logs()  # a broker that is down makes its client log each retry, a thousand a second
    judge = load_judge(settings.agreements, settings.owners)
    store = open_store(settings)  # an embedded store held by a store service or another worker: through it
    _record_start(store, judge.teams)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadflow-store")
    names = ",".join(a.name for a in judge.agreements) or "none"
    agreements_hash = fingerprint(settings.agreements, settings.owners)
    metrics.AGREEMENTS.labels(agreements_hash, names).set(1)
    print(f"leadflow worker: judging with agreements {names} (fingerprint {agreements_hash})", file=sys.stderr)
    install_event_loop()
    holding = _holding(settings, store, executor)
    absences = preload(settings, judge)  # every owner's absence counted before the first lead is judged
    app, _sink = create_app(settings, store, executor, judge, holding.store if holding else None, absences)
    if holding is not None:
        holding.announce(settings)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    # Faust's terminal spinner would set the root logger to DEBUG, so that every debug call of every library
    # made a record for it to spin on: a worker is a service, its log is read by machines
    worker.spinner = None
    code = 0
    settle_heap()  # start-up is done: what it made is kept out of every collection from here on
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        if holding is not None:
            holding.release()
        executor.shutdown(wait=True)
        store.close()
    return FAILED_EXIT if agent_failure() is not None else code
