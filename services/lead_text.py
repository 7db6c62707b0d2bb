"""`leadflow lead` for people: a lead's story as a timeline, its clocks as spans beside it.

Everything shown comes from the story document (services/lead_story.py), so the text and `--format json` never
disagree. Times are shown in the zone of the agreement in force when the lead began.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.markup import escape
from rich.table import Table

EVENT, CLOCK, PUBLISHED, DEAD_LETTER = 0, 1, 2, 3  # at the same instant: the event, what it did to a clock, ...
START, STOP, WARN, DEADLINE, ESCALATION = "┬", "┴", "╎", "┼", "╪"
STEP_TEXT = {"manager": "escalated to the team's manager", "reassign": "reassignment suggested"}


@dataclass(frozen=True)
class Item:
    """One line of the timeline: when, what, where it is stored, and which clock mark it is (if any)."""

    time: str
    rank: int
    what: str
    where: str = ""
    clock: int | None = None
    mark: str = ""
    step: int = 0  # a clock's own marks at one instant: start, warning, deadline, stop

    @property
    def order(self) -> tuple[str, int, int]:
        """Return where the line goes: by time, then events before clock marks before what was published."""
        return (self.time, self.rank, self.step)


def safe(text: str) -> str:
    """Return text as shown on a terminal: control and format characters spelled out, rich markup escaped.

    Event data comes from callers (a URL, a form id, a reason): an escape sequence in it must not reach the terminal.
    """
    return escape("".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text))


def duration(seconds: float, *, days: bool = False) -> str:
    """Return seconds as `1d 2h 03m`, `2h 03m`, `3m 20s`, `7s` or `0.4s` (business time has no days: they vary)."""
    if seconds < 1:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    day, rest = divmod(whole, 86400) if days else (0, whole)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if day:
        return f"{day}d {hours}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def verdict(clock: dict[str, Any], show: Any) -> str:
    """Return one line on how a clock stands as of the story's instant: met, breached (how overdue) or open."""
    name = f"{clock['handoff']} (episode {clock['episode']}, owner {clock['owner_id'] or 'none'})"
    within = f"within {clock['within']} business time" if clock["within"] else "its deadline"
    status = clock["status"]
    if status == "breached":
        overdue = f"{duration(clock['overdue_business_seconds'])} business time past the deadline"
        wall = duration(clock["overdue_seconds"], days=True)
        how = f"stopped {show(clock['stopped_at'])}{_by(clock)}" if clock["stopped_by_as_of"] else "still not stopped"
        return f"BREACHED {name}: due {within} by {show(clock['deadline'])}, {how}: {overdue} ({wall} on the clock)"
    if status == "met":
        spare = duration(clock["remaining_business_seconds"])
        return f"met {name}: stopped {show(clock['stopped_at'])}{_by(clock)}, {spare} of business time to spare"
    left = duration(clock["remaining_business_seconds"])
    return f"{status.replace('_', ' ')} {name}: due {within} by {show(clock['deadline'])}, {left} of business time left"


def _by(clock: dict[str, Any]) -> str:
    by = clock["stopped_by"]
    return f" by {by['type']} {by['id']}" if by else ""


def calendar_line(clock: dict[str, Any]) -> str:
    """Return the calendar a clock counts on, in one line."""
    calendar = clock["calendar"]
    if calendar is None:
        return f"agreement {clock['agreement']} (no longer in LEADFLOW_AGREEMENTS: wall-clock time)"
    days = ",".join(calendar["days"])
    hours = f"{calendar['start'][:5]}-{calendar['end'][:5]}"
    holidays = f", holidays {', '.join(calendar['holidays'])}" if calendar["holidays"] else ""
    return f"agreement {calendar['agreement']}: {days} {hours} {calendar['timezone']}{holidays}"


