"""`leadflow lead`: one lead's whole story assembled from the store's rows (no I/O; docs/lead.md lists its keys).

The rows come from services/lead_queries.py, each tuple in the order of the column names below. The lifecycle
(entries, transitions, clocks) comes from one `lead_snapshots` row, the latest revision, so every part of it
belongs to the same history even while a worker writes newer ones.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipelines.core.model import DEAL_STAGE_TO_LIFECYCLE
from pipelines.core.sla import Judge
from services.lead_clocks import at, clock_section, other_sla_events
from services.report_sql import stored_time

Row = tuple[Any, ...]

EVENT_COLUMNS = ("time", "type", "source", "id", "subject", "visitor_id", "topic", "partition", "offset", "payload")
SNAPSHOT_COLUMNS = (
    "revision", "created_at", "stage", "episode", "episode_open", "owner_id", "last_event_at",
    "entries", "transitions", "clocks",
)  # fmt: skip
ENTRY_FIELDS = ("episode", "stage", "entered_at")
TRANSITION_FIELDS = ("at", "event_source", "event_id", "from_stage", "to_stage", "episode", "kind")
CLOCK_FIELDS = (
    "handoff", "agreement", "episode", "started_at", "deadline", "warn_at", "stopped_at", "business_seconds",
    "owner_id",
)  # fmt: skip
FIRST_TOUCH_COLUMNS = (
    "visitor_id", "first_visit_at", "landing_url", "referrer", "utm_source", "utm_medium", "utm_campaign",
)  # fmt: skip
DEAD_LETTER_COLUMNS = ("topic", "partition", "offset", "reason", "raw", "received_at")
VISIT, FORM = "web.visit", "web.form_submitted"


@dataclass(frozen=True)
class StoryRows:
    """What the store holds about one lead, as the queries return it."""

    lead_id: str
    snapshot: Row | None
    events: Sequence[Row]
    first_touch: Row | None
    sla_events: Sequence[Row]
    dead_letters: Sequence[Row]

    @property
    def found(self) -> bool:
        """Say whether the store knows the lead at all (a snapshot, an event or a dead letter names it)."""
        return self.snapshot is not None or bool(self.events) or bool(self.dead_letters)


def named(value: Any, names: Sequence[str]) -> dict[str, Any]:
    """Return a tuple element of an array column by field name (chDB answers named tuples as dicts)."""
    return {n: value[n] for n in names} if isinstance(value, Mapping) else dict(zip(names, value, strict=True))


def build_story(rows: StoryRows, judge: Judge, as_of: datetime) -> dict[str, Any]:
    """Return the lead's story as of an instant: every section of docs/lead.md."""
    read = [_event(dict(zip(EVENT_COLUMNS, row, strict=True))) for row in rows.events]
    late = _late(read)
    events = sorted(({**e, "late": (e["source"], e["id"]) in late} for e in read), key=_in_time)
    snapshot = None if rows.snapshot is None else dict(zip(SNAPSHOT_COLUMNS, rows.snapshot, strict=True))
    lead_owner = str(snapshot["owner_id"]) if snapshot else ""
    clocks = [
        clock_section(named(c, CLOCK_FIELDS), lead_owner, judge, events, rows.sla_events, as_of)
        for c in (snapshot["clocks"] if snapshot else [])
    ]
    return {
        "lead_id": rows.lead_id,
        "as_of": as_of.astimezone(UTC).isoformat(timespec="milliseconds"),
        "timezone": _zone(judge, snapshot, events),
        "lead": _lead(snapshot),
        "first_touch": None if rows.first_touch is None else _first_touch(rows.first_touch),
        "visitors": _visitors(events),
        "events": events,
        "episodes": _episodes(snapshot),
        "owners": _owners(events),
        "clocks": clocks,
        "other_sla_events": other_sla_events(rows.sla_events, clocks),
        "dead_letters": [_dead_letter(dict(zip(DEAD_LETTER_COLUMNS, r, strict=True))) for r in rows.dead_letters],
    }


def _event(row: dict[str, Any]) -> dict[str, Any]:
    data = json.loads(row["payload"]).get("data", {})
    return {
        "time": at(row["time"]),
        "type": str(row["type"]),
        "source": str(row["source"]),
        "id": str(row["id"]),
        "subject": str(row["subject"]),
        "visitor_id": str(row["visitor_id"]) or None,
        "stage": _stage(str(row["type"]), data),
        "owner_id": data.get("owner_id") or None,
        "store": {"topic": str(row["topic"]), "partition": int(row["partition"]), "offset": int(row["offset"])},
        "data": data,
    }


