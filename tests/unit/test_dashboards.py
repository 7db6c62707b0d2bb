"""The boards as code: committed JSON equals the build, panels are wired to the provisioned data sources, the
thresholds come from the agreement, and Grafana's macros expand as the ClickHouse plugin expands them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards.build import JSON_DIR, boards, clickhouse_queries, differences, panels, promql_expressions, rendered
from dashboards.macros import expand_clickhouse, expand_promql
from dashboards.sdk import CLICKHOUSE_PLUGIN
from dashboards.targets import targets
from pipelines.agreements import load_agreements
from pipelines.core.planning import goals_plan
from services.cli import main

REPO = Path(__file__).resolve().parents[2]
AGREEMENTS = load_agreements(REPO / "agreements")
PLUGIN_MACROS = {"fromTime", "toTime", "fromTime_ms", "toTime_ms", "timeFilter", "timeFilter_ms", "interval_s",
                 "timeInterval", "timeInterval_ms", "dateFilter"}  # fmt: skip


def _committed() -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(JSON_DIR.glob("*.json"))]


def _provisioned_uids() -> dict[str, str]:
    provisioning = yaml.safe_load((REPO / "deploy/grafana/provisioning/datasources/leadflow.yml").read_text())
    return {d["uid"]: d["type"] for d in provisioning["datasources"]}


def test_committed_json_is_what_the_code_builds() -> None:
    assert differences(AGREEMENTS) == [], "run `leadflow dashboards build` and commit dashboards/json"
    assert sorted(p.name for p in JSON_DIR.glob("*.json")) == sorted(rendered(AGREEMENTS))


def test_build_check_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_AGREEMENTS", str(REPO / "agreements"))
    assert main(["dashboards", "build", "--check"]) == 0
    assert main(["dashboards", "build", "--out", str(tmp_path)]) == 0
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == rendered(AGREEMENTS)
    (tmp_path / "leadflow-sla.json").write_text("{}")
    assert main(["dashboards", "build", "--check", "--out", str(tmp_path)]) == 1


def test_four_real_time_boards() -> None:
    built = _committed()
    assert {b["uid"] for b in built} == {"leadflow-funnel", "leadflow-sla", "leadflow-goals", "leadflow-health"}
    for board in built:
        assert board["refresh"] in ("5s", "10s"), board["uid"]
        assert board["time"]["to"] == "now" and board["time"]["from"].startswith("now-")
        assert "leadflow" in board["tags"]
        ids = [p["id"] for p in panels(board)]
        assert len(ids) == len(set(ids)), f"{board['uid']}: panel ids repeat"
        for panel in panels(board):
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, (board["uid"], panel.get("title"))


def test_every_panel_uses_a_provisioned_data_source() -> None:
    uids = _provisioned_uids()
    for board in _committed():
        for panel in panels(board):
            if panel["type"] in ("row", "text"):
                continue
            assert panel["datasource"]["uid"] in uids, panel["title"]
            for target in panel["targets"]:
                assert uids[target["datasource"]["uid"]] == target["datasource"]["type"], panel["title"]


def test_clickhouse_targets_use_the_plugin_format_and_only_its_macros() -> None:
    found = 0
    for board in _committed():
        for panel in panels(board):
            for target in panel.get("targets") or []:
                if target["datasource"]["type"] != CLICKHOUSE_PLUGIN:
                    continue
                found += 1
                assert target["editorType"] == "sql" and target["refId"]
                time_series = panel["type"] == "timeseries"
                assert (target["format"], target["queryType"]) == ((0, "timeseries") if time_series else (1, "table"))
                macros = set(re.findall(r"\$__(\w+)", target["rawSql"]))
                assert macros and macros <= PLUGIN_MACROS, (panel["title"], macros - PLUGIN_MACROS)
    assert found == len(clickhouse_queries(AGREEMENTS)) >= 15


def test_recorded_queries_are_the_committed_ones_and_overrides_name_their_columns() -> None:
    committed = {
        (b["uid"], p["title"], t["refId"]): (t["rawSql"], p)
        for b in _committed() for p in panels(b) for t in p.get("targets") or []
        if t["datasource"]["type"] == CLICKHOUSE_PLUGIN
    }  # fmt: skip
    for query in clickhouse_queries(AGREEMENTS):
        sql, panel = committed[(query.board, query.panel, query.ref_id)]
        assert sql == query.sql
        if query.time_series:
            assert query.columns[0] == "time"
        for override in panel["fieldConfig"]["overrides"]:
            assert override["matcher"]["options"] in query.columns, (query.panel, override["matcher"])


def test_conversion_thresholds_come_from_the_agreement() -> None:
    goal = targets(AGREEMENTS)
    funnel = next(b for b in _committed() if b["uid"] == "leadflow-funnel")
    stat = next(p for p in panels(funnel) if p["title"] == "Next-step conversion vs. target")
    steps = {o["matcher"]["options"]: o["properties"][0]["value"]["steps"] for o in stat["fieldConfig"]["overrides"]}
    rates = AGREEMENTS[-1].goals.rates
    assert steps["lead_to_mql"][-1] == {"color": "green", "value": rates.lead_to_mql}
    assert steps["mql_to_sql"][-1]["value"] == rates.mql_to_sql
    assert "mql_to_sal" not in steps  # the agreement sets no target for it
    cumulative = next(p for p in panels(funnel) if p["title"] == "Cumulative conversion vs. target")
    last = {o["matcher"]["options"]: o["properties"][0]["value"]["steps"][-1]["value"]
            for o in cumulative["fieldConfig"]["overrides"]}  # fmt: skip
    assert last["visit_to_mql"] == pytest.approx(rates.visit_to_lead * rates.lead_to_mql)
    assert last == goal.cumulative


def test_a_revised_agreement_changes_the_boards() -> None:
    revised = AGREEMENTS[-1].model_copy(
        update={"goals": AGREEMENTS[-1].goals.model_copy(
            update={"rates": AGREEMENTS[-1].goals.rates.model_copy(update={"lead_to_mql": 0.55})})}
    )  # fmt: skip
    before, after = rendered(AGREEMENTS), rendered([revised])
    assert before["leadflow-funnel.json"] != after["leadflow-funnel.json"]
    assert '"value": 0.55' in after["leadflow-funnel.json"]


def test_goal_worked_backwards_as_the_contract_says() -> None:
    plan = goals_plan(AGREEMENTS[-1].goals, Decimal(1_200_000))
    assert plan == {"customer": 60, "opportunity": 240, "sql": 400, "mql": 800, "lead": 2000, "visits": 100_000}
    goals = next(b for b in boards(AGREEMENTS) if b.uid == "leadflow-goals").to_json()
    note = next(p for p in panels(goals) if p["type"] == "text")["options"]["content"]
    assert "100,000" in note and "2026-H2" in note


def test_clickhouse_macros_expand_as_the_plugin_does() -> None:
    start, end = datetime(2026, 11, 5, 8, tzinfo=UTC), datetime(2026, 11, 6, 8, 0, 0, 123000, tzinfo=UTC)
    s, e = int(start.timestamp()), int(end.timestamp())
    sql = (
        "SELECT $__timeInterval(t), $__timeInterval_ms(t), $__interval_s FROM x "
        "WHERE $__timeFilter(t) AND $__timeFilter_ms(u) AND $__dateFilter(d) "
        "AND t >= $__fromTime AND t < $__toTime AND u >= $__fromTime_ms AND u < $__toTime_ms"
    )
    assert expand_clickhouse(sql, start, end, 300) == (
        "SELECT toStartOfInterval(toDateTime(t), INTERVAL 300 second), "
        "toStartOfInterval(toDateTime64(t, 3), INTERVAL 300000 millisecond), 300 FROM x "
        f"WHERE t >= toDateTime({s}) AND t <= toDateTime({e}) "
        f"AND u >= fromUnixTimestamp64Milli({s}000) AND u <= fromUnixTimestamp64Milli({e}123) "
        "AND d >= toDate('2026-11-05') AND d <= toDate('2026-11-06') "
        f"AND t >= toDateTime({s}) AND t < toDateTime({e}) "
        f"AND u >= fromUnixTimestamp64Milli({s}000) AND u < fromUnixTimestamp64Milli({e}123)"
    )
    assert expand_clickhouse("$__interval_s", start, end, 0) == "1"
    with pytest.raises(ValueError, match="unknown"):
        expand_clickhouse("SELECT $__unixEpochFilter(t)", start, end)
    with pytest.raises(ValueError, match="timezone-aware"):
        expand_clickhouse("$__fromTime", start.replace(tzinfo=None), end)


def test_promql_variables_expand_and_every_board_query_is_recorded() -> None:
    expr = "sum(rate(x[$__rate_interval])) / sum(increase(y[$__range])) + z[$__interval]"
    assert expand_promql(expr, "5s", "30s", "1h") == "sum(rate(x[30s])) / sum(increase(y[1h])) + z[5s]"
    exprs = promql_expressions(_committed())
    assert {uid for uid, _, _ in exprs} == {"leadflow-sla", "leadflow-health", "leadflow-funnel"}
    assert not any("$__" in expand_promql(e) for _, _, e in exprs)
    joined = " ".join(e for _, _, e in exprs)
    for metric in (
        "leadflow_events_total",
        "leadflow_consumer_lag",
        "leadflow_invalid_events_total",
        "leadflow_sink_flush_seconds_bucket",
        "leadflow_sink_errors_total",
        'up{job="leadflow-worker"}',
        "leadflow:conversion_upper:wilson95",
        "leadflow_conversion_target",
    ):
        assert metric in joined, metric  # fmt: skip
