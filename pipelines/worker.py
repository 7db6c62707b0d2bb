"""`leadflow worker`: topics first, then the store, then the Faust worker until it is told to stop."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import faust

from pipelines import metrics
from pipelines.agreements import fingerprint, load_agreements
from pipelines.core.sla import Judge
from pipelines.faust_app import create_app
from pipelines.kafka_admin import ensure_topics
from pipelines.settings import ConfigError, Settings
from pipelines.store.client import open_store, owner_file


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


def run_worker(settings: Settings) -> int:
    """Run one worker of the consumer group; returns its exit code."""
    _check_web_port(settings)
    ensure_topics(settings)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("faust", "aiokafka", "mode", "kafka"):
        # their per-message debug calls cost real time when a root handler lets DEBUG through
        logging.getLogger(chatty).setLevel(settings.log_level)
    store = open_store(settings, prefer_worker=False)
    store.insert("store_runs", [(datetime.now(UTC), "live", None)], ("started_at", "kind", "latest_event_at"))
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadflow-store")
    agreements = load_agreements(settings.agreements)
    judge = Judge(agreements)
    names = ",".join(a.name for a in agreements) or "none"
    agreements_hash = fingerprint(settings.agreements)
    metrics.AGREEMENTS.labels(agreements_hash, names).set(1)
    print(f"leadflow worker: judging with agreements {names} (fingerprint {agreements_hash})", file=sys.stderr)
    app, _sink = create_app(settings, store, executor, judge)
    owner = owner_file(settings.chdb_path) if settings.chdb_path else None
    if owner is not None:
        url = f"http://{settings.web_host}:{settings.web_port}"
        owner.write_text(json.dumps({"pid": os.getpid(), "url": url}), encoding="utf-8")
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        if owner is not None:
            owner.unlink(missing_ok=True)
        executor.shutdown(wait=True)
        store.close()
    return 0
