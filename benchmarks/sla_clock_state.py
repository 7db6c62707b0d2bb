"""The state one worker holds for N open SLA clocks, built for benchmarks.bench_sla_clocks, and its stand-ins."""

from __future__ import annotations

import gc
import tracemalloc
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from random import Random
from typing import Any

from pipelines.agreements import load_agreements
from pipelines.core.calendar import BusinessCalendar, parse_within
from pipelines.core.codec import from_ms, lead_from_bytes, lead_to_bytes, sla_from_bytes, sla_to_bytes, to_ms
from pipelines.core.deadlines import DeadlineIndex
from pipelines.core.lead import LeadState
from pipelines.core.lifecycle import Move
from pipelines.core.sla import Judge
from pipelines.core.steps import sla_step
from pipelines.sla_agent import SlaShell
from tests.unit.factories import CRM, WEB, form_event, lead_state, stage_event

REPO = Path(__file__).resolve().parents[1]
HANDOFF = "mql_follow_up"
PARTITIONS = 8  # the default LEADFLOW_PARTITIONS; one worker owning all of them holds every clock
WEEK = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday under 2026-H2: no holiday, no DST change that week
DUE_COUNTS = (0, 1_000, 100_000)
TICK_REPEATS = {0: 10_000, 1_000: 20, 100_000: 5}
JUDGED = 1_000
ORJSON_SAMPLE = 10_000
VERIFY_SAMPLE = 1_000
SLA_TICK_S = 0.2  # pipelines.faust_app.SLA_TICK


def lead_name(i: int) -> str:
    return f"lead-{i:07d}"


def event_id(n: int) -> str:
    """Return a UUID-shaped id (the simulator's ids have this shape), distinct for every n."""
    return f"{n:08x}-0000-4000-8000-{n * 2654435761 % 2**48:012x}"


def form_ms_of(i: int, mql_ms: int) -> int:
    """The form fill: 1 to 60 minutes before the MQL move."""
    return mql_ms - 60_000 - (i * 7_919 % 3_540_000)


def rss() -> int:
    """Return this process's resident set size (VmRSS) in bytes, after a full collection."""
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@dataclass
class Setting:
    """The agreement's calendar, the handoff's warning offset, the week's windows, and lead 0's two moves."""

    judge: Judge
    calendar: BusinessCalendar
    warn_seconds: float
    within_seconds: int
    windows: list[tuple[int, int]]  # the week's business windows [open, close) in ms
    form_template: Move
    mql_template: Move

    @property
    def week_business_ms(self) -> int:
        return sum(close - open_ for open_, close in self.windows)


def setting() -> Setting:
    judge = Judge(load_agreements(REPO / "agreements"))
    agreement = judge.agreement_at(WEEK)
    if agreement is None or agreement.name != "2026-H2":
        raise RuntimeError(f"expected agreement 2026-H2 in force on {WEEK.date()}, got {agreement}")
    handoff = next(h for h in agreement.handoffs if h.name == HANDOFF)
    calendar = judge.calendar(agreement)
    within = parse_within(handoff.within, calendar.day_seconds)
    if not handoff.warn_at:
        raise RuntimeError(f"{HANDOFF} has no warning: the next due instant would be the breach")
    windows = [(to_ms(o), to_ms(c)) for o, c in calendar.windows(WEEK.date(), (WEEK + timedelta(days=7)).date())]
    # lead 0, the full way: CloudEvent bytes through the validator and apply_event, MQL'd at the week's opening
    mql_at = from_ms(windows[0][0])
    state = lead_state(
        [
            form_event(lead_name(0), "v-0000000", from_ms(form_ms_of(0, to_ms(mql_at))), id=event_id(0), source=WEB),
            stage_event(lead_name(0), "mql", mql_at, id=event_id(1), source=CRM),
        ]
    )
    form, mql = state.moves
    return Setting(judge, calendar, within * handoff.warn_at, within, windows, form, mql)


def cheap_lead(s: Setting, i: int, mql_ms: int) -> LeadState:
    """Lead i: lead 0's two moves with this lead's ids and instants (fields in Move's order)."""
    f, m = s.form_template, s.mql_template
    form_at, visitor = from_ms(form_ms_of(i, mql_ms)), f"v-{i:07d}"
    form = Move(form_at, f.source, event_id(2 * i), f.type, f.stage, f.owner_id, f.human_activity, visitor)
    mql = Move(from_ms(mql_ms), m.source, event_id(2 * i + 1), m.type, m.stage, m.owner_id, m.human_activity, None)
    return LeadState(lead_name(i), (form, mql))


def cheap_due(s: Setting, mql_ms: int) -> int:
    """The clock's next due instant, its warning, as `derive_clocks` computes it: add(start, within * warn_at)."""
    return to_ms(s.calendar.add(from_ms(mql_ms), s.warn_seconds))


def mql_instants(s: Setting, n: int, seed: int) -> list[int]:
    """N distinct milliseconds of the week's business windows (lead 0 at the first opening), as epoch ms."""
    total = s.week_business_ms
    if n > total:
        raise ValueError(f"at most {total:,} clocks (one per business millisecond of a week)")
    before, ends = [], []
    elapsed = 0
    for open_, close in s.windows:
        before.append(elapsed)
        elapsed += close - open_
        ends.append(elapsed)
    offsets = [0, *Random(seed).sample(range(1, total), n - 1)]
    instants = []
    for offset in offsets:
        k = bisect_right(ends, offset)
        instants.append(s.windows[k][0] + offset - before[k])
    return instants


def exact(raw: bytes) -> bytes:
    """Return a copy in an allocation of its own size, as Kafka hands over a changelog value."""
    return memoryview(raw).tobytes()


