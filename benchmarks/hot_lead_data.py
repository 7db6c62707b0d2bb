"""The input of bench_hot_lead: one lead's long history, or the very same events spread over many leads."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.unit.factories import activity_event, form_event, stage_event

START = datetime(2026, 9, 1, 7, 0, tzinfo=UTC)
STEP = timedelta(seconds=7)  # 100,000 activities span about eight days
# a lead's stage changes in a cycle that starts and stops both handoff clocks of the default agreement
CYCLE = ("mql", "sal", "sql", "opportunity", "recycled", "lead")
OWNERS = ("rep-01", "rep-02", "rep-03", "rep-04", "rep-05")


def _lead(n: int, leads: int) -> str:
    return "hot-lead" if leads == 1 else f"lead-{n % leads:05d}"


def _event_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128)))


def events_in_time_order(activities: int, stages: int, forms: int, leads: int, seed: int) -> Iterator[bytes]:
    """Yield `forms` forms, then `activities` activities (1 in 10 by a human) and `stages` stage changes among them.

    The n-th form, activity and stage change go to lead n mod `leads`, so one lead and many leads receive the very
    same events; only the lead ids differ.
    """
    rng = random.Random(seed)
    for n in range(forms):
        yield form_event(_lead(n, leads), f"visitor-{n:05d}", START - timedelta(hours=1), id=_event_id(rng))
    every = max(1, activities // max(stages, 1))
    changes = 0
    for n in range(activities):
        moment = START + n * STEP
        if n % every == 0 and changes < stages:
            stage = CYCLE[changes % len(CYCLE)]
            yield stage_event(_lead(changes, leads), stage, moment, id=_event_id(rng))
            changes += 1
        human = rng.random() < 0.1
        owner = rng.choice(OWNERS) if human else None
        raw = activity_event(
            _lead(n, leads), moment + STEP / 2, automated=not human, owner_id=owner, id=_event_id(rng), kind="email"
        )
        yield raw


def with_late_arrivals(lines: list[bytes], late_share: float, most_places: int, seed: int) -> list[bytes]:
    """Return the lines with `late_share` of them each delivered 1..`most_places` places after their turn."""
    rng = random.Random(seed + 1)
    keyed = [
        (i + (rng.randint(1, most_places) + 0.5 if rng.random() < late_share else 0), i) for i in range(len(lines))
    ]
    return [lines[i] for _key, i in sorted(keyed)]


def write_history(
    path: Path, activities: int, stages: int, forms: int, leads: int, late_share: float, seed: int
) -> int:
    """Write the events (late ones displaced) as JSON lines; return how many."""
    ordered = list(events_in_time_order(activities, stages, forms, leads, seed))
    lines = with_late_arrivals(ordered, late_share, 40, seed)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return len(lines)
