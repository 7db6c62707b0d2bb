"""HubSpot webhook deliveries mapped to leadflow CloudEvents: pure functions, no I/O.

Delivery fields as HubSpot documents them (https://developers.hubspot.com/docs/api/webhooks, "Webhook
payloads"): `eventId`, `subscriptionId`, `portalId`, `appId`, `occurredAt` (Unix ms), `subscriptionType`
(e.g. `contact.propertyChange`, `deal.creation`, or the generic `object.creation` with `objectTypeId`),
`attemptNumber`, `objectId`, `propertyName`, `propertyValue`, `changeSource`, `sourceId`, `changeFlag`; association
changes carry `associationType` (e.g. `DEAL_TO_CONTACT`), `fromObjectId`, `toObjectId`, `associationRemoved`
(generic ones also `fromObjectTypeId`, `toObjectTypeId`). A delivery names its object by id only, never a
CloudEvent: the contact id becomes the lead id, and `eventId` (with portal and object, since HubSpot does not
promise `eventId` to be unique) becomes the event id, so a retried delivery yields the same event and is deduped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from services.collector.hubspot_table import IGNORE, StageTable

SOURCE = "/crm/hubspot"
ENGAGEMENTS = ("call", "email", "meeting", "note")
# HubSpot's object type ids (generic webhooks report objects as `object.*` with these)
OBJECT_TYPES: dict[str, str] = {
    "0-1": "contact",
    "0-3": "deal",
    "0-46": "note",
    "0-47": "meeting",
    "0-48": "call",
    "0-49": "email",
}
ASSOCIATION_NAMES: dict[str, str] = {"CONTACT": "contact", "DEAL": "deal", **{k.upper(): k for k in ENGAGEMENTS}}


class Delivery(BaseModel):
    """One element of a HubSpot webhook request (a JSON array of these); unknown fields are kept."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True)

    event_id: int
    occurred_at: int
    subscription_type: str
    portal_id: int | None = None
    subscription_id: int | None = None
    object_id: int | None = None
    object_type_id: str | None = None
    property_name: str | None = None
    property_value: str | int | float | None = None
    change_source: str | None = None
    association_type: str | None = None
    from_object_id: int | None = None
    to_object_id: int | None = None
    from_object_type_id: str | None = None
    to_object_type_id: str | None = None
    association_removed: bool | None = None
    # not HubSpot's: a workflow webhook or a middleware may add the deal's or engagement's contact
    associated_contact_id: int | None = None
    amount: str | int | float | None = None
    currency: str | None = None

    @property
    def kind(self) -> str | None:
        """Return the object's kind (contact, deal, call, ...) or None for objects leadflow does not follow."""
        prefix = self.subscription_type.partition(".")[0]
        if prefix == "object":
            return OBJECT_TYPES.get(self.object_type_id or "")
        return prefix if prefix in ("contact", "deal") else None

    @property
    def action(self) -> str:
        """Return what happened: creation, propertyChange, associationChange, deletion, ..."""
        return self.subscription_type.partition(".")[2]


class Lookup(Protocol):
    """What the mapping needs to know beyond one delivery: associations and amounts seen before."""

    def contact_of(self, kind: str, object_id: int) -> int | None:
        """Return the contact a deal or engagement belongs to, if known."""
        ...

    def deal_amount(self, deal_id: int) -> str | None:
        """Return the last amount seen for a deal, if any."""
        ...

    def deal_stage(self, deal_id: int) -> str | None:
        """Return the last leadflow deal stage mapped for a deal, if any."""
        ...


@dataclass(frozen=True)
class Mapped:
    """The leadflow CloudEvent a delivery becomes."""

    event: dict[str, Any]


@dataclass(frozen=True)
class Skipped:
    """A delivery that is no leadflow event (and needs none): answered as ignored."""

    reason: str


@dataclass(frozen=True)
class Unmapped:
    """A delivery that should become an event but cannot: answered as rejected with what to configure."""

    reason: str


Translation = Mapped | Skipped | Unmapped


@dataclass(frozen=True)
class Link:
    """An association between a deal or engagement and a contact, added or removed."""

    kind: str
    object_id: int
    contact_id: int
    removed: bool


