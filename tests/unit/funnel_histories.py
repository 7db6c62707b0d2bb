"""Random funnel histories of many leads, written to a real chDB store, and the report's numbers worked out by brute
force from the same histories: the oracle of the cohort and time-to-convert properties."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import clickhouse_connect
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from pipelines.store.client import ClickHouseStore

STAGES = ("lead", "mql", "sal", "sql", "opportunity", "customer")
PAIR_NAMES = tuple(f"{a}_to_{b}" for a, b in itertools.pairwise(STAGES))
OCT_1 = datetime(2026, 10, 1, tzinfo=UTC)
NOV_1, DEC_1 = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
PROPERTY = settings(
    max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
SNAPSHOT_COLUMNS = ("lead_id", "revision", "created_at", "stage", "episode", "episode_open", "owner_id",
                    "visitor_ids", "last_event_at", "entries", "transitions", "clocks")  # fmt: skip
TOUCH_COLUMNS = ("lead_id", "visitor_id", "visit_source", "visit_id", "visit_time", "url", "referrer",
                 "utm_source", "utm_medium", "utm_campaign")  # fmt: skip


@dataclass(frozen=True)
class Lead:
    """One lead: its owner, its first-touch candidates (time, source, campaign) and its episodes' entries."""

    lead_id: str
    owner: str
    touches: tuple[tuple[datetime, str, str], ...]
    episodes: tuple[tuple[tuple[str, datetime], ...], ...]


# Steps of milliseconds to days, so that ties, sub-second gaps and every histogram bin occur.
gaps = st.one_of(
    st.integers(0, 3),
    st.integers(0, 5_000),
    st.integers(0, 40 * 3_600_000),
    st.integers(0, 9 * 86_400_000),
    st.integers(0, 120 * 86_400_000),
).map(lambda ms: timedelta(milliseconds=ms))
episode_stages = st.lists(st.sampled_from(STAGES), min_size=1, max_size=6, unique=True).map(
    lambda chosen: sorted(chosen, key=STAGES.index)
)
days = st.one_of(st.integers(0, 75), st.integers(25, 60)).map(lambda d: OCT_1 + timedelta(days=d))
starts = st.one_of(
    days.flatmap(lambda day: st.integers(0, 86_400_000).map(lambda ms: day + timedelta(milliseconds=ms))),
    st.sampled_from([NOV_1, DEC_1]),  # the window's edges themselves
)
touch = st.tuples(starts, st.sampled_from(["", "google", "news"]), st.sampled_from(["", "spring", "fall"]))


@st.composite
def leads(draw: st.DrawFn, number: int) -> Lead:
    """One lead with up to three episodes, each entering some funnel stages in order."""
    episodes, moment = [], draw(starts)
    for _ in range(draw(st.integers(1, 3))):
        entries = []
        for stage in draw(episode_stages):
            entries.append((stage, moment))
            moment += draw(gaps)
        episodes.append(tuple(entries))
    owner = draw(st.sampled_from(["", "rep-1", "rep-2"]))
    return Lead(f"L{number}", owner, tuple(draw(st.lists(touch, max_size=2))), tuple(episodes))


histories = st.integers(1, 20).flatmap(lambda n: st.tuples(*(leads(i) for i in range(n))))


def as_ofs(history: Sequence[Lead]) -> st.SearchStrategy[datetime]:
    """Any instant from November to the end of the year, or exactly one of the history's entries."""
    entered = sorted({t for lead in history for episode in lead.episodes for _, t in episode})
    anywhere = st.integers(0, 60 * 86_400_000).map(lambda ms: NOV_1 + timedelta(milliseconds=ms))
    return st.one_of(anywhere, st.sampled_from(entered))


cases = histories.flatmap(lambda history: st.tuples(st.just(history), as_ofs(history)))


def open_store(folder: Path) -> ClickHouseStore:
    """A fresh embedded store with the DDL applied."""
    client = clickhouse_connect.get_client(interface="chdb", path=str(folder))
    store = ClickHouseStore(client)
    store.apply_ddl()
    return store


def fill(store: ClickHouseStore, history: Sequence[Lead]) -> None:
    """Replace the store's leads and first touches with these."""
    for table in ("lead_snapshots", "first_touch_candidates", "lead_first_touches"):
        store._client.command(f"TRUNCATE TABLE {table}")
    snapshots, touches = [], []
    for lead in history:
        entries = [(n + 1, s, t) for n, episode in enumerate(lead.episodes) for s, t in episode]
        last = max(t for _, _, t in entries)
        stage, episodes = entries[-1][1], len(lead.episodes)
        snapshots.append((lead.lead_id, 1, entries[0][2], stage, episodes, 1, lead.owner, [], last, entries, [], []))
        for k, (at, source, campaign) in enumerate(lead.touches):
            touches.append((lead.lead_id, f"v{k}", "web", f"{lead.lead_id}-{k}", at, "", "", source, "", campaign))
    store.insert("lead_snapshots", snapshots, SNAPSHOT_COLUMNS)
    store.insert("first_touch_candidates", touches, TOUCH_COLUMNS)


Member = tuple[str, Lead, datetime, datetime | None]


def members(history: Sequence[Lead], start: datetime, end: datetime) -> Iterator[Member]:
    """Yield (pair, lead, entered the first stage, entered the next or None) of every cohort member of the window."""
    for lead in history:
        for episode in lead.episodes:
            times = dict(episode)
            for name, (a, b) in zip(PAIR_NAMES, itertools.pairwise(STAGES), strict=True):
                if a in times and start <= times[a] < end:
                    yield name, lead, times[a], times.get(b)


def milliseconds(later: datetime, earlier: datetime) -> int:
    """Whole milliseconds between two instants of the store's resolution."""
    return (later - earlier) // timedelta(milliseconds=1)


def percentile(values: Sequence[int], q: Fraction) -> Fraction:
    """Linear interpolation between closest ranks (numpy's default), exactly."""
    ordered = sorted(values)
    h = (len(ordered) - 1) * q
    k = math.floor(h)
    upper = ordered[min(k + 1, len(ordered) - 1)]
    return ordered[k] + (h - k) * (upper - ordered[k])


def line(values: Sequence[int]) -> dict[str, Any]:
    """The expected `n`, `p50_seconds` and `p90_seconds` of these milliseconds to convert."""
    if not values:
        return {"n": 0, "p50_seconds": None, "p90_seconds": None}
    p50, p90 = (float(percentile(values, q) / 1000) for q in (Fraction(1, 2), Fraction(9, 10)))
    return {"n": len(values), "p50_seconds": p50, "p90_seconds": p90}


def first_touch(lead: Lead) -> tuple[str, str]:
    """The (source, campaign) of the lead's earliest candidate, as the report names the missing ones."""
    if not lead.touches:
        return "(direct)", "(none)"
    _, source, campaign = min(lead.touches, key=lambda t: (t[0], "web", f"{lead.lead_id}-{lead.touches.index(t)}"))
    return source or "(direct)", campaign or "(none)"
