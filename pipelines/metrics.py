"""Prometheus metrics of the worker, exposed on its web port at /metrics."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()
REGISTRY = CollectorRegistry()

EVENTS_IN = Counter("leadflow_events_total", "Valid input events processed, by type", ["type"], registry=REGISTRY)
DUPLICATES = Counter(
    "leadflow_duplicate_events_total", "Events whose (source, id) was seen before", ["type"], registry=REGISTRY
)
INVALID = Counter(
    "leadflow_invalid_events_total",
    "Inputs sent to the dead-letter topic, by input topic",
    ["topic"],
    registry=REGISTRY,
)
POISON = Counter(
    "leadflow_poison_records_total",
    "Records set aside on the dead-letter topic because their effects can never be written, by reason",
    ["reason"],
    registry=REGISTRY,
)
TRANSITIONS = Counter(
    "leadflow_transitions_total", "New events that move a lead to a stage, by stage", ["to_stage"], registry=REGISTRY
)
SINK_BATCHES = Counter("leadflow_sink_batches_total", "Batches written to the store", registry=REGISTRY)
SINK_ROWS = Counter("leadflow_sink_rows_total", "Rows written to the store, by table", ["table"], registry=REGISTRY)
SINK_ERRORS = Counter("leadflow_sink_errors_total", "Failed store writes (retried)", registry=REGISTRY)
SINK_SECONDS = Histogram(
    "leadflow_sink_flush_seconds",
    "Time to write one batch to the store",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
SINK_PENDING = Gauge("leadflow_sink_pending_rows", "Rows waiting for the store", registry=REGISTRY)
PARTITIONS_HELD = Gauge(
    "leadflow_worker_partitions", "Partitions of each input topic this worker was last given", registry=REGISTRY
)
ASSIGNED_AT = Gauge(
    "leadflow_worker_assigned_timestamp_seconds",
    "When this worker was last given its partitions (Unix time): the start of its latest rebalance's work",
    registry=REGISTRY,
)

SLA_LABELS = ["handoff", "agreement"]
SLA_BREACHES = Counter(
    "leadflow_sla_breaches_total",
    "Handoff clocks breached, by the owner's team (none: in no team)",
    [*SLA_LABELS, "team"],
    registry=REGISTRY,
)
SLA_WARNINGS = Counter(
    "leadflow_sla_warnings_total", "Handoff clocks past their warning", SLA_LABELS, registry=REGISTRY
)
SLA_MET = Counter("leadflow_sla_met_total", "Handoff clocks met", SLA_LABELS, registry=REGISTRY)
SLA_ESCALATIONS = Counter(
    "leadflow_sla_escalations_total",
    "Escalation steps of breached clocks, by step (manager, reassign) and the owner's team (none: in no team)",
    [*SLA_LABELS, "team", "step"],
    registry=REGISTRY,
)
SLA_OPEN = Gauge(
    "leadflow_sla_open_clocks", "Leads with a handoff clock still to judge, on this worker", registry=REGISTRY
)
SLA_BUSINESS_SECONDS = Histogram(
    "leadflow_sla_business_seconds",
    "Business seconds from a clock's start to its stop (met clocks)",
    ["handoff"],
    buckets=(60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 432000),
    registry=REGISTRY,
)
ABSENCES_NOT_COUNTED = Counter(
    "leadflow_absences_not_counted_total",
    "crm.owner_away events not counted: their owner has the most absences from events already",
    registry=REGISTRY,
)
ABSENCES_RESTATED = Counter(
    "leadflow_absences_restated_leads_total",
    "Leads judged again because an absence of an owner they ever had arrived",
    registry=REGISTRY,
)
AGREEMENTS = Gauge(
    "leadflow_agreements_info",
    "The agreements a worker judges with: 1 per fingerprint (all workers of a group must show the same)",
    ["fingerprint", "names"],
    registry=REGISTRY,
)


_children: dict[tuple[int, str], Any] = {}


def child(metric: Counter, label: str) -> Any:
    """Return a one-label metric's child for `label`, kept: `labels()` checks and locks on every call, per event.

    Only for labels from a closed set (event types, topics, stages), so the cache stays small.
    """
    key = (id(metric), label)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(label)
    return found
