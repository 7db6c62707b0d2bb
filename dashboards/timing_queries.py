"""SQL of the time-to-convert panels: the report's `time_to_convert` and its breakdowns, for the panel's range.

A member is an entry to a pair's first stage in the range; it went on when its episode entered the next stage
by the end of the range (an episode enters each stage at most once, contract §2), as the report's cohorts.
"""

from __future__ import annotations

import itertools

from dashboards.queries import END, FUNNEL, in_range
from pipelines.core.timing import BINS

FIRSTS, NEXTS = list(FUNNEL[:-1]), list(FUNNEL[1:])
PAIR_NAMES = [f"{a}_to_{b}" for a, b in itertools.pairwise(FUNNEL)]
TIME_COLUMNS = ("n", "p50_seconds", "p90_seconds")


def _went_on() -> str:
    """Return one row per member of the range that went on by its end: pair, lead, owner, entry time, ms to convert."""
    pair = f"transform(e.stage, {FIRSTS}, {PAIR_NAMES}, '')"
    following = (
        f"arrayFirst(x -> x.episode = e.episode AND x.stage = transform(e.stage, {FIRSTS}, {NEXTS}, ''), entries)"
    )
    return f"""
        SELECT {pair} AS pair, lead_id, owner_id, e.entered_at AS entered,
               {following} AS reached,
               toUnixTimestamp64Milli(reached.entered_at) - toUnixTimestamp64Milli(entered) AS ms
        FROM lead_snapshots FINAL
        ARRAY JOIN entries AS e
        WHERE {in_range("e.entered_at")} AND e.stage != '{FUNNEL[-1]}'
    """


def _members() -> str:
    return f"SELECT * FROM ({_went_on()}) WHERE reached.stage != '' AND reached.entered_at <= {END}"


def _times() -> str:
    return """count() AS n,
               quantileExactInclusive(0.5)(ms) / 1000 AS p50_seconds,
               quantileExactInclusive(0.9)(ms) / 1000 AS p90_seconds"""


def time_to_convert() -> str:
    """Per pair with a member that went on: n, p50 and p90 calendar seconds (the report's `time_to_convert`)."""
    return f"SELECT pair, {_times()}\nFROM ({_members()})\nGROUP BY pair\nORDER BY indexOf({PAIR_NAMES}, pair)"


def time_by_source() -> str:
    """Return the same per pair and the lead's first-touch source and campaign."""
    # one stored row per lead (schemas/sql/004): joined whole, the members are computed once, not again to filter it
    touches = "SELECT lead_id, utm_source, utm_campaign FROM lead_first_touch"
    return f"""
        SELECT pair, if(f.utm_source = '', '(direct)', f.utm_source) AS source,
               if(f.utm_campaign = '', '(none)', f.utm_campaign) AS campaign,
               {_times()}
        FROM ({_members()}) AS m
        LEFT JOIN ({touches}) AS f ON f.lead_id = m.lead_id
        GROUP BY pair, source, campaign
        ORDER BY indexOf({PAIR_NAMES}, pair), n DESC, source, campaign
    """


def time_by_owner() -> str:
    """Return the same per pair and the lead's current owner."""
    return f"""
        SELECT pair, if(owner_id = '', '(no owner)', owner_id) AS owner, {_times()}
        FROM ({_members()})
        GROUP BY pair, owner
        ORDER BY indexOf({PAIR_NAMES}, pair), n DESC, owner
    """


def time_by_month(timezone: str) -> str:
    """Per month of entering the pair's first stage (in the agreements' zone) and pair: n, p50, p90 (the trend)."""
    month = f"toDateTime(toStartOfMonth(entered, '{timezone}'), '{timezone}')"
    return f"""
        SELECT {month} AS time, pair, {_times()}
        FROM ({_members()})
        GROUP BY time, pair
        ORDER BY time, indexOf({PAIR_NAMES}, pair)
    """


def time_histogram() -> str:
    """Per fixed bin of calendar time (rows) and pair (columns): how many members went on within it."""
    lowers = [lower * 1000 for _, lower in BINS]
    labels = [name for name, _ in BINS]
    columns = ", ".join(f"countIf(pair = '{name}') AS {name}" for name in PAIR_NAMES)
    return f"""
        SELECT label AS bin, {columns}
        FROM (SELECT arrayJoin({labels}) AS label) AS b
        LEFT JOIN (SELECT pair, {labels}[arrayCount(x -> ms >= x, {lowers})] AS label FROM ({_members()})) AS m
            ON m.label = b.label
        GROUP BY bin
        ORDER BY indexOf({labels}, bin)
    """
