"""Mature conversion cohorts for Prometheus: `python -m services.conversion_exporter`.

A small exporter beside the store, like the lag exporter beside Kafka. For the agreement in force now, and each
of its rates, the cohort is the mature entries to the rate's first stage: those of the agreement's
`conversion_alerts` window that ended the rate's conversion window ago (`conversion_windows`; for `mql_to_sql`,
those of `mql_to_sal` and `sal_to_sql` added), and its members that went on by now (the plan's cohorts,
`plan --from-actuals`, over that window instead of a month). Prometheus works out the 95 % Wilson bounds of
each rate from these counts (recording rules `leadflow:conversion_lower:wilson95` and
`leadflow:conversion_upper:wilson95`), and `LeadflowConversionBelowTarget` fires when the upper bound is below
the target with at least `min_sample` entries, so a small month never alerts by chance.

Metrics, labels `agreement` and `rate`: `leadflow_conversion_entered`, `leadflow_conversion_went_on`,
`leadflow_conversion_target`, `leadflow_conversion_min_sample`, `leadflow_conversion_window_start_seconds` and
`leadflow_conversion_window_end_seconds`; and `leadflow_conversion_up` (1 when the store answered the last
measurement). Measurements are kept for `--cache-seconds`, so a scrape costs a few store queries a minute at
most.

An embedded store is read through the process that holds it (a worker or `leadflow store serve`): the exporter
never holds it itself, or a worker could not start. With none holding it, `leadflow_conversion_up` is 0.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pipelines.agreements import AgreementError, load_agreements
from pipelines.core.planning import RATE_NAMES
from pipelines.core.sla import Judge
from pipelines.exporters import add_listen_flags, serve
from pipelines.settings import ConfigError, Settings, load_settings
from pipelines.store.client import Store, reach_store
from pipelines.store.exceptions import StoreError
from schemas.agreement import Agreement
from services.plan_actuals import window_cohorts

log = logging.getLogger(__name__)
DEFAULT_PORT = 9309
DEFAULT_CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class Cohort:
    """One rate's mature cohort: the entries in [start, end), and how many went on."""

    start: datetime
    end: datetime
    entered: int
    went_on: int


@dataclass(frozen=True)
class Measurement:
    """The mature cohorts of the agreement in force when measured, by rate."""

    agreement: Agreement
    cohorts: dict[str, Cohort]


def maturity(agreement: Agreement) -> dict[str, timedelta]:
    """Return each agreement rate's conversion window: the pair's, or for mql_to_sql its two steps' added."""
    windows = agreement.conversion_windows.model_dump()
    days = {name: windows.get(name, windows["mql_to_sal"] + windows["sal_to_sql"]) for name in RATE_NAMES}
    return {name: timedelta(days=value) for name, value in days.items()}


def cohort_window(agreement: Agreement, rate: str, now: datetime) -> tuple[datetime, datetime]:
    """Return the [start, end) of a rate's entries judged at `now`: the window that ended its maturity ago."""
    end = now - maturity(agreement)[rate]
    return end - timedelta(days=agreement.conversion_alerts.window_days), end


def measure(store: Store, judge: Judge, now: datetime) -> Measurement | None:
    """Return the mature cohorts of the agreement in force at `now` (None when no agreement is in force)."""
    agreement = judge.agreement_at(now)
    if agreement is None:
        return None
    cohorts: dict[str, Cohort] = {}
    windows = {rate: cohort_window(agreement, rate, now) for rate in RATE_NAMES}
    for start, end in sorted(set(windows.values())):  # one query per distinct window: they mostly coincide
        counted = window_cohorts(store, agreement.zone, start, end, now)
        for rate in (r for r, window in windows.items() if window == (start, end)):
            cohorts[rate] = Cohort(start, end, *counted[rate])
    return Measurement(agreement, cohorts)


def metrics(measured: Measurement | None, up: bool) -> list[Metric]:
    """Return the exporter's gauges for a measurement."""
    labels = ["agreement", "rate"]
    families = {
        "entered": GaugeMetricFamily("leadflow_conversion_entered", "Mature cohort: entries judged", labels=labels),
        "went_on": GaugeMetricFamily(
            "leadflow_conversion_went_on", "Mature cohort: entries whose episode went on", labels=labels
        ),
        "target": GaugeMetricFamily("leadflow_conversion_target", "The agreement's rate", labels=labels),
        "min_sample": GaugeMetricFamily(
            "leadflow_conversion_min_sample", "Entries a cohort needs before it may alert", labels=labels
        ),
        "start": GaugeMetricFamily(
            "leadflow_conversion_window_start_seconds", "Mature cohort: first entry instant judged", labels=labels
        ),
        "end": GaugeMetricFamily(
            "leadflow_conversion_window_end_seconds", "Mature cohort: end of the entries judged", labels=labels
        ),
    }
    if measured is not None:
        agreement = measured.agreement
        targets = agreement.goals.rates.model_dump()
        for rate, cohort in sorted(measured.cohorts.items()):
            key = [agreement.name, rate]
            families["entered"].add_metric(key, cohort.entered)
            families["went_on"].add_metric(key, cohort.went_on)
            families["target"].add_metric(key, float(targets[rate]))
            families["min_sample"].add_metric(key, agreement.conversion_alerts.min_sample)
            families["start"].add_metric(key, cohort.start.timestamp())
            families["end"].add_metric(key, cohort.end.timestamp())
    answered = GaugeMetricFamily("leadflow_conversion_up", "1 if the store answered the last measurement")
    answered.add_metric([], 1 if up else 0)
    return [*families.values(), answered]


class ConversionCollector(Collector):
    """Measures the mature cohorts at a scrape, at most once per `cache_seconds`."""

    def __init__(
        self,
        settings: Settings,
        agreements: Sequence[Agreement],
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._judge = Judge(agreements)  # only for the agreement in force: the same rule as the clocks'
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: tuple[float, Measurement | None, bool] | None = None

    def collect(self) -> Iterator[Metric]:
        """Yield the gauges of the latest measurement (measuring again when it is older than the cache)."""
        with self._lock:
            if self._kept is None or time.monotonic() - self._kept[0] >= self._cache_seconds:
                measured, up = self._measure()
                self._kept = (time.monotonic(), measured, up)
            _at, measured, up = self._kept
        yield from metrics(measured, up)

    def _measure(self) -> tuple[Measurement | None, bool]:
        try:
            store = reach_store(self._settings)
        except StoreError as exc:
            log.warning("the store did not answer: %s", exc)
            return None, False
        try:
            return measure(store, self._judge, self._clock()), True
        except StoreError as exc:
            log.warning("the store did not answer: %s", exc)
            return None, False
        finally:
            store.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the conversion metrics until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m services.conversion_exporter", description=__doc__.splitlines()[0])
    add_listen_flags(parser, DEFAULT_PORT)
    parser.add_argument(
        "--cache-seconds", type=float, default=DEFAULT_CACHE_SECONDS, help="seconds a measurement is served"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        agreements = load_agreements(settings.agreements)
    except (ConfigError, AgreementError) as exc:
        print(f"leadflow conversion exporter: error: {exc}", file=sys.stderr)
        return 2
    collector = ConversionCollector(settings, agreements, max(0.0, args.cache_seconds))
    names = ", ".join(a.name for a in agreements) or "none"
    return serve(collector, args.host, args.port, f"leadflow conversion exporter: agreements {names}")


if __name__ == "__main__":
    sys.exit(main())
