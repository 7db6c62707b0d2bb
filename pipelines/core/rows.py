"""Pure converters from core values to ClickHouse rows, one `to_*_row` per table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import leadflow_native

from pipelines.core.identity import FirstTouch
from pipelines.core.lead import LeadSnapshot
from pipelines.core.model import Event, Invalid, Origin
from pipelines.core.sla import MET, Clock, SlaEvent
from schemas.owners import Team

Row = tuple[Any, ...]

EVENT_COLUMNS = (
    "source",
    "id",
    "type",
    "time",
    "subject",
    "lead_id",
    "visitor_id",
    "payload",
    "topic",
    "partition",
    "offset",
)
SNAPSHOT_COLUMNS = (
    "lead_id",
    "revision",
    "created_at",
    "stage",
    "episode",
    "episode_open",
    "owner_id",
    "visitor_ids",
    "last_event_at",
    "entries",
    "transitions",
    "clocks",
    "clock_steps",
)
FIRST_TOUCH_COLUMNS = (
    "lead_id",
    "visitor_id",
    "visit_source",
    "visit_id",
    "visit_time",
    "url",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
)
SLA_EVENT_COLUMNS = (
    "lead_id",
    "handoff",
    "episode",
    "kind",
    "event_id",
    "agreement",
    "owner_id",
    "started_at",
    "deadline",
    "stopped_at",
    "business_seconds",
    "due_at",
    "published_at",
)
DEAD_LETTER_COLUMNS = ("topic", "partition", "offset", "reason", "raw", "received_at")


# Row of `events`, in EVENT_COLUMNS' order: source, id, type, time, subject, lead_id or "", visitor_id or "", the
# payload as text, topic, partition, offset. Every valid event adds one, so it is built in leadflow_native (Rust).
to_event_row: Callable[[Event, Origin], Row] = leadflow_native.event_row


def to_snapshot_row(snap: LeadSnapshot) -> Row:
    """Row of `lead_snapshots`."""
    life = snap.lifecycle
    entries = [(e.episode, e.stage, e.entered_at) for e in life.entries]
    transitions = [(t.at, t.source, t.id, t.from_stage, t.to_stage, t.episode, t.kind) for t in life.transitions]
    return (
        snap.lead_id,
        snap.revision,
        life.created_at,
        life.stage,
        life.episode,
        int(life.episode_open),
        life.owner_id or "",
        list(snap.visitor_ids),
        snap.last_event_at,
        entries,
        transitions,
        [to_clock_tuple(c) for c in snap.clocks],
        [(c.handoff, c.episode, kind, at) for c in snap.clocks for kind, at in c.escalations],
    )


def to_clock_tuple(clock: Clock) -> tuple[Any, ...]:
    """One element of `lead_snapshots.clocks`."""
    return (
        clock.handoff,
        clock.agreement,
        clock.episode,
        clock.started_at,
        clock.deadline,
        clock.warn_at,
        clock.stopped_at,
        clock.business_seconds,
        clock.owner_id or "",
    )


def to_sla_event_row(event: SlaEvent, published_at: datetime) -> Row:
    """Row of `sla_events`."""
    clock = event.clock
    return (
        event.lead_id,
        clock.handoff,
        clock.episode,
        event.kind,
        event.id,
        clock.agreement,
        clock.owner_id or "",
        clock.started_at,
        clock.deadline,
        clock.stopped_at,
        clock.business_seconds if event.kind == MET else None,
        event.at,
        published_at,
    )


def to_first_touch_row(first: FirstTouch) -> Row:
    """Row of `first_touch_candidates`."""
    t = first.touch
    return (
        first.lead_id,
        first.visitor_id,
        t.source,
        t.id,
        t.time,
        t.url,
        t.referrer or "",
        t.utm_source or "",
        t.utm_medium or "",
        t.utm_campaign or "",
    )


def to_dead_letter_row(invalid: Invalid, origin: Origin, received_at: datetime) -> Row:
    """Row of `dead_letters`; undecodable bytes are kept with replacement characters."""
    return (
        origin.topic,
        origin.partition,
        origin.offset,
        invalid.reason,
        invalid.raw.decode("utf-8", errors="replace"),
        received_at,
    )


OWNER_TEAM_COLUMNS = ("loaded_at", "owner_id", "team", "manager")


def to_owner_team_rows(teams: Mapping[str, Team], loaded_at: datetime) -> list[Row]:
    """Return one load of the owners file's teams: a row per member, and the mark row (owner '') of the load.

    `teams` maps each member to its team, as `Judge.teams` does.
    """
    return [(loaded_at, "", "", ""), *((loaded_at, m, t.name, t.manager) for m, t in teams.items())]
