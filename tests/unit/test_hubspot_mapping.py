"""HubSpot deliveries, shaped as HubSpot's webhook documentation shows them, mapped to leadflow events."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from pipelines.core.model import Event
from pipelines.core.validate import parse_event
from services.collector.hubspot import Delivery, Mapped, Skipped, Unmapped, lead_id, link_of, map_delivery
from services.collector.hubspot_book import DealBook
from services.collector.hubspot_table import DEFAULT_TABLE, load_deal_contacts, load_stage_table

# As in HubSpot's webhook docs ("Webhook payloads"): a contact property change and a contact creation.
LIFECYCLE: dict[str, Any] = {
    "objectId": 1246965,
    "propertyName": "lifecyclestage",
    "propertyValue": "subscriber",
    "changeSource": "ACADEMY",
    "eventId": 3816279340,
    "subscriptionId": 25,
    "portalId": 33,
    "appId": 1160452,
    "occurredAt": 1462216307945,
    "subscriptionType": "contact.propertyChange",
    "attemptNumber": 0,
}
CONTACT_CREATED: dict[str, Any] = {
    "objectId": 1246978,
    "changeSource": "IMPORT",
    "eventId": 3816279480,
    "subscriptionId": 22,
    "portalId": 33,
    "appId": 1160452,
    "occurredAt": 1462216307945,
    "subscriptionType": "contact.creation",
    "attemptNumber": 0,
}
DEAL_CREATED: dict[str, Any] = {
    "eventId": 567890123,
    "subscriptionId": 234567,
    "portalId": 33,
    "appId": 987654,
    "occurredAt": 1708986598741,
    "subscriptionType": "deal.creation",
    "attemptNumber": 0,
    "objectId": 9001,
    "changeFlag": "CREATED",
    "changeSource": "CRM_UI",
    "sourceId": "userId:45678",
}
DEAL_STAGE: dict[str, Any] = {
    **DEAL_CREATED,
    "eventId": 567890124,
    "subscriptionType": "deal.propertyChange",
    "propertyName": "dealstage",
    "propertyValue": "closedwon",
    "changeFlag": None,
}
DEAL_TO_CONTACT: dict[str, Any] = {
    "eventId": 1,
    "subscriptionId": 12345,
    "portalId": 33,
    "occurredAt": 1708986599000,
    "subscriptionType": "deal.associationChange",
    "attemptNumber": 0,
    "changeSource": "USER",
    "associationType": "DEAL_TO_CONTACT",
    "fromObjectId": 9001,
    "toObjectId": 1246965,
    "associationRemoved": False,
    "isPrimaryAssociation": False,
}
CALL_CREATED: dict[str, Any] = {
    "eventId": 77,
    "subscriptionId": 4,
    "portalId": 33,
    "appId": 987654,
    "occurredAt": 1708986600000,
    "subscriptionType": "object.creation",
    "objectTypeId": "0-48",
    "attemptNumber": 0,
    "objectId": 555,
    "changeFlag": "CREATED",
    "changeSource": "CRM_UI",
    "sourceId": "userId:45678",
}
CALL_TO_CONTACT: dict[str, Any] = {
    "eventId": 78,
    "subscriptionId": 5,
    "portalId": 33,
    "occurredAt": 1708986600100,
    "subscriptionType": "object.associationChange",
    "attemptNumber": 0,
    "changeSource": "CRM_UI",
    "fromObjectTypeId": "0-48",
    "toObjectTypeId": "0-1",
    "associationTypeId": 194,
    "fromObjectId": 555,
    "toObjectId": 1246965,
    "associationRemoved": False,
    "isPrimaryAssociation": False,
}


def translate(payload: dict[str, Any], book: DealBook | None = None, **changes: Any) -> Any:
    book = book or DealBook({})
    delivery = Delivery.model_validate({**payload, **changes})
    book.learn(delivery, DEFAULT_TABLE)
    return map_delivery(delivery, DEFAULT_TABLE, book, "EUR")


def valid(mapped: Any) -> Event:
    assert isinstance(mapped, Mapped), mapped
    event = parse_event(orjson.dumps(mapped.event))
    assert isinstance(event, Event), event
    return event


def test_lifecycle_change_becomes_a_lifecycle_event() -> None:
    mapped = translate(LIFECYCLE)
    event = valid(mapped)
    assert event.type == "crm.lifecycle_changed" and event.source == "/crm/hubspot"
    assert event.subject == event.lead_id == "hubspot-contact-1246965" == lead_id(1246965)
    assert event.stage == "lead" and event.reason == "hubspot lifecyclestage=subscriber"
    assert event.time.isoformat() == "2016-05-02T19:11:47.945000+00:00"
    assert mapped.event["id"] == "hubspot:33:contact.propertyChange:1246965:3816279340"


def test_a_retry_gives_the_same_event() -> None:
    assert translate(LIFECYCLE) == translate(LIFECYCLE, attemptNumber=3)


@pytest.mark.parametrize(
    ("value", "stage"),
    [
        ("marketingqualifiedlead", "mql"),
        ("salesqualifiedlead", "sql"),
        ("opportunity", "opportunity"),
        ("customer", "customer"),
    ],
)
def test_lifecycle_stages(value: str, stage: str) -> None:
    assert valid(translate(LIFECYCLE, propertyValue=value)).stage == stage


@pytest.mark.parametrize(
    ("value", "stage"), [("IN_PROGRESS", "sal"), ("UNQUALIFIED", "disqualified"), ("BAD_TIMING", "recycled")]
)
def test_lead_status(value: str, stage: str) -> None:
    assert valid(translate(LIFECYCLE, propertyName="hs_lead_status", propertyValue=value)).stage == stage


def test_unknown_and_ignored_stages() -> None:
    assert translate(LIFECYCLE, propertyValue="1234567") == Unmapped(
        "unknown lifecyclestage value '1234567': map it in LEADFLOW_COLLECTOR_HUBSPOT_STAGE_MAP"
    )
    assert translate(LIFECYCLE, propertyName="hs_lead_status", propertyValue="NEW") == Skipped(
        "hs_lead_status 'NEW' is mapped to ignore"
    )
    assert translate(LIFECYCLE, propertyName="firstname", propertyValue="Ada") == Skipped(
        "property firstname is not followed"
    )
    assert translate(CONTACT_CREATED) == Skipped("contact.creation is not a leadflow event")


def test_a_stage_map_file_maps_custom_values() -> None:
    table = load_stage_table({"lifecyclestage": {"1234567": "sql"}, "dealstage": {"presentationscheduled": "won"}})
    delivery = Delivery.model_validate({**LIFECYCLE, "propertyValue": "1234567"})
    assert valid(map_delivery(delivery, table, DealBook({}), "EUR")).stage == "sql"
    assert table.dealstage["closedwon"] == "won" and table.dealstage["presentationscheduled"] == "won"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"lifecyclestage": {"x": "hot"}}, "lifecyclestage.x: 'hot' is not one of lead, mql"),
        ({"dealstage": {"x": "mql"}}, "dealstage.x: 'mql' is not one of created, proposal, won, lost, ignore"),
        ({"stages": {}}, r"unknown sections \['stages'\]"),
        ([], "expected a mapping"),
    ],
)
def test_bad_stage_maps(document: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_stage_table(document)


def test_owner_assignment() -> None:
    event = valid(translate(LIFECYCLE, propertyName="hubspot_owner_id", propertyValue="42"))
    assert event.type == "crm.owner_assigned" and event.owner_id == "hubspot-owner-42"


def test_deal_waits_for_its_contact_then_comes_with_the_association() -> None:
    book = DealBook({})
    assert translate(DEAL_CREATED, book) == Skipped(
        "deal without a known contact yet: its association to a contact will bring it"
    )
    event = valid(translate(DEAL_TO_CONTACT, book))
    assert (event.type, event.deal_stage, event.lead_id) == ("crm.deal_changed", "created", "hubspot-contact-1246965")
    assert (event.deal_id, str(event.amount), event.currency) == ("hubspot-deal-9001", "0", "EUR")
    # the creation seen again (a retry) now has its contact, and yields the very same event id
    assert translate(DEAL_CREATED, book).event["id"] == translate(DEAL_TO_CONTACT, book).event["id"]


def test_deal_stage_change_with_contact_from_the_deals_file_and_remembered_amount() -> None:
    book = DealBook(load_deal_contacts({"9001": 1246965}))
    assert translate(DEAL_STAGE, book, propertyName="amount", propertyValue="1250.50") == Skipped(
        "deal amount remembered for the deal's next events"
    )
    event = valid(translate(DEAL_STAGE, book))
    assert (event.deal_stage, str(event.amount), event.lead_id) == ("won", "1250.50", "hubspot-contact-1246965")


def test_deal_stage_without_contact_is_rejected_with_what_to_do() -> None:
    assert translate(DEAL_STAGE) == Unmapped(
        "no contact known for deal 9001: add it to LEADFLOW_COLLECTOR_HUBSPOT_DEALS_FILE"
    )
    assert translate(DEAL_STAGE, propertyValue="9876") == Unmapped(
        "unknown dealstage value '9876': map it in LEADFLOW_COLLECTOR_HUBSPOT_STAGE_MAP"
    )


def test_payload_contact_and_amount_win() -> None:
    event = valid(translate(DEAL_STAGE, associatedContactId=7, amount="99", currency="USD"))
    assert (event.lead_id, str(event.amount), event.currency) == ("hubspot-contact-7", "99", "USD")


def test_engagement_becomes_an_activity_on_its_contact() -> None:
    book = DealBook({})
    assert isinstance(translate(CALL_CREATED, book), Skipped)
    event = valid(translate(CALL_TO_CONTACT, book))
    assert (event.type, event.activity_kind, event.automated) == ("crm.activity_logged", "call", False)
    assert translate(CALL_CREATED, book).event["id"] == translate(CALL_TO_CONTACT, book).event["id"]
    email = {"changeSource": "AUTOMATION_PLATFORM", "objectTypeId": "0-49", "associatedContactId": 1246965}
    automated = valid(translate(CALL_CREATED, book, **email))
    assert (automated.activity_kind, automated.automated) == ("email", True)


def test_links() -> None:
    link = link_of(Delivery.model_validate(DEAL_TO_CONTACT))
    assert link is not None and (link.kind, link.object_id, link.contact_id) == ("deal", 9001, 1246965)
    reverse = {**DEAL_TO_CONTACT, "associationType": "CONTACT_TO_DEAL", "fromObjectId": 1246965, "toObjectId": 9001}
    assert link_of(Delivery.model_validate(reverse)) == link
    company = {**DEAL_TO_CONTACT, "associationType": "CONTACT_TO_COMPANY"}
    assert link_of(Delivery.model_validate(company)) is None
    assert translate({**DEAL_TO_CONTACT, "associationRemoved": True}) == Skipped(
        "association removed: leadflow keeps what happened"
    )


def test_removed_association_is_forgotten() -> None:
    book = DealBook({})
    translate(DEAL_TO_CONTACT, book)
    assert book.contact_of("deal", 9001) == 1246965
    translate(DEAL_TO_CONTACT, book, associationRemoved=True)
    assert book.contact_of("deal", 9001) is None


def test_deals_file_must_hold_numbers() -> None:
    with pytest.raises(ValueError, match="whole numbers"):
        load_deal_contacts({"deal-1": "x"})
