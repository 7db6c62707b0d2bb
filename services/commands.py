"""The subcommands behind `leadflow`: each reads the settings once, does its work, returns an exit code."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from pipelines.agreements import (
    AgreementError,
    agreement_files,
    load_agreement,
    load_agreements,
    load_judge,
    load_owners,
    period_problems,
)
from pipelines.core.rows import OWNER_TEAM_COLUMNS, to_owner_team_rows
from pipelines.settings import load_settings
from pipelines.store.client import open_store
from schemas.agreement import Agreement
from services.errors import UsageError

ERR = Console(stderr=True)


def cmd_worker(args: argparse.Namespace) -> int:
    """Run one Faust worker."""
    from pipelines.worker import run_worker

    settings = load_settings(web_port=args.web_port)
    load_agreements(settings.agreements)
    return run_worker(settings)


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay a JSON-lines file into the store."""
    from pipelines.heap import settle_heap
    from pipelines.replay import replay_file

    settings = load_settings()
    if not args.file.is_file():
        raise UsageError(f"{args.file}: no such file")
    judge = load_judge(settings.agreements, settings.owners)  # a bad agreement ends the command before any work
    store = open_store(settings, exclusive=True)
    started = datetime.now(UTC)
    store.insert("owner_teams", to_owner_team_rows(judge.teams, started), OWNER_TEAM_COLUMNS)
    size = args.file.stat().st_size
    settle_heap()
    columns = (TextColumn("replay"), BarColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=ERR, disable=args.no_progress) as progress:
        task = progress.add_task("replay", total=size)
        stats = replay_file(
            args.file,
            store,
            judge,
            on_line=lambda done: progress.update(task, completed=done),
            now=started,
            times=settings.event_times,
        )
        progress.update(task, completed=size)
    store.close()
    summary = {**asdict(stats), "latest_event_at": stats.latest_event_at.isoformat() if stats.latest_event_at else None}
    print(json.dumps(summary, sort_keys=True))
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    """Send a file of events to Kafka."""
    from pipelines.kafka_admin import ensure_topics
    from services.produce import file_lines, send_lines

    settings = load_settings()
    if not args.file.is_file():
        raise UsageError(f"{args.file}: no such file")
    ensure_topics(settings)
    with Progress(TextColumn("produce {task.completed} events"), console=ERR) as progress:
        task = progress.add_task("produce")
        sent = send_lines(
            settings,
            file_lines(args.file),
            args.rate,
            args.fallback_topic,
            lambda n: progress.update(task, completed=n),
        )
    print(json.dumps({"sent": sent}))
    return 0


def _simulation_config(args: argparse.Namespace) -> Any:
    from services.simulate import SimulationConfig

    overrides = {
        "seed": args.seed,
        "visitors": args.visitors,
        "days": args.days,
        "start": args.start,
        "malformed_rate": args.malformed_rate,
        "duplicate_rate": args.duplicate_rate,
        "late_rate": args.late_rate,
    }
    try:
        return replace(SimulationConfig(), **{k: v for k, v in overrides.items() if v is not None})
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def cmd_simulate(args: argparse.Namespace) -> int:
    """Generate traffic to a file or to Kafka."""
    from services.simulate import write_jsonl

    config = _simulation_config(args)
    if args.live and args.out is not None:
        raise UsageError("--live sends to Kafka: use it with --kafka")
    if args.out is None:
        return _simulate_to_kafka(config, args)
    summary = write_jsonl(config, args.out, progress=sys.stderr.isatty())
    print(json.dumps(asdict(summary), sort_keys=True, default=str))
    return 0


def _simulate_to_kafka(config: Any, args: argparse.Namespace) -> int:
    """Send the events that have arrived by now at `--rate`; with --live, go on sending as later ones arrive."""
    from pipelines.kafka_admin import ensure_topics
    from services.simulate import simulate, summarize
    from services.simulate_live import split_at

    settings = load_settings()
    ensure_topics(settings)
    now = datetime.now(UTC)
    # never ahead of time: every door refuses an event dated later than now plus LEADFLOW_MAX_CLOCK_SKEW
    arrived, later = split_at(simulate(config), now)
    summary = {**asdict(summarize(arrived)), "later": len(later), "later_sent": bool(args.live)}
    if args.live:
        print(json.dumps(summary, sort_keys=True, default=str), flush=True)
        return _send_live(settings, (arrived, later), now, config.seed, args)
    _send_paced(settings, arrived, args.rate)
    print(json.dumps(summary, sort_keys=True, default=str))
    return 0


def _send_paced(settings: Any, events: list[Any], rate: float) -> None:
    from services.produce import send_lines

    with Progress(TextColumn("simulate → Kafka"), BarColumn(), TextColumn("{task.completed}"), console=ERR) as bar:
        task = bar.add_task("send", total=len(events))
        send_lines(settings, (e.value for e in events), rate, None, lambda n: bar.update(task, completed=n))


