"""benchmarks.figures and benchmarks.record: the README's figures written from the benchmarks' JSON lines."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from benchmarks import figures, record
from benchmarks.figures_prose import BLOCKS, capacity_block, worker_block
from benchmarks.figures_text import BENCHMARKS, NOT_MEASURED, figures_block

REPO = Path(__file__).resolve().parents[2]
# A real final line of `python -m benchmarks.record bench_replay --visitors 1500` (small, so quick to make).
REPLAY_LINE = (Path(__file__).parent / "fixtures" / "bench_replay_small.jsonl").read_text().strip()
README = """# title

text before, 1,234 events/s by hand

<!-- figures:figures begin: written by python -m benchmarks.figures -->
stale
<!-- figures:figures end -->

between

<!-- figures:capacity begin -->
<!-- figures:capacity end -->
after
"""


def _replay() -> dict[str, Any]:
    return dict(json.loads(REPLAY_LINE))


def _kafka_path(worker: float = 1109, bare: float = 134018) -> dict[str, Any]:
    return {
        "benchmark": "kafka_path",
        "events": 78308,
        "worker_events_per_s": worker,
        "baseline_events_per_s_excl_startup": bare,
        "ratio": round(worker / bare, 4),
        "faust_plain_floor_events_per_s": 11736,
        "faust_table_floor_events_per_s": 3999,
        "worker_to_table_floor": round(worker / 3999, 3),
        "worker_to_plain_floor": round(worker / 11736, 3),
        "worker_cpu_s": 65.0,
        "group_workers": 2,
        "group_speedup": 0.68,
    }


def test_reads_the_latest_line_of_each_benchmark() -> None:
    older = {**_replay(), "core_events_per_s": 1}
    results = figures.read_results([json.dumps(older), "", REPLAY_LINE])
    assert results == {"replay": _replay()}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "results:2: not JSON"),
        ('{"core_events_per_s": 5}', "results:2: 'benchmark' must be one of"),
        ('{"benchmark": "replays"}', "got 'replays'"),
        ("[1, 2]", "results:2: 'benchmark' must be one of"),
    ],
)
def test_a_line_that_is_not_a_benchmarks_names_its_place(line: str, message: str) -> None:
    with pytest.raises(figures.FiguresError, match=message.replace("(", r"\(").replace("[", r"\[")):
        figures.read_results([REPLAY_LINE, line])


def test_the_figures_table_reads_a_real_replay_line_and_marks_the_rest_not_measured() -> None:
    line = _replay()
    block = figures_block({"replay": line})
    assert f"| core replay, one process | {line['core_events_per_s']:,} events/s |" in block
    assert f"{line['replay_events_per_s_excl_startup']:,} events/s" in block
    assert f"| {line['store_bytes_per_event']:,.0f} B |" in block
    rows = [row for row in block.splitlines() if row.startswith("| ") and "`bench_" in row]
    for name in BENCHMARKS:
        mine = [row for row in rows if f"`bench_{name}`" in row]
        assert mine, name
        assert all((NOT_MEASURED in row) == (name != "replay") for row in mine), mine
    when = line["measured_at"].replace("T", " ").removesuffix("+00:00")
    assert f"| `bench_replay` | {when} | {line['cores']} | {line['load_before']} → {line['load_after']} |" in block
    assert f"`{line['command']}`" in block


def test_hot_lead_without_its_worker_run_keeps_the_ratios_it_has() -> None:
    hot = {"benchmark": "hot_lead", "largest_state_bytes": 20480, "core_ratio": 1.9, "replay_ratio": 1.25}
    block = figures_block({"hot_lead": hot})
    assert "| 20,480 B | ≤ 65,536 B |" in block
    assert f"| 1.90 / 1.25 / {NOT_MEASURED} | ≥ 0.5 |" in block


def test_capacity_plan_follows_from_the_measured_rates() -> None:
    # the rates the plan was first worked out from by hand: 3 (4) workers and 1 (2) collectors at 100x
    results = {
        "kafka_path": _kafka_path(worker=1109),
        "collector": {"benchmark": "collector", "batched": {"events_per_s": 2926.0}},
        "replay": {**_replay(), "store_rows_per_event": 2.16, "store_bytes_per_event": 164.0},
        "sla_clocks": {
            "benchmark": "sla_clocks",
            "bytes_per_clock": {"total": 827.0},
            "tick": {"1000": {"median_ms": 4.65}},
        },
    }
    block = capacity_block(results)
    assert "| 1× | 40,000 | 12 | 1 (2) | 32 | 1 (2) | 86,000 | 2.4 GB |" in block
    assert "| 10× | 400,000 | 116 | 1 (2) | 32 | 1 (2) | 860,000 | 24 GB |" in block
    assert "| 100× | 4,000,000 | 1,157 | 3 (4) | 32 | 1 (2) | 8,600,000 | 240 GB |" in block
    prose = " ".join(block.split())
    assert "4 workers clear an hour of peak backlog in about 21 minutes" in prose
    assert "leaves room for 8 times as many" in prose
    assert "about 83 MB at 827 B each" in prose
    assert "1,000 due: 4.65 ms" in prose
    assert NOT_MEASURED not in block


def test_a_faster_worker_needs_fewer_of_them() -> None:
    block = capacity_block({"kafka_path": _kafka_path(worker=3000)})
    assert "| 100× | 4,000,000 | 1,157 | 1 (2) |" in block
    assert f"| 1× | 40,000 | 12 | 1 (2) | 32 | {NOT_MEASURED} |" in block


def test_capacity_without_any_run_says_so_instead_of_quoting_numbers() -> None:
    block = capacity_block({})
    assert block.count(NOT_MEASURED) >= 6
    assert "| 100× | 4,000,000 | 1,157 | " + NOT_MEASURED in block


def test_worker_paragraph_quotes_this_runs_figures() -> None:
    text = " ".join(worker_block({"kafka_path": _kafka_path(), "replay": _replay()}).split())
    assert "drains 78,308 simulated events at 1,109 events/s, counted as the floors are" in text
    assert "only decodes each event does 11,736 events/s" in text and "table entry per event 3,999" in text
    assert "runs at 0.28× the table floor and 0.09× the trivial agent (targets 1.5× and 0.5×)" in text
    assert "830 µs of CPU per event" in text
    assert "0.68× one worker (2 workers)" in text
    assert f"it runs {_replay()['core_events_per_s']:,} events/s" in text


def test_rewriting_changes_only_the_blocks_and_is_stable() -> None:
    results = {"replay": _replay()}
    once = figures.rewritten(README, results)
    assert "stale" not in once
    outside = [part.split("-->\n", 1)[0] for part in once.split("<!-- figures:")]
    assert outside[0] == README.split("<!-- figures:")[0]
    assert once.endswith("<!-- figures:capacity end -->\nafter\n")
    assert "between" in once
    assert figures.rewritten(once, results) == once
    assert figures.stale_blocks(README, results) == ["figures", "capacity"]
    assert figures.stale_blocks(once, results) == []


@pytest.mark.parametrize(
    ("readme", "message"),
    [
        ("no blocks here\n", "no <!-- figures:NAME begin"),
        ("<!-- figures:speed begin -->\nx\n<!-- figures:speed end -->\n", "unknown figures block"),
    ],
)
def test_a_readme_without_known_blocks_is_an_error(readme: str, message: str) -> None:
    with pytest.raises(figures.FiguresError, match=message):
        figures.rewritten(readme, {})


def test_command_writes_then_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    readme, results = tmp_path / "README.md", tmp_path / "latest.jsonl"
    readme.write_text(README)
    results.write_text(REPLAY_LINE + "\n")
    assert figures.main([str(results), "--readme", str(readme), "--check"]) == 1
    assert "figures block(s) figures, capacity differ" in capsys.readouterr().err
    assert figures.main([str(results), "--readme", str(readme)]) == 0
    assert "not measured: bench_kafka_path" in capsys.readouterr().out
    assert figures.main([str(results), "--readme", str(readme), "--check"]) == 0
    results.write_text(REPLAY_LINE + "\n" + '{"benchmark": "nope"}\n')
    assert figures.main([str(results), "--readme", str(readme)]) == 1
    assert capsys.readouterr().err.startswith(f"benchmarks.figures: {results}:2:")


def test_the_committed_readme_is_written_from_the_committed_results() -> None:
    results = figures.read_results(figures.RESULTS.read_text().splitlines(), str(figures.RESULTS))
    readme = figures.README.read_text()
    assert sorted({m.group(2) for m in figures.BLOCK.finditer(readme)}) == sorted(BLOCKS)
    assert figures.stale_blocks(readme, results) == [], "run: .venv/bin/python -m benchmarks.figures"


# -- benchmarks.record -----------------------------------------------------------------------------


def test_record_keeps_the_last_line_of_a_run_and_refuses_a_failed_one() -> None:
    script = 'print(\'load average before: 0.1\'); print(); print(\'{"benchmark": "replay", "x": 1}\')'
    assert record.run_benchmark([sys.executable, "-c", script]) == '{"benchmark": "replay", "x": 1}'
    with pytest.raises(RuntimeError, match="exit code 3; nothing recorded"):
        record.run_benchmark([sys.executable, "-c", "print('{}'); raise SystemExit(3)"])


def test_record_stamps_the_line_and_replaces_only_that_benchmarks_line() -> None:
    started = datetime(2026, 12, 5, 9, 30, 1, 500, tzinfo=UTC)
    stamped = record.stamped('{"x": 2}', "bench_collector", ["--events", "100"], started, 2)
    assert stamped == {
        "benchmark": "collector",
        "x": 2,
        "measured_at": "2026-12-05T09:30:01+00:00",
        "cores": 2,
        "command": "python -m benchmarks.bench_collector --events 100",
    }
    lines = ['{"benchmark": "collector", "x": 1}', REPLAY_LINE, ""]
    kept = record.replaced(lines, stamped)
    assert [json.loads(line)["benchmark"] for line in kept] == ["replay", "collector"]
    assert json.loads(kept[-1])["x"] == 2
    with pytest.raises(RuntimeError, match="did not end with a JSON object"):
        record.stamped("load average after: 1.0", "bench_replay", [], started, 2)