def print_story(story: dict[str, Any], console: Console | None = None) -> None:
    """Print the header, one verdict per clock, and the timeline with the clocks as spans."""
    out = console or Console()
    zone = ZoneInfo(story["timezone"])

    def show(value: str | None) -> str:
        return "—" if value is None else datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

    for line in _header(story, show):
        out.print(line, soft_wrap=True, highlight=False)
    for number, clock in enumerate(story["clocks"]):
        style = {"breached": "bold red", "met": "green"}.get(clock["status"], "yellow")
        label = f"[{style}]{_letter(number)}  {safe(verdict(clock, show))}[/{style}]"
        out.print(label, soft_wrap=True, highlight=False)
        out.print(f"   {safe(calendar_line(clock))}", soft_wrap=True, highlight=False)
    out.print(_timeline(story, show))


def _header(story: dict[str, Any], show: Any) -> Iterator[str]:
    lead, touch = story["lead"], story["first_touch"]
    yield f"[bold]lead {safe(story['lead_id'])}[/bold] · times in {story['timezone']} · as of {show(story['as_of'])}"
    if lead is not None:
        episode = f"episode {lead['episode']}" + ("" if lead["episode_open"] else ", ended")
        owner = safe(lead["owner_id"] or "none")
        yield f"stage {lead['stage']} ({episode}) · owner {owner} · created {show(lead['created_at'])}"
    else:
        yield "no lifecycle stored for this lead (only events or dead letters name it)"
    if touch is not None:
        utm = safe("/".join(touch[k] or "—" for k in ("utm_source", "utm_medium", "utm_campaign")))
        landing = safe(touch["landing_url"] or "")
        yield f"first touch {show(touch['first_visit_at'])} by {safe(touch['visitor_id'])} on {landing} (utm {utm})"
    visits = sum(v["visits"] for v in story["visitors"])
    owners = " → ".join(safe(o["owner_id"]) for o in story["owners"]) or "none"
    dead = len(story["dead_letters"])
    yield f"{len(story['visitors'])} visitor(s), {visits} visit(s) · owners {owners} · {dead} dead letter(s)"


def _letter(number: int) -> str:
    return chr(ord("A") + number) if number < 26 else f"#{number + 1}"


def _timeline(story: dict[str, Any], show: Any) -> Table:
    clocks = story["clocks"]
    items = sorted(_items(story), key=lambda i: i.order)
    table = Table(title=f"Timeline ({story['timezone']})", title_justify="left", show_lines=False)
    table.add_column("time", no_wrap=True)
    table.add_column("clocks", no_wrap=True)
    table.add_column("what")
    table.add_column("stored at", style="dim")
    for item in items:
        spans = "".join(_span(item, number, clock, story["as_of"]) for number, clock in enumerate(clocks))
        after = item.time > story["as_of"]  # the store already holds it, the clocks are judged before it
        what = f"[dim]{item.what} · after as of[/dim]" if after else item.what
        table.add_row(show(item.time), spans, what, safe(item.where))
    return table


def _span(item: Item, number: int, clock: dict[str, Any], as_of: str) -> str:
    """Return one clock's mark on a timeline line: its start, stop or deadline, a bar while it runs, else blank."""
    style = "red" if item.time > clock["deadline"] or (item.clock == number and item.mark == DEADLINE) else "green"
    if item.clock == number:
        return f"[{style}]{item.mark}[/{style}]"
    started = (clock["started_at"], CLOCK, 0) < item.order and clock["started_at"] <= as_of
    if clock["stopped_by_as_of"]:
        running = started and item.order < (clock["stopped_at"], CLOCK, 3)
    else:
        running = started and item.time <= as_of
    return f"[{style}]│[/{style}]" if running else " "


