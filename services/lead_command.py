"""`leadflow lead LEAD_ID`: one lead's whole story, to answer "why did this lead breach?" in one command."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from pipelines.agreements import load_judge
from pipelines.settings import load_settings
from pipelines.store.client import open_store
from services.arguments import aware_instant
from services.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add `leadflow lead` to the subcommands."""
    p = sub.add_parser("lead", help="one lead's story: events, visits, stages, owners, SLA clocks and dead letters")
    p.add_argument("lead_id", metavar="LEAD_ID", help="the lead's id, as its events carry it")
    p.add_argument("--format", choices=("text", "json"), default="text", help="a timeline (default) or JSON")
    p.add_argument("--as-of", type=aware_instant, help="judge the clocks as of this instant (default: as the report)")
    p.set_defaults(handler=run_lead)


def run_lead(args: argparse.Namespace) -> int:
    """Print the story of one lead; an unknown lead is a clear error (exit code 2)."""
    from services.lead_queries import read_story_rows
    from services.lead_story import build_story
    from services.report import default_as_of

    if not args.lead_id:
        raise UsageError("LEAD_ID must not be empty (visits carry an empty lead id)")
    settings = load_settings()
    judge = load_judge(settings.agreements, settings.owners)
    store = open_store(settings)
    try:
        as_of = args.as_of or default_as_of(store, datetime.now(UTC))
        rows = read_story_rows(store, args.lead_id)
    finally:
        store.close()
    if not rows.found:
        raise UsageError(f"no lead {args.lead_id!r} in the store: no event, lifecycle or dead letter names it")
    story = build_story(rows, judge, as_of)
    if args.format == "json":
        print(json.dumps(story, sort_keys=True))
    else:
        from services.lead_text import print_story

        print_story(story)
    return 0
