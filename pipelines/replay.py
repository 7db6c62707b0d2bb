"""`leadflow replay`: a file of events through the same core steps as the worker's handlers, straight into the store."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from pipelines.core.codec import from_ms, to_ms
from pipelines.core.deadlines import DeadlineIndex
from pipelines.core.identity import VisitorState
from pipelines.core.lead import HistoryFull, LeadState
from pipelines.core.model import NEW_TUPLE, Event, EventTimes, Invalid, Origin
from pipelines.core.sla import Clock, Judge
from pipelines.core.steps import Link, SlaEffects, lead_step, link_step, sla_step, visit_step
from pipelines.core.validate import parse_event
from pipelines.heap import paused_collector
from pipelines.owner_absences import OWNER_AWAY, count_absence
from pipelines.poison import CORE_ERROR, LEAD_HISTORY_LIMIT, Poison, core_error, counted, from_rejected_row
from pipelines.sink import RowBatch
from pipelines.store.client import Store
from pipelines.store.protocol import STORE_RUN_COLUMNS
from schemas.events import MAX_EVENT_BYTES

# events per write, as the worker's batches: a write goes on beside the events that follow it (chDB, as a server's
# client, lets go of the interpreter while it inserts), and at most one waits
EVENT_FLUSH_ROWS = 20_000
# seconds a thread holds the interpreter while another waits for it, during a replay (Python's default: 0.005). The
# writer takes it back after every store call; at 5 ms a time its writes took twice as long beside the reading
SWITCH_INTERVAL_S = 0.0001


class Judgement(NamedTuple):
    """What the replay last judged of a lead: the markers published, the very clocks judged, when it is due next."""

    published: frozenset[str]
    clocks: tuple[Clock, ...] | None
    next_due: datetime | None


NOT_JUDGED = Judgement(frozenset(), None, None)  # a lead never judged: its clocks are never these


@dataclass
class ReplayStats:
    """What a replay did."""

    lines: int = 0
    valid: int = 0
    duplicates: int = 0
    invalid: int = 0
    leads: int = 0
    sla_events: int = 0
    latest_event_at: datetime | None = None
    by_type: dict[str, int] = field(default_factory=dict)


class Replayer:
    """Feeds raw lines through the core; lead and visitor states live in memory until `finish`."""

    def __init__(
        self, store: Store, received_at: datetime, origin_topic: str, judge: Judge, times: EventTimes | None = None
    ) -> None:
        self._judge = judge
        self._accepted = times.at(received_at) if times is not None else None
        self._sla_on = any(a.handoffs for a in judge.agreements)
        self._judgements: dict[str, Judgement] = {}  # each lead's last
        self._index = DeadlineIndex()
        self._now: datetime | None = None
        self._due_at: datetime | None = None  # at or before the earliest instant a lead is due (None: none is)
        self._visits_seen: set[tuple[str, str]] = set()
        self._absences_seen: set[tuple[str, str]] = set()
        self._store = store
        self._received_at = received_at
        self._topic = origin_topic
        self._leads: dict[str, LeadState] = {}
        self._visitors: dict[str, VisitorState] = {}
        self._batch = RowBatch(judge)
        self._types: list[str] = []  # each valid event's type, counted by `finish`
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-writer")
        self._writing: Future[int] | None = None
        self.stats = ReplayStats()

    def feed(self, raw: bytes, line_number: int) -> None:
        """Process one line (without its newline)."""
        stats = self.stats
        stats.lines += 1
        origin = NEW_TUPLE(Origin, (self._topic, 0, line_number))
        event = parse_event(raw, accepted=self._accepted) if len(raw) <= MAX_EVENT_BYTES else oversized(raw)
        if isinstance(event, Invalid):
            self._dead_letter(event, origin)
            return
        if event.type == "web.visit":
            duplicate = self._visit(event, origin)
        elif event.type == OWNER_AWAY:
            duplicate = self._absence(event, origin)
        else:
            duplicate = self._lead(event, origin)
        if duplicate is not None:  # counted by its type (`finish` sums them), unless the core dead-lettered it
            stats.duplicates += duplicate
            self._types.append(event.type)
            if stats.latest_event_at is None or event.time > stats.latest_event_at:
                stats.latest_event_at = event.time
        if self._now is None or event.time > self._now:  # replay time moves on to a later event's
            self._now = event.time
            if self._due_at is not None and event.time >= self._due_at:  # most events: nothing is due yet
                self._judge_due_by(event.time)
        if len(self._batch.events) >= EVENT_FLUSH_ROWS:
            self._flush_rows()

    def _dead_letter(self, invalid: Invalid, origin: Origin) -> None:
        self._batch.add_dead_letter(invalid, origin, self._received_at)
        self.stats.invalid += 1

    # Each handler returns whether its event was seen before, or None when the core dead-lettered it.

    def _visit(self, event: Event, origin: Origin) -> bool | None:
        try:
            effects = visit_step(self._visitors.get(event.subject), event)
        except Exception as exc:
            self._dead_letter(counted(Poison(event.payload, origin, CORE_ERROR, core_error(exc))), origin)
            return None
        self._visitors[event.subject] = effects.state
        key = self._batch.add_event(event, origin)
        if effects.first_touches:
            self._batch.add_first_touches(effects.first_touches)
        seen = self._visits_seen
        before = len(seen)
        seen.add(key)
        return len(seen) == before

    def _absence(self, event: Event, origin: Origin) -> bool | None:
        """Count an owner's absence from here on; every lead's final snapshot is judged with it (`finish`)."""
        counted_now = count_absence(self._judge, event)
        key = self._batch.add_event(event, origin)
        duplicate = not counted_now and key in self._absences_seen
        self._absences_seen.add(key)
        return duplicate

    def _lead(self, event: Event, origin: Origin) -> bool | None:
        now = max(event.time, self._now or event.time)
        try:
            effects = lead_step(self._leads.get(event.subject), event)
            judged = self._judged(effects.state, now) if effects.changed else None
        except HistoryFull as exc:
            self._dead_letter(counted(Poison(event.payload, origin, LEAD_HISTORY_LIMIT, str(exc))), origin)
            return None
        except Exception as exc:
            self._dead_letter(counted(Poison(event.payload, origin, CORE_ERROR, core_error(exc))), origin)
            return None
        self._leads[event.subject] = effects.state
        if judged is not None:
            self._publish(event.subject, judged, now)
        self._batch.add_event(event, origin)
        for link in effects.links:
            self._link(link)
        return not effects.new

    def _link(self, link: Link) -> None:
        effects = link_step(self._visitors.get(link.visitor_id), link)
        self._visitors[link.visitor_id] = effects.state
        self._batch.add_first_touches(effects.first_touches)

    def _judged(self, state: LeadState, now: datetime) -> SlaEffects | None:
        """Judge a lead's clocks at replay time `now` (time advances with the events), publishing nothing.

        None also when the lead's clocks are the very ones judged last (a state carries them over an event that
        changes none) and nothing of them is due before `now`: judging again would publish nothing new.
        """
        if not self._sla_on:
            return None
        last = self._judgements.get(state.lead_id, NOT_JUDGED)
        if last.clocks is state.clocks(self._judge) and (last.next_due is None or now < last.next_due):
            return None
        return sla_step(state, last.published, self._judge, now)

    def _publish(self, lead_id: str, effects: SlaEffects, now: datetime) -> None:
        """Record what fell due, once, and when the lead is due next."""
        self._judgements[lead_id] = NEW_TUPLE(Judgement, (effects.published, effects.clocks, effects.next_due))
        self._batch.add_sla_events(effects.events, now)
        self.stats.sla_events += len(effects.events)
        due = None if effects.next_due is None else to_ms(effects.next_due)
        self._index.schedule(lead_id, 0, due)
        at = None if due is None else from_ms(due)
        if at is not None and (self._due_at is None or at < self._due_at):
            self._due_at = at

    def _judge_due(self, lead_id: str, now: datetime) -> None:
        try:
            judged = self._judged(self._leads[lead_id], now)
        except Exception as exc:
            origin = Origin(f"{self._topic}:sla", 0, to_ms(now))
            self._dead_letter(counted(Poison(lead_id.encode(), origin, CORE_ERROR, core_error(exc))), origin)
            return
        if judged is not None:
            self._publish(lead_id, judged, now)

    def _judge_due_by(self, time: datetime) -> None:
        """Judge the leads due by replay time `time` (whole milliseconds), once it reached the earliest due."""
        for lead_id, _partition in self._index.pop_due(to_ms(time)):
            self._judge_due(lead_id, time)
        earliest = self._index.next_due()
        self._due_at = None if earliest is None else from_ms(earliest)

    def _flush_rows(self) -> None:
        leads = self._batch.leads
        self._batch.leads = {}
        self._write_beside(self._batch)
        self._batch = RowBatch(self._judge)
        self._batch.leads = leads

    def _write_beside(self, batch: RowBatch) -> None:
        """Write a batch on the writer thread, once the one before it is written."""
        self._written()
        self._writing = self._writer.submit(self._write, batch)

    def _written(self) -> None:
        """Wait for the batch being written, counting its rejected rows (its StoreError is raised here)."""
        if self._writing is not None:
            writing, self._writing = self._writing, None
            self.stats.invalid += writing.result()

    def _write(self, batch: RowBatch) -> int:
        """Write a batch; rows the store rejects become dead letters (a rejected dead letter is only counted).

        Returns the number of rows rejected.
        """
        _written, rejected = batch.write_sorting_out(self._store)
        aside = RowBatch(self._judge)
        for row in rejected:
            poison = from_rejected_row(row)
            if row.table != "dead_letters":
                aside.add_dead_letter(counted(poison), poison.origin, self._received_at)
        aside.write_sorting_out(self._store)
        return len(rejected)

    def finish(self) -> ReplayStats:
        """Write what is left, every lead's final snapshot, and the replay's as-of time."""
        self._written()
        self._writer.shutdown()
        for state in self._leads.values():
            self._batch.add_lead(state)
        self.stats.invalid += self._write(self._batch)
        self._batch = RowBatch(self._judge)
        self.stats.leads = len(self._leads)
        self.stats.by_type = dict(Counter(self._types))
        self.stats.valid = len(self._types)
        self._store.insert("store_runs", [(self._received_at, "replay", self.stats.latest_event_at)], STORE_RUN_COLUMNS)
        return self.stats


def oversized(raw: bytes) -> Invalid:
    """Refuse a line over the collector's body limit; only its start is kept (the file has the rest)."""
    reason = f"line of {len(raw)} bytes exceeds the collector's body limit of {MAX_EVENT_BYTES} bytes"
    return Invalid(raw[:1024], reason)


