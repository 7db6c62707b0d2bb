"""Write the README's measured figures from the benchmarks' JSON lines, so they can be regenerated.

    .venv/bin/python -m benchmarks.figures [benchmarks/results/latest.jsonl] [--readme README.md] [--check]

RESULTS holds one JSON line per benchmark run (the last line each benchmark prints; `python -m benchmarks.record`
adds when, on how many cores and with which command); a later line of the same benchmark replaces an earlier
one. Every block of README.md between `<!-- figures:NAME begin ... -->` and `<!-- figures:NAME end -->` is
rewritten from them (benchmarks/figures_text.py and figures_prose.py); the text around the blocks is left as it
is. A benchmark missing from RESULTS reads "not measured in this run". With --check, nothing is written: exit 1
if a block differs from what RESULTS gives.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from benchmarks.figures_prose import BLOCKS
from benchmarks.figures_text import BENCHMARKS, Results

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "latest.jsonl"
README = REPO / "README.md"
BLOCK = re.compile(r"(<!-- figures:(\w+) begin[^\n]*-->\n)(.*?)(<!-- figures:\2 end -->)", re.DOTALL)


class FiguresError(ValueError):
    """A results file or README that cannot be used; the message says where and why."""


def read_results(lines: Iterable[str], source: str = "results") -> Results:
    """Return the latest line of each benchmark; a line that is not a benchmark's JSON object is an error."""
    results: Results = {}
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
        except ValueError as exc:
            raise FiguresError(f"{source}:{number}: not JSON ({exc})") from None
        name = line.get("benchmark") if isinstance(line, dict) else None
        if name not in BENCHMARKS:
            raise FiguresError(f"{source}:{number}: 'benchmark' must be one of {', '.join(BENCHMARKS)}, got {name!r}")
        results[name] = line
    return results


def rewritten(readme: str, results: Results) -> str:
    """Return the README with every figures block written from `results`."""
    names = [match.group(2) for match in BLOCK.finditer(readme)]
    unknown = sorted(set(names) - set(BLOCKS))
    if unknown:
        raise FiguresError(f"README: unknown figures block(s) {', '.join(unknown)}; known: {', '.join(BLOCKS)}")
    if not names:
        raise FiguresError("README: no <!-- figures:NAME begin --> ... <!-- figures:NAME end --> block")
    return BLOCK.sub(lambda m: m.group(1) + BLOCKS[m.group(2)](results) + m.group(4), readme)


def stale_blocks(readme: str, results: Results) -> list[str]:
    """Return the names of the blocks whose text differs from what `results` gives."""
    fresh = {m.group(2): m.group(3) for m in BLOCK.finditer(rewritten(readme, results))}
    return [m.group(2) for m in BLOCK.finditer(readme) if m.group(3) != fresh[m.group(2)]]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: rewrite (or check) the README's figures blocks from a results file."""
    parser = argparse.ArgumentParser(prog="benchmarks.figures", description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, nargs="?", default=RESULTS, help="JSON lines of benchmark runs")
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a block is stale")
    args = parser.parse_args(argv)
    try:
        results = read_results(args.results.read_text(encoding="utf-8").splitlines(), str(args.results))
        readme = args.readme.read_text(encoding="utf-8")
        if args.check:
            stale = stale_blocks(readme, results)
            if stale:
                print(f"{args.readme}: figures block(s) {', '.join(stale)} differ from {args.results}", file=sys.stderr)
            return 1 if stale else 0
        args.readme.write_text(rewritten(readme, results), encoding="utf-8")
    except (OSError, FiguresError) as exc:
        print(f"benchmarks.figures: {exc}", file=sys.stderr)
        return 1
    missing = [f"bench_{name}" for name in BENCHMARKS if name not in results]
    print(f"{args.readme}: figures written from {args.results}; not measured: {', '.join(missing) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
