"""What the collector refused, as messages for `leadflow.deadletter`: pure converters, no Kafka here.

Like the worker's dead letters, the value is the refused bytes as they came and the reason is a header. The
collector adds who sent them and where: `key` (the key's source name, `hubspot`, or `unknown` when no key was
recognised), `source` (`collector`), `route`, `address` (the client's), and for one event of a batch its
`index`. A binary-mode request refused whole keeps its CloudEvents attributes as `ce_*` headers (the Kafka
binding's names), since its body is only the event's data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.collector.signing import ce_headers

UNKNOWN_KEY = "unknown"
# below Kafka's default message limit (message.max.bytes, about 1 MB) with room for the headers
MAX_VALUE_BYTES = 1_000_000


@dataclass(frozen=True)
class Sender:
    """Who sent a request and where to: what every dead letter of it carries."""

    key: str
    route: str
    address: str

    def named(self, key: str) -> Sender:
        """Return the same sender under a key name (once the key is recognised)."""
        return Sender(key, self.route, self.address)


@dataclass(frozen=True)
class DeadLetter:
    """One message for the dead-letter topic: the raw bytes and the headers that say why and from whom."""

    value: bytes
    headers: tuple[tuple[str, bytes], ...]


def dead_letter(value: bytes, reason: str, sender: Sender, extra: Mapping[str, str] | None = None) -> DeadLetter:
    """Return the dead letter of refused bytes; values over MAX_VALUE_BYTES keep their start and say so."""
    fields = {"reason": reason, "key": sender.key, "source": "collector", "route": sender.route}
    fields |= {"address": sender.address, **(extra or {})}
    if len(value) > MAX_VALUE_BYTES:
        fields["truncated_from"] = str(len(value))
        value = value[:MAX_VALUE_BYTES]
    return DeadLetter(value, tuple((k, v.encode("utf-8", "surrogateescape")) for k, v in fields.items()))


def whole_request(body: bytes, reason: str, sender: Sender, headers: Iterable[tuple[str, str]]) -> DeadLetter:
    """Return the dead letter of a request refused whole: its body, with its `ce-*` headers as `ce_*`."""
    attributes = {f"ce_{name[3:]}": value for name, value in ce_headers(headers)}
    return dead_letter(body, reason, sender, attributes)
