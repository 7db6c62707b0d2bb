"""Parsing: `parse_event` (leadflow_native, Rust, for the common types) against the pydantic models alone.

    .venv/bin/python -m benchmarks.bench_parse [--visitors 20000] [--repeat 5] [--seed 42]

Both run, in turns, over the very same lines of a simulated file read into memory (malformed ones included):
(a) `parse_event`, as every door and the worker call it; (b) the same `parse_event` with the native decoder switched
off, so that every line goes through the pydantic models. Best of `--repeat` each, in microseconds per line, and
their ratio. Also counted: the lines the native decoder took, and that both gave equal results on every
line (the same event, or the same reason). Prints a few lines and one final JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from unittest.mock import patch

from benchmarks.harness import load_after, load_before
from pipelines.core import validate
from pipelines.core.validate import parse_event
from pipelines.heap import settle_heap
from pipelines.replay import read_lines
from services.simulate import SimulationConfig, write_jsonl


def best_us(lines: list[bytes], repeat: int) -> float:
    """Return the best time of `parse_event` over `repeat` runs, in microseconds per line."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for raw in lines:
            parse_event(raw)
        best = min(best, time.perf_counter() - started)
    return best / len(lines) * 1e6


class _Declining:
    def decode(self, _raw: bytes) -> None:
        return None


def native_off() -> AbstractContextManager[object]:
    """Switch the native decoder off: every line goes to the pydantic models."""
    return patch.object(validate, "_DECODER", _Declining())


def agreeing(lines: list[bytes]) -> int:
    """Return how many lines get the same result either way (the same event, or the same reason)."""
    quick = [parse_event(raw) for raw in lines]
    with native_off():
        slow = [parse_event(raw) for raw in lines]
    return sum(a == b for a, b in zip(quick, slow, strict=True))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(prog="benchmarks.bench_parse", description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=20_000, help="simulated visitors (about 4 events each)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each path (the best one counts)")
    args = parser.parse_args(argv)

    before = load_before()
    with tempfile.TemporaryDirectory(prefix="leadflow-bench-parse-") as tmp:
        path = Path(tmp) / "events.jsonl"
        write_jsonl(replace(SimulationConfig(), visitors=args.visitors, seed=args.seed), path)
        lines = [raw for _number, raw in read_lines(path)]
    settle_heap()
    taken = sum(validate._DECODER.decode(raw) is not None for raw in lines)
    print(f"input: {len(lines):,} lines of {args.visitors:,} simulated visitors; the native decoder took {taken:,}")
    fast_us = pydantic_us = float("inf")
    for _ in range(2):  # in turns, so that a busy moment of the machine does not fall on one path only
        fast_us = min(fast_us, best_us(lines, args.repeat))
        with native_off():
            pydantic_us = min(pydantic_us, best_us(lines, args.repeat))
    same = agreeing(lines)
    print(f"(a) parse_event:          {fast_us:.2f} us per line ({1e6 / fast_us:,.0f} lines/s)")
    print(f"(b) pydantic alone:       {pydantic_us:.2f} us per line ({1e6 / pydantic_us:,.0f} lines/s)")
    print(f"ratio (b)/(a): {pydantic_us / fast_us:.2f}; judged alike: {same:,} of {len(lines):,} lines")
    after = load_after()
    print(
        json.dumps(
            {
                "benchmark": "parse",
                "lines": len(lines),
                "native_taken": taken,
                "parse_event_us": round(fast_us, 3),
                "pydantic_alone_us": round(pydantic_us, 3),
                "speedup": round(pydantic_us / fast_us, 3),
                "judged_alike": same,
                "visitors": args.visitors,
                "seed": args.seed,
                "load_before": before,
                "load_after": after,
            },
            sort_keys=True,
        )
    )
    return 0 if same == len(lines) else 1


if __name__ == "__main__":
    raise SystemExit(main())
