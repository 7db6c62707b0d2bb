"""Each owner's running handoff clocks over all leads, from the store: what a reassignment step compares.

A lead is judged alone, on the worker of its partition; the owners' loads span every lead, so the worker asks the
store (`sla_clocks`: a running clock counts for the lead's owner now) when it publishes a reassignment step.
The store holds what the workers committed, up to a commit interval ago. When it does not answer within
STORE_WAIT, the step suggests by the lead's own clocks, and says so in the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from pipelines.sla_agent import Loads
from pipelines.store.client import Store

log = logging.getLogger(__name__)
STORE_WAIT = 2.0  # seconds a reassignment step waits for the store's counts
RUNNING = """
    SELECT owner_id, count()
    FROM sla_clocks
    WHERE owner_id IN {owners:Array(String)}
      AND started_at <= {at:DateTime64(3, 'UTC')}
      AND (stopped_at IS NULL OR stopped_at > {at:DateTime64(3, 'UTC')})
    GROUP BY owner_id
"""


def store_loads(store: Store, executor: ThreadPoolExecutor) -> Loads:
    """Return the source of the owners' running clocks at an instant: the store, read on the store's thread."""

    async def loads(owners: list[str], at: datetime) -> Mapping[str, int] | None:
        loop = asyncio.get_running_loop()
        read = loop.run_in_executor(executor, store.query, RUNNING, {"owners": owners, "at": at})
        try:
            rows = await asyncio.wait_for(read, STORE_WAIT)
        except Exception as exc:  # an outage, a slow store: this one step falls back, the pipeline goes on
            log.warning("owners' running clocks not read (%s): the suggestion counts the lead's own clocks", exc)
            return None
        return {str(owner): int(running) for owner, running in rows}

    return loads
