"""API keys (hashed, per source, with grants)."""

from __future__ import annotations

import hashlib

import pytest

from services.collector.keys import (
    KeyRing,
    event_problem,
    hash_key,
    load_keyring,
    new_key,
    origin_problem,
)

WEB_KEY = "lf_website_0123456789abcdefghijklmnop"
CRM_KEY = "lf_crm_0123456789abcdefghijklmnopqrstu"


def ring() -> KeyRing:
    return load_keyring(
        {
            "website": {
                "key_sha256": hash_key(WEB_KEY),
                "browser": True,
                "types": ["web.visit", "web.form_submitted"],
                "sources": ["/web/*"],
                "origins": ["https://www.example.com"],
            },
            "crm": {"key_sha256": hash_key(CRM_KEY), "hmac_secret": "s3cret"},
        }
    )


def test_hash_is_sha256_hex() -> None:
    assert hash_key("abc") == hashlib.sha256(b"abc").hexdigest()


def test_identify_finds_the_source_of_a_key() -> None:
    keys = ring()
    assert (client := keys.identify(WEB_KEY)) is not None and client.name == "website"
    assert (client := keys.identify(CRM_KEY)) is not None and client.name == "crm"
    assert keys.identify("lf_nobody_0123456789abcdefghijklmnop") is None
    assert keys.identify("") is None


def test_new_keys_are_long_random_and_named() -> None:
    first, second = new_key("website"), new_key("website")
    assert first != second and first.startswith("lf_website_") and len(first) > 40


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, "expected a mapping"),
        ({"web": {"key_sha256": "abc"}}, "web.key_sha256: String should match pattern"),
        ({"web": {"key_sha256": "a" * 64, "types": ["web.click"]}}, "web.types: Value error, unknown event types"),
        ({"web": {"key_sha256": "a" * 64, "colour": "red"}}, "web.colour: Extra inputs are not permitted"),
        ({"a": {"key_sha256": "a" * 64}, "b": {"key_sha256": "a" * 64}}, "two sources share one key hash"),
    ],
)
def test_bad_key_files_name_the_entry(document: object, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        load_keyring(document)


def test_grants_limit_types_and_sources() -> None:
    website = ring().clients[0]
    assert event_problem(website.grant, "website", "web.visit", "/web/www.example.com") is None
    crm_type = event_problem(website.grant, "website", "crm.lifecycle_changed", "/web/www.example.com")
    assert crm_type == "type crm.lifecycle_changed is not allowed for key website"
    assert (
        event_problem(website.grant, "website", "web.visit", "/crm/x") == "source /crm/x is not allowed for key website"
    )
    crm = ring().clients[1]
    assert event_problem(crm.grant, "crm", "crm.deal_changed", "/anything") is None


def test_origins() -> None:
    grant = ring().clients[0].grant
    assert origin_problem(grant, "https://www.example.com") is None
    assert origin_problem(grant, None) is None  # not a browser: the key itself is the check
    assert origin_problem(grant, "https://evil.example") == "origin https://evil.example is not allowed for this key"
