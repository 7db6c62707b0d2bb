"""The simulated story of one visitor: web visits, perhaps a form, then the CRM life of the lead."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from random import Random
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from services.simulate import SimulationConfig

BERLIN = ZoneInfo("Europe/Berlin")
OPENING, CLOSING = time(9), time(17)
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0

SITE = "https://www.example.com"
PAGES = (
    "/",
    "/pricing",
    "/product",
    "/product/sla-tracking",
    "/customers",
    "/blog/lead-scoring-101",
    "/blog/marketing-sales-handoff",
    "/ebook/revenue-ops",
)
CAMPAIGNS = (
    ("google", "cpc", "brand-q4"),
    ("google", "cpc", "competitor-q4"),
    ("linkedin", "paid-social", "ebook"),
    ("newsletter", "email", "nov-digest"),
)
CAMPAIGN_REFERRERS = {"google": "https://www.google.com/", "linkedin": "https://www.linkedin.com/"}
ORGANIC_REFERRERS = (
    "https://www.google.com/",
    "https://www.bing.com/",
    "https://duckduckgo.com/",
    "https://news.ycombinator.com/",
)
FORMS = ("demo-request", "ebook-download", "contact-us", "webinar-registration")
DOMAINS = ("acme.example", "globex.example", "initech.example", "umbrella.example", "mail.example")
OWNERS = tuple(f"rep-{n:02d}" for n in range(1, 9))
RECYCLE_REASONS = ("no budget", "bad timing", "not decision maker", "went silent")
DISQUALIFY_REASONS = ("student", "competitor", "spam", "outside target market")
NEXT_STAGE = {"lead": "mql", "mql": "sal", "sal": "sql", "sql": "opportunity"}
PREVIOUS_STAGE = {"sal": "mql", "sql": "sal"}
# Seconds from the previous step to entering each stage: (shortest, longest), drawn log-uniformly.
STAGE_DELAYS = {"mql": (5 * MINUTE, 3 * DAY), "sal": (15 * MINUTE, 2 * DAY), "sql": (HOUR, 5 * DAY)}
MAX_EPISODES = 3


@dataclass(frozen=True, slots=True)
class Draft:
    """One event of a visitor's story before it is given an id and serialised."""

    time: datetime
    type: str
    subject: str
    data: dict[str, Any]


def delay(rng: Random, shortest: float, longest: float) -> timedelta:
    """Return a whole-millisecond delay between `shortest` and `longest` seconds, log-uniformly drawn."""
    seconds = math.exp(rng.uniform(math.log(shortest), math.log(longest)))
    return timedelta(milliseconds=round(seconds * 1000))


def next_business_moment(moment: datetime) -> datetime:
    """Return `moment` if it falls in Berlin business hours (Mon–Fri 09–17), else the next opening."""
    local = moment.astimezone(BERLIN)
    if local.weekday() < 5 and OPENING <= local.time() < CLOSING:
        return moment
    day = local.date() if local.time() < OPENING else local.date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, OPENING, tzinfo=BERLIN).astimezone(UTC)


