"""Funnel maths of the report (contract §4): pairs, period ratios, cohort shares, report windows."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from pipelines.core.lifecycle import FUNNEL

PAIRS: tuple[tuple[str, str, str], ...] = (
    ("visit_to_lead", "visits", "lead"),
    *((f"{a}_to_{b}", a, b) for a, b in itertools.pairwise(FUNNEL)),
)
RATIO_DIGITS = 6


def ratio(numerator: int, divisor: int) -> float | None:
    """Return numerator / divisor rounded to 6 places, or None when the divisor is 0."""
    return None if divisor == 0 else round(numerator / divisor, RATIO_DIGITS)


def conversion(counts: Mapping[str, int]) -> dict[str, float | None]:
    """Period ratios: each next count over the previous one (may exceed 1)."""
    return {name: ratio(counts[b], counts[a]) for name, a, b in PAIRS}


def cohort(reached: Mapping[str, tuple[int, int]]) -> dict[str, float | None]:
    """Cohort shares from (entered the first stage, of those went on by as_of) per pair name."""
    return {name: ratio(reached[name][1], reached[name][0]) for name, _, _ in PAIRS}


def window_bounds(start: date, end: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Return the UTC instants of local midnight at `start` and at `end`."""
    if end <= start:
        raise ValueError(f"--to ({end}) must be after --from ({start})")
    return (
        datetime.combine(start, time(0), zone).astimezone(UTC),
        datetime.combine(end, time(0), zone).astimezone(UTC),
    )


def sla_section(
    started: int,
    met: int,
    breached: int,
    stopped: int,
    quantiles: Sequence[float],
    escalated: int = 0,
    reassign_suggested: int = 0,
) -> dict[str, Any]:
    """One handoff's line of the `sla` section; `open` clocks are neither met nor breached."""
    p50, p90 = (None, None) if stopped == 0 else (round(float(quantiles[0]), 3), round(float(quantiles[1]), 3))
    return {
        "started": int(started),
        "met": int(met),
        "breached": int(breached),
        "open": int(started) - int(met) - int(breached),
        "compliance": ratio(int(met), int(met) + int(breached)),
        "p50_business_seconds": p50,
        "p90_business_seconds": p90,
        "escalated": int(escalated),
        "reassign_suggested": int(reassign_suggested),
    }
