"""What the reassignment service asks of HubSpot for each message of leadflow.sla (pure, no HTTP)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.collector.hubspot import lead_id
from services.hubspot_reassign import CONTACT_PREFIX, Reassign, Skip, _api_url, plan


def message(kind: str = "sla.reassign_suggested", **data: object) -> bytes:
    base = {"lead_id": "hubspot-contact-42", "owner_id": "hubspot-owner-7", "suggested_owner_id": "hubspot-owner-9"}
    return orjson.dumps({"id": "e-1", "type": kind, "data": {**base, **data}})


def test_a_hubspot_contact_and_owner_become_a_reassignment_guarded_by_the_clocks_owner() -> None:
    assert plan(message()) == Reassign("e-1", "42", "7", "9")
    assert plan(message(owner_id=None)) == Reassign("e-1", "42", None, "9")  # HubSpot must have it unowned too
    assert lead_id(42) == f"{CONTACT_PREFIX}42"  # the collector's own lead ids


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (message("sla.breached"), "sla.breached: not a suggested reassignment"),
        (message(lead_id="web-lead-1"), "lead 'web-lead-1' is not a HubSpot contact"),
        (message(lead_id="hubspot-contact-4x2"), "is not a HubSpot contact"),
        (message(lead_id="hubspot-contact-../../owners"), "is not a HubSpot contact"),
        (message(lead_id="hubspot-contact-٤٢"), "is not a HubSpot contact"),  # digits, but not ASCII ones
        (message(suggested_owner_id=None), "suggested owner None is not a HubSpot owner"),
        (message(suggested_owner_id="rep-02"), "suggested owner 'rep-02' is not a HubSpot owner"),
        (b"not json", "not an SLA event"),
        (b"[1, 2]", "not an SLA event"),
        (b'{"type": "sla.reassign_suggested", "data": "x"}', "not an SLA event"),
        (b'"text"', "not an SLA event"),
    ],
)
def test_everything_else_is_skipped_with_the_reason(raw: bytes, reason: str) -> None:
    step = plan(raw)
    assert isinstance(step, Skip) and reason in step.reason


@given(st.binary(max_size=300))
def test_no_message_makes_it_fail(raw: bytes) -> None:
    assert isinstance(plan(raw), Reassign | Skip)


@given(st.dictionaries(st.sampled_from(["lead_id", "owner_id", "suggested_owner_id"]), st.text(max_size=30)))
def test_a_reassignment_names_only_ascii_digit_ids(data: dict[str, str]) -> None:
    step = plan(message(**data))
    if isinstance(step, Reassign):
        assert all(i.isascii() and i.isdigit() for i in (step.contact, step.owner))


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://api.hubapi.com", True),
        ("http://127.0.0.1:8080", True),
        ("http://localhost:8080/", True),
        ("http://api.hubapi.com", False),
        ("ftp://api.hubapi.com", False),
        ("api.hubapi.com", False),
    ],
)
def test_the_token_only_travels_over_https_or_loopback(url: str, ok: bool) -> None:
    if ok:
        assert _api_url(url) == url.rstrip("/")
    else:
        with pytest.raises(ValueError, match="must"):
            _api_url(url)