class Story:
    """Builds every event of one visitor (and of the lead it may become), in no particular order."""

    def __init__(self, rng: Random, config: SimulationConfig, number: int) -> None:
        self.rng = rng
        self.config = config
        self.visitor_id = f"v-{number:06d}"
        self.lead_id = f"lead-{number:06d}"
        self.owner: str | None = None
        self.episode = 1
        self.drafts: list[Draft] = []

    def tell(self, first_visit: datetime) -> list[Draft]:
        """Return the drafts of this visitor's whole story, starting at its first visit."""
        visits = [first_visit]
        for _ in range(self.rng.randint(1, 5) - 1):
            visits.append(visits[-1] + delay(self.rng, 30 * MINUTE, 5 * DAY))
        for number, moment in enumerate(visits):
            self._visit(moment, first=number == 0)
        if self.rng.random() < self.config.visit_to_lead:
            self._convert(self.rng.choice(visits))
        return self.drafts

    # -- web ---------------------------------------------------------------------------------------

    def _visit(self, at: datetime, first: bool = False, campaign: tuple[str, str, str] | None = None) -> None:
        data: dict[str, Any] = {"visitor_id": self.visitor_id, "url": SITE + self.rng.choice(PAGES)}
        if first and self.rng.random() < self.config.campaign_rate:
            campaign = self.rng.choice(CAMPAIGNS)
        if campaign is not None:
            source, medium, name = campaign
            data["url"] += f"?utm_source={source}&utm_medium={medium}&utm_campaign={name}"
            if source in CAMPAIGN_REFERRERS:
                data["referrer"] = CAMPAIGN_REFERRERS[source]
            data.update(utm_source=source, utm_medium=medium, utm_campaign=name)
        elif self.rng.random() < 0.4:
            data["referrer"] = self.rng.choice(ORGANIC_REFERRERS)
        self._emit(at, "web.visit", data, subject=self.visitor_id)

    def _convert(self, visit: datetime) -> None:
        submitted = visit + delay(self.rng, 20, 15 * MINUTE)
        form: dict[str, Any] = {
            "visitor_id": self.visitor_id,
            "lead_id": self.lead_id,
            "form_id": self.rng.choice(FORMS),
        }
        if self.rng.random() < 0.85:
            form["email"] = f"{self.lead_id}@{self.rng.choice(DOMAINS)}"
        self._emit(submitted, "web.form_submitted", form)
        created = submitted + delay(self.rng, 2, 90)
        self._stage(created, "lead")
        self._activity(created + delay(self.rng, MINUTE, 10 * MINUTE), "email", automated=True)
        for _ in range(self.rng.randint(0, 2)):
            self._activity(created + delay(self.rng, DAY, 10 * DAY), "email", automated=True)
        self._climb(created, "lead")

    # -- funnel ------------------------------------------------------------------------------------

    def _climb(self, at: datetime, stage: str) -> None:
        """Walk up the funnel from `stage` until the lead stalls, leaves, or gets a deal."""
        reached, outcome = self._path(stage)
        for step in reached:
            if step == "opportunity":
                self._deal(at)
                return
            skipped = step == "sal" and "sql" in reached and self.rng.random() < self.config.skip_rate
            if not skipped:
                at = self._enter(at, step)
        self._leave(at, outcome)

    def _path(self, stage: str) -> tuple[list[str], str]:
        """Decide the stages reached from `stage` and how the episode ends there."""
        reached: list[str] = []
        while stage in NEXT_STAGE:
            outcome = self._outcome(stage)
            if outcome != "advance":
                return reached, outcome
            stage = NEXT_STAGE[stage]
            reached.append(stage)
        return reached, "deal"

    def _outcome(self, stage: str) -> str:
        config = self.config
        rates = {
            "lead": config.lead_to_mql,
            "mql": config.mql_to_sal,
            "sal": config.sal_to_sql,
            "sql": config.sql_to_opportunity,
        }
        draw = self.rng.random() - rates[stage]
        if draw < 0:
            return "advance"
        if stage != "lead":
            if draw < config.recycle_rate:
                return "recycled"
            draw -= config.recycle_rate
        return "disqualified" if draw < config.disqualify_rate else "stall"

    def _enter(self, at: datetime, stage: str) -> datetime:
        """Move the lead into `stage` (mql, sal or sql); return when its next step may begin."""
        # MQL comes from lead scoring, which runs around the clock; the other moves are people's work.
        entered = self._later(at, *STAGE_DELAYS[stage], business=stage != "mql")
        self._stage(entered, stage)
        if stage == "mql":
            return self._hand_over(entered)
        if self.rng.random() < 0.6:
            entered = self._later(entered, 30 * MINUTE, 2 * DAY)
            self._activity(entered, self.rng.choice(("call", "meeting")), automated=False)
        if self.rng.random() < self.config.backward_rate:
            back = self._later(entered, HOUR, 2 * DAY)
            self._stage(back, PREVIOUS_STAGE[stage], reason="needs requalification")
            entered = self._later(back, HOUR, 3 * DAY)
            self._stage(entered, stage)
        return entered

    def _hand_over(self, mql: datetime) -> datetime:
        """Assign an owner to a fresh MQL and perhaps follow up; return when sales may act next."""
        if self.owner is None or self.rng.random() < 0.2:
            self.owner = self.rng.choice(OWNERS)
            self._emit(mql + delay(self.rng, 30, 30 * MINUTE), "crm.owner_assigned", self._owned({}))
        if self.rng.random() >= self.config.human_followup_rate:
            return mql
        followed = self._later(mql, 10 * MINUTE, 2 * DAY, business_share=0.7)
        self._activity(followed, self.rng.choice(("call", "call", "email", "meeting")), automated=False)
        if self.rng.random() < 0.3:
            self._activity(followed + delay(self.rng, MINUTE, 10 * MINUTE), "note", automated=False)
        return followed

    def _leave(self, at: datetime, outcome: str) -> None:
        """End the episode: recycled (perhaps re-engaged later), disqualified, or simply stalled."""
        if outcome == "disqualified":
            left = self._later(at, HOUR, 5 * DAY)
            self._stage(left, "disqualified", reason=self.rng.choice(DISQUALIFY_REASONS))
        elif outcome == "recycled":
            left = self._later(at, DAY, 10 * DAY)
            self._stage(left, "recycled", reason=self.rng.choice(RECYCLE_REASONS))
            if self.episode < MAX_EPISODES and self.rng.random() < self.config.reengage_rate:
                self._reengage(left + delay(self.rng, 3 * DAY, 30 * DAY))

    def _reengage(self, at: datetime) -> None:
        """Start a new episode: the visitor comes back and marketing qualifies the lead again."""
        self.episode += 1
        self._visit(at, campaign=CAMPAIGNS[3] if self.rng.random() < 0.5 else None)
        if self.rng.random() < 0.3:
            self._stage(at + delay(self.rng, 30, 2 * MINUTE), "lead")
        self._climb(self._enter(at, "mql"), "mql")

    def _deal(self, at: datetime) -> None:
        """Open a deal (the opportunity) and take it to proposal and to won or lost, or leave it open."""
        deal_id = f"deal-{self.lead_id.removeprefix('lead-')}-{self.episode}"
        currency = "USD" if self.rng.random() < 0.1 else "EUR"
        amount = max(1500, round(self.rng.lognormvariate(math.log(18000), 0.6) / 500) * 500)
        moment = self._later(at, HOUR, 6 * DAY)
        self._deal_event(moment, deal_id, "created", amount, currency)
        if self.rng.random() < 0.5:
            self._stage(moment + delay(self.rng, 5, 10 * MINUTE), "opportunity")
        if self.rng.random() < 0.8:
            moment = self._later(moment, DAY, 7 * DAY)
            amount = round(amount * self.rng.uniform(0.85, 1.1) / 50) * 50
            self._deal_event(moment, deal_id, "proposal", amount, currency)
        moment = self._later(moment, 2 * DAY, 20 * DAY)
        if self.rng.random() < self.config.opportunity_to_customer:
            self._deal_event(moment, deal_id, "won", amount, currency)
            if self.rng.random() < 0.6:
                self._stage(moment + delay(self.rng, MINUTE, DAY), "customer")
        elif self.rng.random() < 0.75:
            self._deal_event(moment, deal_id, "lost", amount, currency)
            if self.rng.random() < 0.3:
                self._stage(moment + delay(self.rng, MINUTE, DAY), "lost", reason="chose a competitor")

    # -- events ------------------------------------------------------------------------------------

    def _later(
        self, at: datetime, shortest: float, longest: float, business: bool = True, business_share: float = 0.9
    ) -> datetime:
        """Return a moment after `at`; most work done by people is moved into business hours."""
        moment = at + delay(self.rng, shortest, longest)
        if business and self.rng.random() < business_share:
            opening = next_business_moment(moment)
            if opening != moment:
                moment = opening + delay(self.rng, MINUTE, 4 * HOUR)
        return moment

    def _owned(self, data: dict[str, Any]) -> dict[str, Any]:
        owner = {"owner_id": self.owner} if self.owner is not None else {}
        return {"lead_id": self.lead_id, **data, **owner}

    def _stage(self, at: datetime, stage: str, reason: str | None = None) -> None:
        data: dict[str, Any] = {"stage": stage} if reason is None else {"stage": stage, "reason": reason}
        # A fresh lead has no owner yet; every later move names the owner, if there is one.
        owned = self._owned(data) if stage != "lead" else {"lead_id": self.lead_id, **data}
        self._emit(at, "crm.lifecycle_changed", owned)

    def _activity(self, at: datetime, kind: str, automated: bool) -> None:
        data = {"kind": kind, "automated": automated}
        self._emit(at, "crm.activity_logged", {"lead_id": self.lead_id, **data} if automated else self._owned(data))

    def _deal_event(self, at: datetime, deal_id: str, stage: str, amount: int, currency: str) -> None:
        data = {"deal_id": deal_id, "lead_id": self.lead_id, "stage": stage, "amount": f"{amount}.00"}
        self._emit(at, "crm.deal_changed", {**data, "currency": currency})

    def _emit(self, at: datetime, event_type: str, data: dict[str, Any], subject: str | None = None) -> None:
        self.drafts.append(Draft(at, event_type, subject or self.lead_id, data))
