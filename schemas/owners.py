"""Pydantic model of the owners file: owners' time zones, working hours and absences, and teams (contract §3)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, Field, field_validator, model_validator

from schemas.agreement import BusinessHours, Strict, known_zone

OwnerId = Annotated[str, Field(min_length=1, max_length=512)]


class Away(Strict):
    """An absence: no business time of the owner in [from, to)."""

    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> Away:
        if self.end <= self.start:
            raise ValueError("to must be after from")
        return self


class Owner(Strict):
    """One owner's calendar: working hours in the owner's own time zone, minus absences."""

    id: OwnerId
    timezone: str
    working_hours: BusinessHours
    away: tuple[Away, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)


class Team(Strict):
    """Owners who stand in for each other, and the manager escalations go to."""

    name: Annotated[str, Field(min_length=1, max_length=512)]
    manager: OwnerId
    members: Annotated[tuple[OwnerId, ...], Field(min_length=1)]


class OwnersFile(Strict):
    """The whole file: owners by id, and teams (each owner in one team at most)."""

    teams: tuple[Team, ...] = ()
    owners: tuple[Owner, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> OwnersFile:
        ids = [o.id for o in self.owners]
        if len(set(ids)) != len(ids):
            raise ValueError(f"owner ids must be unique: {sorted({i for i in ids if ids.count(i) > 1})}")
        names = [t.name for t in self.teams]
        if len(set(names)) != len(names):
            raise ValueError("team names must be unique")
        members = [m for t in self.teams for m in t.members]
        if len(set(members)) != len(members):
            raise ValueError(f"an owner is in one team at most: {sorted({m for m in members if members.count(m) > 1})}")
        return self
