"""The Faust app: topics, changelogged state tables, agents, sink timer and web pages, built from settings."""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import faust
import uvloop
from mode.types.signals import BaseSignalT
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent

from pipelines import metrics
from pipelines.absences import Offsets, ever_owned_by, follow
from pipelines.agents import Wiring, register_handlers, set_aside
from pipelines.checkpoint import Checkpoint
from pipelines.core.codec import visitor_from_bytes
from pipelines.core.messages import to_restate_message
from pipelines.core.sla import Judge
from pipelines.decoded import DecodedTable
from pipelines.flow import FlowControl
from pipelines.kafka_consumer import RewindingTransport
from pipelines.outbound import OutboundTopic
from pipelines.owner_loads import store_loads
from pipelines.settings import Settings
from pipelines.sink_service import StoreWriter
from pipelines.sla_agent import SlaShell
from pipelines.store.client import Store
from pipelines.topics import (
    DEADLETTER,
    LEAD_TOPICS,
    LEADS_TABLE,
    OWNERS,
    SLA,
    SLA_CHECKS,
    SLA_TABLE,
    STAGES,
    VISITOR_LINKS,
    VISITORS_TABLE,
    VISITS,
    TopicNames,
)
from pipelines.web import HeldStore, register_pages
from pipelines.worker_tables import WorkerTables

SLA_TICK = 0.2  # seconds: a breach is published within about this much (plus a Kafka round trip) of its deadline
RAW: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}


class App(faust.App):
    """Faust's app whose flow control keeps live records queued when the flow is resumed again (see `flow`)."""

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        """Flow control of the stream queues."""
        return FlowControl(loop=self.loop)


def install_event_loop() -> None:
    """Run the worker on uvloop, whose transports spend less CPU on Kafka's many small socket reads and writes."""
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def create_app(
    settings: Settings,
    store: Store,
    executor: ThreadPoolExecutor,
    judge: Judge,
    held: HeldStore | None = None,
    absences: Offsets | None = None,
) -> tuple[faust.App, Checkpoint]:
    """Build the worker's Faust app around a store; with `held`, the worker serves the store pages too.

    With `absences` (where the worker's reading of leadflow.owners ended before it started), it follows that
    topic on from there into its judge (pipelines/absences.py).
    """
    names = TopicNames(settings.topic_prefix)
    app = App(
        settings.app_id,
        broker=[f"kafka://{server.strip()}" for server in settings.kafka_bootstrap.split(",")],
        datadir=str(settings.state_dir),
        store="memory://",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        topic_disable_leader=True,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        web_host=settings.web_host,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        web_enabled=True,
        # Faust's own pages show the cluster's layout and read table keys for anyone: off (pipelines/web.py)
        web_router_enabled=False,
        web_tables_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        web_metrics_enabled=False,
        autodiscover=False,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        broker_rebalance_timeout=20.0,
        # changelog, link and SLA messages go out in batches of up to 50 ms rather than one request each
        producer_linger=0.05,
        # a partition is read 4 MiB at a time, not Faust's 1 MiB: one lead's thousands of events all sit in one
        # partition, which 1 MiB fetches (one outstanding per partition) left the worker waiting on half the time
        consumer_max_fetch_size=4 * 1024 * 1024,
        stream_wait_empty=False,  # un-acked events wait in the sink; they are re-delivered, not awaited
        key_serializer="raw",
        value_serializer="raw",
    )
    # records fetched but not handed on (a rebalance began) are read again, not skipped (see kafka_consumer)
    app.transport = RewindingTransport(app.conf.broker_consumer, app)
    partitions = settings.partitions
    lead_topic = app.topic(*(names.name(t) for t in (*LEAD_TOPICS, OWNERS, SLA_CHECKS)), partitions=partitions, **RAW)
    visitor_topic = app.topic(names.name(VISITS), names.name(VISITOR_LINKS), partitions=partitions, **RAW)

    def produced() -> Any:
        return app.producer  # built when the worker starts

    links_topic = OutboundTopic(produced, names.name(VISITOR_LINKS))
    deadletter_topic = app.topic(names.name(DEADLETTER), **RAW)
    leads = app.Table(LEADS_TABLE, partitions=partitions, key_type=bytes, value_type=bytes)
    visitors = app.Table(VISITORS_TABLE, partitions=partitions, key_type=bytes, value_type=bytes)
    clocks = app.Table(SLA_TABLE, partitions=partitions, key_type=bytes, value_type=bytes)
    checkpoint = Checkpoint(StoreWriter(store, executor), settings.sink_batch_rows, judge, settings.max_state_bytes)
    checks_topic = OutboundTopic(produced, names.name(SLA_CHECKS))
    sla = SlaShell(judge, clocks, OutboundTopic(produced, names.name(SLA)), checks_topic, checkpoint)
    sla.loads = store_loads(store, executor)
    checkpoint.tables = WorkerTables(leads, sla)
    decoded_visitors = DecodedTable(visitors, visitor_from_bytes, checkpoint.changelog)
    checkpoint.producer = produced
    wiring = Wiring(app, names, decoded_visitors, links_topic, deadletter_topic, checkpoint, sla, settings.event_times)
    checkpoint.set_aside = functools.partial(set_aside, wiring)
    register_handlers(wiring, lead_topic, visitor_topic)

    @app.timer(interval=SLA_TICK)
    async def sla_tick() -> None:
        await sla.tick()

    @app.on_partitions_assigned.connect
    async def note_assignment(sender: Any, /, *args: Any, signal: BaseSignalT[Any], **kwargs: Any) -> None:
        held = app.consumer.assignment()
        metrics.PARTITIONS_HELD.set(sum(1 for tp in held if tp.topic == names.name(STAGES)))
        metrics.ASSIGNED_AT.set_to_current_time()

    @app.on_rebalance_complete.connect
    async def rebuild_deadlines(sender: Any, /, *args: Any, signal: BaseSignalT[Any], **kwargs: Any) -> None:
        owned = {tp.partition for tp in app.consumer.assignment() if tp.topic == names.name(STAGES)}
        sla.rebuild(owned)

    @app.on_partitions_revoked.connect
    async def send_table_writes(sender: Any, /, *args: Any, signal: BaseSignalT[Any], **kwargs: Any) -> None:
        # written while this worker held the partitions: out before another worker may take them over
        await checkpoint.send_changelog()

    @app.task
    async def commit_checkpoints() -> None:
        await checkpoint.commit_every(settings.sink_interval)

    if absences is not None:

        @app.task
        async def follow_absences() -> None:
            await follow(settings, judge, absences, functools.partial(restate_owner, checkpoint, checks_topic))

    register_pages(app, held)
    return app, checkpoint


async def restate_owner(checkpoint: Checkpoint, checks_topic: Any, owner_id: str) -> int:
    """Ask for every lead this worker holds that ever had the owner to be judged and stored again; return how many."""
    assert isinstance(checkpoint.tables, WorkerTables)
    leads = list(ever_owned_by(checkpoint.tables.states(), owner_id))
    for lead_id in leads:
        message = to_restate_message(lead_id)
        await checks_topic.send(key=message.key, value=message.value)
    metrics.ABSENCES_RESTATED.inc(len(leads))
    return len(leads)
