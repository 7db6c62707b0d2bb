"""What grafana-foundation-sdk lacks for leadflow: ClickHouse plugin queries, and a board that records them."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model

CLICKHOUSE_PLUGIN = "grafana-clickhouse-datasource"
CLICKHOUSE_PLUGIN_VERSION = "4.5.1"
CLICKHOUSE = model.DataSourceRef(type_val=CLICKHOUSE_PLUGIN, uid="leadflow-clickhouse")
PROMETHEUS = model.DataSourceRef(type_val="prometheus", uid="leadflow-prometheus")
# The plugin's `format` (grafana-plugin-sdk-go sqlutil.FormatQueryOption): long time series or a table.
FORMAT_TIME_SERIES = 0
FORMAT_TABLE = 1


class ClickHouseQuery(cogvariants.Dataquery):
    """A raw-SQL query of the official ClickHouse data source plugin (v4), with the columns its panel reads."""

    def __init__(self, sql: str, columns: Sequence[str], *, time_series: bool, ref_id: str = "A") -> None:
        self.sql = textwrap.dedent(sql).strip()
        self.columns = tuple(columns)
        self.time_series = time_series
        self.ref_id = ref_id

    def to_json(self) -> dict[str, object]:
        """Return the target as the plugin stores it in a dashboard."""
        return {
            "datasource": CLICKHOUSE.to_json(),
            "editorType": "sql",
            "format": FORMAT_TIME_SERIES if self.time_series else FORMAT_TABLE,
            "pluginVersion": CLICKHOUSE_PLUGIN_VERSION,
            "queryType": "timeseries" if self.time_series else "table",
            "rawSql": self.sql,
            "refId": self.ref_id,
        }


class ClickHouse(cogbuilder.Builder[ClickHouseQuery]):
    """Builder of a ClickHouse plugin target."""

    def __init__(self, sql: str, columns: Sequence[str], *, time_series: bool = False) -> None:
        self._internal = ClickHouseQuery(sql, columns, time_series=time_series)

    def build(self) -> ClickHouseQuery:
        """Return the target."""
        return self._internal

    def ref_id(self, ref_id: str) -> Self:
        """Set the target's refId."""
        self._internal.ref_id = ref_id
        return self


def promql(expr: str, legend: str = "", ref_id: str = "A") -> prom.Dataquery:
    """Return a Prometheus range query target."""
    return prom.Dataquery().expr(expr).legend_format(legend or "__auto").range().ref_id(ref_id).datasource(PROMETHEUS)


@dataclass(frozen=True)
class PanelQuery:
    """One ClickHouse target of a board: where it is, its SQL and the columns its panel reads."""

    board: str
    panel: str
    ref_id: str
    sql: str
    columns: tuple[str, ...]
    time_series: bool


class Board:
    """A dashboard under construction that numbers its panels and records its ClickHouse queries."""

    def __init__(
        self, uid: str, title: str, description: str, *, refresh: str, since: str, tags: Sequence[str]
    ) -> None:
        self.uid = uid
        self.builder = (
            dashboard.Dashboard(title)
            .uid(uid)
            .description(description)
            .tags(["leadflow", *tags])
            .refresh(refresh)
            .time(since, "now")
            .timezone("browser")
            .editable()
            .tooltip(model.DashboardCursorSync.CROSSHAIR)
            .timepicker(dashboard.TimePicker().refresh_intervals(["5s", "10s", "30s", "1m", "5m"]))
        )
        self.queries: list[PanelQuery] = []
        self._next_id = 1

    def row(self, title: str) -> None:
        """Start a row of panels."""
        self.builder.with_row(dashboard.Row(title).id(self._take_id()))

    def add(self, panel: Any) -> None:
        """Add a panel (an SDK panel builder), giving it the next id and recording its ClickHouse targets."""
        built = panel.id(self._take_id()).build()
        for target in built.targets or []:
            if isinstance(target, ClickHouseQuery):
                columns, series = target.columns, target.time_series
                self.queries.append(PanelQuery(self.uid, built.title or "", target.ref_id, target.sql, columns, series))
        self.builder.with_panel(panel)

    def to_json(self) -> dict[str, Any]:
        """Return the dashboard as plain JSON data."""
        return dict(json.loads(json.dumps(self.builder.build(), cls=JSONEncoder)))

    def _take_id(self) -> int:
        taken, self._next_id = self._next_id, self._next_id + 1
        return taken


def thresholds(base: str, *steps: tuple[float, str]) -> dashboard.ThresholdsConfig:
    """Return absolute thresholds: `base` below the first step, then each (value, colour)."""
    points = [model.Threshold(value=None, color=base), *(model.Threshold(value=v, color=c) for v, c in steps)]
    return dashboard.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(points)


def target_thresholds(target: float) -> dashboard.ThresholdsConfig:
    """Red below 80 % of a target rate, orange below the target, green at or above it."""
    return thresholds("red", (round(0.8 * target, 6), "orange"), (target, "green"))


def threshold_override(target: float) -> list[model.DynamicConfigValue]:
    """Field-override properties that colour one field against its own target."""
    return [model.DynamicConfigValue(id_val="thresholds", value=target_thresholds(target).build().to_json())]


def unit(name: str) -> model.DynamicConfigValue:
    """Field-override property that sets a unit."""
    return model.DynamicConfigValue(id_val="unit", value=name)


def dumps(board: dict[str, Any]) -> str:
    """Serialise a dashboard the way it is committed: sorted keys, two-space indent, final newline."""
    return json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
