"""The Faust agents: lead events into lead state, visits and links into visitor state, bad input to dead letters."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust

from pipelines import metrics
from pipelines.core.codec import lead_from_bytes, lead_to_bytes, visitor_from_bytes, visitor_to_bytes
from pipelines.core.identity import VisitorState
from pipelines.core.messages import from_check_message, from_link_message, to_link_message
from pipelines.core.model import Event, Invalid, Origin
from pipelines.core.steps import Link, lead_step, link_step, visit_step
from pipelines.core.validate import parse_event
from pipelines.sink_service import BatchingSink
from pipelines.sla_agent import SlaShell
from pipelines.topics import SLA_CHECKS, VISITOR_LINKS, TopicNames

log = logging.getLogger(__name__)
LEADS_AGENT, VISITORS_AGENT = "leadflow.leads", "leadflow.visitors"
FAILED_EXIT = 70  # EX_SOFTWARE: the worker stopped because an agent failed
STOP_GRACE = 30.0  # seconds a failed worker may take to stop before it exits hard
_failures: list[BaseException] = []


@dataclass(frozen=True)
class Wiring:
    """What the agents need: the app, its topics and tables, and the sink."""

    app: faust.App
    names: TopicNames
    leads: Any
    visitors: Any
    links_topic: Any
    deadletter_topic: Any
    sink: BatchingSink
    sla: SlaShell


def _origin(event: Any, names: TopicNames) -> Origin:
    message = event.message
    return Origin(names.unprefixed(message.topic), message.partition, message.offset)


def _acker(stream: Any, event: Any) -> Any:
    async def ack() -> None:
        await stream.ack(event)

    return ack


async def _dead_letter(w: Wiring, invalid: Invalid, origin: Origin) -> None:
    headers = {
        "reason": invalid.reason.encode(),
        "topic": origin.topic.encode(),
        "partition": str(origin.partition).encode(),
        "offset": str(origin.offset).encode(),
    }
    await w.deadletter_topic.send(key=None, value=invalid.raw, headers=headers)
    w.sink.batch.add_dead_letter(invalid, origin, datetime.now(UTC))
    metrics.INVALID.labels(origin.topic).inc()


def _parsed(raw: Any, origin: Origin) -> Event | Invalid:
    if not isinstance(raw, bytes | bytearray):
        return Invalid(b"" if raw is None else str(raw).encode(), "empty message")
    return parse_event(bytes(raw), origin.topic)


async def handle_check_message(w: Wiring, event: Any, origin: Origin) -> None:
    """Judge the clocks of a lead that fell due (a check sent by the timer)."""
    lead_id = from_check_message(event.value)
    if isinstance(lead_id, Invalid):
        await _dead_letter(w, lead_id, origin)
        return
    stored = w.leads.get(lead_id.encode())
    if stored:
        await w.sla.judge_lead(lead_from_bytes(stored), event.message.partition, datetime.now(UTC))


async def handle_lead_message(w: Wiring, stream: Any, event: Any) -> None:
    """Validate one lead-topic message, apply it to its lead, and hand its rows to the sink."""
    origin = _origin(event, w.names)
    if origin.topic == SLA_CHECKS:
        await handle_check_message(w, event, origin)
        await w.sink.added(_acker(stream, event))
        return
    parsed = _parsed(event.value, origin)
    if isinstance(parsed, Invalid):
        await _dead_letter(w, parsed, origin)
    else:
        key = (parsed.lead_id or "").encode()
        stored = w.leads.get(key)
        effects = lead_step(lead_from_bytes(stored) if stored else None, parsed)
        if effects.new:
            w.leads[key] = lead_to_bytes(effects.state)
            metrics.EVENTS_IN.labels(parsed.type).inc()
            if parsed.lifecycle_stage:
                metrics.TRANSITIONS.labels(parsed.lifecycle_stage).inc()
        else:
            metrics.DUPLICATES.labels(parsed.type).inc()
        w.sink.batch.add_event(parsed, origin)
        derived = await w.sla.judge_lead(effects.state, origin.partition, datetime.now(UTC))
        w.sink.batch.add_lead(effects.state, derived)
        for link in effects.links:
            message = to_link_message(link.visitor_id, link.lead_id)
            await w.links_topic.send(key=message.key, value=message.value)
    await w.sink.added(_acker(stream, event))


def _visitor(w: Wiring, key: bytes) -> VisitorState | None:
    stored = w.visitors.get(key)
    return visitor_from_bytes(stored) if stored else None


async def handle_visitor_message(w: Wiring, stream: Any, event: Any) -> None:
    """Apply a visit, or a link from a form submission, to its visitor; hand rows to the sink."""
    origin = _origin(event, w.names)
    if origin.topic == VISITOR_LINKS:
        fields = from_link_message(event.value)
        if isinstance(fields, Invalid):
            await _dead_letter(w, fields, origin)
            await w.sink.added(_acker(stream, event))
            return
        link = Link(*fields)
        key = link.visitor_id.encode()
        before = _visitor(w, key)
        effects = link_step(before, link)
    else:
        parsed = _parsed(event.value, origin)
        if isinstance(parsed, Invalid):
            await _dead_letter(w, parsed, origin)
            await w.sink.added(_acker(stream, event))
            return
        key = parsed.subject.encode()
        before = _visitor(w, key)
        effects = visit_step(before, parsed)
        w.sink.batch.add_event(parsed, origin)
        metrics.EVENTS_IN.labels(parsed.type).inc()
    if effects.state != before:
        w.visitors[key] = visitor_to_bytes(effects.state)
    w.sink.batch.add_first_touches(effects.first_touches)
    await w.sink.added(_acker(stream, event))


def failure() -> BaseException | None:
    """Return the error that stopped an agent in this process, if one did."""
    return _failures[0] if _failures else None


async def stop_worker_on_error(agent: str, exc: BaseException) -> None:
    """Stop the whole worker when an agent fails, instead of carrying on without it.

    The failed event was never acked, so its offset is not committed: the restarted worker (its supervisor's
    job; the exit code says it failed) reads it again, with everything after it. A worker left running with a
    dead agent would hold its partitions and process nothing.
    """
    _failures.append(exc)
    log.critical("agent %s failed, stopping the worker (its events are read again on restart): %r", agent, exc)
    os.kill(os.getpid(), signal.SIGTERM)
    # a shutdown that hangs must not leave the worker holding its partitions: end the process regardless
    asyncio.get_running_loop().call_later(STOP_GRACE, os._exit, FAILED_EXIT)


Handler = Callable[[Wiring, Any, Any], Awaitable[None]]


def _agent(w: Wiring, name: str, handle: Handler) -> Callable[[Any], Awaitable[None]]:
    """Return an agent that hands each event of its stream to `handle`, acking manually; a failure stops the worker."""

    async def agent(stream: Any) -> None:
        manual = stream.noack()
        try:
            async for event in manual.events():
                if log.isEnabledFor(logging.DEBUG):
                    message = event.message
                    log.debug("agent %s got %s[%d]@%d", name, message.topic, message.partition, message.offset)
                await handle(w, manual, event)
        except Exception as exc:
            await stop_worker_on_error(name, exc)
            raise

    return agent


def register_agents(w: Wiring, lead_topic: Any, visitor_topic: Any) -> None:
    """Attach the two agents (concurrency 1: an offset is never committed past an event in flight)."""
    w.app.agent(lead_topic, name=LEADS_AGENT)(_agent(w, LEADS_AGENT, handle_lead_message))
    w.app.agent(visitor_topic, name=VISITORS_AGENT)(_agent(w, VISITORS_AGENT, handle_visitor_message))
