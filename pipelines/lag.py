"""Consumer lag of the worker group, measured from Kafka at each scrape: `python -m pipelines.lag`.

A small exporter beside the workers, like kafka-exporter or Burrow: lag is the partition's end offset minus
the offset the group (`LEADFLOW_APP_ID`) committed, over the topics the workers consume. Measuring from the
broker rather than inside a worker means lag keeps growing, and keeps being reported, while every worker is
down. Metrics: `leadflow_consumer_lag{group,topic,partition}` and `leadflow_consumer_lag_up` (1 when Kafka
answered the last measurement).
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import KafkaError
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pipelines.exporters import add_listen_flags, serve
from pipelines.settings import ConfigError, Settings, load_settings
from pipelines.topics import TopicNames

DEFAULT_PORT = 9308


def partition_lag(
    end: Mapping[TopicPartition, int], committed: Mapping[TopicPartition, int], earliest: Mapping[TopicPartition, int]
) -> dict[TopicPartition, int]:
    """Return each partition's lag: end minus committed offset, or minus the earliest offset if none is committed."""
    return {tp: max(0, offset - committed.get(tp, earliest.get(tp, 0))) for tp, offset in end.items()}


def topic_partitions(described: Sequence[Mapping[str, Any]]) -> list[TopicPartition]:
    """Return the partitions of the topics an admin client described (those that exist)."""
    return [
        TopicPartition(t.get("name") or t.get("topic"), p.get("partition_index", p.get("partition")))
        for t in described
        if not t.get("error_code")
        for p in t.get("partitions") or ()
    ]


class LagCollector(Collector):
    """Measures the group's lag from Kafka whenever Prometheus scrapes."""

    def __init__(self, settings: Settings, timeout_ms: int = 5_000) -> None:
        self._settings = settings
        self._timeout_ms = timeout_ms
        self._topics = TopicNames(settings.topic_prefix).co_partitioned()
        self._admin: KafkaAdminClient | None = None
        self._lock = threading.Lock()

    def _client(self) -> KafkaAdminClient:
        if self._admin is None:
            self._admin = KafkaAdminClient(
                bootstrap_servers=self._settings.kafka_bootstrap.split(","),
                client_id=f"{self._settings.app_id}-lag",
                request_timeout_ms=self._timeout_ms,
                bootstrap_timeout_ms=self._timeout_ms,
            )
        return self._admin

    def measure(self) -> dict[TopicPartition, int]:
        """Return the lag of every partition of the consumed topics that exist."""
        admin = self._client()
        partitions = topic_partitions(admin.describe_topics(list(self._topics)))
        if not partitions:
            return {}
        group = self._settings.app_id
        offsets = admin.list_group_offsets({group: None}).get(group, {})
        committed = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
        end = admin.list_partition_offsets(dict.fromkeys(partitions, OffsetSpec.LATEST))
        earliest = admin.list_partition_offsets(dict.fromkeys(partitions, OffsetSpec.EARLIEST))
        return partition_lag(
            {tp: o.offset for tp, o in end.items()}, committed, {tp: o.offset for tp, o in earliest.items()}
        )

    def collect(self) -> Iterator[Metric]:
        """Yield the lag gauges, and whether Kafka answered."""
        lag = GaugeMetricFamily(
            "leadflow_consumer_lag",
            "Messages on a partition the worker group has not committed yet",
            labels=["group", "topic", "partition"],
        )
        up = GaugeMetricFamily("leadflow_consumer_lag_up", "1 if Kafka answered the last lag measurement")
        with self._lock:
            try:
                measured = self.measure()
            except (KafkaError, OSError):
                measured = None
                self._reset()
        for tp, value in sorted((measured or {}).items()):
            lag.add_metric([self._settings.app_id, tp.topic, str(tp.partition)], value)
        up.add_metric([], 0 if measured is None else 1)
        yield lag
        yield up

    def _reset(self) -> None:
        if self._admin is not None:
            try:
                self._admin.close()
            finally:
                self._admin = None


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the lag metrics until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.lag", description=__doc__.splitlines()[0])
    add_listen_flags(parser, DEFAULT_PORT)
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"leadflow lag: error: {exc}", file=sys.stderr)
        return 2
    banner = f"leadflow lag: group {settings.app_id} on {settings.kafka_bootstrap}"
    return serve(LagCollector(settings), args.host, args.port, banner)


if __name__ == "__main__":
    sys.exit(main())
