"""SQL of the ClickHouse panels, in the plugin's raw-SQL format with its macros.

Windows are half-open, [`$__fromTime_ms`, `$__toTime_ms`), like the report's, and every panel judges "as of"
the end of the range (`$__toTime_ms`, which is now on a live board): cohorts, met, breached and open clocks
count exactly as `leadflow report --as-of <end of range>` does.
"""

from __future__ import annotations

import itertools

from dashboards.targets import CUMULATIVE, NEXT_STEP, PLAN_KEYS
from pipelines.core.lifecycle import FUNNEL

START, END = "$__fromTime_ms", "$__toTime_ms"
COUNT_COLUMNS: tuple[str, ...] = ("visits", *FUNNEL)


def in_range(column: str) -> str:
    """Return the condition that `column` lies in the panel's range."""
    return f"{column} >= {START} AND {column} < {END}"


def ratio(numerator: str, divisor: str) -> str:
    """Return numerator / divisor, NULL when the divisor is 0 (as the report's null)."""
    return f"if(({divisor}) = 0, NULL, ({numerator}) / ({divisor}))"


# Events by type and time (schemas/sql/009): a range reads its own rows. FINAL only where a repeated row would
# count twice; sets of visitors and first wins are the same with or without repeats, so those skip it.
VISITS = f"SELECT count() FROM events_by_time FINAL WHERE type = 'web.visit' AND {in_range('time')}"


def stage_counts() -> str:
    """One row: visits and stage entries in the range (the report's `counts`)."""
    stages = ", ".join(f"countIf(stage = '{s}') AS {s}" for s in FUNNEL)
    return f"SELECT ({VISITS}) AS visits, {stages}\nFROM stage_entries\nWHERE {in_range('entered_at')}"


def entries_over_time() -> str:
    """Stage entries per interval and stage (long format: time, stage, entries)."""
    return f"""
        SELECT $__timeInterval(entered_at) AS time, stage, count() AS entries
        FROM stage_entries
        WHERE {in_range("entered_at")}
        GROUP BY time, stage
        ORDER BY time, stage
    """


def next_step_conversion() -> str:
    """One row: each next-step period ratio (the report's `conversion`, plus mql_to_sql of the agreement)."""
    ratios = ",\n       ".join(f"{ratio(b, a)} AS {name}" for name, a, b in NEXT_STEP)
    return f"SELECT {ratios}\nFROM ({stage_counts()})"


def cumulative_conversion() -> str:
    """One row: each stage's entries over the visits of the range."""
    ratios = ",\n       ".join(f"{ratio(stage, 'visits')} AS {name}" for name, stage, _ in CUMULATIVE)
    return f"SELECT {ratios}\nFROM ({stage_counts()})"


VISITED, FORMED = 1, 2  # the flags a visitor's rows carry into one groupBitOr per visitor


def _visitors_in_range() -> str:
    """Return a row (visitor_key, VISITED) per visitor and month with a visit in the range (schemas/sql/011).

    Every visit of a month strictly between the range's first and last month lies in the range, so those months'
    rows count whole, without reading their visit times; only the first and last month test each time.
    """
    first, last = f"toStartOfMonth({START}, 'UTC')", f"toStartOfMonth({END}, 'UTC')"
    rows = f"SELECT visitor_key, {VISITED} AS flag FROM visitor_months WHERE"
    edges = f"(month = {first} OR month = {last}) AND arrayExists(t -> {in_range('t')}, visits)"
    return f"{rows} month > {first} AND month < {last}\nUNION ALL {rows} {edges}"


def _tied_visitors() -> str:
    """Return the share of the range's distinct visitors who filled a form by its end.

    A visitor's visiting months and form fills are grouped together, once per visitor (rows of parts not merged yet
    included): its flags tell whether it visited in the range, and whether it also filled a form by the end.
    """
    filled = f"type = 'web.form_submitted' AND time <= {END}"
    forms = f"SELECT visitor_key, {FORMED} AS flag FROM events_by_time WHERE {filled}"
    flags = f"SELECT groupBitOr(flag) AS flags FROM ({_visitors_in_range()}\nUNION ALL {forms}) GROUP BY visitor_key"
    tied, visitors = f"countIf(flags = {VISITED | FORMED})", f"countIf(bitAnd(flags, {VISITED}) != 0)"
    return f"SELECT {ratio(tied, visitors)} FROM ({flags})"


def cohort_conversion() -> str:
    """One row: the share of each stage's entries in the range whose episode went on by the end (`cohort`).

    An episode enters each stage at most once (contract §2), so each entry in the range is one episode of the
    cohort; when it went on is stored beside it (`went_on_at`, schemas/sql/002), in the same snapshot.
    """
    shares = [f"({_tied_visitors()}) AS visit_to_lead"]
    for a, b in itertools.pairwise(FUNNEL):
        entered = f"e.stage = '{a}'"
        shares.append(f"{ratio(f'countIf({entered} AND went_on <= {END})', f'countIf({entered})')} AS {a}_to_{b}")
    body = ",\n       ".join(shares)
    entries = "lead_snapshots FINAL ARRAY JOIN entries AS e, went_on_at AS went_on"
    return f"SELECT {body}\nFROM {entries}\nWHERE {in_range('e.entered_at')}"


