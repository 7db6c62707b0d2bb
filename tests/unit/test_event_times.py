"""Impossible event times are refused at every door, with reason `time_out_of_range` (contract §1)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from benchmarks.bench_replay import NullStore
from pipelines.core.model import Event, EventTimes, Invalid
from pipelines.core.sla import Judge
from pipelines.core.validate import parse_event
from pipelines.replay import Replayer
from pipelines.settings import ConfigError, load_settings
from pipelines.topics import TopicNames
from services.collector.cloudevents import Item
from services.collector.intake import Accepted, Rejected, check_event
from services.produce import refusal
from tests.unit.factories import form_event, stage_event

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
TIMES = EventTimes(datetime(2000, 1, 1, tzinfo=UTC), timedelta(minutes=15))


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("LEADFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(
    ("moment", "accepted"),
    [
        ("0001-01-01T00:00:00Z", False),
        ("1999-12-31T23:59:59.999Z", False),
        ("2000-01-01T00:00:00Z", True),
        ("2026-12-05T12:15:00Z", True),
        ("2026-12-05T12:15:00.001Z", False),
        ("9999-12-31T00:00:00Z", False),
    ],
)
def test_times_before_the_earliest_or_past_the_skew_are_refused(moment: str, accepted: bool) -> None:
    parsed = parse_event(stage_event("L1", "mql", moment, id="e1"), accepted=TIMES.at(NOW))
    assert isinstance(parsed, Event) is accepted
    if not accepted:
        assert isinstance(parsed, Invalid) and parsed.reason.startswith("time_out_of_range: time ")


def test_an_offset_is_compared_as_the_instant_it_names() -> None:
    late_in_berlin = stage_event("L1", "mql", "2026-12-05T13:14:00+01:00", id="e1")  # 12:14 UTC
    assert isinstance(parse_event(late_in_berlin, accepted=TIMES.at(NOW)), Event)


def test_the_range_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().event_times == TIMES
    monkeypatch.setenv("LEADFLOW_EARLIEST_EVENT_TIME", "2020-01-01T00:00:00+01:00")
    monkeypatch.setenv("LEADFLOW_MAX_CLOCK_SKEW", "3600")
    assert load_settings().event_times == EventTimes(datetime(2019, 12, 31, 23, tzinfo=UTC), timedelta(hours=1))
    monkeypatch.setenv("LEADFLOW_MAX_CLOCK_SKEW", "PT2M")
    assert load_settings().event_times.max_skew == timedelta(minutes=2)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("LEADFLOW_MAX_CLOCK_SKEW", "-5", "greater than or equal to 0"),
        ("LEADFLOW_MAX_CLOCK_SKEW", "soon", "timedelta"),
        ("LEADFLOW_EARLIEST_EVENT_TIME", "2010-01-01", "timezone"),
    ],
)
def test_a_bad_range_fails_at_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=f"^{name}: .*{says}"):
        load_settings()


def test_the_collector_refuses_the_event_with_the_reason() -> None:
    names = TopicNames()
    future = check_event(0, Item(stage_event("L1", "mql", NOW + timedelta(hours=1))), None, names, TIMES.at(NOW))
    assert isinstance(future, Rejected) and future.reason.startswith("time_out_of_range")
    assert isinstance(check_event(0, Item(stage_event("L1", "mql", NOW)), None, names, TIMES.at(NOW)), Accepted)


def test_replay_dead_letters_the_event_and_keeps_the_others() -> None:
    replayer = Replayer(NullStore(), NOW, "replay:test", Judge([]), TIMES)
    replayer.feed(form_event("L1", "V1", datetime(1, 1, 1, tzinfo=UTC)), 1)
    replayer.feed(form_event("L2", "V2", NOW), 2)
    stats = replayer.finish()
    assert (stats.valid, stats.invalid, stats.leads) == (1, 1, 1)


def test_produce_sends_the_line_to_the_dead_letter_topic_with_the_reason() -> None:
    headers = refusal(stage_event("L1", "mql", "9999-01-01T00:00:00Z", id="e1"), TIMES.at(NOW))
    assert headers is not None and dict(headers)["reason"].startswith(b"time_out_of_range")
    assert refusal(stage_event("L1", "mql", NOW), TIMES.at(NOW)) is None
    assert refusal(b"not json", TIMES.at(NOW)) is None  # the worker gives its own reason
