"""What the HubSpot adapter learns from deliveries: deal and engagement contacts, deal amounts and stages.

HubSpot's deal and engagement deliveries do not name the contact. The adapter finds it, in this order: a
contact id the delivery itself carries (`associatedContactId`, added by a workflow webhook or a middleware),
an association change seen before (`deal.associationChange`, `object.associationChange`), then the operator's
deals file. Learned entries live in this process only, bounded, the oldest forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from services.collector.hubspot import Delivery, deal_stage_of, link_of, parse_amount
from services.collector.hubspot_table import IGNORE, StageTable


class _Bounded(OrderedDict[object, object]):
    """An insertion-ordered dict that forgets its oldest entries beyond `capacity`."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def put(self, key: object, value: object) -> None:
        """Set a value as the newest entry."""
        self.pop(key, None)
        self[key] = value
        while len(self) > self.capacity:
            self.popitem(last=False)


class DealBook:
    """Associations, amounts and stages learned from deliveries, over the deals file of the operator."""

    def __init__(self, deal_contacts: Mapping[int, int], capacity: int = 100_000) -> None:
        self._file = dict(deal_contacts)
        self._contacts = _Bounded(capacity)
        self._amounts = _Bounded(capacity)
        self._stages = _Bounded(capacity)

    def contact_of(self, kind: str, object_id: int) -> int | None:
        """Return the contact a deal or engagement belongs to, if known."""
        learned = self._contacts.get((kind, object_id))
        if isinstance(learned, int):
            return learned
        return self._file.get(object_id) if kind == "deal" else None

    def deal_amount(self, deal_id: int) -> str | None:
        """Return the last amount seen for a deal, if any."""
        amount = self._amounts.get(deal_id)
        return amount if isinstance(amount, str) else None

    def deal_stage(self, deal_id: int) -> str | None:
        """Return the last leadflow deal stage mapped for a deal, if any."""
        stage = self._stages.get(deal_id)
        return stage if isinstance(stage, str) else None

    def learn(self, delivery: Delivery, table: StageTable) -> None:
        """Remember what a delivery says about associations, amounts and stages."""
        link = link_of(delivery)
        if link is not None:
            if link.removed:
                self._contacts.pop((link.kind, link.object_id), None)
            else:
                self._contacts.put((link.kind, link.object_id), link.contact_id)
        if delivery.object_id is None or delivery.kind != "deal":
            return
        if delivery.associated_contact_id is not None:
            self._contacts.put(("deal", delivery.object_id), delivery.associated_contact_id)
        if delivery.property_name == "amount" and parse_amount(delivery.property_value) is not None:
            self._amounts.put(delivery.object_id, str(parse_amount(delivery.property_value)))
        if delivery.property_name == "dealstage":
            stage = deal_stage_of(delivery, table)
            if stage is not None and stage != IGNORE:
                self._stages.put(delivery.object_id, stage)
