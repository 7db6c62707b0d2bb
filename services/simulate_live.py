"""Live traffic: new visitors, leads and MQLs at a human pace, from a given instant on, without end.

Seeded and pure: the same seed and start always give the same events. Every event arrives at its own time,
never ahead of it, so a sender that sends each one when its time comes is never refused as out of range.
Each MQL's follow-up is timed against the promise the agreement in force makes (`LivePace.promise`): in time,
in time but after the warning, late, or never. The first three visitors become MQLs whose follow-ups are late,
after the warning and early, in that order, so that within the first minutes a clock runs, warns and breaches
whatever the seed.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from random import Random
from typing import Any

from services.simulate import SimulatedEvent, on_time
from services.simulate_crm import DOMAINS, FORMS, OWNERS, PAGES, SITE, Draft

OUTCOMES = ("breached", "warned", "met")  # of a follow-up; the opening MQLs have one of each, in this order
# When the opening visitors arrive, seconds after the start, and their steps to MQL: quick, for a demo.
OPENING_ARRIVALS = ((1.0, 3.0), (6.0, 10.0), (12.0, 18.0))
OPENING_STEPS = {"form": (5.0, 10.0), "lead": (1.0, 3.0), "mql": (5.0, 10.0)}
STEPS = {"form": (10.0, 60.0), "lead": (2.0, 8.0), "mql": (15.0, 60.0)}


@dataclass(frozen=True)
class LivePace:
    """How much live traffic, and how its MQLs are followed up against the promise."""

    seed: int = 42
    promise: timedelta = timedelta(minutes=2)  # the agreement's MQL follow-up `within`, around the clock
    warn_at: float = 0.5  # the agreement's `warn_at` of that follow-up
    visitor_gap: float = 15.0  # mean seconds between two new visitors
    lead_share: float = 0.4
    mql_share: float = 0.7
    in_time_share: float = 0.6  # of MQLs, followed up before the deadline
    after_warning_share: float = 0.4  # of those in time, after the warning
    never_share: float = 0.3  # of those late, never followed up at all


def live_events(start: datetime, pace: LivePace) -> Iterator[SimulatedEvent]:
    """Yield live events in time order from `start` on, forever."""
    rng = Random(pace.seed)
    pending: list[tuple[datetime, int, SimulatedEvent]] = []
    order = itertools.count()
    for number, arrival in enumerate(_arrivals(rng, start, pace.visitor_gap), start=1):
        # A visitor's events all come at or after its arrival, so every pending one before it is final.
        while pending and pending[0][0] <= arrival:
            yield heapq.heappop(pending)[2]
        opening = OUTCOMES[number - 1] if number <= len(OUTCOMES) else None
        for draft in LiveVisitor(rng, pace, number, opening).tell(arrival):
            event = on_time(rng, draft)
            heapq.heappush(pending, (event.arrival, next(order), event))


def _arrivals(rng: Random, start: datetime, gap: float) -> Iterator[datetime]:
    """Yield the arrival times of new visitors: the opening ones, then a Poisson stream `gap` s apart on average."""
    moment = start
    for shortest, longest in OPENING_ARRIVALS:
        moment = start + _seconds(rng, shortest, longest)
        yield moment
    while True:
        moment += timedelta(milliseconds=round(rng.expovariate(1 / gap) * 1000) + 1)
        yield moment


def _seconds(rng: Random, shortest: float, longest: float) -> timedelta:
    return timedelta(milliseconds=round(rng.uniform(shortest, longest) * 1000))


class LiveVisitor:
    """The events of one live visitor: a visit, perhaps a lead, an MQL and its follow-up."""

    def __init__(self, rng: Random, pace: LivePace, number: int, outcome: str | None) -> None:
        self.rng, self.pace, self.outcome = rng, pace, outcome
        self.visitor_id = f"v-live-{number:06d}"
        self.lead_id = f"lead-live-{number:06d}"
        self.owner = rng.choice(OWNERS)
        self.steps = OPENING_STEPS if outcome else STEPS
        self.drafts: list[Draft] = []

    def tell(self, arrival: datetime) -> list[Draft]:
        """Return the drafts of this visitor's story, which starts at `arrival`."""
        self._emit(arrival, "web.visit", {"visitor_id": self.visitor_id, "url": SITE + self.rng.choice(PAGES)})
        if self.outcome is None and self.rng.random() >= self.pace.lead_share:
            if self.rng.random() < 0.3:
                again = arrival + _seconds(self.rng, 30, 300)
                self._emit(again, "web.visit", {"visitor_id": self.visitor_id, "url": SITE + "/pricing"})
            return self.drafts
        lead = self._become_lead(arrival)
        if self.outcome is None and self.rng.random() >= self.pace.mql_share:
            return self.drafts
        self._qualify(lead + self._step("mql"))
        return self.drafts

    def _step(self, name: str) -> timedelta:
        return _seconds(self.rng, *self.steps[name])

    def _become_lead(self, arrival: datetime) -> datetime:
        submitted = arrival + self._step("form")
        form = {"visitor_id": self.visitor_id, "lead_id": self.lead_id, "form_id": self.rng.choice(FORMS)}
        self._emit(submitted, "web.form_submitted", {**form, "email": f"{self.lead_id}@{self.rng.choice(DOMAINS)}"})
        created = submitted + self._step("lead")
        self._emit(created, "crm.lifecycle_changed", {"lead_id": self.lead_id, "stage": "lead"})
        self._emit(created + _seconds(self.rng, 2, 8), "crm.activity_logged", self._activity("email", True))
        return created

    def _qualify(self, mql: datetime) -> None:
        """Make the lead an MQL, assign its owner, and follow up as its outcome says."""
        self._emit(mql, "crm.lifecycle_changed", {"lead_id": self.lead_id, "stage": "mql", "owner_id": self.owner})
        self._emit(
            mql + _seconds(self.rng, 1, 4), "crm.owner_assigned", {"lead_id": self.lead_id, "owner_id": self.owner}
        )
        followed = follow_up(self.rng, self.pace, mql, self.outcome or draw_outcome(self.rng, self.pace))
        if followed is None:
            return
        self._emit(followed, "crm.activity_logged", self._activity(self.rng.choice(("call", "email")), False))
        if followed - mql < self.pace.promise and self.rng.random() < 0.5:
            sal = {"lead_id": self.lead_id, "stage": "sal", "owner_id": self.owner}
            self._emit(followed + _seconds(self.rng, 20, 90), "crm.lifecycle_changed", sal)

    def _activity(self, kind: str, automated: bool) -> dict[str, Any]:
        owner = {} if automated else {"owner_id": self.owner}
        return {"lead_id": self.lead_id, "kind": kind, "automated": automated, **owner}

    def _emit(self, at: datetime, event_type: str, data: dict[str, Any]) -> None:
        subject = self.visitor_id if event_type == "web.visit" else self.lead_id
        self.drafts.append(Draft(at, event_type, subject, data))


