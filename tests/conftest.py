"""Fixtures shared by every test folder: one real Kafka broker per session, started only when a test asks for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.kafka_fixture import LocalKafka, free_port


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A real KRaft broker on loopback for the whole session; failing to start it fails the tests."""
    broker = LocalKafka(free_port(), tmp_path_factory.mktemp("kafka"))
    broker.start()
    yield broker
    broker.stop()
