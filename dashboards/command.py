"""`leadflow dashboards`: build the boards' JSON, check it, run their panels without Grafana, push them to one."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipelines.agreements import load_agreements
from pipelines.settings import load_settings
from schemas.agreement import Agreement
from services.arguments import aware_instant
from services.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add `dashboards build`, `dashboards run` and `dashboards push` to the leadflow command."""
    p = sub.add_parser("dashboards", help="Grafana boards as code: build their JSON, run their panel queries")
    actions = p.add_subparsers(dest="dashboards_command", required=True, metavar="ACTION")
    build = actions.add_parser("build", help="write the boards' JSON (built from LEADFLOW_AGREEMENTS)")
    build.add_argument("--out", type=Path, help="folder of the JSON files (default: dashboards/json)")
    build.add_argument("--check", action="store_true", help="write nothing; exit 1 if the files differ")
    build.set_defaults(handler=cmd_build)
    run = actions.add_parser("run", help="run every ClickHouse panel query against the store for a range")
    run.add_argument(
        "--from", dest="start", type=aware_instant, required=True, help="range start, ISO time with offset"
    )
    run.add_argument("--to", dest="end", type=aware_instant, required=True, help="range end (also 'as of')")
    run.add_argument("--interval", type=int, help="$__interval_s in seconds (default: range / 300)")
    run.add_argument("--format", choices=("table", "json"), default="table")
    run.set_defaults(handler=cmd_run)
    _add_push(actions)


def _add_push(actions: argparse._SubParsersAction) -> None:
    push = actions.add_parser(
        "push", help="upload the boards into a Grafana over its HTTP API (token: LEADFLOW_GRAFANA_TOKEN)"
    )
    push.add_argument("--url", required=True, help="the Grafana, e.g. https://grafana.example.com[/path]")
    push.add_argument(
        "--datasource",
        action="append",
        default=[],
        metavar="KIND=NAME",
        help="the data source to use, by name: clickhouse=NAME, prometheus=NAME "
        "(default 'leadflow ClickHouse', 'leadflow Prometheus')",
    )
    push.add_argument("--boards", type=Path, help="folder of the board JSON (default: dashboards/json)")
    push.add_argument("--force", action="store_true", help="overwrite boards changed in Grafana since the last push")
    push.add_argument("--dry-run", action="store_true", help="print what would change; write nothing")
    push.set_defaults(handler=cmd_push)


def _agreements() -> list[Agreement]:
    agreements = load_agreements(load_settings().agreements)
    if not agreements:
        raise UsageError("no agreement in LEADFLOW_AGREEMENTS: the boards take their targets from one")
    return agreements


def cmd_build(args: argparse.Namespace) -> int:
    """Write (or check) the committed board JSON."""
    from dashboards.build import JSON_DIR, differences, write

    folder: Path = args.out or JSON_DIR
    agreements = _agreements()
    if args.check:
        stale = differences(agreements, folder)
        for name in stale:
            print(f"{folder / name}: differs from what `leadflow dashboards build` writes", file=sys.stderr)
        return 1 if stale else 0
    for path in write(agreements, folder):
        print(path)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run every ClickHouse panel for the range; exit 1 if one misses a column its panel reads."""
    from dashboards.build import clickhouse_queries
    from dashboards.runner import default_interval, run_queries
    from pipelines.store.client import open_store

    if args.end <= args.start:
        raise UsageError("--to must be after --from")
    if args.interval is not None and not 1 <= args.interval <= 366 * 86400:
        raise UsageError(f"--interval must be 1 to {366 * 86400} seconds, got {args.interval}")
    interval = args.interval or default_interval(args.start, args.end)
    queries = clickhouse_queries(_agreements())
    store = open_store(load_settings())
    try:
        results = [r.as_dict() for r in run_queries(store, queries, args.start, args.end, interval)]
    finally:
        store.close()
    if args.format == "json":
        print(json.dumps({"interval_s": interval, "panels": results}, sort_keys=True))
    else:
        for r in results:
            problem = f"  MISSING {', '.join(r['missing'])}" if r["missing"] else ""
            print(f"{r['seconds'] * 1000:7.1f} ms  {len(r['rows']):5d} rows  {r['board']} / {r['panel']}{problem}")
    return 1 if any(r["missing"] for r in results) else 0


def cmd_push(args: argparse.Namespace) -> int:
    """Push the boards; exit 1 (writing nothing) if one was changed in Grafana since the last push."""
    from dashboards.build import JSON_DIR
    from dashboards.exceptions import GrafanaError
    from dashboards.grafana import Grafana
    from dashboards.push import push, read_boards, report
    from dashboards.push_plan import source_names

    token = load_settings().grafana_token
    if token is None:
        raise GrafanaError("LEADFLOW_GRAFANA_TOKEN is not set: a service-account token of that Grafana is needed")
    names = source_names(args.datasource)
    boards = read_boards(args.boards or JSON_DIR)
    pushed = push(Grafana(args.url, token), boards, names, force=args.force, dry_run=args.dry_run)
    for line in report(pushed):
        print(line)
    if pushed.refused:
        count = len(pushed.refused)
        boards_word = "boards" if count > 1 else "board"
        print(
            f"leadflow dashboards: {count} {boards_word} changed in Grafana since the last push: nothing written "
            "(--force overwrites)",
            file=sys.stderr,
        )
        return 1
    return 0
