"""SLA clocks at scale: memory per open clock in one worker process, and tick, judge and rebuild costs.

    .venv/bin/python -m benchmarks.bench_sla_clocks [--clocks 1000000] [--seed 42] [--as-written]

State: N leads, each with one open `mql_follow_up` clock under the committed agreement 2026-H2 (Europe/Berlin,
Mon-Fri 09:00-17:00, within 4h, warning at 3h), held as one worker holds it: the `leads` table (lead key bytes ->
`lead_to_bytes` of a form fill + an MQL move), the `sla` table (lead key bytes -> `sla_to_bytes(published,
partition, next due ms)`) -- both Faust `memory://` tables, i.e. plain dicts of bytes -- and the DeadlineIndex.
Lead 0 goes the full way (CloudEvent bytes -> validator -> `apply_event` -> `sla_step`); the others reuse its two
moves with their own ids and instants, and get their next due instant from `BusinessCalendar.add` (checked
against `lead_from_bytes` + `sla_step` on a sample). MQL instants are distinct milliseconds of one business week,
so every next-due instant is distinct and `now` can make exactly K clocks due.

Values are held exactly sized by default, as a worker holds them after recovering its tables from the changelogs
(Kafka hands over exactly sized bytes). orjson 3.13 leaves every `orjson.dumps` result in a buffer of 4 KB or more,
and the lead handler stores those results as they are; that extra is measured on a sample (tracemalloc) and
projected, or held for real with `--as-written` (some 8 GB per million clocks).

Measured: (1) bytes per clock of each structure: the growth of this process's VmRSS (after gc) while building it;
(2) the real `SlaShell.tick()` (its clock frozen at a chosen `now`, check messages handed to a stub topic whose
async `send` only appends) with 0, 1,000 and 100,000 of the N clocks due; (3) `sla_step`, and the whole
check-message path, for 1,000 due leads; (4) `SlaShell.rebuild` over the N-entry `sla` table. Building the state
is never counted in a timing. Prints readable lines and one final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from random import Random
from typing import Any
from unittest import mock

import orjson

from benchmarks.harness import load_after, load_before
from benchmarks.sla_clock_state import (
    DUE_COUNTS,
    HANDOFF,
    JUDGED,
    ORJSON_SAMPLE,
    PARTITIONS,
    SLA_TICK_S,
    TICK_REPEATS,
    VERIFY_SAMPLE,
    WEEK,
    FrozenClock,
    ListTopic,
    NullStore,
    build_state,
    cheap_due,
    cheap_lead,
    key_partitions,
    lead_name,
    mql_instants,
    now_for,
    orjson_buffers,
    reinsert,
    setting,
    verify_sample,
)
from pipelines import sla_agent
from pipelines.checkpoint import Checkpoint
from pipelines.core.codec import from_ms, lead_from_bytes, lead_to_bytes, sla_from_bytes, to_ms
from pipelines.core.lead import LeadState
from pipelines.core.messages import from_check_message
from pipelines.core.model import Invalid
from pipelines.core.sla import WARNING
from pipelines.core.steps import sla_step
from pipelines.sink_service import StoreWriter
from pipelines.sla_agent import SlaShell


async def time_ticks(
    shell: SlaShell, checks: ListTopic, clock: FrozenClock, now_ms: int, expect: int, repeats: int
) -> list[float]:
    """Time the real tick `repeats` times at `now_ms`; the due leads are scheduled again between runs."""
    seconds: list[float] = []
    for _ in range(repeats):
        checks.sent.clear()
        clock.ms = now_ms
        started = time.perf_counter()
        count = await shell.tick()
        seconds.append(time.perf_counter() - started)
        if count != expect or len(checks.sent) != expect:
            raise RuntimeError(f"tick at {now_ms} sent {count} checks, expected {expect}")
        reinsert(shell, shell.table, [key for key, _ in checks.sent])
    return seconds


def time_pop_due(shell: SlaShell, now_ms: int, expect: int, repeats: int) -> list[float]:
    """Time DeadlineIndex.pop_due alone (no messages), for the split of a tick's cost."""
    seconds: list[float] = []
    for _ in range(repeats):
        started = time.perf_counter()
        due = shell.index.pop_due(now_ms)
        seconds.append(time.perf_counter() - started)
        if len(due) != expect:
            raise RuntimeError(f"pop_due at {now_ms} gave {len(due)}, expected {expect}")
        reinsert(shell, shell.table, [lead_id.encode() for lead_id, _ in due])
    return seconds


