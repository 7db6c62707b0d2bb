"""Topic creation with the partition counts that co-partitioning needs (kafka-python admin)."""

from __future__ import annotations

import contextlib

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from pipelines.settings import Settings
from pipelines.topics import OWNERS, TopicError, TopicNames, changelog_topics

COMPACTED = {"cleanup.policy": "compact"}  # what Faust declares for a table's changelog
KEPT = {"retention.ms": "-1"}  # owners' absences: every worker reads the whole topic at its start, for ever


def admin_client(settings: Settings, timeout_ms: int = 8_000) -> KafkaAdminClient:
    """Connect an admin client, or raise TopicError saying the broker does not answer."""
    try:
        return KafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap.split(","),
            client_id=f"{settings.app_id}-admin",
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
        )
    except KafkaError as exc:
        raise TopicError(f"Kafka at {settings.kafka_bootstrap} does not answer ({type(exc).__name__})") from None


def _partition_counts(admin: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    described = admin.describe_topics(names)
    return {t.get("name") or t.get("topic"): len(t["partitions"]) for t in described if not t.get("error_code")}


def _configs(name: str, names: TopicNames, changelogs: tuple[str, ...]) -> dict[str, str]:
    """Return a new topic's configs: changelogs compacted, owners' absences kept, the rest the broker's defaults."""
    return COMPACTED if name in changelogs else KEPT if name == names.name(OWNERS) else {}


def ensure_topics(settings: Settings) -> dict[str, int]:
    """Create every leadflow topic that is missing; check that co-partitioned ones have `partitions` partitions."""
    names = TopicNames(settings.topic_prefix)
    # the changelogs exist before the worker starts, so its first table write finds their partitions in metadata
    changelogs = changelog_topics(settings.app_id)
    wanted = (*names.all(), *changelogs)
    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics())
        new = [
            NewTopic(n, settings.partitions, settings.replication, topic_configs=_configs(n, names, changelogs))
            for n in wanted
            if n not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(new, timeout_ms=15_000)
        counts = _partition_counts(admin, list(wanted))
    except KafkaError as exc:
        raise TopicError(f"cannot create topics on {settings.kafka_bootstrap}: {exc}") from None
    finally:
        admin.close()
    aligned = (*names.co_partitioned(), *changelogs)
    wrong = {n: c for n, c in counts.items() if n in aligned and c != settings.partitions}
    if wrong:
        listing = ", ".join(f"{n} has {c}" for n, c in sorted(wrong.items()))
        raise TopicError(f"LEADFLOW_PARTITIONS is {settings.partitions} but {listing}; they must all match")
    return counts
