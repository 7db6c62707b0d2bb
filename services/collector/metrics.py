"""The collector's Prometheus metrics, in a registry of their own (served on its /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from schemas.events import EVENT_MODELS


class CollectorMetrics:
    """Every metric the collector exports; a fresh registry per instance, so tests do not share counts."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "leadflow_collector_requests",
            "HTTP requests answered, by route and status",
            ("route", "status"),
            registry=self.registry,
        )
        self.events = Counter(
            "leadflow_collector_events",
            "events answered, by outcome (accepted, rejected, failed) and type",
            ("outcome", "type"),
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "leadflow_collector_auth_failures",
            "requests refused before reading events: missing or wrong key, bad signature, origin",
            ("reason",),
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "leadflow_collector_dead_letters",
            "refused requests and events sent to the dead-letter topic, by outcome (written, failed)",
            ("outcome",),
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "leadflow_collector_rate_limited",
            "requests answered 429, by budget (key: a key's requests, address: an address's failed attempts)",
            ("budget",),
            registry=self.registry,
        )
        self.hubspot = Counter(
            "leadflow_collector_hubspot_deliveries",
            "HubSpot deliveries, by outcome (mapped, ignored, rejected)",
            ("outcome",),
            registry=self.registry,
        )
        self.latency = Histogram(
            "leadflow_collector_request_seconds",
            "time to answer a request, by route",
            ("route",),
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.kafka_ready = Gauge(
            "leadflow_collector_kafka_ready", "1 while Kafka answers and topics exist", registry=self.registry
        )

    def count_event(self, outcome: str, event_type: str | None) -> None:
        """Count one event; unknown types share one label, so labels stay bounded."""
        self.events.labels(outcome, event_type if event_type in EVENT_MODELS else "unknown").inc()