def draw_outcome(rng: Random, pace: LivePace) -> str:
    """Draw how an MQL is followed up: met, warned (then met) or breached."""
    if rng.random() >= pace.in_time_share:
        return "breached"
    return "warned" if rng.random() < pace.after_warning_share else "met"


def follow_up(rng: Random, pace: LivePace, mql: datetime, outcome: str) -> datetime | None:
    """Return when a human follows up an MQL of `outcome`, or None for a late one never followed up."""
    share = {
        "met": (0.15, pace.warn_at * 0.8),
        "warned": (pace.warn_at + (1 - pace.warn_at) * 0.25, 0.9),
        "breached": (1.3, 2.5),
    }[outcome]
    if outcome == "breached" and rng.random() < pace.never_share:
        return None
    return mql + pace.promise * rng.uniform(*share)


# -- when each event is sent -----------------------------------------------------------------------


def split_at(events: Iterable[SimulatedEvent], now: datetime) -> tuple[list[SimulatedEvent], list[SimulatedEvent]]:
    """Return the events that have arrived by `now` and those still to come, each in their order."""
    arrived: list[SimulatedEvent] = []
    later: list[SimulatedEvent] = []
    for event in events:
        (arrived if event.arrival <= now else later).append(event)
    return arrived, later


def paced(events: Iterable[SimulatedEvent], start: datetime, rate: float) -> Iterator[tuple[datetime, SimulatedEvent]]:
    """Pair events that have already arrived with send times `rate` per second from `start` (0: all at once)."""
    for number, event in enumerate(events):
        yield (start + timedelta(seconds=number / rate) if rate > 0 else start), event


def schedule(
    arrived: Iterable[SimulatedEvent],
    later: Iterable[SimulatedEvent],
    live: Iterable[SimulatedEvent],
    start: datetime,
    rate: float,
) -> Iterator[tuple[datetime, SimulatedEvent]]:
    """Merge a backfill sent at `rate` from `start` with events sent when they arrive, by send time.

    An event is never due before it arrives: the backfill had arrived by `start`, the rest are due at arrival.
    """
    at_arrival = heapq.merge(
        ((event.arrival, event) for event in later), ((event.arrival, event) for event in live), key=_first
    )
    return heapq.merge(paced(arrived, start, rate), at_arrival, key=_first)


def _first(pair: tuple[datetime, SimulatedEvent]) -> datetime:
    return pair[0]
