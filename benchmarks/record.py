"""Run one benchmark and keep its final JSON line, stamped with when and on how many cores, in a results file.

    .venv/bin/python -m benchmarks.record [--results benchmarks/results/latest.jsonl] bench_replay [ARGS ...]

The benchmark's output passes through unchanged. Its last line (every benchmark ends with one JSON object) gets
`measured_at` (UTC, when it started), `cores` and `command`, and replaces that benchmark's earlier line in the
results file; the other benchmarks' lines stay. Nothing is recorded when the benchmark fails.
`python -m benchmarks.figures` then writes the README's figures from the file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "latest.jsonl"


def run_benchmark(command: Sequence[str]) -> str:
    """Run `command`, echoing its output; return its last non-blank line, or raise if it failed."""
    last = ""
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=REPO) as process:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            last = line.strip() or last
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed with exit code {process.returncode}; nothing recorded")
    return last


def stamped(line: str, name: str, arguments: Sequence[str], started: datetime, cores: int) -> dict[str, Any]:
    """Return the benchmark's JSON line as an object with when, where and how it was run."""
    try:
        figures = json.loads(line)
    except ValueError:
        figures = None
    if not isinstance(figures, dict):
        raise RuntimeError(f"{name} did not end with a JSON object: {line[:200]!r}")
    command = " ".join(["python -m", f"benchmarks.{name}", *arguments])
    stamp = {"measured_at": started.isoformat(timespec="seconds"), "cores": cores, "command": command}
    return {"benchmark": name.removeprefix("bench_"), **figures, **stamp}


def replaced(lines: Sequence[str], record: dict[str, Any]) -> list[str]:
    """Return the results file's lines with this benchmark's earlier lines replaced by `record`."""
    kept = [line for line in lines if line.strip() and _benchmark(line) != record["benchmark"]]
    return [*kept, json.dumps(record, sort_keys=True)]


def _benchmark(line: str) -> object:
    try:
        document = json.loads(line)
    except ValueError:
        return None
    return document.get("benchmark") if isinstance(document, dict) else None


def record(name: str, arguments: Sequence[str], results: Path, python: str = sys.executable) -> dict[str, Any]:
    """Run benchmark `name` with `arguments` and keep its stamped figures in `results`; return them."""
    started = datetime.now(UTC)
    line = run_benchmark([python, "-m", f"benchmarks.{name}", *arguments])
    figures = stamped(line, name, arguments, started, os.cpu_count() or 0)
    before = results.read_text(encoding="utf-8").splitlines() if results.exists() else []
    results.parent.mkdir(parents=True, exist_ok=True)
    staged = results.with_suffix(".tmp")
    staged.write_text("\n".join(replaced(before, figures)) + "\n", encoding="utf-8")
    staged.replace(results)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run one benchmark and record its figures."""
    parser = argparse.ArgumentParser(prog="benchmarks.record", description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="the JSON-lines results file")
    parser.add_argument("benchmark", help="a module of benchmarks/, e.g. bench_replay")
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help="the benchmark's own arguments")
    args = parser.parse_args(argv)
    if not args.benchmark.startswith("bench_") or not (REPO / "benchmarks" / f"{args.benchmark}.py").is_file():
        parser.error(f"no benchmark benchmarks/{args.benchmark}.py")
    try:
        figures = record(args.benchmark, args.arguments, args.results)
    except RuntimeError as exc:
        print(f"benchmarks.record: {exc}", file=sys.stderr)
        return 1
    print(f"recorded {figures['benchmark']} ({figures['measured_at']}) in {args.results}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
