"""The Wilson bounds Prometheus records, and when the drop alert's condition holds, against a brute-force solver.

Random cohorts (k of n), targets and minimum samples become one promtool unit test over the committed rules:
each recorded bound must equal the root of the score equation (p̂ - p)² = z² p (1 - p) / n found by bisection
on its side of p̂, and the alert's expression must hold exactly for the cohorts with enough entries whose upper
root lies under the target.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "rules" / "leadflow.yml"
Z = 1.959963984540054  # the 97.5 % quantile of the standard normal distribution
LABELS = 'job="leadflow-conversion", instance="exporter:9309", agreement="2026-H2"'
PLACE = 1e-9

Cohort = tuple[int, int, float, int]  # went on, entered, target, minimum sample


def score_gap(p: float, k: int, n: int) -> float:
    """Return (p̂ - p)² - z² p (1 - p) / n: negative between the two Wilson bounds, zero on them."""
    return (k / n - p) ** 2 - Z * Z * p * (1 - p) / n


def bisect(k: int, n: int, low: float, high: float) -> float:
    """Return the root of `score_gap` in [low, high], where it changes sign (or an end where it is zero)."""
    for _ in range(200):
        middle = (low + high) / 2
        if (score_gap(low, k, n) > 0) == (score_gap(middle, k, n) > 0):
            low = middle
        else:
            high = middle
    return (low + high) / 2


def brute_bounds(k: int, n: int) -> tuple[float, float]:
    """Return the Wilson bounds as the roots of the score equation on either side of p̂."""
    rate = k / n
    lower = 0.0 if k == 0 else bisect(k, n, 0.0, rate)
    upper = 1.0 if k == n else bisect(k, n, 1.0, rate)
    return lower, upper


def _alert_expr() -> str:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    rules = [r for g in groups for r in g["rules"] if r.get("alert") == "LeadflowConversionBelowTarget"]
    return str(rules[0]["expr"])


def _series(cohorts: list[Cohort]) -> list[dict[str, str]]:
    series = []
    for i, (k, n, target, minimum) in enumerate(cohorts):
        for name, value in (("entered", n), ("went_on", k), ("target", target), ("min_sample", minimum)):
            series.append({"series": f'leadflow_conversion_{name}{{{LABELS}, rate="r{i}"}}', "values": f"{value}x3"})
    return series


def _samples(name: str, values: dict[int, float]) -> list[dict[str, Any]]:
    """Return expected samples of cohorts `r<i>`; an empty name for a function's result, which drops it."""
    return [{"labels": f'{name}{{{LABELS}, rate="r{i}"}}', "value": v} for i, v in sorted(values.items())]


def rounded(value: float) -> float:
    """Round as PromQL's round(v, 1e-9) does: the bounds are compared to 9 decimals, not to the last bit."""
    inverse = 1.0 / PLACE
    return math.floor(value * inverse + 0.5) / inverse


def promtool_test(cohorts: list[Cohort]) -> dict[str, Any]:
    """Return a promtool unit test of the bounds and the alert's condition for these cohorts."""
    bounds = {i: brute_bounds(k, n) for i, (k, n, _, _) in enumerate(cohorts)}
    firing = {
        i: rounded(bounds[i][1])
        for i, (_, n, target, minimum) in enumerate(cohorts)
        if bounds[i][1] < target and n >= minimum
    }
    lower, upper = "leadflow:conversion_lower:wilson95", "leadflow:conversion_upper:wilson95"
    tests = [
        {"expr": f"round({name}, {PLACE})", "eval_time": "1m", "exp_samples": _samples("", found)}
        for name, found in (
            (lower, {i: rounded(b[0]) for i, b in bounds.items()}),
            (upper, {i: rounded(b[1]) for i, b in bounds.items()}),
        )
    ] + [
        # the alert's condition keeps the series of its left side: the upper bound, under the target
        {"expr": f"round({_alert_expr()}, {PLACE})", "eval_time": "1m", "exp_samples": _samples("", firing)},
    ]
    return {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": _series(cohorts), "promql_expr_test": tests}],
    }


def _cohort(draw: Any) -> Cohort:
    n = draw(st.integers(1, 5000))
    k = draw(st.integers(0, n))
    target = round(draw(st.floats(0.01, 1.0, allow_nan=False)), 4)
    # a target within rounding error of the bound is a coin toss for any float computation; the same value is not
    assume(not 0 < abs(brute_bounds(k, n)[1] - target) < PLACE)
    return k, n, target, draw(st.integers(1, 400))


cohorts_strategy = st.lists(st.composite(_cohort)(), min_size=1, max_size=12)


def test_the_brute_force_solver_agrees_with_known_intervals() -> None:
    lower, upper = brute_bounds(40, 200)
    assert math.isclose(lower, 0.150452, abs_tol=1e-6) and math.isclose(upper, 0.260855, abs_tol=1e-6)
    assert brute_bounds(0, 3)[0] == 0.0 and math.isclose(brute_bounds(0, 3)[1], 0.561497, abs_tol=1e-6)


@settings(max_examples=8, deadline=None)
@given(cohorts=cohorts_strategy)
def test_recorded_bounds_and_the_alert_condition_match_the_brute_force(
    cohorts: list[Cohort], tmp_path_factory: Any
) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: apt-get install -y prometheus"
    folder = tmp_path_factory.mktemp("promtool")
    test_file = folder / "conversion_test.yml"
    test_file.write_text(yaml.safe_dump(promtool_test(cohorts), sort_keys=False))
    done = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
