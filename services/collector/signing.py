r"""`X-Leadflow-Signature`: an HMAC-SHA256 over everything that identifies an event.

Standard Webhooks signs `id.timestamp.body`; leadflow signs the timestamp, the CloudEvents headers and the body.

v2: `t=<unix seconds>,v2=<hex>`, the HMAC of `"<t>." + ce_block + body`, where `ce_block` is one line
`"<name>:<value>\n"` per `ce-*` header (name in lower case, sorted by name, a repeated name in the order sent,
the value as sent) and then one empty line (`"\n"`). In CloudEvents binary mode those headers carry the event's
id, time, source, type and subject, so a captured request sent again with another `ce-id` or `ce-time` no longer
matches. A structured-mode body holds every attribute itself; its block is the empty line alone.

v1 (`t=...,v1=<hex>`, the HMAC of `"<t>." + body`) signs the body only. It is still accepted from older
clients, but only for requests without any `ce-*` header, where the body is the whole event: a v1 signature on
a binary-mode request would leave its attributes unsigned, so it is refused.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

SIGNATURE_HEADER = "X-Leadflow-Signature"


def ce_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return the `ce-*` headers of a request, names in lower case, sorted by name (stable for repeats)."""
    found = [(name.lower(), value) for name, value in headers if name.lower().startswith("ce-")]
    return sorted(found, key=lambda pair: pair[0])


def signed_content(timestamp: int, headers: Iterable[tuple[str, str]], body: bytes) -> bytes:
    """Return the bytes a v2 signature covers: the timestamp, the `ce-*` headers and the body."""
    block = "".join(f"{name}:{value}\n" for name, value in ce_headers(headers))
    # surrogateescape: header bytes that are not UTF-8 are signed as they came
    return f"{timestamp}.{block}\n".encode("utf-8", "surrogateescape") + body


def _mac(secret: str, content: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), content, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes, headers: Iterable[tuple[str, str]] = ()) -> str:
    """Return the v2 `X-Leadflow-Signature` of a request: pass every header it sends (only `ce-*` ones count)."""
    return f"t={timestamp},v2={_mac(secret, signed_content(timestamp, headers, body))}"


def sign_v1(secret: str, timestamp: int, body: bytes) -> str:
    """Return the older v1 signature (body only), still accepted for requests without `ce-*` headers."""
    return f"t={timestamp},v1={_mac(secret, f'{timestamp}.'.encode() + body)}"


def _parts(header: str) -> dict[str, str]:
    return dict(part.strip().partition("=")[::2] for part in header.split(","))


def signature_problem(
    secret: str, header: str | None, body: bytes, headers: Iterable[tuple[str, str]], now: float, max_age: int
) -> str | None:
    """Return why a request's `X-Leadflow-Signature` is refused (v2, or v1 without `ce-*` headers), else None."""
    if not header:
        return f"missing {SIGNATURE_HEADER}: this key requires signed requests"
    parts = _parts(header)
    stamp, v2, v1 = parts.get("t", ""), parts.get("v2", ""), parts.get("v1", "")
    if not (stamp.isascii() and stamp.isdigit()) or not (v2 or v1):
        return f"malformed {SIGNATURE_HEADER}: expected t=<unix seconds>,v2=<hex>"
    if abs(now - int(stamp)) > max_age:
        return f"{SIGNATURE_HEADER} timestamp is more than {max_age} s away from the collector's clock"
    headers = list(headers)
    if v2:
        expected = _mac(secret, signed_content(int(stamp), headers, body))
        return None if hmac.compare_digest(expected.encode(), v2.encode()) else f"{SIGNATURE_HEADER} does not match"
    if ce_headers(headers):
        return f"{SIGNATURE_HEADER} v1 signs the body only: a request with ce-* headers must be signed with v2"
    expected = _mac(secret, f"{stamp}.".encode() + body)
    return None if hmac.compare_digest(expected.encode(), v1.encode()) else f"{SIGNATURE_HEADER} does not match"
