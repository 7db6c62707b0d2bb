"""Seeded generator of realistic leadflow traffic: CloudEvents JSON lines, with duplicates, late and malformed ones.

Visitors are told one at a time, in the order of their first visit, and their events are merged by arrival
time through a heap, so only the events of visitors still active are held in memory. Malformed lines are
extra lines (a broken resend of a valid event under a fresh id), so the valid events tell a whole story.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import sys
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random
from typing import IO, Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from services.arguments import LAST_INSTANT
from services.simulate_crm import BERLIN, HOUR, MINUTE, Draft, Story, delay

WEB_SOURCE = "/web/www.example.com"
CRM_SOURCE = "/crm/hubspot"
KINDS = ("valid", "duplicate", "late", "malformed")
DEFECTS = ("not_json", "missing_field", "unknown_type", "wrong_type", "naive_time")
UNKNOWN_TYPES = ("crm.contact_merged", "web.page_view", "crm.lifecycle_change", "web.visit.v2")
UNKNOWN_STAGES = ("marketingqualifiedlead", "evangelist", "MQL", "other", "salesqualifiedlead")
REQUIRED_DATA = {
    "web.visit": "url",
    "web.form_submitted": "form_id",
    "crm.lifecycle_changed": "stage",
    "crm.owner_assigned": "owner_id",
    "crm.activity_logged": "kind",
    "crm.deal_changed": "currency",
}
WRONG_TYPES: dict[str, tuple[str, Any]] = {
    "web.visit": ("url", 404),
    "web.form_submitted": ("form_id", ["demo-request"]),
    "crm.lifecycle_changed": ("lead_id", 123456),
    "crm.owner_assigned": ("owner_id", 7),
    "crm.activity_logged": ("automated", "yes"),
    "crm.deal_changed": ("amount", "18.500,00"),
}
# Relative visitor traffic per Berlin hour of day, and on weekend days.
HOURLY_TRAFFIC = (
    *(0.1, 0.1, 0.1, 0.1, 0.1, 0.15, 0.3, 0.6),
    *(0.9, 1, 1, 1, 0.9, 1, 1, 1),
    *(1, 0.8, 0.7, 0.7, 0.6, 0.5, 0.3, 0.2),
)
WEEKEND_TRAFFIC = 0.45


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate; rates are probabilities per visitor, lead, stage or event."""

    seed: int = 42
    start: datetime = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    days: int = 14
    visitors: int = 3000
    visit_to_lead: float = 0.12
    lead_to_mql: float = 0.5
    mql_to_sal: float = 0.7
    sal_to_sql: float = 0.6
    sql_to_opportunity: float = 0.5
    opportunity_to_customer: float = 0.35
    recycle_rate: float = 0.08
    disqualify_rate: float = 0.05
    backward_rate: float = 0.03
    duplicate_rate: float = 0.02
    late_rate: float = 0.03
    malformed_rate: float = 0.005
    human_followup_rate: float = 0.85
    skip_rate: float = 0.15  # share of leads reaching sql that go there straight from mql
    reengage_rate: float = 0.4  # share of recycled leads that come back as MQL in a new episode
    campaign_rate: float = 0.45  # share of first visits carrying UTM fields

    def __post_init__(self) -> None:
        if self.start.utcoffset() is None:
            raise ValueError("start must be a timezone-aware datetime")
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.name in ("seed", "start"):
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{spec.name} must be a number, got {value!r}")
            if spec.type == "int" and (value < 0 or not isinstance(value, int)):
                raise ValueError(f"{spec.name} must be a whole number >= 0, got {value!r}")
            if spec.type == "float" and not 0 <= value <= 1:
                raise ValueError(f"{spec.name} must be in [0, 1], got {value!r}")
        if self.days > (LAST_INSTANT - self.start).days:
            raise ValueError(f"days: {self.days} days from {self.start.date()} would end past what the store holds")


@dataclass(frozen=True, slots=True)
class SimulatedEvent:
    """One line of the stream: when it arrives, its Kafka key and value, and what kind of line it is."""

    arrival: datetime
    type: str
    key: bytes
    value: bytes
    kind: str
    defect: str = ""  # for malformed lines, what is wrong with it