def by_source() -> str:
    """Stage entries in the range by the lead's first-touch source and campaign.

    lead_first_touch reads one stored row per lead (schemas/sql/004), so the whole of it is a small join side.
    """
    stages = ", ".join(f"countIf(e.stage = '{s}') AS {s}" for s in FUNNEL)
    return f"""
        SELECT if(f.utm_source = '', '(direct)', f.utm_source) AS source,
               if(f.utm_campaign = '', '(none)', f.utm_campaign) AS campaign,
               {stages},
               {ratio("customer", "lead")} AS lead_to_customer
        FROM stage_entries AS e
        LEFT JOIN (SELECT lead_id, utm_source, utm_campaign FROM lead_first_touch) AS f ON f.lead_id = e.lead_id
        WHERE {in_range("e.entered_at")}
        GROUP BY source, campaign
        ORDER BY lead DESC, source, campaign
    """


def by_owner() -> str:
    """Stage entries in the range by the lead's current owner."""
    stages = ", ".join(f"countIf(stage = '{s}') AS {s}" for s in FUNNEL)
    return f"""
        SELECT if(owner_id = '', '(no owner)', owner_id) AS owner,
               {stages},
               {ratio("sql", "mql")} AS mql_to_sql
        FROM stage_entries
        WHERE {in_range("entered_at")}
        GROUP BY owner
        ORDER BY mql DESC, owner
    """


# Clock states as of the end of the range, exactly as the report judges them.
MET = f"stopped_at IS NOT NULL AND stopped_at <= deadline AND stopped_at <= {END}"
STOPPED = f"stopped_at IS NOT NULL AND stopped_at <= {END}"
BREACHED = f"{END} > deadline AND NOT (stopped_at IS NOT NULL AND stopped_at <= deadline)"
RUNNING = f"started_at < {END} AND deadline >= {END} AND (stopped_at IS NULL OR stopped_at > {END})"


def _compliance_columns() -> str:
    return f"""count() AS started,
               countIf({MET}) AS met,
               countIf({BREACHED}) AS breached,
               started - met - breached AS open,
               {ratio("met", "met + breached")} AS compliance"""


def open_clocks() -> str:
    """One row: clocks running at the end of the range, whenever they started."""
    return f"SELECT count() AS open_clocks FROM sla_clocks WHERE {RUNNING}"


def due_within_hour() -> str:
    """One row: running clocks whose deadline is within an hour of the end of the range."""
    return f"SELECT count() AS due_within_hour FROM sla_clocks WHERE {RUNNING} AND deadline < {END} + INTERVAL 1 HOUR"


def breaches_today(timezone: str) -> str:
    """One row: clocks whose deadline passed unmet today (the agreement's day) up to the end of the range."""
    return f"""
        SELECT count() AS breaches_today
        FROM sla_clocks
        WHERE deadline >= toStartOfDay($__toTime, '{timezone}') AND deadline < {END}
          AND (stopped_at IS NULL OR stopped_at > deadline)
    """


def _quantile(q: float) -> str:
    """Return the exact inclusive quantile of stopped clocks' business seconds, NULL without any."""
    quantile = f"quantileExactInclusiveIf({q})(assumeNotNull(business_seconds), {STOPPED})"
    return f"if(countIf({STOPPED}) = 0, NULL, {quantile})"


def compliance_by_handoff() -> str:
    """Per handoff, clocks started in the range: the report's `sla` section."""
    return f"""
        SELECT handoff,
               {_compliance_columns()},
               {_quantile(0.5)} AS p50_business_seconds,
               {_quantile(0.9)} AS p90_business_seconds
        FROM sla_clocks
        WHERE {in_range("started_at")}
        GROUP BY handoff
        ORDER BY handoff
    """


def compliance_by_owner() -> str:
    """Per handoff and owner, clocks started in the range; the lowest compliance first."""
    return f"""
        SELECT handoff,
               if(owner_id = '', '(no owner)', owner_id) AS owner,
               {_compliance_columns()},
               {_quantile(0.5)} AS p50_business_seconds,
               {_quantile(0.9)} AS p90_business_seconds
        FROM sla_clocks
        WHERE {in_range("started_at")}
        GROUP BY handoff, owner
        ORDER BY handoff, compliance, owner
    """


