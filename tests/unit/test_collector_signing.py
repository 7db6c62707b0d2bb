"""The collector's own HMAC signature: v2 covers the timestamp, the `ce-*` headers and the body; v1 the body only."""

from __future__ import annotations

from services.collector.signing import sign, sign_v1, signature_problem, signed_content

BODY = b'{"a":1}'
NOW = 1_800_000_100
BINARY = [
    ("Content-Type", "application/json"),
    ("ce-specversion", "1.0"),
    ("ce-id", "b1"),
    ("ce-time", "2026-11-02T09:00:00+00:00"),
    ("CE-Source", "/crm/x"),
]


def test_v2_round_trip_and_failures() -> None:
    header = sign("s3cret", 1_800_000_000, BODY)
    assert header.startswith("t=1800000000,v2=")
    assert signature_problem("s3cret", header, BODY, [], NOW, 300) is None
    mismatch = "X-Leadflow-Signature does not match"
    assert signature_problem("s3cret", header, BODY + b" ", [], NOW, 300) == mismatch
    assert signature_problem("other", header, BODY, [], NOW, 300) == mismatch
    assert signature_problem("s3cret", header, BODY, [], 1_800_000_301, 300) == (
        "X-Leadflow-Signature timestamp is more than 300 s away from the collector's clock"
    )
    assert signature_problem("s3cret", None, BODY, [], 0, 300) == (
        "missing X-Leadflow-Signature: this key requires signed requests"
    )
    assert signature_problem("s3cret", "v2=abc", BODY, [], 0, 300) == (
        "malformed X-Leadflow-Signature: expected t=<unix seconds>,v2=<hex>"
    )


def test_v2_signs_the_cloudevents_headers_of_binary_mode() -> None:
    header = sign("s3cret", NOW, BODY, BINARY)
    assert signature_problem("s3cret", header, BODY, BINARY, NOW, 300) is None
    replayed = [(n, "b2" if n == "ce-id" else v) for n, v in BINARY]
    later = [(n, "2031-01-01T00:00:00+00:00" if n == "ce-time" else v) for n, v in BINARY]
    added = [*BINARY, ("ce-subject", "lead-9")]
    for headers in (replayed, later, added, BINARY[:-1]):
        assert signature_problem("s3cret", header, BODY, headers, NOW, 300) == "X-Leadflow-Signature does not match"
    # other headers and the order headers come in are not part of it
    shuffled = [("X-Trace", "1"), *reversed(BINARY)]
    assert signature_problem("s3cret", header, BODY, shuffled, NOW, 300) is None


def test_signed_content_is_unambiguous() -> None:
    assert signed_content(7, [], b"{}") == b"7.\n{}"
    assert signed_content(7, [("ce-id", "x"), ("Ce-Type", "t")], b"{}") == b"7.ce-id:x\nce-type:t\n\n{}"


def test_v1_is_accepted_only_without_cloudevents_headers() -> None:
    header = sign_v1("s3cret", NOW, BODY)
    assert header.startswith(f"t={NOW},v1=")
    assert signature_problem("s3cret", header, BODY, [("Content-Type", "application/json")], NOW, 300) is None
    assert signature_problem("s3cret", header, BODY + b" ", [], NOW, 300) == "X-Leadflow-Signature does not match"
    assert signature_problem("s3cret", header, BODY, BINARY, NOW, 300) == (
        "X-Leadflow-Signature v1 signs the body only: a request with ce-* headers must be signed with v2"
    )