def _items(story: dict[str, Any]) -> Iterator[Item]:
    moves = {
        (t["event"]["source"], t["event"]["id"]): (line["episode"], t)
        for line in story["episodes"]
        for t in line["transitions"]
    }
    for event in story["events"]:
        store = event["store"]
        where = f"{store['topic']} [{store['partition']}] @{store['offset']}"
        what = safe(_event_text(event))
        move = moves.get((event["source"], event["id"]))
        if move is not None:
            what += f" · {safe(_move_text(story, *move))}"
        if event["late"]:
            what += " · [magenta]late: arrived after an event dated later[/magenta]"
        yield Item(event["time"], EVENT, what, where)
    for number, clock in enumerate(story["clocks"]):
        yield from _clock_items(number, clock, story["as_of"])
    for letter in story["dead_letters"]:
        store = letter["store"]
        where = f"{store['topic']} [{store['partition']}] @{store['offset']}"
        yield Item(letter["received_at"], DEAD_LETTER, f"[red]dead letter[/red]: {safe(letter['reason'])}", where)


def _clock_items(number: int, clock: dict[str, Any], as_of: str) -> Iterator[Item]:
    name = f"{_letter(number)} {clock['handoff']} (episode {clock['episode']})"
    yield Item(clock["started_at"], CLOCK, f"clock {safe(name)} starts", clock=number, mark=START, step=0)
    stopped = clock["stopped_at"]
    if clock["warn_at"] is not None and (stopped is None or stopped > clock["warn_at"]):
        yield Item(clock["warn_at"], CLOCK, f"clock {safe(name)}: warning time", clock=number, mark=WARN, step=1)
    if stopped is None or stopped > clock["deadline"]:
        passed = " passed" if clock["deadline"] < as_of else ""
        text = f"[red]clock {safe(name)}: deadline{passed}[/red]"
        yield Item(clock["deadline"], CLOCK, text, clock=number, mark=DEADLINE, step=2)
    for step in clock["escalations"]:
        text = f"[red]clock {safe(name)}: {STEP_TEXT[step['to']]}[/red]"
        yield Item(step["at"], CLOCK, text, clock=number, mark=ESCALATION, step=2)
    if stopped is not None:
        late = " after its deadline" if stopped > clock["deadline"] else ", in time"
        text = f"clock {safe(name)} stops{safe(_by(clock))}{late}"
        yield Item(stopped, CLOCK, text, clock=number, mark=STOP, step=3)
    for sla in clock["sla_events"]:
        text = f"{safe(sla['kind'])} published for {safe(name)} ({duration(sla['delay_seconds'], days=True)} after due)"
        yield Item(sla["published_at"], PUBLISHED, text)


def _event_text(event: dict[str, Any]) -> str:
    data, kind = event["data"], event["type"]
    if kind == "web.visit":
        return f"visit by {event['visitor_id']}: {data.get('url', '')}"
    if kind == "web.form_submitted":
        return f"form {data.get('form_id', '')} filled by {event['visitor_id']}"
    if kind == "crm.owner_assigned":
        return f"owner assigned: {event['owner_id']}"
    if kind == "crm.activity_logged":
        who = "automated" if data.get("automated") else f"by {event['owner_id'] or 'no owner'}"
        return f"{data.get('kind', 'activity')} logged ({who})"
    if kind == "crm.deal_changed":
        amount = f"{data.get('amount', '')} {data.get('currency', '')}"
        return f"deal {data.get('deal_id', '')} {data.get('stage', '')}: {amount}"
    reason = f" ({data['reason']})" if data.get("reason") else ""
    owner = f", owner {event['owner_id']}" if event["owner_id"] else ""
    return f"stage set to {event['stage']}{reason}{owner}"


def _move_text(story: dict[str, Any], episode: int, move: dict[str, Any]) -> str:
    entered = [
        e["stage"]
        for line in story["episodes"]
        if line["episode"] == episode
        for e in line["entries"]
        if e["entered_at"] == move["at"]
    ]
    enters = f", enters {', '.join(entered)}" if entered else ""
    return f"{move['from_stage'] or 'new'} → {move['to_stage']} ({move['kind']}, episode {episode}{enters})"