def read_lines(path: Path) -> Iterable[tuple[int, bytes]]:
    """Yield (line number, bytes) of a JSON-lines file, skipping blank lines."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            stripped = line.rstrip(b"\r\n")
            if stripped.strip():
                yield number, stripped


def replay_file(
    path: Path,
    store: Store,
    judge: Judge,
    on_line: Callable[[int], None] | None = None,
    now: datetime | None = None,
    times: EventTimes | None = None,
) -> ReplayStats:
    """Replay a JSON-lines file into the store; `on_line` is called with the bytes done so far.

    With `times`, events whose time is impossible when read (`now`) are dead-lettered, as at every other door.
    """
    replayer = Replayer(store, now or datetime.now(UTC), f"replay:{path.name}", judge, times)
    done = 0
    with paused_collector(), quick_handover():
        for number, raw in read_lines(path):
            replayer.feed(raw, number)
            done += len(raw) + 1
            if on_line is not None and number % 1000 == 0:
                on_line(done)
        return replayer.finish()


@contextmanager
def quick_handover() -> Iterator[None]:
    """Let the writer thread have the interpreter back within SWITCH_INTERVAL_S, not 5 ms, while in the block.

    Measured on the benchmark's 78,308 lines: the writes took 1.1-1.5 s beside the reading at the default and
    0.7 s at 0.1 ms, and the reader never waited for a write; the reading itself was not slower.
    """
    before = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        yield
    finally:
        sys.setswitchinterval(before)
