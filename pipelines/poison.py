"""Records whose effects can never be written: set aside on the dead-letter topic, counted, and passed by.

An outage (the broker or the store away) is waited out: nothing is acked and the partition is held back until
writes succeed again. A poison record is different: writing its effects again would fail again (a lead that has
as many stage events as a state keeps, a state Kafka would refuse as too large, a row the store rejects, an
exception in the core), so retrying would stop its partition, and every lead on it, for good. Such a record goes
to `leadflow.deadletter` with its raw bytes, where it came from and why, and the partition moves on.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson

from pipelines import metrics
from pipelines.core.model import Invalid, Origin
from pipelines.core.rows import EVENT_COLUMNS
from pipelines.sink import RejectedRow, RowBatch

log = logging.getLogger(__name__)

LEAD_HISTORY_LIMIT = "lead_history_limit"
STATE_TOO_LARGE = "state_too_large"
STORE_REJECTED = "store_rejected"
CORE_ERROR = "core_error"
REASONS: tuple[str, ...] = (LEAD_HISTORY_LIMIT, STATE_TOO_LARGE, STORE_REJECTED, CORE_ERROR)
# raw bytes kept in a dead letter: below Kafka's 1 MB message limit, with room for the headers
MAX_DEAD_LETTER_BYTES = 900_000


@dataclass(frozen=True, slots=True)
class Poison:
    """A record set aside: its raw bytes, where it came from, the kind of reason and the reason in words."""

    raw: bytes
    origin: Origin
    kind: str
    detail: str

    @property
    def invalid(self) -> Invalid:
        """Return it as a dead letter whose reason starts with its kind."""
        return Invalid(self.raw, f"{self.kind}: {self.detail}"[:1000])


# where the dead letter's row goes: the rows of a batch still to be written, or None (the topic only)
SetAside = Callable[[Poison, RowBatch | None], Awaitable[None]]


def counted(poison: Poison) -> Invalid:
    """Count and log a poison record; return its dead letter."""
    metrics.POISON.labels(poison.kind).inc()
    origin = poison.origin
    log.error("set aside %s[%d]@%d: %s: %s", origin.topic, origin.partition, origin.offset, poison.kind, poison.detail)
    return poison.invalid


def core_error(exc: BaseException) -> str:
    """Describe an exception of the core in one line."""
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


_PAYLOAD, _TOPIC, _PARTITION, _OFFSET = (EVENT_COLUMNS.index(c) for c in ("payload", "topic", "partition", "offset"))


def from_rejected_row(rejected: RejectedRow) -> Poison:
    """Return a row the store rejects as a poison record: an event's own bytes and origin, else the row itself."""
    row = rejected.row
    if rejected.table == "events":
        origin = Origin(row[_TOPIC], row[_PARTITION], row[_OFFSET])
        return Poison(str(row[_PAYLOAD]).encode(), origin, STORE_REJECTED, rejected.reason)
    raw = orjson.dumps(row, default=str)
    return Poison(raw, Origin(f"store:{rejected.table}", 0, zlib.crc32(raw)), STORE_REJECTED, rejected.reason)
