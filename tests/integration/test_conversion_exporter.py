"""The conversion exporter as a process: mature cohorts read through the store's holder, equal to an independent count.

A seeded simulation that ends 66 days ago is replayed into a chDB store held by `leadflow store serve`; the
exporter (agreement in force now, 90-day windows ending each rate's conversion window ago) must export, for
every rate, the cohort that the core itself derives from the same file: each lead's stage entries from its
replayed state, visits and forms from the valid events. With no holder, it reports that the store did not
answer, and never holds it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.core.lead import LeadState, apply_event, snapshot
from pipelines.core.model import Event
from pipelines.core.validate import parse_event
from pipelines.store.owner import read_owner
from tests.integration.agreements import around_the_clock
from tests.integration.kafka_fixture import free_port
from tests.integration.processes import REPO, base_env, leadflow_json, wait_until
from tests.integration.store_processes import StoreService, store_path

pytestmark = pytest.mark.integration

RATES = {
    "lead_to_mql": ("lead", "mql"),
    "mql_to_sql": ("mql", "sql"),
    "sql_to_opportunity": ("sql", "opportunity"),
    "opportunity_to_customer": ("opportunity", "customer"),
}


class Exporter:
    """`python -m services.conversion_exporter` on a free port."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.port = free_port()
        self.log = cwd / "exporter.log"
        args = [sys.executable, "-m", "services.conversion_exporter", "--port", str(self.port), "--cache-seconds", "0"]
        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(args, env=env, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT)
        wait_until(self._answers, 30, f"the exporter ({self.log})")

    def _answers(self) -> bool:
        assert self.process.poll() is None, self.log.read_text()
        try:
            self.metrics()
        except OSError:
            return False
        return True

    def metrics(self) -> dict[str, float]:
        """Return every sample of /metrics, keyed by its name and labels as written."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=30) as answer:
            text = answer.read().decode()
        return {m[0]: float(m[1]) for m in re.findall(r"^(leadflow_conversion\S*) (\S+)$", text, re.MULTILINE)}

    def stop(self) -> None:
        """Stop the process by its PID."""
        self.process.terminate()
        self.process.wait(timeout=15)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path, Path]:
    """A store with 14 simulated days that ended 66 days ago, and an agreement in force now."""
    folder = tmp_path_factory.mktemp("conversion")
    now = datetime.now(UTC)
    env = base_env(
        LEADFLOW_STORE=f"chdb:{folder / 'store'}",
        LEADFLOW_AGREEMENTS=str(around_the_clock(folder / "agreements", now, "drop-alerts")),
    )
    events = folder / "events.jsonl"
    start = (now - timedelta(days=80)).replace(microsecond=0).isoformat()
    simulate = ["simulate", "--out", str(events), "--start", start, "--days", "14", "--visitors", "1500"]
    leadflow_json([*simulate, "--seed", "11"], env, folder)
    assert leadflow_json(["replay", str(events), "--no-progress"], env, folder)["leads"] > 100
    return env, folder, events


def independent_cohorts(events: Path, start: datetime, end: datetime, as_of: datetime) -> dict[str, tuple[int, int]]:
    """Count each rate's cohort from the file with the core alone (no store, no SQL)."""
    parsed = [parse_event(line.rstrip(b"\n")) for line in events.read_bytes().splitlines() if line.strip()]
    valid = list({e.key: e for e in parsed if isinstance(e, Event)}.values())
    states: dict[str, LeadState] = {}
    for event in sorted((e for e in valid if e.lead_id), key=lambda e: (e.time, e.source, e.id)):
        states[event.subject] = apply_event(states.get(event.subject), event)[0]
    cohorts = {}
    for rate, (a, b) in RATES.items():
        entered = went_on = 0
        for state in states.values():
            entries = snapshot(state).lifecycle.entries
            for entry in (e for e in entries if e.stage == a and start <= e.entered_at < end):
                entered += 1
                went_on += any(e.stage == b and e.episode == entry.episode and e.entered_at <= as_of for e in entries)
        cohorts[rate] = (entered, went_on)
    visits = [e for e in valid if e.type == "web.visit"]
    first_visit: dict[str, datetime] = {}
    for visit in visits:
        first_visit[visit.subject] = min(visit.time, first_visit.get(visit.subject, visit.time))
    forms = [e for e in valid if e.type == "web.form_submitted" and e.time <= as_of]
    leads = {f.lead_id for f in forms if f.visitor_id in first_visit and start <= first_visit[f.visitor_id] < end}
    cohorts["visit_to_lead"] = (sum(1 for v in visits if start <= v.time < end), len(leads))
    return cohorts


@pytest.fixture
def held(scenario: tuple[dict[str, str], Path, Path]) -> Iterator[StoreService]:
    env, folder, _ = scenario
    service = StoreService(env, folder).start()
    try:
        yield service
    finally:
        service.stop()


def test_the_exporter_serves_the_mature_cohorts_the_core_counts(
    scenario: tuple[dict[str, str], Path, Path], held: StoreService
) -> None:
    env, folder, events = scenario
    exporter = Exporter(env, folder)
    try:
        measured_after = datetime.now(UTC)
        samples = exporter.metrics()
    finally:
        exporter.stop()
    assert samples["leadflow_conversion_up"] == 1.0
    label = 'agreement="drop-alerts"'
    for rate in (*RATES, "visit_to_lead"):
        key = f'{{{label},rate="{rate}"}}'
        start = datetime.fromtimestamp(samples[f"leadflow_conversion_window_start_seconds{key}"], UTC)
        end = datetime.fromtimestamp(samples[f"leadflow_conversion_window_end_seconds{key}"], UTC)
        window = timedelta(days=60 if rate == "mql_to_sql" else 30)  # the default conversion windows
        assert abs(end - (measured_after - window)) < timedelta(minutes=1), rate
        assert end - start == timedelta(days=90)
        entered, went_on = independent_cohorts(events, start, end, measured_after)[rate]
        assert samples[f"leadflow_conversion_entered{key}"] == entered, rate
        assert samples[f"leadflow_conversion_went_on{key}"] == went_on, rate
        assert samples[f"leadflow_conversion_min_sample{key}"] == 30
        if rate in ("lead_to_mql", "sql_to_opportunity"):
            assert entered > 20 and went_on > 0, rate  # the scenario lies inside every window
    assert samples[f'leadflow_conversion_target{{{label},rate="mql_to_sql"}}'] == 0.5


def test_with_no_holder_the_store_did_not_answer_and_stays_unheld(
    scenario: tuple[dict[str, str], Path, Path],
) -> None:
    env, folder, _ = scenario
    exporter = Exporter(env, folder)
    try:
        samples = exporter.metrics()
        assert read_owner(store_path(env)) is None
    finally:
        exporter.stop()
    assert samples["leadflow_conversion_up"] == 0.0
    assert not any(name.startswith("leadflow_conversion_entered") for name in samples)
    # the store was never held by the exporter: a store service can take it at once
    service = StoreService(env, folder, name="after").start()
    service.stop()
