"""The reads behind `leadflow lead`: everything the store holds about one lead, the lead id always a parameter.

Each is one SELECT over leadflow's tables with ClickHouse's pure functions, so the store pages' read policy
(pipelines/store/guard.py) answers it on an embedded store held by another process as well as on a server.
"""

from __future__ import annotations

from pipelines.store.client import Store
from services.lead_clocks import SLA_EVENT_COLUMNS
from services.lead_story import DEAD_LETTER_COLUMNS, EVENT_COLUMNS, FIRST_TOUCH_COLUMNS, SNAPSHOT_COLUMNS, StoryRows

LEAD = "{lead:String}"

# the latest revision holds everything an earlier one held (README: idempotency of derived rows)
SNAPSHOT_SQL = f"""
SELECT {", ".join(SNAPSHOT_COLUMNS)}
FROM lead_snapshots
WHERE lead_id = {LEAD}
ORDER BY revision DESC
LIMIT 1
"""

# the lead's own events, and the visits of the visitors its form fills tie to it (a visit's lead_id is empty)
EVENTS_SQL = f"""
SELECT {", ".join(EVENT_COLUMNS)}
FROM events FINAL
WHERE lead_id = {LEAD}
   OR (type = 'web.visit' AND visitor_id IN (
       SELECT visitor_id FROM events WHERE lead_id = {LEAD} AND type = 'web.form_submitted'))
ORDER BY time, source, id
"""

FIRST_TOUCH_SQL = f"SELECT {', '.join(FIRST_TOUCH_COLUMNS)} FROM lead_first_touch WHERE lead_id = {LEAD}"

SLA_EVENTS_SQL = f"""
SELECT {", ".join(SLA_EVENT_COLUMNS)}
FROM sla_events FINAL
WHERE lead_id = {LEAD}
ORDER BY due_at, handoff, episode, kind
"""

# A dead letter mentions the lead when its raw JSON names it where leadflow's records carry a lead: an event's
# subject or data.lead_id, an SLA check's or visitor link's lead_id, or the first value of a row the store refused
# (every such table begins with lead_id). A judgement that failed during a replay keeps the bare lead id.
DEAD_LETTERS_SQL = f"""
SELECT {", ".join(DEAD_LETTER_COLUMNS)}
FROM dead_letters FINAL
WHERE {LEAD} IN (JSONExtractString(raw, 'subject'), JSONExtractString(raw, 'data', 'lead_id'),
                 JSONExtractString(raw, 'lead_id'))
   OR (JSONType(raw) = 'Array' AND JSONExtractString(raw, 1) = {LEAD})
   OR raw = {LEAD}
ORDER BY received_at, topic, partition, offset
"""


def read_story_rows(store: Store, lead_id: str) -> StoryRows:
    """Read every row of the story of one lead."""
    parameters = {"lead": lead_id}
    snapshot = store.query(SNAPSHOT_SQL, parameters)
    first_touch = store.query(FIRST_TOUCH_SQL, parameters)
    return StoryRows(
        lead_id=lead_id,
        snapshot=snapshot[0] if snapshot else None,
        events=store.query(EVENTS_SQL, parameters),
        first_touch=first_touch[0] if first_touch else None,
        sla_events=store.query(SLA_EVENTS_SQL, parameters),
        dead_letters=store.query(DEAD_LETTERS_SQL, parameters),
    )
