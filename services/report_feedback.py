"""Feedback from sales to marketing: how many MQLs sales accepted, and the reasons given for handing leads back.

An MQL (a `mql` entry in the window, per episode) is judged by the first decision sales made on it by
`as_of`: *accepted* (its episode entered `sal` or a later funnel stage), *recycled* or *disqualified*
(moved there before any acceptance). Without a decision it is *unworked* once its follow-up window (the
deadline of the clock of a handoff that starts on `mql`) has ended by `as_of`, else *pending*, which the
rate leaves out: acceptance_rate = accepted / (accepted + recycled + disqualified + unworked).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipelines.core.funnel import ratio
from pipelines.store.client import Store
from services.report_sql import TS

OUTCOMES = ("accepted", "recycled", "disqualified", "unworked", "pending")
JUDGED = OUTCOMES[:4]
NO_REASON = "(no reason given)"
HANDED_BACK = ("recycled", "disqualified")


def mql_acceptance(store: Store, params: dict[str, Any], follow_ups: Sequence[str]) -> dict[str, Any]:
    """Count the window's MQLs by the first decision sales made on them, and the acceptance rate."""
    rows = store.query(
        f"""
        WITH mqls AS (
            SELECT lead_id, episode, min(entered_at) AS mql_at FROM stage_entries
            WHERE stage = 'mql' AND entered_at >= {{start:{TS}}} AND entered_at < {{end:{TS}}}
            GROUP BY lead_id, episode
        ),
        decisions AS (
            SELECT lead_id, episode, 'accepted' AS kind, entered_at AS at FROM stage_entries
            WHERE stage IN ('sal', 'sql', 'opportunity', 'customer')
            UNION ALL
            SELECT lead_id, episode, toString(to_stage) AS kind, at FROM stage_transitions
            WHERE to_stage IN ('recycled', 'disqualified')
        ),
        firsts AS (
            SELECT m.lead_id AS lead_id, m.episode AS episode,
                   argMinIf(d.kind, d.at, d.at >= m.mql_at AND d.at <= {{as_of:{TS}}}) AS decision
            FROM mqls AS m LEFT JOIN decisions AS d ON d.lead_id = m.lead_id AND d.episode = m.episode
            GROUP BY m.lead_id, m.episode
        ),
        follow_ups AS (
            SELECT lead_id, episode, 1 AS has_window, min(deadline) AS deadline FROM sla_clocks
            WHERE handoff IN {{follow_ups:Array(String)}}
              AND started_at >= {{start:{TS}}} AND started_at < {{end:{TS}}}
            GROUP BY lead_id, episode
        )
        SELECT multiIf(f.decision != '', f.decision,
                       w.has_window = 1 AND w.deadline < {{as_of:{TS}}}, 'unworked', 'pending') AS outcome,
               count()
        FROM firsts AS f LEFT JOIN follow_ups AS w ON w.lead_id = f.lead_id AND w.episode = f.episode
        GROUP BY outcome
        """,
        {**params, "follow_ups": list(follow_ups)},
    )
    found = {str(outcome): int(n) for outcome, n in rows}
    counts = {outcome: found.get(outcome, 0) for outcome in OUTCOMES}
    judged = sum(counts[o] for o in JUDGED)
    return {
        "mqls": sum(counts.values()),
        **counts,
        "acceptance_rate": ratio(counts["accepted"], judged),
        "follow_up_handoffs": sorted(follow_ups),
    }


def handed_back_reasons(store: Store, params: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Count the reasons given on moves to `recycled` and `disqualified` made in the window, most given first."""
    rows = store.query(
        f"""
        SELECT toString(t.to_stage), JSONExtractString(e.payload, 'data', 'reason') AS reason, count()
        FROM stage_transitions AS t
        INNER JOIN (
            SELECT source, id, payload FROM events FINAL
            WHERE type = 'crm.lifecycle_changed' AND time >= {{start:{TS}}} AND time < {{end:{TS}}}
        ) AS e ON e.source = t.event_source AND e.id = t.event_id
        WHERE t.to_stage IN ('recycled', 'disqualified') AND t.at >= {{start:{TS}}} AND t.at < {{end:{TS}}}
        GROUP BY 1, 2
        """,
        params,
    )
    reasons: dict[str, dict[str, int]] = {stage: {} for stage in HANDED_BACK}
    for stage, reason, n in sorted(rows, key=lambda r: (r[0], -int(r[2]), r[1])):
        reasons[str(stage)][str(reason) or NO_REASON] = int(n)
    return reasons


def feedback_section(store: Store, params: dict[str, Any], follow_ups: Sequence[str]) -> dict[str, Any]:
    """Return the `feedback` section: MQL acceptance and the reasons given for handing leads back."""
    return {"mql_acceptance": mql_acceptance(store, params, follow_ups), "reasons": handed_back_reasons(store, params)}
