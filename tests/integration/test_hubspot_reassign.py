"""The HubSpot reassignment service as a process, on the real broker, against a stand-in of HubSpot's CRM API: a
suggested reassignment of a HubSpot contact still owned by the clock's owner is applied once, through HubSpot's
rate limit; a contact reassigned since, a lead or owner not from HubSpot, a missing contact and other SLA events
change nothing; a restart applies nothing again; a dry run changes nothing; a refused token ends it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from pipelines.topics import SLA, TopicNames
from tests.integration.hubspot_standin import HubSpotStandIn
from tests.integration.kafka_fixture import LocalKafka, free_port
from tests.integration.processes import REPO, wait_until

pytestmark = pytest.mark.integration
TOKEN = "pat-eu1-standin-token"


def sla_event(kind: str, lead: str, owner: str | None, suggested: str | None = None) -> bytes:
    """An SLA event as the workers publish it (contract §5)."""
    data: dict[str, Any] = {"lead_id": lead, "handoff": "mql_follow_up", "agreement": "2026-H2", "episode": 1,
                            "owner_id": owner, "started_at": "2026-11-02T09:00:00.000Z",
                            "deadline": "2026-11-02T13:00:00.000Z"}  # fmt: skip
    if kind == "sla.reassign_suggested":
        data["suggested_owner_id"] = suggested
    event = {"specversion": "1.0", "id": f"{lead}/mql_follow_up/1/{kind}", "source": "leadflow/sla", "type": kind,
             "time": "2026-11-02T15:00:00.000Z", "subject": lead, "data": data}  # fmt: skip
    return orjson.dumps(event)


def publish(kafka: LocalKafka, topic: str, events: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=[kafka.bootstrap])
    for value in events:
        producer.send(topic, key=orjson.loads(value)["subject"].encode(), value=value)
    producer.flush()
    producer.close()


class Service:
    """`python -m services.hubspot_reassign` with its log in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        args = [sys.executable, "-m", "services.hubspot_reassign", "--port", str(free_port())]
        with log.open("ab") as handle:
            self.process = subprocess.Popen(args, env=env, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8")


@pytest.fixture
def setup(kafka: LocalKafka, tmp_path: Path) -> tuple[dict[str, str], str]:
    """The service's environment (a topic prefix and app id of its own) and its SLA topic, created."""
    prefix = f"hs{time.time_ns()}."
    topic = TopicNames(prefix).name(SLA)
    admin = KafkaAdminClient(bootstrap_servers=[kafka.bootstrap])
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    admin.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADFLOW_")}
    env.update(LEADFLOW_KAFKA_BOOTSTRAP=kafka.bootstrap, LEADFLOW_TOPIC_PREFIX=prefix, LEADFLOW_APP_ID=prefix[:-1],
               LEADFLOW_HUBSPOT_REASSIGN="apply", LEADFLOW_HUBSPOT_TOKEN=TOKEN)  # fmt: skip
    return env, topic


def test_suggestions_are_applied_once_and_only_where_they_still_hold(
    kafka: LocalKafka, setup: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    env, topic = setup
    hubspot = HubSpotStandIn(TOKEN, {"101": "7", "102": "8", "103": "7"}, busy=1)
    hubspot.serve()
    env = {**env, "LEADFLOW_HUBSPOT_API": hubspot.url}
    publish(kafka, topic, [
        sla_event("sla.breached", "hubspot-contact-101", "hubspot-owner-7"),
        sla_event("sla.reassign_suggested", "hubspot-contact-101", "hubspot-owner-7", "hubspot-owner-9"),
        sla_event("sla.reassign_suggested", "hubspot-contact-102", "hubspot-owner-7", "hubspot-owner-9"),  # moved
        sla_event("sla.reassign_suggested", "web-lead-1", "rep-01", "rep-02"),  # not from HubSpot
        sla_event("sla.reassign_suggested", "hubspot-contact-103", "hubspot-owner-7", "rep-02"),  # owner not HubSpot's
        sla_event("sla.reassign_suggested", "hubspot-contact-104", "hubspot-owner-7", "hubspot-owner-9"),  # gone
        sla_event("sla.reassign_suggested", "hubspot-contact-103", "hubspot-owner-7", None),  # nobody suggested
    ])  # fmt: skip
    service = Service(env, tmp_path / "reassign.log")
    try:
        wait_until(lambda: "contact 104 is not in HubSpot" in service.text(), 60, "every suggestion settled")
        assert [(c.path, c.body) for c in hubspot.patches()] == [
            ("/crm/v3/objects/contacts/101", {"properties": {"hubspot_owner_id": "9"}})
        ]
        assert hubspot.owners == {"101": "9", "102": "8", "103": "7"}
        assert "owned by 8 now, not 7: left alone" in service.text() and "HubSpot answered 429" in service.text()
        gets = [c for c in hubspot.calls if c.method == "GET" and c.query == {"properties": "hubspot_owner_id"}]
        assert {c.path.rsplit("/", 1)[1] for c in gets} == {"101", "102", "104"}
        assert all(c.authorization == f"Bearer {TOKEN}" for c in hubspot.calls)
    finally:
        service.stop()
    again = Service(env, tmp_path / "again.log")  # the same group: it goes on after what was settled
    try:
        publish(kafka, topic, [sla_event("sla.reassign_suggested", "hubspot-contact-103", "hubspot-owner-7",
                                         "hubspot-owner-5")])  # fmt: skip
        wait_until(lambda: hubspot.owners["103"] == "5", 60, "the suggestion published after the restart")
        assert len(hubspot.patches()) == 2 and "contact 101" not in again.text()
    finally:
        again.stop()


def test_a_dry_run_changes_nothing_and_a_refused_token_ends_the_service(
    kafka: LocalKafka, setup: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    env, topic = setup
    hubspot = HubSpotStandIn(TOKEN, {"201": "7"})
    hubspot.serve()
    publish(kafka, topic, [sla_event("sla.reassign_suggested", "hubspot-contact-201", "hubspot-owner-7",
                                     "hubspot-owner-9")])  # fmt: skip
    dry = Service({**env, "LEADFLOW_HUBSPOT_API": hubspot.url, "LEADFLOW_HUBSPOT_REASSIGN": "dry-run"},
                  tmp_path / "dry.log")  # fmt: skip
    try:
        wait_until(lambda: "would assign contact 201 to owner 9" in dry.text(), 60, "the dry run's line")
        assert hubspot.patches() == [] and hubspot.owners == {"201": "7"}
    finally:
        dry.stop()
    wrong = {**env, "LEADFLOW_HUBSPOT_API": hubspot.url, "LEADFLOW_HUBSPOT_TOKEN": "pat-wrong",
             "LEADFLOW_APP_ID": f"{env['LEADFLOW_APP_ID']}-other"}  # fmt: skip
    refused = Service(wrong, tmp_path / "refused.log")
    assert refused.process.wait(60) == 2
    assert "HubSpot refused the token (401): check LEADFLOW_HUBSPOT_TOKEN" in refused.text()
    assert "pat-wrong" not in refused.text() and hubspot.patches() == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"LEADFLOW_HUBSPOT_REASSIGN": "off"}, "LEADFLOW_HUBSPOT_REASSIGN: off; set it to dry-run or apply"),
        ({"LEADFLOW_HUBSPOT_REASSIGN": "yes"}, "LEADFLOW_HUBSPOT_REASSIGN: Input should be 'off', 'dry-run' or"),
        ({"LEADFLOW_HUBSPOT_TOKEN": ""}, "LEADFLOW_HUBSPOT_TOKEN: not set"),
        ({"LEADFLOW_HUBSPOT_API": "http://crm.example.com"}, "LEADFLOW_HUBSPOT_API: Value error, must use https"),
    ],
)
def test_bad_settings_stop_it_at_start_with_the_variable(
    setup: tuple[dict[str, str], str], tmp_path: Path, values: dict[str, str], message: str
) -> None:
    env, _topic = setup
    service = Service({**env, **values}, tmp_path / "bad.log")
    assert service.process.wait(30) == 2
    assert message in service.text()
