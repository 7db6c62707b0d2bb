"""`leadflow worker`: topics first, then the store, then the Faust worker until it is told to stop."""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import faust

from pipelines.agreements import load_agreements
from pipelines.core.sla import Judge
from pipelines.faust_app import create_app
from pipelines.kafka_admin import ensure_topics
from pipelines.settings import Settings
from pipelines.store.client import open_store, owner_file


def run_worker(settings: Settings) -> int:
    """Run one worker of the consumer group; returns its exit code."""
    ensure_topics(settings)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    store = open_store(settings, prefer_worker=False)
    store.insert("store_runs", [(datetime.now(UTC), "live", None)], ("started_at", "kind", "latest_event_at"))
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadflow-store")
    judge = Judge(load_agreements(settings.agreements))
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
