"""`leadflow topics create` makes every topic the worker needs, the state tables' changelogs included."""

from __future__ import annotations

from pathlib import Path

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from pipelines.topics import TopicNames, changelog_topics
from tests.integration.kafka_fixture import LocalKafka
from tests.integration.processes import leadflow


def test_topics_and_compacted_changelogs_exist_before_a_worker_starts(
    kafka: LocalKafka, worker_env: dict[str, str], tmp_path: Path
) -> None:
    done = leadflow(["topics", "create"], worker_env, tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    names = TopicNames(worker_env["LEADFLOW_TOPIC_PREFIX"])
    changelogs = changelog_topics(worker_env["LEADFLOW_APP_ID"])
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    try:
        described = {
            t.get("name") or t.get("topic"): len(t["partitions"])
            for t in admin.describe_topics([*names.all(), *changelogs])
        }
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in changelogs])
    finally:
        admin.close()
    assert set(described) == {*names.all(), *changelogs}
    partitions = int(worker_env.get("LEADFLOW_PARTITIONS", "4"))
    assert {described[n] for n in (*names.co_partitioned(), *changelogs)} == {partitions}
    # kafka-python answers {resource type: {topic: {config key: {"value": ..., ...}}}}
    policies = {
        name: config["cleanup.policy"]["value"] for by_name in configs.values() for name, config in by_name.items()
    }
    assert policies == dict.fromkeys(changelogs, "compact")
    for name in changelogs:
        assert name in done.stdout