def kept(raw: bytes) -> bytes:
    """Return the bytes as orjson made them (orjson 3.13 leaves each in a buffer of 4 KB or more)."""
    return raw


@dataclass
class State:
    """What one worker holds for the N clocks, and the VmRSS each part added."""

    leads: dict[bytes, bytes]
    sla: dict[bytes, bytes]
    index: DeadlineIndex
    dues: list[int]
    rss_index: int = 0
    rss_sla: int = 0
    rss_leads: int = 0


def build_state(s: Setting, mql_ms: list[int], first_due: int, as_written: bool) -> State:
    """Build the index, then the sla table, then the leads table, each between two VmRSS readings."""
    n = len(mql_ms)
    state = State({}, {}, DeadlineIndex(), [0] * n)
    value = kept if as_written else exact
    gc.disable()  # nothing built here is cyclic; spare the collector's passes over millions of objects
    try:
        before = rss()
        index, dues = state.index, state.dues
        for i, mql in enumerate(mql_ms):
            due = first_due if i == 0 else cheap_due(s, mql)
            dues[i] = due
            index.schedule(lead_name(i), i % PARTITIONS, due)
        after_index = rss()
        sla, empty = state.sla, frozenset[str]()
        for i in range(n):
            sla[lead_name(i).encode()] = value(sla_to_bytes(empty, i % PARTITIONS, dues[i]))
        after_sla = rss()
        leads = state.leads
        for i, mql in enumerate(mql_ms):
            leads[lead_name(i).encode()] = value(lead_to_bytes(cheap_lead(s, i, mql)))
        after_leads = rss()
    finally:
        gc.enable()
    state.rss_index, state.rss_sla, state.rss_leads = (
        after_index - before,
        after_sla - after_index,
        after_leads - after_sla,
    )
    return state


def orjson_buffers(s: Setting, mql_ms: list[int], dues: list[int]) -> tuple[float, float]:
    """Return the extra bytes per value that orjson's own output holds over an exactly sized copy (leads, sla)."""
    n = len(mql_ms)
    leads = [cheap_lead(s, i, mql_ms[i]) for i in range(n)]
    extra: list[float] = []
    makers: list[Callable[[int], bytes]] = [
        lambda i: lead_to_bytes(leads[i]),
        lambda i: sla_to_bytes(frozenset(), i % PARTITIONS, dues[i]),
    ]
    tracemalloc.start()
    try:
        for make in makers:
            sizes: list[int] = []
            for value in (kept, exact):
                before = tracemalloc.get_traced_memory()[0]
                held = [value(make(i)) for i in range(n)]
                sizes.append(tracemalloc.get_traced_memory()[0] - before)
                del held
            extra.append((sizes[0] - sizes[1]) / n)
    finally:
        tracemalloc.stop()
    return extra[0], extra[1]


def key_partitions(state: State) -> int:
    """Return the VmRSS of the key -> partition maps Faust's memory store keeps once it recovered both tables."""
    before = rss()
    sla_map = {key: sla_from_bytes(raw)[1] for key, raw in state.sla.items()}
    leads_map = {key: sla_map[key] for key in state.leads}
    size = rss() - before
    del sla_map, leads_map
    return size


def verify_sample(s: Setting, state: State, mql_ms: list[int], sample: Sequence[int]) -> None:
    """Check the cheaply derived clocks against the real path: decode the stored lead, `sla_step` it."""
    for i in sample:
        key = lead_name(i).encode()
        lead = lead_from_bytes(state.leads[key])
        if lead_to_bytes(lead) != state.leads[key]:
            raise RuntimeError(f"lead {i}: the stored lead does not round-trip")
        effects = sla_step(lead, frozenset(), s.judge, from_ms(mql_ms[i]))
        published, partition, due = sla_from_bytes(state.sla[key])
        if effects.events or effects.next_due is None or not to_ms(effects.next_due) == due == state.dues[i]:
            raise RuntimeError(f"lead {i}: sla_step says next due {effects.next_due}, the state says {due}")
        if published != effects.published or partition != i % PARTITIONS:
            raise RuntimeError(f"lead {i}: sla record {published}/{partition} disagrees with sla_step")


# -- the worker's collaborators, stubbed -------------------------------------------------------------


class ListTopic:
    """A topic whose send only keeps (key, value)."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes | None]] = []

    async def send(self, key: bytes | None = None, value: bytes | None = None, **_: Any) -> None:
        self.sent.append((key, value))


class FrozenClock:
    """Stands in for `datetime` inside pipelines.sla_agent, so that `tick()` sees a chosen now."""

    def __init__(self) -> None:
        self.ms = 0

    def now(self, tz: tzinfo | None = None) -> datetime:
        return from_ms(self.ms)


class NullStore:
    """A store that takes every insert and keeps nothing (the sink is never flushed here anyway)."""

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return []

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        pass

    def close(self) -> None:
        pass


def reinsert(shell: SlaShell, sla: dict[bytes, bytes], keys: Sequence[bytes | None]) -> None:
    """Schedule popped leads again, from their sla table records (as a rebuild would)."""
    for key in keys:
        if key is not None:
            _published, partition, due = sla_from_bytes(sla[key])
            shell.index.schedule(key.decode(), partition, due)


def now_for(sorted_dues: list[int], due: int) -> int:
    """Return an instant (ms) at which exactly `due` of the clocks are due."""
    if due == 0:
        return sorted_dues[0] - 1
    now = sorted_dues[due - 1]
    if due < len(sorted_dues) and sorted_dues[due] <= now:
        raise RuntimeError(f"clocks {due - 1} and {due} share a due instant")
    return now