def _send_live(settings: Any, split: tuple[list[Any], list[Any]], now: datetime, seed: int, args: Any) -> int:
    """Send the backfill at `--rate`, merged with later and live events each sent when its time comes; until killed."""
    from services.produce import send_when_due
    from services.simulate_live import LivePace, live_events, schedule

    arrived, later = split
    pace = LivePace(seed=seed, promise=timedelta(minutes=args.follow_up_minutes))
    ERR.print(f"live from {now:%H:%M:%S} UTC: {len(arrived):,} events at {args.rate:g}/s, then each one as it arrives")
    progress = LiveProgress(len(arrived), now)
    planned = schedule(arrived, later, live_events(now, pace), now, args.rate)
    send_when_due(settings, (progress.next(due, event) for due, event in planned), progress.sent)
    return 0


class LiveProgress:
    """Counts what a live simulation sent: one line when the backfill is out, then one every 100 later events."""

    def __init__(self, backfill: int, now: datetime) -> None:
        self.backfill, self.now = backfill, now
        self.backfilled = self.later = 0
        self.in_backfill = True

    def next(self, due: datetime, event: Any) -> tuple[datetime, bytes]:
        """Note which part the event about to be sent belongs to; return it as the sender takes it."""
        self.in_backfill = event.arrival <= self.now
        return due, bytes(event.value)

    def sent(self, _count: int) -> None:
        """Count the event just sent, and say so now and then."""
        if self.in_backfill:
            self.backfilled += 1
        else:
            self.later += 1
        if (self.in_backfill and self.backfilled == self.backfill) or (not self.in_backfill and self.later % 100 == 0):
            ERR.print(f"{datetime.now(UTC):%H:%M:%S} sent {self.backfilled:,} backfilled events, {self.later:,} later")


def _report(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str]]:
    from services.report import build_report, report_window

    start, end = report_window(args.start, args.end, args.month)
    settings = load_settings()
    agreements = load_agreements(settings.agreements)
    now = datetime.now(UTC)
    store = open_store(settings)
    try:
        report = build_report(store, start, end, agreements, args.as_of, now, load_owners(settings.owners))
        if args.html is None and args.pdf is None:
            return report, {}
        from services.monthly.write import write_monthly

        return report, write_monthly(store, report, agreements, (start, end), now, args.html, args.pdf)
    finally:
        store.close()


def cmd_report(args: argparse.Namespace) -> int:
    """Print the report as JSON or as tables; with --html/--pdf write the monthly report to files."""
    from services.formatting import print_report

    report, written = _report(args)
    if args.format == "json":
        print(json.dumps(report, sort_keys=True))
    elif args.format == "table" or not written:
        print_report(report)
    for kind, path in written.items():
        print(f"wrote {kind.upper()} report: {path}", file=sys.stderr)
    return 0


def cmd_board(args: argparse.Namespace) -> int:
    """Show the live board until Ctrl-C."""
    from services.board import run_board

    if not 0 < args.interval <= 3600:
        raise UsageError(f"--interval must be seconds above 0 and at most 3600, got {args.interval:g}")
    return run_board(load_settings(), args.start, args.end, args.interval)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the local demo until Ctrl-C."""
    from services.demo import run_demo

    return run_demo(args.rate, args.kafka_port, args.follow_up_minutes)


def cmd_schemas(args: argparse.Namespace) -> int:
    """Export the JSON Schemas of the events."""
    from schemas.events import json_schemas

    target: Path = args.dir
    target.mkdir(parents=True, exist_ok=True)
    for name, schema in json_schemas().items():
        (target / name).write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(target / name)
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    """Create missing topics and list partition counts."""
    from pipelines.kafka_admin import ensure_topics

    for name, partitions in sorted(ensure_topics(load_settings()).items()):
        print(f"{name}\t{partitions}")
    return 0


def cmd_agreement(args: argparse.Namespace) -> int:
    """Validate agreement files (or folders of them): fields, then overlapping and gapped periods; and the owners."""
    paths = [p for arg in args.files for p in (agreement_files(arg) if arg.is_dir() else [arg])]
    loaded, failed = [], 0
    for path in paths:
        try:
            agreement = load_agreement(path)
        except AgreementError as exc:
            print(str(exc), file=sys.stderr)
            failed += 1
            continue
        loaded.append((path, agreement))
        print(
            f"{path}: ok ({agreement.name}, {agreement.effective_from} → {agreement.effective_to}, "
            f"{agreement.timezone}, {len(agreement.handoffs)} handoffs)"
        )
    problems = period_problems(loaded)
    for problem in problems:
        print(f"{problem.kind}: {problem.message}", file=sys.stderr)
    failed += _check_owners(args.owners or load_settings().owners, [a for _, a in loaded])
    return 1 if failed or any(p.kind == "overlap" for p in problems) else 0


def _check_owners(path: Path, agreements: list[Agreement]) -> int:
    """Validate the owners file (absent: fine, though owners' clocks then count agreement hours); 1 if it fails."""
    try:
        owners = load_owners(path)
    except AgreementError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    by_owner = [f"{a.name}/{h.name}" for a in agreements for h in a.handoffs if h.clock == "owner"]
    if owners is None:
        if by_owner:
            print(f"{path}: no owners file: {', '.join(by_owner)} count the agreement's hours", file=sys.stderr)
        return 0
    print(f"{path}: ok ({len(owners.owners)} owners, {len(owners.teams)} teams)")
    return 0