def compliance_by_team() -> str:
    """Per handoff and team of the clock's owner (the latest load of the owners file), clocks started in the range.

    The report's `sla_by_team`: an owner in no team, or a clock without an owner, counts under `(no team)`.
    """
    return f"""
        WITH (SELECT max(loaded_at) FROM owner_teams) AS latest_load
        SELECT handoff,
               if(t.team = '', '(no team)', t.team) AS team,
               {_compliance_columns()},
               {_quantile(0.5)} AS p50_business_seconds,
               {_quantile(0.9)} AS p90_business_seconds
        FROM sla_clocks AS c
        LEFT JOIN (
            SELECT owner_id, team FROM owner_teams WHERE loaded_at = latest_load AND owner_id != ''
        ) AS t ON c.owner_id = t.owner_id
        WHERE {in_range("started_at")}
        GROUP BY handoff, team
        ORDER BY handoff, compliance, team
    """


def follow_up_quantiles() -> str:
    """Return the business seconds to stop, p50 and p90, of clocks started per interval and handoff."""
    return f"""
        SELECT $__timeInterval(started_at) AS time, handoff,
               quantileExactInclusive(0.5)(assumeNotNull(business_seconds)) AS p50,
               quantileExactInclusive(0.9)(assumeNotNull(business_seconds)) AS p90
        FROM sla_clocks
        WHERE {in_range("started_at")} AND {STOPPED}
        GROUP BY time, handoff
        ORDER BY time, handoff
    """


def current_breaches() -> str:
    """Clocks past their deadline in the range and still not stopped at its end: who is overdue, by how much."""
    return f"""
        SELECT lead_id, handoff,
               if(owner_id = '', '(no owner)', owner_id) AS owner,
               started_at, deadline,
               dateDiff('second', deadline, {END}) AS overdue_seconds
        FROM sla_clocks
        WHERE deadline >= {START} AND deadline < {END} AND (stopped_at IS NULL OR stopped_at > {END})
        ORDER BY overdue_seconds DESC, lead_id, handoff
        LIMIT 200
    """


# Deals won: a deal counts once, at its first `won` event (contract §4); amounts are JSON numbers or strings.
DEALS_WON = """
    SELECT deal_id, min(time) AS won_at,
           argMin(amount, (time, source, id)) AS amount, argMin(currency, (time, source, id)) AS currency
    FROM events_by_time
    WHERE type = 'crm.deal_changed' AND deal_stage = 'won'
    GROUP BY deal_id"""


def revenue_won(currency: str) -> str:
    """Return a subquery of one row: the revenue won in the range in the goal's currency."""
    where = f"{in_range('won_at')} AND currency = '{currency}'"
    return f"SELECT toFloat64(sum(amount)) AS won FROM ({DEALS_WON}) WHERE {where}"


def won_other_currencies(currency: str) -> str:
    """Return the revenue won in the range in other currencies than the goal's: beside it, never converted or added."""
    return f"""
        SELECT currency, toFloat64(sum(amount)) AS won, count() AS deals_won
        FROM ({DEALS_WON})
        WHERE {in_range("won_at")} AND currency != '{currency}'
        GROUP BY currency
        ORDER BY currency
    """


def goal_vs_actual(plan: str) -> str:
    """Per plan stage: the goal for the range worked backwards, the entries in it, and the pacing."""
    rows = ", ".join(f"('{k}', p.{k}, toInt64(a.{k}))" for k in PLAN_KEYS)
    return f"""
        SELECT row.1 AS stage, row.2 AS goal, row.3 AS actual, {ratio("actual", "goal")} AS pacing
        FROM ({plan}) AS p
        CROSS JOIN ({stage_counts()}) AS a
        ARRAY JOIN [{rows}] AS row
    """


def revenue_vs_goal(plan: str, currency: str) -> str:
    """One row: revenue won in the range, the revenue goal prorated to it, and the attainment."""
    return f"""
        SELECT w.won AS won, p.revenue AS goal, {ratio("w.won", "p.revenue")} AS attainment
        FROM ({revenue_won(currency)}) AS w
        CROSS JOIN ({plan}) AS p
    """


def revenue_pacing(plan: str, currency: str) -> str:
    """Cumulative revenue won per interval, next to the goal prorated to the end of each interval."""
    span = "greatest(1, toUnixTimestamp($__toTime) - toUnixTimestamp($__fromTime))"
    elapsed = "least(toUnixTimestamp(time) + $__interval_s, toUnixTimestamp($__toTime)) - toUnixTimestamp($__fromTime)"
    return f"""
        SELECT time,
               sum(w.won) OVER (ORDER BY time ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS won,
               p.revenue * ({elapsed}) / {span} AS goal
        FROM (
            SELECT $__timeInterval(won_at) AS time, toFloat64(sum(amount)) AS won
            FROM ({DEALS_WON})
            WHERE {in_range("won_at")} AND currency = '{currency}'
            GROUP BY time
            ORDER BY time WITH FILL
                FROM toStartOfInterval($__fromTime, INTERVAL $__interval_s second) TO $__toTime STEP $__interval_s
        ) AS w
        CROSS JOIN ({plan}) AS p
        ORDER BY time
    """
