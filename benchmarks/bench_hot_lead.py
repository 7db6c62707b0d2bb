"""A hot lead: one lead with a long history against the very same events spread over many leads.

    .venv/bin/python -m benchmarks.bench_hot_lead [--activities 100000] [--stages 200] [--leads 1000] [--late 0.03]

The input (benchmarks/hot_lead_data.py): `--leads` forms, then `--activities` activities (90 % automated, 10 % by a
human who owns the lead), `--stages` stage changes among them, `--late` of all events delivered up to 40 places
after their turn. Once for one lead ("hot"), once with every n-th event moved to lead n mod `--leads` ("spread").
(a) state: the hot lead's events applied in order; the largest lead state encoded as the changelog receives it;
(b) the core: `pipelines.replay.Replayer` into a store that keeps nothing, hot and spread, and the ratio;
(c) `leadflow replay FILE` into a fresh chDB store, hot and spread, and the ratio;
(d) one `leadflow worker` on a local KRaft broker, the file sent with `leadflow produce` beforehand, timed from
    its web port answering until its store holds every event, hot and spread, and the ratio (`--no-worker`
    skips it). Targets: (a) at most 64 KiB; (b), (c), (d) hot at least half of spread.
Prints a few lines and one final JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.bench_kafka_path import drain
from benchmarks.bench_replay import run_core, run_replay
from benchmarks.harness import load_after, load_before, local_broker, rate, running_worker, verdict
from benchmarks.hot_lead_data import write_history
from pipelines.agreements import load_agreements
from pipelines.core.codec import lead_to_bytes
from pipelines.core.lead import LeadState, apply_event
from pipelines.core.model import Event
from pipelines.core.sla import Judge
from pipelines.core.validate import parse_event
from pipelines.replay import read_lines
from tests.integration.processes import group_env, leadflow_json

REPO = Path(__file__).resolve().parents[1]
STATE_TARGET = 64 * 1024
RATIO_TARGET = 0.5


def largest_state(path: Path) -> tuple[int, int, int]:
    """Apply the hot lead's events in order; return (largest encoded state, moves kept at the end, changes)."""
    state: LeadState | None = None
    largest = changes = 0
    for _number, raw in read_lines(path):
        event = parse_event(raw)
        assert isinstance(event, Event), event
        updated, _new = apply_event(state, event)
        if updated is not state:
            changes += 1
            largest = max(largest, len(lead_to_bytes(updated)))
        state = updated
    assert state is not None
    return largest, len(state.moves), changes


def core_seconds(path: Path, judge: Judge) -> float:
    """Feed every line through the core (SLA clocks included) into a store that keeps nothing, as bench_replay."""
    lines = list(read_lines(path))
    started = time.perf_counter()
    run_core(lines, f"replay:{path.name}", judge)
    return time.perf_counter() - started


def worker_rate(kafka: Any, root: Path, path: Path, events: int, name: str, args: argparse.Namespace) -> float:
    """Send the file with `leadflow produce`, then run one worker until its store holds every event."""
    env = group_env(kafka.bootstrap, root, name, args.partitions)
    sent = int(leadflow_json(["produce", str(path)], env, root)["sent"])
    assert sent == events, f"produce sent {sent} of {events}"
    started = time.perf_counter()
    with running_worker(env, root, name) as (worker, port_at):
        run = drain(worker, started, port_at, events, 0, args.timeout, args.poll)
    if not run.complete:
        raise TimeoutError(f"{name}: the worker stored {run.events:,} of {events:,} events in {args.timeout:.0f} s")
    figure = rate(events, run.done_at - run.port_at)
    print(f"    {name:6} {figure:>9,.0f} events/s (worker CPU {run.cpu_s:.1f} s over {run.done_at:.1f} s)")
    return figure


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(prog="benchmarks.bench_hot_lead", description=__doc__.splitlines()[0])
    parser.add_argument("--activities", type=int, default=100_000)
    parser.add_argument("--stages", type=int, default=200)
    parser.add_argument("--leads", type=int, default=1000, help="leads the same events are spread over")
    parser.add_argument("--late", type=float, default=0.03, help="share of events delivered late")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed for a worker to drain")
    parser.add_argument("--poll", type=float, default=0.5)
    parser.add_argument("--no-worker", action="store_true", help="skip (d), the worker on a local broker")
    args = parser.parse_args(argv)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    figures: dict[str, Any] = {"benchmark": "hot_lead", **{k: v for k, v in vars(args).items() if k != "no_worker"}}
    figures["load_before"] = load_before()
    judge = Judge(load_agreements(REPO / "agreements"))
    with tempfile.TemporaryDirectory(prefix="leadflow-bench-hot-") as tmp:
        root = Path(tmp)
        paths = {"hot": root / "hot.jsonl", "spread": root / "spread.jsonl"}
        counts = {
            name: write_history(
                path, args.activities, args.stages, args.leads, 1 if name == "hot" else args.leads, args.late, args.seed
            )
            for name, path in paths.items()
        }
        events = counts["hot"]
        print(f"input: {events:,} events of one lead; the same {counts['spread']:,} over {args.leads:,} leads")

        largest, kept, changes = largest_state(paths["hot"])
        print(
            f"(a) largest state of the hot lead: {largest:,} bytes ({kept} moves kept at the end, {changes:,} "
            f"changes written): {verdict(largest <= STATE_TARGET)} (target <= {STATE_TARGET:,})"
        )
        figures.update(largest_state_bytes=largest, moves_kept=kept, state_changes=changes)

        core = {name: rate(counts[name], core_seconds(path, judge)) for name, path in paths.items()}
        replay = {}
        for name, path in paths.items():
            seconds, _stats = run_replay(path, root / f"replay-{name}", args.timeout)
            replay[name] = rate(counts[name], seconds)
        for label, figure in (("(b) core", core), ("(c) leadflow replay", replay)):
            ratio = rate(figure["hot"], figure["spread"])
            print(
                f"{label}: hot {figure['hot']:,.0f} events/s, spread {figure['spread']:,.0f} events/s, "
                f"ratio {ratio:.2f}: {verdict(ratio >= RATIO_TARGET)}"
            )
        figures.update(
            core_hot_events_per_s=round(core["hot"]),
            core_spread_events_per_s=round(core["spread"]),
            core_ratio=round(rate(core["hot"], core["spread"]), 3),
            replay_hot_events_per_s=round(replay["hot"]),
            replay_spread_events_per_s=round(replay["spread"]),
            replay_ratio=round(rate(replay["hot"], replay["spread"]), 3),
        )
        if not args.no_worker:
            with local_broker(root) as kafka:
                print("(d) one worker, excl. start-up:")
                worker = {
                    name: worker_rate(kafka, root, path, counts[name], name, args) for name, path in paths.items()
                }
            ratio = rate(worker["hot"], worker["spread"])
            print(f"    ratio {ratio:.2f}: {verdict(ratio >= RATIO_TARGET)}")
            figures.update(
                worker_hot_events_per_s=round(worker["hot"]),
                worker_spread_events_per_s=round(worker["spread"]),
                worker_ratio=round(ratio, 3),
            )
    figures["load_after"] = load_after()
    print(json.dumps(figures, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
