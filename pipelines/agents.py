"""The worker's record handlers: lead events into lead state, visits and links into visitor state, bad input out.

Records reach them straight from the fetcher (`pipelines.direct`), one at a time; bad input goes to dead letters.
"""

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
from pipelines.checkpoint import Checkpoint
from pipelines.core.codec import visitor_to_bytes
from pipelines.core.identity import VisitorState
from pipelines.core.lead import HistoryFull
from pipelines.core.messages import from_check_message, from_link_message, is_restate, to_link_message
from pipelines.core.model import Event, EventTimes, Invalid, Origin
from pipelines.core.steps import Link, lead_step, link_step, visit_step
from pipelines.core.validate import parse_event
from pipelines.decoded import DecodedTable
from pipelines.direct import Handler, acker, deliver_directly
from pipelines.poison import (
    CORE_ERROR,
    LEAD_HISTORY_LIMIT,
    MAX_DEAD_LETTER_BYTES,
    STATE_TOO_LARGE,
    Poison,
    core_error,
    counted,
)
from pipelines.sink import RowBatch
from pipelines.sla_agent import SlaShell
from pipelines.topics import OWNERS, SLA_CHECKS, VISITOR_LINKS, TopicNames

log = logging.getLogger(__name__)
LEADS_AGENT, VISITORS_AGENT = "leadflow.leads", "leadflow.visitors"
FAILED_EXIT = 70  # EX_SOFTWARE: the worker stopped because a record handler failed
STOP_GRACE = 30.0  # seconds a failed worker may take to stop before it exits hard
_failures: list[BaseException] = []


@dataclass(frozen=True)
class Wiring:
    """What the handlers need: the app, its topics and tables, the checkpoint, and the event times accepted."""

    app: faust.App
    names: TopicNames
    visitors: DecodedTable[VisitorState]
    links_topic: Any
    deadletter_topic: Any
    checkpoint: Checkpoint
    sla: SlaShell
    times: EventTimes


def _origin(message: Any, names: TopicNames) -> Origin:
    return Origin(names.unprefixed(message.topic), message.partition, message.offset)


async def _send_dead_letter(w: Wiring, invalid: Invalid, origin: Origin, rows: RowBatch | None) -> None:
    """Store a record's dead-letter row in `rows`, then put it on the dead-letter topic.

    The row goes in first: `rows` is the batch current when the record was taken, and a commit that runs while
    the send waits writes that batch and acks only the records taken before, so a row added after the send
    could land in a batch already written while the record is acked at the next commit, and be lost.
    """
    if rows is not None:
        rows.add_dead_letter(invalid, origin, datetime.now(UTC))
    headers = {
        "reason": invalid.reason.encode(),
        "topic": origin.topic.encode(),
        "partition": str(origin.partition).encode(),
        "offset": str(origin.offset).encode(),
    }
    raw = invalid.raw
    if len(raw) > MAX_DEAD_LETTER_BYTES:  # the dead letter itself must not be a message Kafka refuses
        headers["truncated_from"] = str(len(raw)).encode()
        raw = raw[:MAX_DEAD_LETTER_BYTES]
    await w.deadletter_topic.send(key=None, value=raw, headers=headers)


async def _dead_letter(w: Wiring, invalid: Invalid, origin: Origin) -> None:
    await _send_dead_letter(w, invalid, origin, w.checkpoint.rows)
    metrics.child(metrics.INVALID, origin.topic).inc()


async def set_aside(w: Wiring, poison: Poison, rows: RowBatch | None) -> None:
    """Put a record whose effects can never be written on the dead-letter topic (and its row in `rows`), go on."""
    await _send_dead_letter(w, counted(poison), poison.origin, rows)


def _parsed(raw: Any, origin: Origin, times: EventTimes) -> Event | Invalid:
    if not isinstance(raw, bytes | bytearray):
        return Invalid(b"" if raw is None else str(raw).encode(), "empty message")
    return parse_event(bytes(raw), origin.topic, times.at(datetime.now(UTC)))


async def handle_check_message(w: Wiring, message: Any, origin: Origin) -> None:
    """Judge the clocks of a lead that fell due (a check sent by the timer) and publish at once what they owe."""
    lead_id = from_check_message(message.value)
    if isinstance(lead_id, Invalid):
        await _dead_letter(w, lead_id, origin)
        return
    state = w.checkpoint.lead(lead_id.encode())
    if state is None:
        return
    if is_restate(message.value):  # its owner's calendar changed: the next commit judges and stores it again
        w.checkpoint.restate(lead_id.encode(), state, message.partition)
        return
    now = datetime.now(UTC)
    try:
        effects = w.sla.judged(state, now)
    except Exception as exc:
        await set_aside(w, Poison(bytes(message.value), origin, CORE_ERROR, core_error(exc)), w.checkpoint.rows)
        return
    if effects is not None:
        await w.sla.publish(state.lead_id, effects, message.partition, now, state=state)


async def apply_lead_event(w: Wiring, parsed: Event, origin: Origin) -> None:
    """Apply a valid lead event to its lead at once; what it changed waits for the checkpoint's commit.

    A re-delivered event changes nothing but is taken too: its lead's snapshot is restated, since the commit that
    wrote the state it repeats may have ended before the snapshot reached the store.
    """
    key = parsed.subject.encode()
    try:
        effects = lead_step(w.checkpoint.lead(key), parsed)
    except HistoryFull as exc:
        await set_aside(w, Poison(parsed.payload, origin, LEAD_HISTORY_LIMIT, str(exc)), w.checkpoint.rows)
        return
    except Exception as exc:
        await set_aside(w, Poison(parsed.payload, origin, CORE_ERROR, core_error(exc)), w.checkpoint.rows)
        return
    if effects.changed or not effects.new:
        w.checkpoint.take(key, effects.state, effects.changed, origin.partition, (parsed, origin))
    if effects.changed and parsed.lifecycle_stage:
        metrics.child(metrics.TRANSITIONS, parsed.lifecycle_stage).inc()
    metrics.child(metrics.EVENTS_IN if effects.new else metrics.DUPLICATES, parsed.type).inc()
    w.checkpoint.rows.add_event(parsed, origin)
    for link in effects.links:
        message = to_link_message(link.visitor_id, link.lead_id)
        await w.links_topic.send(key=message.key, value=message.value)