@dataclass(frozen=True)
class SimulationSummary:
    """Counts of a simulated stream; `valid` and `by_type` count distinct valid events (late ones too)."""

    total: int
    valid: int
    duplicates: int
    late: int
    malformed: int
    by_type: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as plain JSON-ready data."""
        return asdict(self)


def simulate(config: SimulationConfig) -> Iterator[SimulatedEvent]:
    """Yield the simulated stream in arrival order; the same config always gives the same bytes."""
    rng = Random(config.seed)
    pending: list[tuple[datetime, int, SimulatedEvent]] = []
    order = itertools.count()
    for number, first_visit in enumerate(_first_visits(rng, config), start=1):
        # Every event still to be told arrives at or after this first visit, so earlier ones are final.
        while pending and pending[0][0] <= first_visit:
            yield heapq.heappop(pending)[2]
        for draft in Story(rng, config, number).tell(first_visit):
            for event in _deliveries(rng, config, draft):
                heapq.heappush(pending, (event.arrival, next(order), event))
    while pending:
        yield heapq.heappop(pending)[2]


def summarize(events: Iterable[SimulatedEvent]) -> SimulationSummary:
    """Count the events of a stream, consuming it."""
    kinds: Counter[str] = Counter()
    types: Counter[str] = Counter()
    for event in events:
        kinds[event.kind] += 1
        if event.kind in ("valid", "late"):
            types[event.type] += 1
    return SimulationSummary(
        total=sum(kinds.values()),
        valid=kinds["valid"] + kinds["late"],
        duplicates=kinds["duplicate"],
        late=kinds["late"],
        malformed=kinds["malformed"],
        by_type=dict(sorted(types.items())),
    )


def write_jsonl(config: SimulationConfig, path: Path | str, progress: bool = False) -> SimulationSummary:
    """Write the simulated stream to `path`, one event per line, and return its summary."""
    with open(path, "wb") as out, _progress_bar(config, progress) as advance:
        return summarize(_written(simulate(config), out, advance))


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: `python -m services.simulate OUT.jsonl [--seed N] [--visitors N] [--days N]`."""
    parser = argparse.ArgumentParser(description="Write simulated leadflow events, one JSON per line.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=SimulationConfig.seed)
    parser.add_argument("--visitors", type=int, default=SimulationConfig.visitors)
    parser.add_argument("--days", type=int, default=SimulationConfig.days)
    parser.add_argument("--start", type=datetime.fromisoformat, default=SimulationConfig.start)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    config = SimulationConfig(seed=args.seed, visitors=args.visitors, days=args.days, start=args.start)
    summary = write_jsonl(config, args.out, progress=not args.no_progress)
    sys.stdout.write(orjson.dumps(summary.as_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


# -- first visits ----------------------------------------------------------------------------------


def _first_visits(rng: Random, config: SimulationConfig) -> Iterator[datetime]:
    """Yield the first-visit times of all visitors in ascending order, busiest in working hours."""
    weights = [_traffic(config.start + timedelta(hours=hour)) for hour in range(config.days * 24)]
    cumulative = list(itertools.accumulate(weights))
    position, latest = 0.0, config.start
    for remaining in range(config.visitors, 0, -1):
        # The next smallest of `remaining` uniform draws above `position` (sorted draws, one at a time).
        position = 1 - (1 - position) * rng.random() ** (1 / remaining)
        latest = max(latest, _moment_at(config.start, weights, cumulative, position))
        yield latest


def _traffic(moment: datetime) -> float:
    local = moment.astimezone(BERLIN)
    return HOURLY_TRAFFIC[local.hour] * (WEEKEND_TRAFFIC if local.weekday() >= 5 else 1)


def _moment_at(start: datetime, weights: list[float], cumulative: list[float], position: float) -> datetime:
    """Map a share of the window's traffic to the moment by which that share has visited."""
    if not cumulative:
        return start
    target = position * cumulative[-1]
    hour = min(bisect_right(cumulative, target), len(cumulative) - 1)
    before = cumulative[hour - 1] if hour else 0.0
    fraction = min(1.0, max(0.0, (target - before) / weights[hour]))
    return start + timedelta(milliseconds=round((hour + fraction) * 3_600_000))


# -- deliveries and anomalies ----------------------------------------------------------------------


def _deliveries(rng: Random, config: SimulationConfig, draft: Draft) -> list[SimulatedEvent]:
    """Serialise one draft and decide how it is delivered: on time or late, maybe twice, maybe broken."""
    envelope = _envelope(rng, draft)
    value, key = orjson.dumps(envelope), draft.subject.encode()
    late = rng.random() < config.late_rate
    arrival = draft.time + (delay(rng, 5 * MINUTE, 3 * HOUR) if late else timedelta(0))
    deliveries = [SimulatedEvent(arrival, draft.type, key, value, "late" if late else "valid")]
    if rng.random() < config.duplicate_rate:
        deliveries.append(SimulatedEvent(arrival + delay(rng, 1, 2 * HOUR), draft.type, key, value, "duplicate"))
    if rng.random() < config.malformed_rate:
        deliveries.append(_malformed(rng, envelope, draft.time + delay(rng, 1, 2 * MINUTE)))
    return deliveries


def on_time(rng: Random, draft: Draft) -> SimulatedEvent:
    """Serialise a draft delivered once, exactly at its time (no delay, duplicate or breakage)."""
    return SimulatedEvent(draft.time, draft.type, draft.subject.encode(), orjson.dumps(_envelope(rng, draft)), "valid")


def _envelope(rng: Random, draft: Draft) -> dict[str, Any]:
    """Return the CloudEvents envelope of a draft; web times carry the Berlin offset, CRM times UTC."""
    web = draft.type.startswith("web.")
    return {
        "specversion": "1.0",
        "id": _event_id(rng),
        "source": WEB_SOURCE if web else CRM_SOURCE,
        "type": draft.type,
        "time": draft.time.astimezone(BERLIN if web else UTC).isoformat(timespec="milliseconds"),
        "subject": draft.subject,
        "data": draft.data,
    }


def _event_id(rng: Random) -> str:
    """Return a random UUID-shaped hex id (128 random bits, so unique in practice)."""
    digits = f"{rng.getrandbits(128):032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _malformed(rng: Random, envelope: dict[str, Any], arrival: datetime) -> SimulatedEvent:
    """Return a broken resend of a valid event under a fresh id, so that every malformed line is unique."""
    event = {**envelope, "id": _event_id(rng)}
    lifecycle = event["type"] == "crm.lifecycle_changed"
    defect = rng.choice(DEFECTS + (("unknown_stage",) * 3 if lifecycle else ()))
    broken = _break(rng, event, defect)
    if isinstance(broken, bytes):
        return SimulatedEvent(arrival, "", b"", broken, "malformed", defect)
    key = broken["subject"].encode() if isinstance(broken.get("subject"), str) else b""
    return SimulatedEvent(arrival, broken.get("type", ""), key, orjson.dumps(broken), "malformed", defect)


def _break(rng: Random, event: dict[str, Any], defect: str) -> dict[str, Any] | bytes:
    """Return `event` with `defect`: a new dict, or bytes when the line is not JSON at all."""
    data = event["data"]
    if defect == "not_json":
        line = orjson.dumps(event)
        if rng.random() < 0.5:
            return repr(event).encode()  # a Python dict printed instead of JSON
        return line[: rng.randrange(line.index(b',"source"'), len(line) - 1)]  # cut short, after the id
    if defect == "missing_field":
        missing = rng.choice(("time", "subject", "source", "specversion", "data"))
        if missing == "data":
            return {**event, "data": {k: v for k, v in data.items() if k != REQUIRED_DATA[event["type"]]}}
        return {k: v for k, v in event.items() if k != missing}
    if defect == "unknown_type":
        return {**event, "type": rng.choice(UNKNOWN_TYPES)}
    if defect == "unknown_stage":
        return {**event, "data": {**data, "stage": rng.choice(UNKNOWN_STAGES)}}
    if defect == "wrong_type":
        name, wrong = WRONG_TYPES[event["type"]]
        return {**event, "data": {**data, name: wrong}}
    return {**event, "time": event["time"][: len("2026-11-02T09:15:03.120")]}  # naive_time: offset dropped


# -- writing ---------------------------------------------------------------------------------------


def _written(
    events: Iterable[SimulatedEvent], out: IO[bytes], advance: Callable[[datetime, int], None]
) -> Iterator[SimulatedEvent]:
    """Pass events through, writing each as a line and reporting progress now and then."""
    count, last = 0, None
    for count, event in enumerate(events, start=1):
        out.write(event.value + b"\n")
        if count % 4096 == 0:
            advance(event.arrival, count)
        last = event
        yield event
    if last is not None:
        advance(last.arrival, count)


@contextmanager
def _progress_bar(config: SimulationConfig, enabled: bool) -> Iterator[Callable[[datetime, int], None]]:
    """Show a bar over simulated time on stderr; yield a callback taking (arrival, events so far)."""
    window = max(1.0, config.days * 86400.0)
    columns = (TextColumn("simulating"), BarColumn(), TextColumn("{task.fields[events]:,} events"))
    console = Console(stderr=True)
    with Progress(*columns, TimeElapsedColumn(), console=console, disable=not enabled) as bar:
        task = bar.add_task("simulate", total=window, events=0)

        def advance(arrival: datetime, events: int) -> None:
            done = min(window, (arrival - config.start).total_seconds())
            bar.update(task, completed=done, events=events)

        yield advance
        bar.update(task, completed=window)


if __name__ == "__main__":
    raise SystemExit(main())
