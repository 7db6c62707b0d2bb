"""The worker's app consumes through the consumer that re-reads uncommitted partitions from their start."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipelines.core.sla import Judge
from pipelines.faust_app import create_app
from pipelines.kafka_consumer import RewindingConsumerThread, RewindingTransport
from pipelines.settings import Settings
from tests.unit.test_sink_batch import FakeStore


def test_the_app_consumer_rewinds_partitions_without_a_committed_offset(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "faust")
    with ThreadPoolExecutor(max_workers=1) as executor:
        app, _sink = create_app(settings, FakeStore(), executor, Judge([]))
        assert isinstance(app.transport, RewindingTransport)
        # the app's consumer is made by that transport; its thread does the seeks after a rebalance
        assert isinstance(app.consumer._thread, RewindingConsumerThread)
