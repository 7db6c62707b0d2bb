"""`leadflow demo`'s pieces: its agreements, the simulator it starts, and what it tells the user."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.agreements import agreement_files, in_force, load_agreement, load_agreements, period_problems
from pipelines.store.protocol import parse_query
from services.cli import build_parser
from services.demo import demo_env, hints, simulator_command
from services.demo_agreements import today_in_force, write_demo_agreements

NOW = datetime(2026, 12, 5, 23, 30, tzinfo=UTC)  # already 6 December in Berlin


def test_the_agreements_cover_the_backfill_and_the_live_days_without_overlap(tmp_path: Path) -> None:
    folder = write_demo_agreements(tmp_path / "agreements", NOW, 2)
    pairs = [(path, load_agreement(path)) for path in agreement_files(folder)]
    assert period_problems(pairs) == []
    agreements = load_agreements(folder)
    today = today_in_force(NOW)
    assert today == date(2026, 12, 6)
    first_backfilled = (NOW - timedelta(days=14)).date()
    assert in_force(agreements, first_backfilled).name == "demo-history"  # type: ignore[union-attr]
    assert in_force(agreements, today - timedelta(days=1)).name == "demo-history"  # type: ignore[union-attr]
    live = in_force(agreements, today)
    assert live is not None and live.name == "demo-live"
    assert len(live.business_hours.days) == 7 and not live.holidays
    assert {h.name: h.within for h in live.handoffs}["mql_follow_up"] == "2m"


def test_a_follow_up_under_a_minute_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1 minute"):
        write_demo_agreements(tmp_path, NOW, 0)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--follow-up-minutes", "0"])


def test_the_simulator_backfills_two_weeks_up_to_now_then_goes_on_live() -> None:
    command = simulator_command(150.0, NOW, 3)
    assert command[1:5] == ["simulate", "--kafka", "--rate", "150.0"]
    start = datetime.fromisoformat(command[command.index("--start") + 1])
    days = int(command[command.index("--days") + 1])
    assert start + timedelta(days=days) == NOW
    assert command[-3:] == ["--live", "--follow-up-minutes", "3"]
    args = build_parser().parse_args(command[1:])  # the simulator's own parser takes it
    assert args.live and args.follow_up_minutes == 3 and args.kafka


def test_hints_name_the_metrics_page_and_queries_the_pages_accept(tmp_path: Path) -> None:
    env = {**demo_env(tmp_path, 9092, tmp_path / "agreements"), "LEADFLOW_WEB_PORT": "6077"}
    lines = hints(env, 2, date(2026, 12, 6), "the-token")
    text = "\n".join(lines)
    assert "http://127.0.0.1:6077/metrics" in text
    assert "leadflow_sla_breaches_total" in text
    assert f"LEADFLOW_STORE=chdb:{tmp_path / 'chdb'}" in text
    assert "report --from 2026-12-06 --to 2026-12-07" in text
    assert text.count("Authorization: Bearer the-token") == 1
    bodies = re.findall(r"-d '(.*?)'$", text, re.MULTILINE)
    assert len(bodies) == 1
    assert "sla_clocks" in parse_query(bodies[0].encode()).sql  # the page takes the request


def test_the_one_lead_hint_is_the_lead_command_on_the_demo_store(tmp_path: Path) -> None:
    env = demo_env(tmp_path, 9092, tmp_path / "agreements")
    line = hints(env, 2, date(2026, 12, 6), "the-token")[-1]
    assert line.startswith("one lead:")
    settings = f"LEADFLOW_STORE=chdb:{tmp_path / 'chdb'} LEADFLOW_AGREEMENTS={tmp_path / 'agreements'}"
    command = line.split(settings, 1)[1].split("  (")[0].split()
    assert Path(command[0]).name == "leadflow"
    args = build_parser().parse_args(command[1:])  # the command's own parser takes it
    assert args.command == "lead" and args.lead_id == "LEAD_ID" and args.format == "text"
