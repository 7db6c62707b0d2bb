"""Counting an owner's absence (a `crm.owner_away` event) into a judge: what the worker and `leadflow replay` share.

Apart from `pipelines.absences`, which reads the owners' topic with the Kafka clients: the replay, which never
talks to Kafka, counts absences without importing them.
"""

from __future__ import annotations

import logging

from pipelines import metrics
from pipelines.core.model import Event
from pipelines.core.sla import MAX_ABSENCES, Judge

log = logging.getLogger(__name__)
OWNER_AWAY = "crm.owner_away"


def count_absence(judge: Judge, event: Event) -> bool:
    """Count a valid `crm.owner_away` event in the judge; True when it changed the judge (refusals are logged)."""
    assert event.owner_id is not None and event.away_from is not None and event.away_to is not None
    outcome = judge.add_absence(event.owner_id, event.key, event.away_from, event.away_to)
    if outcome == "full":
        metrics.ABSENCES_NOT_COUNTED.inc()
        log.warning("owner %s has %d absences from events already: %s is not counted", event.owner_id,
                    MAX_ABSENCES, event.key)  # fmt: skip
    return outcome == "counted"