async def store_absence(w: Wiring, message: Any, origin: Origin) -> None:
    """Store a `crm.owner_away` event once (every worker's judge counts it: pipelines/absences.py)."""
    parsed = _parsed(message.value, origin, w.times)
    if isinstance(parsed, Invalid):
        await _dead_letter(w, parsed, origin)
        return
    w.checkpoint.rows.add_event(parsed, origin)
    metrics.child(metrics.EVENTS_IN, parsed.type).inc()


async def handle_lead_message(w: Wiring, message: Any) -> None:
    """Validate one lead-topic record, apply it to its lead, and register it with the checkpoint."""
    origin = _origin(message, w.names)
    if origin.topic == SLA_CHECKS:
        await handle_check_message(w, message, origin)
    elif origin.topic == OWNERS:
        await store_absence(w, message, origin)
    else:
        parsed = _parsed(message.value, origin, w.times)
        if isinstance(parsed, Invalid):
            await _dead_letter(w, parsed, origin)
        else:
            await apply_lead_event(w, parsed, origin)
    await w.checkpoint.added(acker(w.app.consumer, message))


async def handle_visitor_message(w: Wiring, message: Any) -> None:
    """Apply a visit, or a link from a form submission, to its visitor; hand rows to the sink."""
    await _apply_visitor_message(w, message, _origin(message, w.names))
    await w.checkpoint.added(acker(w.app.consumer, message))


def _visitor_input(w: Wiring, message: Any, origin: Origin) -> Link | Event | Invalid:
    if origin.topic == VISITOR_LINKS:
        fields = from_link_message(message.value)
        return fields if isinstance(fields, Invalid) else Link(*fields)
    return _parsed(message.value, origin, w.times)


async def _apply_visitor_message(w: Wiring, message: Any, origin: Origin) -> None:
    given = _visitor_input(w, message, origin)
    if isinstance(given, Invalid):
        await _dead_letter(w, given, origin)
        return
    key = (given.visitor_id if isinstance(given, Link) else given.subject).encode()
    before = w.visitors.get(key)
    try:
        effects = link_step(before, given) if isinstance(given, Link) else visit_step(before, given)
        encoded = None if effects.state is before or effects.state == before else visitor_to_bytes(effects.state)
    except Exception as exc:
        await set_aside(w, Poison(bytes(message.value), origin, CORE_ERROR, core_error(exc)), w.checkpoint.rows)
        return
    limit = w.checkpoint.max_state_bytes
    if encoded is not None and len(encoded) > limit:
        detail = f"visitor {key.decode()}: state of {len(encoded)} bytes, over {limit}"
        await set_aside(w, Poison(bytes(message.value), origin, STATE_TOO_LARGE, detail), w.checkpoint.rows)
        return
    if encoded is not None:
        w.visitors.set(key, encoded, effects.state, origin.partition)
    if isinstance(given, Event):
        w.checkpoint.rows.add_event(given, origin)
        metrics.child(metrics.EVENTS_IN, given.type).inc()
    w.checkpoint.rows.add_first_touches(effects.first_touches)


def failure() -> BaseException | None:
    """Return the error that stopped a record handler in this process, if one did."""
    return _failures[0] if _failures else None


async def stop_worker_on_error(agent: str, exc: BaseException) -> None:
    """Stop the whole worker when a record handler fails, instead of carrying on without it.

    The failed event was never acked, so its offset is not committed: the restarted worker (its supervisor's
    job; the exit code says it failed) reads it again, with everything after it. A worker left running with a
    dead fetcher would hold its partitions and process nothing.
    """
    _failures.append(exc)
    log.critical("%s failed, stopping the worker (its events are read again on restart): %r", agent, exc)
    os.kill(os.getpid(), signal.SIGTERM)
    # a shutdown that hangs must not leave the worker holding its partitions: end the process regardless
    asyncio.get_running_loop().call_later(STOP_GRACE, os._exit, FAILED_EXIT)


Handle = Callable[[Wiring, Any], Awaitable[None]]


def _guarded(w: Wiring, name: str, handle: Handle) -> Handler:
    """Return a handler of one record (a Faust `Message`) for `handle`; a failure stops the worker."""

    async def handler(message: Any) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s got %s[%d]@%d", name, message.topic, message.partition, message.offset)
        try:
            await handle(w, message)
        except Exception as exc:
            await stop_worker_on_error(name, exc)
            raise

    return handler


def register_handlers(w: Wiring, lead_topic: Any, visitor_topic: Any) -> None:
    """Send the records of the lead and visitor topics straight to their handlers (see `pipelines.direct`).

    One record at a time, in the order fetched: an offset is never committed past a record in flight.
    """
    leads, visitors = _guarded(w, LEADS_AGENT, handle_lead_message), _guarded(w, VISITORS_AGENT, handle_visitor_message)
    handlers = {name: leads for name in lead_topic.topics} | {name: visitors for name in visitor_topic.topics}
    deliver_directly(w.app, (lead_topic, visitor_topic), handlers)
