"""Every Kafka topic name leadflow uses, in one place."""

from __future__ import annotations

from dataclasses import dataclass

VISITS = "leadflow.visits"
FORMS = "leadflow.forms"
STAGES = "leadflow.stages"
ACTIVITIES = "leadflow.activities"
DEALS = "leadflow.deals"
DEADLETTER = "leadflow.deadletter"
SLA = "leadflow.sla"
OWNERS = "leadflow.owners"  # owners' absences, keyed by owner: every worker reads all of it
VISITOR_LINKS = "leadflow.internal.visitor-links"
SLA_CHECKS = "leadflow.internal.sla-checks"

# the worker's changelogged state tables: each is backed by the compacted topic `{app id}-{table}-changelog`
LEADS_TABLE, VISITORS_TABLE, SLA_TABLE = "leads", "visitors", "sla"
TABLES: tuple[str, ...] = (LEADS_TABLE, VISITORS_TABLE, SLA_TABLE)

INPUT_TOPICS: tuple[str, ...] = (VISITS, FORMS, STAGES, ACTIVITIES, DEALS)
LEAD_TOPICS: tuple[str, ...] = (FORMS, STAGES, ACTIVITIES, DEALS)

TOPIC_BY_TYPE: dict[str, str] = {
    "web.visit": VISITS,
    "web.form_submitted": FORMS,
    "crm.lifecycle_changed": STAGES,
    "crm.owner_assigned": STAGES,
    "crm.activity_logged": ACTIVITIES,
    "crm.deal_changed": DEALS,
    "crm.owner_away": OWNERS,
}


class TopicError(Exception):
    """Topics cannot be created, or exist with the wrong partition count.

    Here, beside the names, rather than with the Kafka clients: a command that never talks to Kafka (`replay`,
    `report`) names it among its errors without importing them.
    """


@dataclass(frozen=True)
class TopicNames:
    """Topic names with the deployment's prefix applied (empty prefix: the contract's names)."""

    prefix: str = ""

    def name(self, base: str) -> str:
        """Return the prefixed name of a base topic."""
        return f"{self.prefix}{base}"

    def unprefixed(self, name: str) -> str:
        """Return the base name of a prefixed topic name."""
        return name[len(self.prefix) :] if self.prefix and name.startswith(self.prefix) else name

    def inputs(self) -> tuple[str, ...]:
        """Return the prefixed input topics."""
        return tuple(self.name(t) for t in INPUT_TOPICS)

    def for_type(self, event_type: str) -> str | None:
        """Return the prefixed input topic of an event type, or None for an unknown type."""
        base = TOPIC_BY_TYPE.get(event_type)
        return self.name(base) if base else None

    def co_partitioned(self) -> tuple[str, ...]:
        """Return every topic whose partitions must line up with the state tables."""
        return (*self.inputs(), self.name(OWNERS), self.name(VISITOR_LINKS), self.name(SLA_CHECKS))

    def all(self) -> tuple[str, ...]:
        """Return every topic leadflow creates itself."""
        return (*self.co_partitioned(), self.name(DEADLETTER), self.name(SLA))


def changelog_topics(app_id: str) -> tuple[str, ...]:
    """Return the changelog topics of the worker group's state tables (Faust's naming: app id, table, changelog)."""
    return tuple(f"{app_id}-{table}-changelog" for table in TABLES)