def _stage(kind: str, data: dict[str, Any]) -> str | None:
    """Return the lifecycle stage an event moves its lead to (contract §2), if any."""
    if kind == "crm.lifecycle_changed":
        return str(data.get("stage"))
    if kind == "crm.deal_changed":
        return DEAL_STAGE_TO_LIFECYCLE.get(str(data.get("stage")))
    return None


def _in_time(event: dict[str, Any]) -> tuple[str, str, str]:
    """Return an event's place in the lead's history: its time, ties by (source, id) as the core orders them."""
    return (event["time"], event["source"], event["id"])


def _late(events: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """Return the events that arrived after an event dated later on the same topic partition (offset order)."""
    late: set[tuple[str, str]] = set()
    latest: dict[tuple[str, int], str] = {}
    for event in sorted(events, key=lambda e: (e["store"]["topic"], e["store"]["partition"], e["store"]["offset"])):
        place = (event["store"]["topic"], event["store"]["partition"])
        seen = latest.get(place, event["time"])
        if event["time"] < seen:
            late.add((event["source"], event["id"]))
        latest[place] = max(seen, event["time"])
    return late


def _zone(judge: Judge, snapshot: dict[str, Any] | None, events: list[dict[str, Any]]) -> str:
    """Return the time zone of the agreement in force when the lead began (UTC without one)."""
    start = stored_time(snapshot["created_at"]) if snapshot else None
    if start is None and events:
        start = datetime.fromisoformat(events[0]["time"])
    agreement = judge.agreement_at(start) if start else None
    return agreement.timezone if agreement else "UTC"


def _lead(snapshot: dict[str, Any] | None) -> dict[str, Any] | None:
    if snapshot is None:
        return None
    return {
        "stage": str(snapshot["stage"]),
        "episode": int(snapshot["episode"]),
        "episode_open": bool(snapshot["episode_open"]),
        "owner_id": str(snapshot["owner_id"]) or None,
        "created_at": at(snapshot["created_at"]),
        "last_event_at": at(snapshot["last_event_at"]),
        "revision": int(snapshot["revision"]),
    }


def _first_touch(row: Row) -> dict[str, Any]:
    touch = dict(zip(FIRST_TOUCH_COLUMNS, row, strict=True))
    return {k: at(v) if k == "first_visit_at" else (str(v) or None) for k, v in touch.items()}


def _visitors(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each visitor tied to the lead by a form fill: when first tied, its first visit and how many visits."""
    visitors: dict[str, dict[str, Any]] = {}
    for event in events:  # in time order
        visitor = event["visitor_id"]
        if event["type"] == FORM and visitor:
            visitors.setdefault(visitor, {"visitor_id": visitor, "tied_at": event["time"]})
    for line in visitors.values():
        visits = [e["time"] for e in events if e["type"] == VISIT and e["visitor_id"] == line["visitor_id"]]
        line.update(first_visit_at=visits[0] if visits else None, visits=len(visits))
    return sorted(visitors.values(), key=lambda v: (v["tied_at"], v["visitor_id"]))


def _episodes(snapshot: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Entries and transitions of the latest snapshot, per episode."""
    episodes: dict[int, dict[str, Any]] = {}
    for value in snapshot["entries"] if snapshot else []:
        entry = named(value, ENTRY_FIELDS)
        line = episodes.setdefault(int(entry["episode"]), _episode(int(entry["episode"])))
        line["entries"].append({"stage": str(entry["stage"]), "entered_at": at(entry["entered_at"])})
    for value in snapshot["transitions"] if snapshot else []:
        move = named(value, TRANSITION_FIELDS)
        line = episodes.setdefault(int(move["episode"]), _episode(int(move["episode"])))
        line["transitions"].append(
            {
                "at": at(move["at"]),
                "from_stage": str(move["from_stage"]) or None,
                "to_stage": str(move["to_stage"]),
                "kind": str(move["kind"]),
                "event": {"source": str(move["event_source"]), "id": str(move["event_id"])},
            }
        )
    return [episodes[n] for n in sorted(episodes)]


def _episode(number: int) -> dict[str, Any]:
    return {"episode": number, "entries": [], "transitions": []}


def _owners(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the lead's owners over time: each event carrying another owner than the one before starts a span."""
    spans: list[dict[str, Any]] = []
    for event in events:  # in time order, ties by (source, id), as the core orders them
        owner = event["owner_id"]
        if owner and (not spans or spans[-1]["owner_id"] != owner):
            if spans:
                spans[-1]["until"] = event["time"]
            by = {"source": event["source"], "id": event["id"], "type": event["type"]}
            spans.append({"owner_id": owner, "from": event["time"], "until": None, "event": by})
    return spans


def _dead_letter(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "received_at": at(row["received_at"]),
        "reason": str(row["reason"]),
        "store": {"topic": str(row["topic"]), "partition": int(row["partition"]), "offset": int(row["offset"])},
        "raw": str(row["raw"]),
    }
