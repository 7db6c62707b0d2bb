"""Pure checks of incoming events and the per-event answer: what is accepted, what is not and why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from pipelines.core.model import Invalid, TimeRange
from pipelines.core.validate import parse_event
from pipelines.topics import TopicNames
from services.collector.cloudevents import Item
from services.collector.keys import Client, event_problem


@dataclass(frozen=True)
class Accepted:
    """A valid event, ready for its input topic: the Kafka message is (topic, key = subject, value)."""

    index: int
    id: str
    type: str
    topic: str
    key: bytes
    value: bytes


@dataclass(frozen=True)
class Rejected:
    """An event refused at the door, with every reason at once."""

    index: int
    id: str | None
    reason: str


@dataclass(frozen=True)
class Failed:
    """A valid event that Kafka did not confirm: the client should send it again."""

    index: int
    id: str
    reason: str


Outcome = Accepted | Rejected | Failed


def _id_of(raw: bytes | None) -> str | None:
    """Return the `id` of an event's JSON if it has a string one (for the answer), else None."""
    try:
        document = orjson.loads(raw or b"")
    except orjson.JSONDecodeError:
        return None
    value = document.get("id") if isinstance(document, dict) else None
    return value if isinstance(value, str) else None


def check_event(
    index: int, item: Item, client: Client | None, names: TopicNames, accepted: TimeRange | None = None
) -> Accepted | Rejected:
    """Validate one event against the schemas, the accepted times and the caller's grant (None: a trusted adapter)."""
    if item.raw is None or item.problem is not None:
        return Rejected(index, None, item.problem or "not an event")
    parsed = parse_event(item.raw, accepted=accepted)
    if isinstance(parsed, Invalid):
        return Rejected(index, _id_of(item.raw), parsed.reason)
    if client is not None:
        problem = event_problem(client.grant, client.name, parsed.type, parsed.source)
        if problem:
            return Rejected(index, parsed.id, problem)
    topic = names.for_type(parsed.type)
    assert topic is not None  # a valid event has a known type
    return Accepted(index, parsed.id, parsed.type, topic, parsed.subject.encode("utf-8"), item.raw)


def check_all(
    items: Sequence[Item], client: Client | None, names: TopicNames, accepted: TimeRange | None = None
) -> list[Accepted | Rejected]:
    """Validate every item of a request."""
    return [check_event(i, item, client, names, accepted) for i, item in enumerate(items)]


def status_of(outcomes: Sequence[Outcome]) -> int:
    """Return the HTTP status: 200 all accepted, 207 mixed, 422 none accepted, 503 any not confirmed by Kafka."""
    if any(isinstance(o, Failed) for o in outcomes):
        return 503
    accepted = sum(isinstance(o, Accepted) for o in outcomes)
    if accepted == len(outcomes):
        return 200
    return 207 if accepted else 422


def _result(outcome: Outcome) -> dict[str, Any]:
    if isinstance(outcome, Accepted):
        return {"index": outcome.index, "id": outcome.id, "status": "accepted"}
    status = "rejected" if isinstance(outcome, Rejected) else "failed"
    return {"index": outcome.index, "id": outcome.id, "status": status, "reason": outcome.reason}


def answer(outcomes: Sequence[Outcome], deadlettered: int = 0) -> dict[str, Any]:
    """Return the JSON answer: counts (rejected events kept on the dead-letter topic too), then one result per event."""
    return {
        "accepted": sum(isinstance(o, Accepted) for o in outcomes),
        "rejected": sum(isinstance(o, Rejected) for o in outcomes),
        "failed": sum(isinstance(o, Failed) for o in outcomes),
        "deadlettered": deadlettered,
        "results": [_result(o) for o in sorted(outcomes, key=lambda o: o.index)],
    }
