"""Panel kinds the boards use, each a configured grafana-foundation-sdk builder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from grafana_foundation_sdk.builders import bargauge, stat, table, text, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import text as text_model

from dashboards.sdk import CLICKHOUSE, PROMETHEUS, ClickHouse

Target = Any  # an SDK query builder: ClickHouse or the Prometheus Dataquery builder


def _source(targets: Sequence[Target]) -> model.DataSourceRef:
    return CLICKHOUSE if all(isinstance(t, ClickHouse) for t in targets) else PROMETHEUS


def _ref_ids(targets: Sequence[Target]) -> list[Target]:
    """Give a panel's targets the refIds A, B, C and so on."""
    return [t.ref_id(chr(ord("A") + i)) for i, t in enumerate(targets)]


DataPanel = TypeVar("DataPanel", stat.Panel, timeseries.Panel, table.Panel, bargauge.Panel)


def _framed(
    panel: DataPanel, title: str, description: str, targets: Sequence[Target], width: int, height: int
) -> DataPanel:
    """Set what every data panel has: title, description, data source, targets (refIds A, B, ...) and size."""
    return (
        panel.title(title)
        .description(description)
        .datasource(_source(targets))
        .targets(_ref_ids(targets))
        .span(width)
        .height(height)
    )


def _last_value() -> common_builders.ReduceDataOptions:
    return common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False).fields("")


def stat_panel(
    title: str, description: str, targets: Sequence[Target], *, unit: str = "short", width: int = 6, height: int = 4
) -> stat.Panel:
    """Return a big number per field (the last value of a time series, or a table's one row)."""
    return (
        _framed(stat.Panel(), title, description, targets, width, height)
        .unit(unit)
        .reduce_options(_last_value())
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .orientation(common.VizOrientation.AUTO)
    )


def timeseries_panel(
    title: str,
    description: str,
    targets: Sequence[Target],
    *,
    unit: str = "short",
    width: int = 12,
    height: int = 8,
    bars: bool = False,
) -> timeseries.Panel:
    """Return lines (or stacked bars) over the range, with a table legend of last and max values."""
    legend = (
        common_builders.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.TABLE)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(["lastNotNull", "max"])
    )
    panel = (
        _framed(timeseries.Panel(), title, description, targets, width, height)
        .unit(unit)
        .legend(legend)
        .fill_opacity(60 if bars else 10)
        .line_width(1)
        .span_nulls(True)
    )
    if bars:
        panel = panel.draw_style(common.GraphDrawStyle.BARS).stacking(
            common_builders.StackingConfig().mode(common.StackingMode.NORMAL)
        )
    return panel


def table_panel(
    title: str, description: str, targets: Sequence[Target], *, width: int = 12, height: int = 8
) -> table.Panel:
    """Return a table of the rows as the query returns them."""
    return (
        _framed(table.Panel(), title, description, targets, width, height)
        .show_header(True)
        .cell_height(common.TableCellHeight.SM)
    )


def bargauge_panel(
    title: str,
    description: str,
    targets: Sequence[Target],
    *,
    unit: str,
    width: int = 12,
    height: int = 8,
    fields: str = "",
) -> bargauge.Panel:
    """Return one horizontal bar per value of a table's rows (`fields`: a regex of the fields shown, default all)."""
    reduce = common_builders.ReduceDataOptions().values(True).calcs([]).fields(fields)
    return (
        _framed(bargauge.Panel(), title, description, targets, width, height)
        .unit(unit)
        .reduce_options(reduce)
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .show_unfilled(True)
    )


def text_panel(title: str, markdown: str, *, width: int = 24, height: int = 4) -> text.Panel:
    """Return a markdown note written at build time."""
    return text.Panel().title(title).mode(text_model.TextMode.MARKDOWN).content(markdown).span(width).height(height)
