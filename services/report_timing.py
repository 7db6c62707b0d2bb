"""Time to convert of a report's cohorts: per funnel pair, by first touch, by owner, in fixed bins and by month."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipelines.core.funnel import PAIRS
from pipelines.core.lifecycle import FUNNEL
from pipelines.core.timing import BINS, histogram, time_line
from pipelines.store.client import Store
from services.report_sql import TS

STAGE_PAIRS = PAIRS[1:]  # visit_to_lead has no stage entry to time from
SOURCE = ("if(utm_source = '', '(direct)', utm_source)", "if(utm_campaign = '', '(none)', utm_campaign)")
OWNER = ("if(owner_id = '', '(no owner)', owner_id)",)
BIN = (f"arrayCount(x -> ms >= x, [{', '.join(str(lower * 1000) for _, lower in BINS)}])",)
MONTH = ("toString(toYYYYMM(entered, {tz:String}))",)


def _episodes(first_touch: bool) -> str:
    """Return each lead's episodes with the time it entered every stage (NULL where it did not)."""
    times = ", ".join(f"minIf(toNullable(entered_at), stage = '{s}') AS t_{s}" for s in FUNNEL)
    grouped = f"SELECT lead_id, episode, any(owner_id) AS owner_id, {times} FROM stage_entries GROUP BY ALL"
    if not first_touch:
        return grouped
    touch = "f.utm_source AS utm_source, f.utm_campaign AS utm_campaign, f.first_visit_at AS t_visits"
    return f"SELECT s.*, {touch} FROM ({grouped}) AS s LEFT JOIN lead_first_touch AS f ON f.lead_id = s.lead_id"


def converted(
    store: Store,
    params: dict[str, Any],
    keys: Sequence[str] = (),
    first_touch: bool = False,
    pairs: Sequence[tuple[str, str, str]] = STAGE_PAIRS,
) -> list[tuple[Any, ...]]:
    """Cohort members that went on, grouped by pair and `keys`: count and p50/p90 of milliseconds to convert.

    The population is the report's `cohort`: entries to the pair's first stage in the window whose episode
    entered the next stage by `as_of`; the time is calendar time from one entry to the other. A pair from
    `visits` times from the lead's first-touch visit (leads without one are left out).
    """
    first_touch = first_touch or any(a == "visits" for _, a, _ in pairs)
    timed = ", ".join(f"('{name}', t_{a}, t_{b})" for name, a, b in pairs)
    named = "".join(f", {expression} AS k{i}" for i, expression in enumerate(keys))
    grouping = ", ".join(["pair", *(f"k{i}" for i in range(len(keys)))])
    return store.query(
        f"""
        SELECT {grouping}, count(), quantilesExactInclusive(0.5, 0.9)(ms)
        FROM (
            SELECT p.1 AS pair, assumeNotNull(p.2) AS entered,
                   toUnixTimestamp64Milli(assumeNotNull(p.3)) - toUnixTimestamp64Milli(entered) AS ms{named}
            FROM ({_episodes(first_touch)})
            ARRAY JOIN [{timed}] AS p
            WHERE p.2 >= {{start:{TS}}} AND p.2 < {{end:{TS}}} AND p.3 <= {{as_of:{TS}}}
        )
        GROUP BY {grouping}
        """,
        params,
    )


def time_to_convert(store: Store, params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the `time_to_convert` section: a line per funnel pair."""
    found = {str(pair): (n, quantiles) for pair, n, quantiles in converted(store, params)}
    return {name: time_line(*found.get(name, (0, []))) for name, _, _ in STAGE_PAIRS}


def _nest(rows: Sequence[tuple[Any, ...]], depth: int) -> dict[str, Any]:
    """Nest rows of (pair, key..., n, quantiles) as {pair: {key: ... line}}, keys sorted."""
    section: dict[str, Any] = {name: {} for name, _, _ in STAGE_PAIRS}
    for row in sorted(rows, key=lambda r: tuple(str(k) for k in r[: depth + 1])):
        place = section
        for key in row[:depth]:
            place = place.setdefault(str(key), {})
        place[str(row[depth])] = time_line(row[depth + 1], row[depth + 2])
    return section


def by_source(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """Return per pair, first-touch source and campaign, the line of the members that went on."""
    return _nest(converted(store, params, SOURCE, first_touch=True), 2)


def by_owner(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """Return per pair and owner (the lead's current one), the line of the members that went on."""
    return _nest(converted(store, params, OWNER), 1)


def by_bin(store: Store, params: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Return per pair how many members went on within each fixed bin of time."""
    found: dict[str, dict[str, int]] = {name: {} for name, _, _ in STAGE_PAIRS}
    for pair, index, n, _ in converted(store, params, BIN):
        found[str(pair)][BINS[int(index) - 1][0]] = int(n)
    return {pair: histogram(bins) for pair, bins in found.items()}


def by_month(store: Store, params: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Return per month (YYYYMM in the `tz` parameter's zone) the `time_to_convert` lines of its cohorts."""
    months: dict[str, dict[str, dict[str, Any]]] = {}
    for pair, month, n, quantiles in converted(store, params, MONTH):
        months.setdefault(str(month), {})[str(pair)] = time_line(n, quantiles)
    empty = time_line(0, [])
    return {m: {name: lines.get(name, empty) for name, _, _ in STAGE_PAIRS} for m, lines in months.items()}
