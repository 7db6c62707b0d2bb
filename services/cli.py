"""The `leadflow` command: one subcommand per service; configuration from LEADFLOW_* (see the README)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from services.arguments import OneLineParser, aware_instant, positive_int, store_day
from services.cluster_ddl import run_cluster_ddl
from services.errors import CLEAR_ERRORS
from services.extensions import COMMAND_MODULES


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="the report of contract §4 for a window of days or a month")
    p.add_argument("--from", dest="start", type=store_day, help="first day (inclusive)")
    p.add_argument("--to", dest="end", type=store_day, help="last day (exclusive)")
    p.add_argument("--month", help="a whole month, YYYY-MM, instead of --from and --to")
    p.add_argument("--as-of", type=aware_instant, help="judge cohorts as of this instant (default: see README)")
    p.add_argument(
        "--format", choices=("table", "json"), help="print as tables (default) or JSON; with --html/--pdf only if given"
    )
    p.add_argument("--html", type=Path, metavar="FILE", help="write the monthly report as one self-contained HTML file")
    p.add_argument("--pdf", type=Path, metavar="FILE", help="write it as PDF too (needs the Debian package chromium)")


def _add_simulate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="deterministic, realistic traffic to a file or to Kafka")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--visitors", type=int, default=3000)
    p.add_argument("--days", type=int, default=14)
    p.add_argument("--start", type=aware_instant, help="first simulated instant (default 2026-11-02T08:00+00:00)")
    p.add_argument("--malformed-rate", type=float)
    p.add_argument("--duplicate-rate", type=float)
    p.add_argument("--late-rate", type=float)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, help="write JSON lines to this file")
    target.add_argument("--kafka", action="store_true", help="send to the input topics")
    p.add_argument("--rate", type=float, default=0.0, help="events per second to Kafka (0: as fast as possible)")
    p.add_argument(
        "--live",
        action="store_true",
        help="with --kafka: after the events up to now, go on without end: later simulated events and new live "
        "visitors, leads and MQLs, each sent when its time comes",
    )
    p.add_argument(
        "--follow-up-minutes",
        type=positive_int,
        default=2,
        help="with --live: the MQL follow-up the agreement in force promises (around the clock); live MQLs are "
        "followed up before it, after its warning, late or never (default 2)",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of every subcommand."""
    parser = OneLineParser(prog="leadflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    w = sub.add_parser("worker", help="run a Faust worker: Kafka in, lifecycle state, ClickHouse out")
    w.add_argument("--web-port", type=int, help="port of /metrics and /leadflow/query (LEADFLOW_WEB_PORT)")
    r = sub.add_parser("replay", help="run a JSON-lines file through the core into the store, without Kafka")
    r.add_argument("file", type=Path)
    r.add_argument("--no-progress", action="store_true")
    pr = sub.add_parser("produce", help="send a JSON-lines file to the input topics by type")
    pr.add_argument("file", type=Path)
    pr.add_argument("--rate", type=float, default=0.0, help="events per second (0: as fast as possible)")
    pr.add_argument("--fallback-topic", help="topic for lines whose type cannot be read (default leadflow.stages)")
    _add_simulate(sub)
    _add_report(sub)
    b = sub.add_parser("board", help="live terminal board of counts and conversion")
    b.add_argument("--from", dest="start", type=store_day, help="first day (default: 14 days ago)")
    b.add_argument("--to", dest="end", type=store_day, help="last day, exclusive (default: tomorrow)")
    b.add_argument("--interval", type=float, default=3.0, help="seconds between refreshes")
    d = sub.add_parser("demo", help="local demo: Kafka, worker, simulator and the live board; Ctrl-C stops all")
    d.add_argument("--rate", type=float, default=150.0, help="simulated events per second")
    d.add_argument("--kafka-port", type=int, default=9092)
    d.add_argument(
        "--follow-up-minutes",
        type=positive_int,
        default=2,
        help="the demo agreement's MQL follow-up promise, around the clock (default 2: a live breach within 5 minutes)",
    )
    sc = sub.add_parser("schemas", help="event schemas")
    sc_sub = sc.add_subparsers(dest="schemas_command", required=True, metavar="ACTION")
    ex = sc_sub.add_parser("export", help="write the JSON Schema of every event type to DIR")
    ex.add_argument("dir", type=Path)
    cd = sc_sub.add_parser("cluster-ddl", help="write the store's DDL for a replicated, sharded ClickHouse cluster")
    cd.add_argument("--out", type=Path, metavar="FILE", help="write to FILE (default: standard output)")
    cd.set_defaults(handler=run_cluster_ddl)
    t = sub.add_parser("topics", help="Kafka topics")
    t_sub = t.add_subparsers(dest="topics_command", required=True, metavar="ACTION")
    t_sub.add_parser("create", help="create every leadflow topic that is missing")
    a = sub.add_parser("agreement", help="agreement files")
    a_sub = a.add_subparsers(dest="agreement_command", required=True, metavar="ACTION")
    chk = a_sub.add_parser("check", help="validate agreement files and the owners file")
    chk.add_argument("files", type=Path, nargs="+")
    chk.add_argument("--owners", type=Path, help="the owners file to check (default: LEADFLOW_OWNERS, ./owners.yaml)")
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; clear errors end with one line on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    for noisy in ("kafka", "clickhouse_connect"):
        # their connection errors reach the user as one line each, from leadflow
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    from services import commands

    handler: Callable[[argparse.Namespace], int] = getattr(args, "handler", None) or getattr(
        commands, f"cmd_{args.command}"
    )
    try:
        return handler(args)
    except CLEAR_ERRORS as exc:
        print(f"leadflow {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
