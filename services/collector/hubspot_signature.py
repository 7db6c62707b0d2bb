"""HubSpot's v3 request signature (X-HubSpot-Signature-v3), checked as HubSpot documents it.

From https://developers.hubspot.com/docs/api/webhooks/validating-requests ("Validate the v3 request
signature") and the changelog that introduced it
(https://developers.hubspot.com/changelog/introducing-version-3-of-webhook-signatures):

    "Reject the request if the timestamp is older than 5 minutes.
     Create a utf-8 encoded string that concatenates together the following: requestMethod + requestUri +
     requestBody + timestamp. The timestamp is provided by the new X-HubSpot-Request-Timestamp header.
     Create an HMAC SHA-256 hash of the resulting string using the application secret as the secret for
     the HMAC SHA-256 function.
     Base64 encode the result of the HMAC function.
     Compare the hash value to the signature."

`requestUri` is the full URL HubSpot called (scheme, host, path and query); the same page says to decode
the URL-encoded characters in it first, which `DECODED` lists. The timestamp is in Unix milliseconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
MAX_AGE_MS = 5 * 60 * 1000
DECODED: dict[str, str] = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def decoded_uri(uri: str) -> str:
    """Decode the characters HubSpot decodes before signing (either hex case)."""
    for encoded, plain in DECODED.items():
        uri = uri.replace(encoded, plain).replace(encoded.lower(), plain)
    return uri


def signature_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """Return the base64 HMAC-SHA256 that HubSpot puts in X-HubSpot-Signature-v3."""
    message = method.upper().encode() + decoded_uri(uri).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def v3_problem(
    secret: str, method: str, uri: str, body: bytes, signature: str | None, timestamp: str | None, now_ms: float
) -> str | None:
    """Return why a request's v3 signature is refused, or None when HubSpot sent it."""
    if not signature or not timestamp:
        return f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER}"
    if not (timestamp.isascii() and timestamp.isdigit()):
        return f"{TIMESTAMP_HEADER} is not Unix milliseconds"
    if now_ms - int(timestamp) > MAX_AGE_MS:
        return f"{TIMESTAMP_HEADER} is older than 5 minutes"
    if int(timestamp) - now_ms > MAX_AGE_MS:
        return f"{TIMESTAMP_HEADER} is more than 5 minutes ahead of the collector's clock"
    expected = signature_v3(secret, method, uri, body, timestamp)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return f"{SIGNATURE_HEADER} does not match"
    return None
