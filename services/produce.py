"""`leadflow produce`: send a JSON-lines file of events to the input topics, by `type`, keyed by `subject`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import orjson
from kafka import KafkaProducer
from kafka.errors import KafkaError

from pipelines.core.model import TIME_OUT_OF_RANGE, Invalid, TimeRange
from pipelines.core.validate import parse_event
from pipelines.replay import read_lines
from pipelines.settings import Settings
from pipelines.topics import DEADLETTER, STAGES, TopicNames
from schemas.events import MAX_EVENT_BYTES
from services.errors import KafkaUnavailable


def route(raw: bytes, names: TopicNames, fallback: str) -> tuple[str, bytes | None]:
    """Return (topic, key) for a line: its type's input topic and its subject; unreadable lines go to `fallback`."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return fallback, None
    if not isinstance(document, dict):
        return fallback, None
    topic = names.for_type(str(document.get("type")))
    subject = document.get("subject")
    key = subject.encode() if isinstance(subject, str) else None
    return topic or fallback, key


def refusal(raw: bytes, accepted: TimeRange) -> list[tuple[str, bytes]] | None:
    """Return the dead-letter headers of a line whose event time is impossible when sent, or None.

    Other problems are left to the worker, which dead-letters them with its own reasons.
    """
    parsed = parse_event(raw, accepted=accepted)
    if isinstance(parsed, Invalid) and parsed.reason.startswith(TIME_OUT_OF_RANGE):
        return [("reason", parsed.reason.encode()), ("source", b"produce")]
    return None


def _send_one(producer: KafkaProducer, names: TopicNames, fallback: str, raw: bytes, accepted: TimeRange) -> None:
    """Send a line to its topic; a line over the body limit, or of an impossible time, to the dead-letter topic."""
    if len(raw) > MAX_EVENT_BYTES:
        reason = f"line of {len(raw)} bytes exceeds the collector's body limit of {MAX_EVENT_BYTES} bytes"
        headers = [("reason", reason.encode()), ("source", b"produce")]
        producer.send(names.name(DEADLETTER), value=raw[:1024], headers=headers)
        return
    refused = refusal(raw, accepted)
    if refused is not None:
        producer.send(names.name(DEADLETTER), value=raw, headers=refused)
        return
    topic, key = route(raw, names, fallback)
    producer.send(topic, value=raw, key=key)


def make_producer(settings: Settings) -> KafkaProducer:
    """Return an idempotent producer that waits for every in-sync replica."""
    try:
        return KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap.split(","),
            acks="all",
            enable_idempotence=True,
            linger_ms=20,
            batch_size=256 * 1024,
            max_in_flight_requests_per_connection=5,
            request_timeout_ms=15_000,
        )
    except KafkaError as exc:
        raise KafkaUnavailable(f"Kafka at {settings.kafka_bootstrap} does not answer ({type(exc).__name__})") from None


@contextmanager
def _producing(settings: Settings) -> Iterator[KafkaProducer]:
    """Give a producer for the block, flushed at its end and closed; a Kafka error ends in KafkaUnavailable."""
    producer = make_producer(settings)
    try:
        yield producer
        producer.flush(timeout=60)
    except KafkaError as exc:
        raise KafkaUnavailable(f"sending to Kafka at {settings.kafka_bootstrap} failed: {exc}") from None
    finally:
        producer.close(timeout=10)


def send_lines(
    settings: Settings,
    lines: Iterable[bytes],
    rate: float = 0.0,
    fallback_topic: str | None = None,
    on_sent: Callable[[int], None] | None = None,
) -> int:
    """Send lines to their topics at most `rate` per second (0: as fast as possible); returns how many were sent."""
    names = TopicNames(settings.topic_prefix)
    fallback = fallback_topic or names.name(STAGES)
    started = time.monotonic()
    sent = 0
    with _producing(settings) as producer:
        for raw in lines:
            _send_one(producer, names, fallback, raw, settings.event_times.at(datetime.now(UTC)))
            sent += 1
            if rate > 0:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            if on_sent is not None and sent % 500 == 0:
                on_sent(sent)
    if on_sent is not None:
        on_sent(sent)
    return sent


def send_when_due(
    settings: Settings, scheduled: Iterable[tuple[datetime, bytes]], on_sent: Callable[[int], None] | None = None
) -> int:
    """Send each line when its time comes (never before: a door refuses events dated ahead of it); until the end."""
    names = TopicNames(settings.topic_prefix)
    sent = 0
    with _producing(settings) as producer:
        for due, raw in scheduled:
            wait = (due - datetime.now(UTC)).total_seconds()
            if wait > 0:
                time.sleep(wait)
            _send_one(producer, names, names.name(STAGES), raw, settings.event_times.at(datetime.now(UTC)))
            sent += 1
            if on_sent is not None:
                on_sent(sent)
    return sent


def file_lines(path: Path) -> Iterable[bytes]:
    """Yield the non-blank lines of a file without their line ends."""
    return (raw for _number, raw in read_lines(path))
