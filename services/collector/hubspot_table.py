"""The HubSpot adapter's tables: HubSpot values to leadflow stages (configurable), and the deals file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.events import Stage

IGNORE = "ignore"
DEAL_STAGES = ("created", "proposal", "won", "lost")


@dataclass(frozen=True)
class StageTable:
    """HubSpot values to leadflow stages (`ignore`: no event), and the change sources that are a human."""

    lifecyclestage: Mapping[str, str]
    hs_lead_status: Mapping[str, str]
    dealstage: Mapping[str, str]
    human_sources: frozenset[str] = field(default_factory=frozenset)


DEFAULT_TABLE = StageTable(
    lifecyclestage={
        "subscriber": "lead",
        "lead": "lead",
        "marketingqualifiedlead": "mql",
        "salesqualifiedlead": "sql",
        "opportunity": "opportunity",
        "customer": "customer",
        "evangelist": "customer",
        "other": IGNORE,
    },
    hs_lead_status={
        "NEW": IGNORE,
        "OPEN": IGNORE,
        "IN_PROGRESS": "sal",
        "ATTEMPTED_TO_CONTACT": "sal",
        "CONNECTED": "sal",
        "OPEN_DEAL": IGNORE,
        "UNQUALIFIED": "disqualified",
        "BAD_TIMING": "recycled",
    },
    dealstage={
        "appointmentscheduled": "created",
        "qualifiedtobuy": "created",
        "presentationscheduled": "proposal",
        "decisionmakerboughtin": "proposal",
        "contractsent": "proposal",
        "closedwon": "won",
        "closedlost": "lost",
    },
    human_sources=frozenset({"CRM_UI", "MOBILE_IOS", "MOBILE_ANDROID", "SALES", "CALLING"}),
)


def _checked(section: str, entries: Any, allowed: tuple[str, ...]) -> dict[str, str]:
    if not isinstance(entries, Mapping):
        raise ValueError(f"{section}: expected a mapping of HubSpot value to stage")
    table = {str(k): str(v) for k, v in entries.items()}
    wrong = {k: v for k, v in table.items() if v not in (*allowed, IGNORE)}
    if wrong:
        key, value = next(iter(wrong.items()))
        raise ValueError(f"{section}.{key}: {value!r} is not one of {', '.join((*allowed, IGNORE))}")
    return table


def load_stage_table(document: Any, base: StageTable = DEFAULT_TABLE) -> StageTable:
    """Return `base` with a stage-map file's entries added (they win); ValueError names a wrong entry."""
    document = {} if document is None else document
    if not isinstance(document, Mapping):
        raise ValueError("expected a mapping with lifecyclestage, hs_lead_status, dealstage, human_sources")
    unknown = set(document) - {"lifecyclestage", "hs_lead_status", "dealstage", "human_sources"}
    if unknown:
        raise ValueError(f"unknown sections {sorted(unknown)}")
    stages = tuple(s.value for s in Stage)
    return StageTable(
        {**base.lifecyclestage, **_checked("lifecyclestage", document.get("lifecyclestage", {}), stages)},
        {**base.hs_lead_status, **_checked("hs_lead_status", document.get("hs_lead_status", {}), stages)},
        {**base.dealstage, **_checked("dealstage", document.get("dealstage", {}), DEAL_STAGES)},
        frozenset(document.get("human_sources", base.human_sources)),
    )


def load_deal_contacts(document: Any) -> dict[int, int]:
    """Return the deal id → contact id table of a deals file (`{deal_id: contact_id}`); ValueError if wrong."""
    if not isinstance(document, Mapping):
        raise ValueError("expected a mapping of HubSpot deal id to contact id")
    try:
        return {int(deal): int(contact) for deal, contact in document.items()}
    except (TypeError, ValueError):
        raise ValueError("deal and contact ids must be whole numbers") from None
