"""Time to convert (contract §4): the lines of the report's `time_to_convert` and its fixed histogram bins."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

HOUR, DAY = 3600, 86400
# Fixed bins of calendar seconds, [lower, next lower); the last one is open. Fixed so that months compare.
BINS: tuple[tuple[str, int], ...] = (
    ("<1h", 0),
    ("1h-1d", HOUR),
    ("1d-3d", DAY),
    ("3d-7d", 3 * DAY),
    ("7d-14d", 7 * DAY),
    ("14d-30d", 14 * DAY),
    ("30d-90d", 30 * DAY),
    (">=90d", 90 * DAY),
)
# The store keeps milliseconds and the p50/p90 interpolation steps are halves and tenths of one, so a
# percentile in seconds is exact to 4 decimal places.
SECONDS_DIGITS = 4


def seconds(milliseconds: float) -> float:
    """Return an interpolated percentile of milliseconds as seconds, exact to the tenth of a millisecond."""
    return round(float(milliseconds) * 10) / 10**SECONDS_DIGITS


def time_line(converted: int, quantiles: Sequence[float]) -> dict[str, Any]:
    """One pair's line: `n` conversions and the p50/p90 seconds to convert (`null` where `n` is 0)."""
    if converted == 0:
        return {"n": 0, "p50_seconds": None, "p90_seconds": None}
    return {"n": int(converted), "p50_seconds": seconds(quantiles[0]), "p90_seconds": seconds(quantiles[1])}


def bin_of(milliseconds: int) -> str:
    """Return the label of the fixed bin a time to convert falls in."""
    label = BINS[0][0]
    for name, lower in BINS:
        if milliseconds >= lower * 1000:
            label = name
    return label


def histogram(found: dict[str, int]) -> dict[str, int]:
    """Return every bin in order with its count (0 where nothing fell in it)."""
    return {name: int(found.get(name, 0)) for name, _ in BINS}