async def judge_checks(
    shell: SlaShell,
    leads: dict[bytes, bytes],
    checks: list[tuple[bytes, bytes]],
    partitions: dict[bytes, int],
    now: datetime,
) -> None:
    """What the lead handler does per check message (pipelines.agents.handle_check_message), minus the ack."""
    for key, value in checks:
        lead_id = from_check_message(value)
        if isinstance(lead_id, Invalid):
            raise ValueError(lead_id.reason)
        stored = leads.get(lead_id.encode())
        if stored:
            await shell.judge_lead(lead_from_bytes(stored), partitions[key], now)


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def mib(size: float) -> str:
    return f"{size / 2**20:>7.1f} MiB"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(prog="benchmarks.bench_sla_clocks", description=__doc__.splitlines()[0])
    parser.add_argument("--clocks", type=int, default=1_000_000, help="open clocks held by the worker")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--as-written",
        action="store_true",
        help="hold the values as orjson returns them (4 KB+ each with orjson 3.13: some 8 GB per million clocks)",
    )
    args = parser.parse_args(argv)
    n = args.clocks
    if n < 2:
        parser.error("--clocks must be at least 2")

    before = load_before()
    s = setting()
    lead0 = LeadState(lead_name(0), (s.form_template, s.mql_template))
    effects0 = sla_step(lead0, frozenset(), s.judge, s.mql_template.time)
    if effects0.next_due is None or effects0.events:
        raise RuntimeError(f"lead 0 should have one open clock and nothing due yet: {effects0}")
    first_due = to_ms(effects0.next_due)
    print(
        f"agreement 2026-H2 ({s.calendar.zone.key}), {HANDOFF}: within {s.within_seconds / 3600:g}h business, "
        f"warning at {s.warn_seconds / 3600:g}h, so an open clock's next due instant is its warning"
    )
    print(
        f"lead 0, the full way: form fill + MQL CloudEvent bytes (tests.unit.factories) -> validator -> apply_event "
        f"-> sla_step: MQL {s.mql_template.time:%a %Y-%m-%d %H:%M} UTC, next due {effects0.next_due:%a %H:%M} UTC"
    )

    started = time.perf_counter()
    mql_ms = mql_instants(s, n, args.seed)
    if cheap_due(s, mql_ms[0]) != first_due or lead_to_bytes(cheap_lead(s, 0, mql_ms[0])) != lead_to_bytes(lead0):
        raise RuntimeError("the cheap derivation of lead 0 differs from the full one")
    print(
        f"leads 1..{n - 1:,}: lead 0's two moves with their own ids and instants, built directly; MQL at {n - 1:,} "
        f"distinct random milliseconds of the business windows of the week of {WEEK:%Y-%m-%d} "
        f"(BusinessCalendar.windows); next due = BusinessCalendar.add(MQL, {s.warn_seconds:g} s); "
        f"partition = i % {PARTITIONS}"
    )
    state = build_state(s, mql_ms, first_due, args.as_written)
    built = time.perf_counter() - started
    rng = Random(args.seed + 1)
    sample = sorted({0, n - 1, *rng.sample(range(n), min(n, VERIFY_SAMPLE))})
    verify_sample(s, state, mql_ms, sample)
    faust_maps = key_partitions(state)
    sampled = min(n, ORJSON_SAMPLE)
    extra_leads, extra_sla = orjson_buffers(s, mql_ms[:sampled], state.dues[:sampled])
    key0 = lead_name(0).encode()
    print(
        f"state built in {built:.1f} s (not counted); {len(sample):,} sampled leads, decoded from the leads table "
        f"and judged with sla_step, agree with their sla record and index entry"
    )
    print(f"  leads[{key0!r}] = {state.leads[key0].decode()}  ({len(state.leads[key0])} bytes)")
    print(f"  sla[{key0!r}]   = {state.sla[key0].decode()}  ({len(state.sla[key0])} bytes)")
    leads_value = sum(map(len, state.leads.values())) / n
    sla_value = sum(map(len, state.sla.values())) / n

    # (1) memory
    total = state.rss_leads + state.rss_sla + state.rss_index
    held = "as orjson returned them" if args.as_written else "exactly sized, as after a changelog recovery"
    print(f"(1) memory for {n:,} open clocks in one process, values {held} (VmRSS growth, after gc):")
    print(
        f"    leads table:     {state.rss_leads / n:>7.1f} B/clock  {mib(state.rss_leads)}  "
        f"(dict + key bytes + value bytes; values average {leads_value:.0f} B)"
    )
    print(
        f"    sla table:       {state.rss_sla / n:>7.1f} B/clock  {mib(state.rss_sla)}  "
        f"(dict + key bytes + value bytes; values average {sla_value:.0f} B)"
    )
    print(
        f"    deadline index:  {state.rss_index / n:>7.1f} B/clock  {mib(state.rss_index)}  "
        f"(heap of (due, lead) + dict lead -> (due, partition) + lead str + due int)"
    )
    print(f"    total:           {total / n:>7.1f} B/clock  {mib(total)}")
    print(
        f"    + once Faust's memory store has recovered both tables from their changelogs it also maps each key to "
        f"its partition: {faust_maps / n:.1f} B/clock ({faust_maps / 2**20:.1f} MiB)"
    )
    extra = extra_leads + extra_sla
    other = total - extra * n if args.as_written else total + extra * n
    print(
        f"    orjson {orjson.__version__} leaves each orjson.dumps result in a buffer of 4 KB or more (tracemalloc, "
        f"{sampled:,} values of each table): +{extra_leads:.0f} B per leads value, +{extra_sla:.0f} B per sla value"
    )
    other_label = "exactly sized" if args.as_written else "as the lead handler stores them (lead_to_bytes/sla_to_bytes"
    other_label += "" if args.as_written else " results, unchanged)"
    print(f"    -> with values {other_label}: {other / n:,.1f} B/clock, {other / 2**30:.2f} GiB for {n:,} clocks")

    # (2) tick
    sorted_dues = sorted(state.dues)
    checks = ListTopic()
    executor = ThreadPoolExecutor(max_workers=1)
    sink = Checkpoint(StoreWriter(NullStore(), executor), 10**9, s.judge, 900_000)
    shell = SlaShell(s.judge, state.sla, ListTopic(), checks, sink)
    shell.index = state.index
    clock = FrozenClock()
    ticks: dict[int, list[float]] = {}
    pops: dict[int, list[float]] = {}
    small: dict[int, list[float]] = {}
    counts = [c for c in DUE_COUNTS if c <= n]
    with mock.patch.object(sla_agent, "datetime", clock):
        for due in counts:
            now_ms = now_for(sorted_dues, due)
            ticks[due] = asyncio.run(time_ticks(shell, checks, clock, now_ms, due, TICK_REPEATS[due]))
            if due:
                pops[due] = time_pop_due(shell, now_ms, due, min(5, TICK_REPEATS[due]))
            if len(shell.index) != n:
                raise RuntimeError(f"index holds {len(shell.index)} after re-inserting, expected {n}")
        for open_clocks in (0, 1_000):  # the same 0-due tick with (almost) nothing open
            tiny = SlaShell(s.judge, state.sla, ListTopic(), ListTopic(), sink)
            for i in range(open_clocks):
                tiny.index.schedule(lead_name(i), i % PARTITIONS, state.dues[i])
            small[open_clocks] = asyncio.run(
                time_ticks(tiny, ListTopic(), clock, sorted_dues[0] - 1, 0, TICK_REPEATS[0])
            )
    print(f"(2) SlaShell.tick() with {n:,} open (the real tick, frozen clock, stub topic send = list.append):")
    tick_figures: dict[str, Any] = {}
    for due in counts:
        med, best = statistics.median(ticks[due]), min(ticks[due])
        if due == 0:
            p99 = statistics.quantiles(ticks[due], n=100)[98]
            print(
                f"    {due:>7,} due: {med * 1e6:>9.2f} us/tick median, {best * 1e6:.2f} best, {p99 * 1e6:.2f} p99 "
                f"({len(ticks[due]):,} ticks)"
            )
            tick_figures["0"] = {
                "median_us": round(med * 1e6, 3),
                "best_us": round(best * 1e6, 3),
                "p99_us": round(p99 * 1e6, 3),
            }
            continue
        pop_med = statistics.median(pops[due])
        print(
            f"    {due:>7,} due: {med * 1e3:>9.2f} ms/tick median ({best * 1e3:.2f} best, {len(ticks[due])} runs), "
            f"{med / due * 1e6:.2f} us per due clock; of which pop_due alone {pop_med * 1e3:.2f} ms "
            f"({pop_med / due * 1e6:.2f} us/clock)"
        )
        tick_figures[str(due)] = {
            "median_ms": round(med * 1e3, 3),
            "best_ms": round(best * 1e3, 3),
            "us_per_due_clock": round(med / due * 1e6, 3),
            "pop_due_median_ms": round(pop_med * 1e3, 3),
        }
    zero = statistics.median(ticks[0])
    small_text = ", ".join(f"{statistics.median(v) * 1e6:.2f} us with {k:,} open" for k, v in small.items())
    print(
        f"    0-due tick is O(1): {zero * 1e6:.2f} us with {n:,} open vs {small_text} "
        f"(ratio {zero / statistics.median(small[0]):.2f}); the worker ticks every {SLA_TICK_S} s"
    )

    # (4) rebuild, before (3) changes any record
    rebuilds: list[float] = []
    for _ in range(2):
        rebuilds.append(timed(lambda: shell.rebuild(set(range(PARTITIONS)))))
        if len(shell.index) != n or shell.index.next_due() != sorted_dues[0]:
            raise RuntimeError("the rebuilt index differs from the built one")
    rebuild_best = min(rebuilds)

    # (3) judge: the check messages of a tick with JUDGED due, handled as the lead handler handles them
    judged = min(JUDGED, n)
    now_ms = now_for(sorted_dues, judged)
    now = from_ms(now_ms)
    with mock.patch.object(sla_agent, "datetime", clock):
        clock.ms = now_ms
        checks.sent.clear()
        asyncio.run(shell.tick())
    messages = [(key, value) for key, value in checks.sent if key is not None and value is not None]
    originals = {key: state.sla[key] for key, _ in messages}
    partitions = {key: sla_from_bytes(raw)[1] for key, raw in originals.items()}
    decoded = [(lead_from_bytes(state.leads[key]), sla_from_bytes(originals[key])[0]) for key, _ in messages]
    step_runs: list[float] = []
    results = []
    for _ in range(5):
        started = time.perf_counter()
        results = [sla_step(lead, published, s.judge, now) for lead, published in decoded]
        step_runs.append(time.perf_counter() - started)
    published = sum(len(r.events) for r in results)  # its warning, and its breach too if that is due already
    if len(results) != judged or any(not r.events or r.events[0].kind != WARNING for r in results):
        raise RuntimeError("each due lead should publish its warning")
    path_runs: list[float] = []
    sla_topic = ListTopic()
    shell.sla_topic = sla_topic
    for _ in range(3):
        sla_topic.sent.clear()
        started = time.perf_counter()
        asyncio.run(judge_checks(shell, state.leads, messages, partitions, now))
        path_runs.append(time.perf_counter() - started)
        if len(sla_topic.sent) != published:
            raise RuntimeError(f"{len(sla_topic.sent)} SLA events published, expected {published}")
        after = sla_from_bytes(state.sla[messages[-1][0]])
        if after[0] != frozenset({f"{HANDOFF}/1/{WARNING}"}):
            raise RuntimeError(f"the judged lead's sla record is {after}")
        state.sla.update(originals)  # undo, so the next run judges the same state
        reinsert(shell, state.sla, [key for key, _ in messages])
    executor.shutdown()
    step_med, path_med = statistics.median(step_runs), statistics.median(path_runs)
    per_lead = {name: [r / judged * 1e6 for r in runs] for name, runs in (("step", step_runs), ("path", path_runs))}
    print(f"(3) judging the {judged:,} leads due at {now:%a %H:%M:%S} UTC ({published:,} SLA events to publish):")
    print(
        f"    sla_step:            {statistics.median(per_lead['step']):>7.1f} us/lead median "
        f"({min(per_lead['step']):.1f} best, {len(step_runs)} runs)"
    )
    print(
        f"    check-message path:  {statistics.median(per_lead['path']):>7.1f} us/lead median "
        f"({min(per_lead['path']):.1f} best, {len(path_runs)} runs): from_check_message, leads get, lead_from_bytes, "
        f"SlaShell.judge_lead (sla get + decode, sla_step, stub send, metrics, sink rows, sla put, reschedule)"
    )
    print(
        f"(4) SlaShell.rebuild over the {n:,}-entry sla table (all {PARTITIONS} partitions): "
        f"{rebuild_best:.2f} s best of {len(rebuilds)} ({', '.join(f'{r:.2f}' for r in rebuilds)}), "
        f"{rebuild_best / n * 1e6:.2f} us/entry"
    )
    after = load_after()
    figures = {
        "benchmark": "sla_clocks",
        "load_before": before,
        "load_after": after,
        "clocks": n,
        "seed": args.seed,
        "partitions": PARTITIONS,
        "build_s": round(built, 2),
        "verified_sample": len(sample),
        "values_held": "orjson" if args.as_written else "exact",
        "bytes_per_clock": {
            "leads_table": round(state.rss_leads / n, 1),
            "sla_table": round(state.rss_sla / n, 1),
            "deadline_index": round(state.rss_index / n, 1),
            "total": round(total / n, 1),
            "faust_key_partition_maps": round(faust_maps / n, 1),
            "total_values_exact" if args.as_written else "total_values_as_written": round(other / n, 1),
        },
        "value_bytes_avg": {"leads": round(leads_value, 1), "sla": round(sla_value, 1)},
        "orjson": orjson.__version__,
        "orjson_extra_bytes_per_value": {"leads": round(extra_leads, 1), "sla": round(extra_sla, 1)},
        "tick": tick_figures,
        "tick_0_due_small_index_median_us": {str(k): round(statistics.median(v) * 1e6, 3) for k, v in small.items()},
        "judge": {
            "leads": judged,
            "sla_events": published,
            "sla_step_us_per_lead": round(step_med / judged * 1e6, 2),
            "check_path_us_per_lead": round(path_med / judged * 1e6, 2),
        },
        "rebuild_s": round(rebuild_best, 3),
        "rebuild_us_per_entry": round(rebuild_best / n * 1e6, 3),
    }
    print(json.dumps(figures, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
