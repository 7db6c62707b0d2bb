"""HubSpot's v3 request signature, computed independently here from the documented recipe."""

from __future__ import annotations

import base64
import hashlib
import hmac

from services.collector.hubspot_signature import decoded_uri, signature_v3, v3_problem

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
URI = "https://www.example.com/webhook_uri"
BODY = b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'  # noqa: E501
NOW_MS = 1_800_000_000_000


def documented(method: str, uri: str, body: bytes, timestamp: str) -> str:
    """HMAC-SHA256 of method + URI + body + timestamp with the client secret, base64: HubSpot's recipe."""
    message = f"{method}{uri}{body.decode()}{timestamp}".encode()
    return base64.b64encode(hmac.new(SECRET.encode(), message, hashlib.sha256).digest()).decode()


def test_signature_follows_the_recipe() -> None:
    stamp = str(NOW_MS)
    assert signature_v3(SECRET, "POST", URI, BODY, stamp) == documented("POST", URI, BODY, stamp)


def test_valid_request_passes() -> None:
    stamp = str(NOW_MS - 60_000)
    signature = documented("POST", URI, BODY, stamp)
    assert v3_problem(SECRET, "POST", URI, BODY, signature, stamp, NOW_MS) is None


def test_encoded_characters_are_decoded_before_signing() -> None:
    assert decoded_uri("https://e.com/hook?from=a%3Ab%2Cc%3bd") == "https://e.com/hook?from=a:b,c;d"
    stamp = str(NOW_MS)
    signature = documented("POST", "https://e.com/hook?x=a:b", BODY, stamp)
    assert v3_problem(SECRET, "POST", "https://e.com/hook?x=a%3Ab", BODY, signature, stamp, NOW_MS) is None


def test_refusals() -> None:
    stamp = str(NOW_MS)
    signature = documented("POST", URI, BODY, stamp)
    assert v3_problem(SECRET, "POST", URI, BODY + b" ", signature, stamp, NOW_MS) == (
        "X-HubSpot-Signature-v3 does not match"
    )
    assert v3_problem("other", "POST", URI, BODY, signature, stamp, NOW_MS) == "X-HubSpot-Signature-v3 does not match"
    old = str(NOW_MS - 300_001)
    assert v3_problem(SECRET, "POST", URI, BODY, documented("POST", URI, BODY, old), old, NOW_MS) == (
        "X-HubSpot-Request-Timestamp is older than 5 minutes"
    )
    assert v3_problem(SECRET, "POST", URI, BODY, None, stamp, NOW_MS) == (
        "missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp"
    )
    assert v3_problem(SECRET, "POST", URI, BODY, signature, "soon", NOW_MS) == (
        "X-HubSpot-Request-Timestamp is not Unix milliseconds"
    )