def lead_id(contact_id: int) -> str:
    """Return the lead id of a HubSpot contact."""
    return f"hubspot-contact-{contact_id}"


def _time(delivery: Delivery) -> str:
    return datetime.fromtimestamp(delivery.occurred_at / 1000, UTC).isoformat(timespec="milliseconds")


def _event(delivery: Delivery, event_id: str, event_type: str, contact: int, data: dict[str, Any]) -> Mapped:
    lead = lead_id(contact)
    document = {
        "specversion": "1.0",
        "id": event_id,
        "source": SOURCE,
        "type": event_type,
        "time": _time(delivery),
        "subject": lead,
        "data": {"lead_id": lead, **data},
        "hubspotportal": str(delivery.portal_id) if delivery.portal_id is not None else None,
    }
    return Mapped({k: v for k, v in document.items() if v is not None})


def _delivery_id(delivery: Delivery) -> str:
    """Return the id of an event that one delivery alone yields: stable across HubSpot's retries of it."""
    target = delivery.object_id if delivery.object_id is not None else f"{delivery.from_object_id}"
    return f"hubspot:{delivery.portal_id}:{delivery.subscription_type}:{target}:{delivery.event_id}"


def link_of(delivery: Delivery) -> Link | None:
    """Return the deal/engagement-to-contact association an association change reports, if it is one."""
    if delivery.action != "associationChange" or delivery.from_object_id is None or delivery.to_object_id is None:
        return None
    if delivery.from_object_type_id or delivery.to_object_type_id:
        kinds = (
            OBJECT_TYPES.get(delivery.from_object_type_id or ""),
            OBJECT_TYPES.get(delivery.to_object_type_id or ""),
        )
    else:
        named = (delivery.association_type or "").upper().split("_TO_")
        kinds = (ASSOCIATION_NAMES.get(named[0]), ASSOCIATION_NAMES.get(named[-1])) if len(named) == 2 else (None, None)
    removed = bool(delivery.association_removed)
    if kinds[1] == "contact" and kinds[0] in ("deal", *ENGAGEMENTS):
        return Link(kinds[0], delivery.from_object_id, delivery.to_object_id, removed)
    if kinds[0] == "contact" and kinds[1] in ("deal", *ENGAGEMENTS):
        return Link(kinds[1], delivery.to_object_id, delivery.from_object_id, removed)
    return None


def _amount(delivery: Delivery, lookup: Lookup, deal: int) -> str:
    for candidate in (delivery.amount, lookup.deal_amount(deal)):
        amount = parse_amount(candidate) if candidate is not None else None
        if amount is not None:
            return str(amount)
    return "0"


def parse_amount(value: object) -> Decimal | None:
    """Return a non-negative decimal amount, or None for an empty or unreadable value."""
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount >= 0 else None


def _deal_event(delivery: Delivery, lookup: Lookup, event_id: str, deal: int, contact: int, stage: str) -> Mapped:
    data = {
        "deal_id": f"hubspot-deal-{deal}",
        "stage": stage,
        "amount": _amount(delivery, lookup, deal),
        "currency": delivery.currency or "",
    }
    return _event(delivery, event_id, "crm.deal_changed", contact, data)


def _contact(delivery: Delivery, lookup: Lookup, kind: str, object_id: int) -> int | None:
    return delivery.associated_contact_id or lookup.contact_of(kind, object_id)


def _contact_change(delivery: Delivery, table: StageTable) -> Translation:
    name, value, contact = delivery.property_name, delivery.property_value, delivery.object_id
    if contact is None:
        return Unmapped("contact delivery without objectId")
    if name == "hubspot_owner_id":
        if value in (None, ""):
            return Skipped("owner removed: leadflow records assignments only")
        owner = {"owner_id": f"hubspot-owner-{value}"}
        return _event(delivery, _delivery_id(delivery), "crm.owner_assigned", contact, owner)
    if name not in ("lifecyclestage", "hs_lead_status"):
        return Skipped(f"property {name} is not followed")
    stage = getattr(table, name).get(str(value))
    if stage is None:
        return Unmapped(f"unknown {name} value {value!r}: map it in LEADFLOW_COLLECTOR_HUBSPOT_STAGE_MAP")
    if stage == IGNORE:
        return Skipped(f"{name} {value!r} is mapped to ignore")
    data = {"stage": stage, "reason": f"hubspot {name}={value}"}
    return _event(delivery, _delivery_id(delivery), "crm.lifecycle_changed", contact, data)


