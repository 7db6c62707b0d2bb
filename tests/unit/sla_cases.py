"""Shared constants and builders of the SLA clock tests (Europe/Berlin wall time, agreement 2026-H2)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pipelines.agreements import load_agreement
from pipelines.core.lead import snapshot
from pipelines.core.sla import (
    Clock,
    Judge,
)
from schemas.agreement import Agreement
from tests.unit.factories import (
    activity_event,
    lead_state,
    stage_event,
)

BERLIN = ZoneInfo("Europe/Berlin")
AGREEMENTS = Path(__file__).resolve().parents[2] / "agreements"
H2 = load_agreement(AGREEMENTS / "2026-H2.yaml")
JUDGE = Judge([H2])
LEAD = "L1"
HOUR = 3600.0
MQL = "mql_follow_up"
SQL = "sql_to_opportunity"
NOTHING: frozenset[str] = frozenset()


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=BERLIN)


def clocks_of(raws: Iterable[bytes], judge: Judge = JUDGE) -> dict[tuple[str, int], Clock]:
    """Return the lead's clocks keyed by (handoff, episode), checking there is one per key."""
    clocks = snapshot(lead_state(raws), judge).clocks
    keyed = {(c.handoff, c.episode): c for c in clocks}
    assert len(keyed) == len(clocks)
    return keyed


def only_clock(raws: Iterable[bytes], judge: Judge = JUDGE) -> Clock:
    (clock,) = clocks_of(raws, judge).values()
    return clock


def mql_at(moment: datetime, **kwargs: Any) -> bytes:
    return stage_event(LEAD, "mql", moment, **kwargs)


def human(moment: datetime, **kwargs: Any) -> bytes:
    return activity_event(LEAD, moment, automated=False, **kwargs)


def robot(moment: datetime) -> bytes:
    return activity_event(LEAD, moment, automated=True, kind="email")


def statuses(clock: Clock, instants: Sequence[datetime]) -> list[str]:
    return [clock.status(i) for i in instants]


def copy_of(agreement: Agreement, **changes: Any) -> Agreement:
    """Return a validated copy of an agreement with some top-level fields changed."""
    return Agreement.model_validate({**agreement.model_dump(), **changes})


def handoffs_within(agreement: Agreement, within: dict[str, str]) -> list[dict[str, Any]]:
    return [{**h.model_dump(), "within": within.get(h.name, h.within)} for h in agreement.handoffs]


H1_2027 = copy_of(
    H2,
    name="2027-H1",
    effective_from=date(2027, 1, 1),
    effective_to=date(2027, 7, 1),
    handoffs=handoffs_within(H2, {MQL: "2h"}),
)
