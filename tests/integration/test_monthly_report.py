"""The monthly report of a simulated, replayed autumn: its figures are the JSON report's, and Chromium draws it.

Headless Chromium (Debian package `chromium`) must be installed: without it these tests fail, they never skip.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from services.monthly.browser import find_chromium, rendered_dom, screenshot
from services.monthly.render import lookup
from tests.integration.processes import base_env, leadflow, leadflow_json

pytestmark = pytest.mark.integration

AS_OF = "2026-12-20T00:00:00+00:00"
NOVEMBER = ["--month", "2026-11", "--as-of", AS_OF]
CHARTS = ["scorecard", "funnel", "timing", "rates", "pacing", "sla", "feedback"]
HEADINGS = [
    "Scorecard: did each side keep its word?",
    "Funnel",
    "Time to convert",
    "Conversion against the agreement's targets",
    "Goal pacing",
    "SLA compliance",
    "Worst breaches",
    "Feedback from sales to marketing",
]
# Runs inside Chromium after the page loaded: what each chart draws and where, written into the DOM.
PROBE = """
<script>
const charts = [...document.querySelectorAll("figure.chart")].map((figure) => {
  const svg = figure.querySelector("svg");
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0, top: 0, left: 0};
  const drawn = svg ? [...svg.querySelectorAll("path, rect, use, text")].filter((e) => {
    const b = e.getBBox(); return b.width > 0 || b.height > 0; }).length : 0;
  const texts = svg ? [...svg.querySelectorAll("text")].map((t) => t.textContent) : [];
  return {name: figure.dataset.chart, width: box.width, height: box.height, top: box.top + window.scrollY,
          left: box.left, drawn, texts};
});
const headings = [...document.querySelectorAll("h2")].map((h) => h.textContent.trim());
const out = document.createElement("pre");
out.id = "probe";
out.textContent = JSON.stringify({charts, headings, height: document.documentElement.scrollHeight});
document.body.appendChild(out);
</script>
"""


def replay_autumn(folder: Path) -> dict[str, str]:
    """Simulate September to November 2026 (seeded) and replay it into a fresh chDB store; return its env."""
    env = base_env(LEADFLOW_STORE=f"chdb:{folder / 'store'}")
    events = folder / "events.jsonl"
    simulate = ["simulate", "--out", str(events), "--start", "2026-09-01T00:00:00+00:00", "--days", "91"]
    leadflow_json([*simulate, "--visitors", "6000"], env, folder)
    assert leadflow_json(["replay", str(events), "--no-progress"], env, folder)["leads"] > 500
    return env


class Page(HTMLParser):
    """The figures (data-path, data-value, shown text), history cells and charts of a rendered report."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[tuple[list[Any], Any, str]] = []
        self.history: dict[tuple[str, str], Any] = {}
        self.trend: dict[tuple[str, str], Any] = {}
        self.charts: list[str] = []
        self._open: tuple[list[Any], Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if "data-path" in found:
            self._open = (json.loads(found["data-path"]), json.loads(found["data-value"]))
        if "data-month" in found:
            self.history[(found["data-month"], found["data-rate"])] = json.loads(found["data-value"])
        if "data-trend-month" in found:
            self.trend[(found["data-trend-month"], found["data-pair"])] = json.loads(found["data-value"])
        if "data-chart" in found:
            self.charts.append(found["data-chart"])

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self.figures.append((*self._open, data))
            self._open = None


@pytest.fixture(scope="module")
def autumn(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    folder = tmp_path_factory.mktemp("autumn")
    return replay_autumn(folder), folder


@pytest.fixture(scope="module")
def report(autumn: tuple[dict[str, str], Path]) -> Any:
    env, folder = autumn
    return leadflow_json(["report", *NOVEMBER, "--format", "json"], env, folder)


@pytest.fixture(scope="module")
def rendered(autumn: tuple[dict[str, str], Path]) -> Iterator[tuple[Path, Path]]:
    env, folder = autumn
    html, pdf = folder / "november.html", folder / "november.pdf"
    done = leadflow(["report", *NOVEMBER, "--html", str(html), "--pdf", str(pdf)], env, folder, timeout=180)
    assert done.returncode == 0, done.stderr
    assert f"wrote HTML report: {html}\nwrote PDF report: {pdf}" in done.stderr
    yield html, pdf


def parsed(html: Path) -> Page:
    page = Page()
    page.feed(html.read_text(encoding="utf-8"))
    return page


def test_the_json_report_has_the_goal_sections_of_the_contract(report: Any) -> None:
    # November 2026: 30 of the 184 days of 2026-H2; worked back by hand in tests/unit/test_planning.py
    assert report["plan"] == {"visits": 16_750, "lead": 335, "mql": 134, "sql": 67, "opportunity": 40, "customer": 10}
    revenue = report["revenue"]
    assert (revenue["goal"], revenue["currency"]) == (1_200_000 * 30 / 184, "EUR")
    assert float(revenue["won"]) > 0 and revenue["attainment"] == round(float(revenue["won"]) / 195652.173913, 6)
    assert "USD" in revenue["other_currencies"]  # the simulator closes about one deal in ten in dollars
    assert report["pacing"]["business_days"] == 21 and report["pacing"]["elapsed_share"] == 1.0
    acceptance = report["feedback"]["mql_acceptance"]
    judged = sum(acceptance[k] for k in ("accepted", "recycled", "disqualified", "unworked"))
    assert acceptance["acceptance_rate"] == round(acceptance["accepted"] / judged, 6)
    assert acceptance["accepted"] == report["cohort_sizes"]["mql_to_sal"]["went_on"]
    assert set(report["feedback"]["reasons"]["disqualified"]) <= {
        "student",
        "competitor",
        "spam",
        "outside target market",
    }


def test_pacing_counts_what_happened_by_as_of(autumn: tuple[dict[str, str], Path]) -> None:
    env, folder = autumn
    midnight = "2026-11-17T23:00:00+00:00"  # 18 November, 00:00 in Berlin
    paced = leadflow_json(["report", "--month", "2026-11", "--as-of", midnight, "--format", "json"], env, folder)
    early = leadflow_json(["report", "--from", "2026-11-01", "--to", "2026-11-18", "--format", "json"], env, folder)
    pacing = paced["pacing"]
    # Nov 2-6, 9-13 and 16-17: 12 of November's 21 business days
    assert (pacing["business_days_elapsed"], pacing["elapsed_share"]) == (12.0, round(12 / 21, 6))
    assert {key: line["actual"] for key, line in pacing["stages"].items()} == {
        key: early["counts"][key] for key in pacing["stages"]
    }
    assert pacing["revenue"]["actual"] == early["revenue"]["won"] != paced["revenue"]["won"]
    mql = pacing["stages"]["mql"]
    assert mql["expected"] == round(134 * 12 / 21, 3) and mql["pace"] == round(mql["actual"] / (134 * 12 / 21), 6)


def test_every_figure_of_the_html_is_the_json_reports(rendered: tuple[Path, Path], report: Any) -> None:
    page = parsed(rendered[0])
    assert len(page.figures) > 150
    wrong = [(path, value, lookup(report, path)) for path, value, _ in page.figures if lookup(report, path) != value]
    assert wrong == []
    shown = {json.dumps(path): text for path, _, text in page.figures}
    assert shown['["counts", "mql"]'] == f"{report['counts']['mql']:,}"
    assert shown['["revenue", "won"]'] == f"{float(report['revenue']['won']):,.2f}"
    assert shown['["sla", "mql_follow_up", "compliance"]'] == f"{report['sla']['mql_follow_up']['compliance']:.1%}"
    lagged = report["pacing"]["stages"]["lead"]
    assert shown['["pacing", "stages", "lead", "expected_lagged"]'] == f"{lagged['expected_lagged']:,.0f}"
    assert shown['["pacing", "stages", "lead", "pace_lagged"]'] == f"{lagged['pace_lagged']:.1%}"
    paths = {json.dumps(path[:2]) for path, _, _ in page.figures}
    for section in ("counts", "plan", "revenue", "pacing", "sla", "sla_by_owner", "worst_breaches", "feedback",
                    "time_to_convert", "time_to_convert_by_source", "time_to_convert_by_owner"):  # fmt: skip
        assert any(p.startswith(f'["{section}"') for p in paths), section


def test_the_trailing_months_are_the_reports_of_those_months(
    rendered: tuple[Path, Path], autumn: tuple[dict[str, str], Path]
) -> None:
    env, folder = autumn
    history = parsed(rendered[0]).history
    october = leadflow_json(["report", "--month", "2026-10", "--as-of", AS_OF, "--format", "json"], env, folder)
    counts = october["counts"]
    assert history[("2026-10", "mql_to_sql")] == round(counts["sql"] / counts["mql"], 6)
    assert history[("2026-10", "visit_to_lead")] == october["conversion"]["visit_to_lead"]
    assert history[("2026-10", "lead_to_mql")] == october["conversion"]["lead_to_mql"]
    assert history[("2026-06", "lead_to_mql")] is None  # no traffic before September
    trend = parsed(rendered[0]).trend
    assert {pair: trend[("2026-10", pair)] for pair in october["time_to_convert"]} == october["time_to_convert"]
    assert any(line["n"] > 0 for line in october["time_to_convert"].values())
    assert trend[("2026-06", "lead_to_mql")] == {"n": 0, "p50_seconds": None, "p90_seconds": None}


def test_the_page_needs_no_network(rendered: tuple[Path, Path]) -> None:
    text = rendered[0].read_text(encoding="utf-8")
    assert "<script" not in text and "<link" not in text and "@import" not in text and "src=" not in text
    assert set(re.findall(r"https?://[^\s\"')<]+", text)) == {
        "http://www.w3.org/2000/svg",
        "http://www.w3.org/1999/xlink",
    }


def test_chromium_draws_every_chart_and_heading(rendered: tuple[Path, Path], report: Any, tmp_path: Path) -> None:
    find_chromium()  # a missing browser fails here with the package to install
    probed = tmp_path / "probed.html"
    probed.write_text(rendered[0].read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = rendered_dom(probed)
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.DOTALL)
    assert found, dom[-2000:]
    probe = json.loads(
        found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    )
    assert probe["headings"] == HEADINGS
    charts = {c["name"]: c for c in probe["charts"]}
    assert list(charts) == CHARTS
    for chart in charts.values():
        assert chart["width"] > 600 and chart["height"] > 120 and chart["drawn"] > 20, chart["name"]
    assert {"Customers", "Visits"} <= set(charts["funnel"]["texts"])
    mqls = f"MQLs: {report['pacing']['stages']['mql']['actual']:,} of {report['plan']['mql']:,}"
    assert mqls in charts["pacing"]["texts"]
    assert "rep-01" in charts["sla"]["texts"] and "Lead → MQL" in charts["rates"]["texts"]
    shot = screenshot(rendered[0], tmp_path / "november.png", 1280, int(probe["height"]) + 40)
    image = Image.open(shot).convert("RGB")
    funnel = charts["funnel"]
    area = image.crop(
        (
            int(funnel["left"]),
            int(funnel["top"]),
            int(funnel["left"] + funnel["width"]),
            int(funnel["top"] + funnel["height"]),
        )
    )
    colours = area.getcolors(maxcolors=1 << 20) or []
    blue = sum(n for n, rgb in colours if rgb == (0x25, 0x63, 0xEB))  # the bars' own colour
    assert blue > 5_000, "the funnel's bars are not on the screenshot"
    assert len(image.getcolors(maxcolors=1 << 20) or []) > 100  # a page, not a blank


def test_the_pdf_is_printed_from_the_same_page(rendered: tuple[Path, Path]) -> None:
    data = rendered[1].read_bytes()
    assert data.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 3


def test_a_report_needs_a_window(autumn: tuple[dict[str, str], Path]) -> None:
    env, folder = autumn
    done = leadflow(["report", "--html", str(folder / "x.html")], env, folder)
    assert done.returncode == 2 and "give --from and --to, or --month YYYY-MM" in done.stderr
    done = leadflow(["report", "--month", "2026-11", "--from", "2026-11-01"], env, folder)
    assert done.returncode == 2 and "one or the other" in done.stderr
    assert not (folder / "x.html").exists()