def deal_stage_of(delivery: Delivery, table: StageTable) -> str | None:
    """Return the leadflow deal stage a dealstage change maps to (`ignore` included), None if unknown."""
    return table.dealstage.get(str(delivery.property_value))


def _deal_change(delivery: Delivery, table: StageTable, lookup: Lookup) -> Translation:
    deal = delivery.object_id
    if deal is None:
        return Unmapped("deal delivery without objectId")
    if delivery.action == "creation":
        contact = _contact(delivery, lookup, "deal", deal)
        if contact is None:
            return Skipped("deal without a known contact yet: its association to a contact will bring it")
        return _deal_event(
            delivery, lookup, _object_id(delivery, "deal", deal, contact, "created"), deal, contact, "created"
        )
    if delivery.property_name == "amount":
        return Skipped("deal amount remembered for the deal's next events")
    if delivery.property_name != "dealstage":
        return Skipped(f"property {delivery.property_name} is not followed")
    stage = deal_stage_of(delivery, table)
    if stage is None:
        value = delivery.property_value
        return Unmapped(f"unknown dealstage value {value!r}: map it in LEADFLOW_COLLECTOR_HUBSPOT_STAGE_MAP")
    if stage == IGNORE:
        return Skipped(f"dealstage {delivery.property_value!r} is mapped to ignore")
    contact = _contact(delivery, lookup, "deal", deal)
    if contact is None:
        return Unmapped(f"no contact known for deal {deal}: add it to LEADFLOW_COLLECTOR_HUBSPOT_DEALS_FILE")
    return _deal_event(delivery, lookup, _delivery_id(delivery), deal, contact, stage)


def _object_id(delivery: Delivery, kind: str, object_id: int, contact: int, what: str) -> str:
    """Return the id of an event about an object that two deliveries may bring (creation, association)."""
    return f"hubspot:{delivery.portal_id}:{kind}:{object_id}:{what}:contact:{contact}"


def _activity(delivery: Delivery, table: StageTable, kind: str, engagement: int, contact: int) -> Mapped:
    automated = (delivery.change_source or "") not in table.human_sources
    data = {"kind": kind, "automated": automated}
    return _event(
        delivery, _object_id(delivery, kind, engagement, contact, "logged"), "crm.activity_logged", contact, data
    )


def _association(delivery: Delivery, table: StageTable, lookup: Lookup) -> Translation:
    link = link_of(delivery)
    if link is None:
        return Skipped("association not between a contact and a deal or engagement")
    if link.removed:
        return Skipped("association removed: leadflow keeps what happened")
    if link.kind == "deal":
        stage = lookup.deal_stage(link.object_id) or "created"
        event_id = _object_id(delivery, "deal", link.object_id, link.contact_id, stage)
        return _deal_event(delivery, lookup, event_id, link.object_id, link.contact_id, stage)
    return _activity(delivery, table, link.kind, link.object_id, link.contact_id)


def map_delivery(delivery: Delivery, table: StageTable, lookup: Lookup, currency: str) -> Translation:
    """Map one HubSpot delivery to the leadflow event it means, if any."""
    if delivery.currency is None:
        delivery = delivery.model_copy(update={"currency": currency})
    if delivery.action == "associationChange":
        return _association(delivery, table, lookup)
    kind = delivery.kind
    if kind == "contact" and delivery.action == "propertyChange":
        return _contact_change(delivery, table)
    if kind == "deal" and delivery.action in ("creation", "propertyChange"):
        return _deal_change(delivery, table, lookup)
    if kind in ENGAGEMENTS and delivery.action == "creation" and delivery.object_id is not None:
        contact = _contact(delivery, lookup, kind, delivery.object_id)
        if contact is None:
            return Skipped(f"{kind} without a known contact yet: its association to a contact will bring it")
        return _activity(delivery, table, kind, delivery.object_id, contact)
    return Skipped(f"{delivery.subscription_type} is not a leadflow event")
