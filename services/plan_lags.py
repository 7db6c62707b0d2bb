"""The lags of the plan by month: the agreement's `goals.lags`, or the median times to convert observed.

Observed lags are the report's `time_to_convert` p50 (the same query) over trailing mature cohorts: the entries
to a rate's first stage in the trailing months ending with the month of `as_of`, entered at least the rate's
conversion window before `as_of` (for `mql_to_sql`, the windows of `mql_to_sal` and `sal_to_sql` added), that
went on by `as_of`. `mql_to_sql` is timed directly from MQL to SQL, and `visit_to_lead` from the lead's
first-touch visit to its entry into `lead` (never less than 0 days).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

from pipelines.core.funnel import window_bounds
from pipelines.core.lag_plan import DAY_SECONDS, lead_times
from pipelines.core.planning import RATE_PAIRS, exact, months_back, rounded
from pipelines.core.timing import seconds
from pipelines.store.client import Store
from schemas.agreement import Agreement
from services.errors import UsageError
from services.report_sql import sql_time, through
from services.report_timing import converted

DAYS_DIGITS = 6


@dataclass(frozen=True, slots=True)
class Observed:
    """One rate's observed median time to convert: how many went on and their p50 in seconds (None without any)."""

    n: int
    p50_seconds: float | None


@dataclass(frozen=True, slots=True)
class Lag:
    """One rate's lag in days and where it comes from: `agreement`, `actuals` or `none` (0 days, nothing known)."""

    days: Fraction
    source: str
    observed: Observed | None = None


def maturity_days(agreement: Agreement) -> dict[str, int]:
    """Return each agreement rate's conversion window in days (`mql_to_sql`: MQL to SAL and SAL to SQL, added)."""
    windows = agreement.conversion_windows
    direct = {name: getattr(windows, name, 0) for name, _, _ in RATE_PAIRS}
    return {**direct, "mql_to_sql": windows.mql_to_sal + windows.sal_to_sql}


def observed_lags(store: Store, agreement: Agreement, as_of: datetime, months: int) -> dict[str, Observed]:
    """Return per agreement rate the median time to convert of the trailing mature cohorts."""
    first = months_back(as_of.astimezone(agreement.zone).date(), months)[0]
    lower = window_bounds(first, first + timedelta(days=1), agreement.zone)[0]
    windows = maturity_days(agreement)
    found: dict[str, Observed] = {}
    for days in sorted(set(windows.values())):
        upper = through(as_of - timedelta(days=days))
        pairs = [pair for pair in RATE_PAIRS if windows[pair[0]] == days]
        if upper <= lower:
            continue
        params = {"start": sql_time(lower), "end": sql_time(upper), "as_of": sql_time(as_of)}
        for name, n, quantiles in converted(store, params, pairs=pairs):
            found[str(name)] = Observed(int(n), seconds(quantiles[0]))
    return {name: found.get(name, Observed(0, None)) for name, _, _ in RATE_PAIRS}


def resolve_lags(agreement: Agreement, observed: Mapping[str, Observed] | None) -> dict[str, Lag]:
    """Return the lags an agreement plans with: observed ones where given and seen, else its own, else 0."""
    own = agreement.goals.lags
    if observed is None and own is None:
        raise UsageError(
            f"agreement {agreement.name!r} sets no goals.lags: set them in its file or give --lags-from-actuals"
        )
    lags = {}
    for name, _, _ in RATE_PAIRS:
        seen = observed.get(name) if observed is not None else None
        if seen is not None and seen.p50_seconds is not None:
            lags[name] = Lag(max(Fraction(0), exact(seen.p50_seconds) / DAY_SECONDS), "actuals", seen)
        elif own is not None:
            lags[name] = Lag(exact(getattr(own, name)), "agreement", seen)
        else:
            lags[name] = Lag(Fraction(0), "none", seen)
    return lags


def lags_json(lags: Mapping[str, Lag]) -> dict[str, Any]:
    """Describe an agreement's lags: per rate the days, source and what was observed; per plan key the days ahead."""
    rates = {}
    for name, lag in lags.items():
        line: dict[str, Any] = {"days": rounded(lag.days, DAYS_DIGITS), "source": lag.source}
        if lag.observed is not None:
            line |= {"n": lag.observed.n, "p50_seconds": lag.observed.p50_seconds}
        rates[name] = line
    ahead = lead_times({name: lag.days for name, lag in lags.items()})
    return {"rates": rates, "days_ahead": {key: rounded(days, DAYS_DIGITS) for key, days in ahead.items()}}


def lag_days(lags: Mapping[str, Lag]) -> dict[str, Fraction]:
    """Return just the days per rate."""
    return {name: lag.days for name, lag in lags.items()}


def observed_json(as_of: datetime, agreement: Agreement, months: int) -> dict[str, Any]:
    """Describe where observed lags come from: as of when, which months, the conversion windows that make mature."""
    trailing: Sequence[date] = months_back(as_of.astimezone(agreement.zone).date(), months)
    return {
        "as_of": as_of.astimezone(UTC).isoformat(),
        "months": [f"{m:%Y-%m}" for m in trailing],
        "window_days": maturity_days(agreement),
    }


REPORT_MONTHS = 6  # trailing months of observed lags for an agreement that sets none, as `plan --from-actuals`


def report_lags(
    store: Store, agreements: Sequence[Agreement], main: Agreement, as_of: datetime
) -> tuple[dict[str, dict[str, Lag]], dict[str, Any] | None]:
    """Return each agreement's lags for the report: its own, else observed as of `as_of`; and what was observed."""
    observed = None
    if any(a.goals.lags is None for a in agreements):
        observed = observed_lags(store, main, as_of, REPORT_MONTHS)
    lags = {a.name: resolve_lags(a, None if a.goals.lags else observed) for a in agreements}
    return lags, None if observed is None else observed_json(as_of, main, REPORT_MONTHS)
