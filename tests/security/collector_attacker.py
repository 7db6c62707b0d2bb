"""What the collector attack tests share: a collector process with attackable keys, raw HTTP, topic readers."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer

from services.collector.keys import hash_key
from tests.integration.kafka_fixture import LocalKafka
from tests.integration.test_collector_kafka import Collector

SERVER_KEY = "lf_crm_attack_0123456789abcdefghijklmn"
SIGNED_KEY = "lf_signed_attack_0123456789abcdefghijk"
BROWSER_KEY = "lf_website_attack_0123456789abcdefghij"
HMAC_SECRET = "attack-test-hmac-secret"


def keys_file(folder: Path) -> Path:
    """Write a keys file: a server key, a signed server key, and a browser key for web events only."""
    browser = {
        "key_sha256": hash_key(BROWSER_KEY),
        "browser": True,
        "types": ["web.visit", "web.form_submitted"],
        "sources": ["/web/*"],
    }
    keys = {
        "crm": {"key_sha256": hash_key(SERVER_KEY)},
        "crm-signed": {"key_sha256": hash_key(SIGNED_KEY), "hmac_secret": HMAC_SECRET},
        "website": browser,
    }
    path = folder / "attack-keys.json"
    path.write_text(json.dumps(keys))
    return path


def start_collector(worker_env: dict[str, str], folder: Path, **settings: str) -> Collector:
    """Start a ready `leadflow collector` on the test's topics with the attack keys and these settings."""
    env = {**worker_env, "LEADFLOW_COLLECTOR_KEYS_FILE": str(keys_file(folder)), **settings}
    return Collector(env, folder).start()


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, headers, parsed JSON body (or None)."""

    status: int
    headers: dict[str, str]
    body: Any


def call(url: str, body: bytes, headers: dict[str, str]) -> Reply:
    """POST raw bytes with exactly these headers and return the answer."""
    request = urllib.request.Request(url, body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, found = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        status, raw, found = exc.code, exc.read(), dict(exc.headers)
    return Reply(status, found, json.loads(raw) if raw.startswith(b"{") else None)


@dataclass(frozen=True)
class Message:
    """A message read back from a topic: value and headers (decoded)."""

    value: bytes
    headers: dict[str, str]


def read_topic(kafka: LocalKafka, topic: str, expected: int, settle: float = 2.0, timeout: float = 30) -> list[Message]:
    """Read a topic from the start until `expected` messages came, then `settle` seconds more (to see extras)."""
    consumer = KafkaConsumer(topic, bootstrap_servers=[kafka.bootstrap], auto_offset_reset="earliest")
    found: list[Message] = []
    deadline = time.monotonic() + timeout
    settled_at: float | None = None
    try:
        while time.monotonic() < deadline and (settled_at is None or time.monotonic() < settled_at):
            for batch in consumer.poll(timeout_ms=300).values():
                found.extend(Message(m.value, {k: v.decode() for k, v in m.headers}) for m in batch)
            if settled_at is None and len(found) >= expected:
                settled_at = time.monotonic() + settle
    finally:
        consumer.close()
    return found
