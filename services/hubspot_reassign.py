"""Apply suggested reassignments in HubSpot: `python -m services.hubspot_reassign` (off unless set).

It reads `sla.reassign_suggested` events from `leadflow.sla` in a consumer group of its own and, for a lead that
came from HubSpot (`hubspot-contact-N`) with a suggested owner from HubSpot (`hubspot-owner-M`), sets the
contact's `hubspot_owner_id` to M through the CRM API (`PATCH /crm/v3/objects/contacts/N`), but only while the
contact is still owned by the clock's owner: a contact someone reassigned since is left alone. HubSpot's own
webhook then tells the collector, and the lead's owner changes in leadflow as after any assignment.

`LEADFLOW_HUBSPOT_REASSIGN`: `off` (default: the service refuses to start), `dry-run` (reads the contacts and
logs what it would change) or `apply`. `LEADFLOW_HUBSPOT_TOKEN` is a private app's access token with the
`crm.objects.contacts.read` and `crm.objects.contacts.write` scopes; `LEADFLOW_HUBSPOT_API` is the API's base URL
(https only, but for a loopback address). Offsets are committed as events are settled, so a restart goes
on from the first unsettled event (SIGTERM lets the event at hand finish first); an event settled again finds
the contact owned by the suggested owner already and leaves it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Counter, start_http_server
from pydantic import AfterValidator, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipelines.exporters import add_listen_flags
from pipelines.settings import ConfigError, Settings, load_settings
from pipelines.topics import SLA, TopicNames

log = logging.getLogger(__name__)
SUGGESTED = "sla.reassign_suggested"
OWNER_PREFIX = "hubspot-owner-"
CONTACT_PREFIX = "hubspot-contact-"  # the collector's lead id of a HubSpot contact (services/collector/hubspot.py)
DEFAULT_PORT = 9311
MAX_BACKOFF = 60.0
OUTCOMES = Counter(
    "leadflow_hubspot_reassign_total",
    "Suggested reassignments by outcome: applied, would_apply (dry run), skipped, failed.",
    ["outcome"],
)


def _api_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL like https://api.hubapi.com")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ValueError("must use https (the access token travels with every request); http only on loopback")
    return value.rstrip("/")


def _loopback(host: str) -> bool:
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class ReassignSettings(BaseSettings):
    """The service's own settings (LEADFLOW_HUBSPOT_*); Kafka's come from the common ones."""

    model_config = SettingsConfigDict(env_prefix="LEADFLOW_HUBSPOT_", frozen=True, extra="ignore")

    reassign: Literal["off", "dry-run", "apply"] = "off"
    token: SecretStr | None = None
    api: Annotated[str, AfterValidator(_api_url)] = "https://api.hubapi.com"


def load_reassign_settings() -> ReassignSettings:
    """Read the settings; ConfigError names the variable and what is wrong."""
    try:
        settings = ReassignSettings()
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise ConfigError(f"LEADFLOW_HUBSPOT_{str(first['loc'][0]).upper()}: {first['msg']}") from None
    if settings.reassign == "off":
        raise ConfigError("LEADFLOW_HUBSPOT_REASSIGN: off; set it to dry-run or apply to run this service")
    if settings.token is None or not settings.token.get_secret_value():
        raise ConfigError("LEADFLOW_HUBSPOT_TOKEN: not set; a private app token with the contacts scopes is needed")
    return settings


@dataclass(frozen=True)
class Reassign:
    """Set a contact's owner to `owner`, provided HubSpot still has `expected` as its owner."""

    event_id: str
    contact: str
    expected: str | None
    owner: str


@dataclass(frozen=True)
class Skip:
    """An SLA event this service leaves alone, and why."""

    reason: str


def plan(raw: bytes) -> Reassign | Skip:
    """Decide what one message of leadflow.sla asks of HubSpot."""
    try:
        event = orjson.loads(raw)
        kind, data = event["type"], event["data"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return Skip("not an SLA event")
    if not isinstance(data, dict):
        return Skip("not an SLA event")
    if kind != SUGGESTED:
        return Skip(f"{kind}: not a suggested reassignment")
    contact = _suffix(data.get("lead_id"), CONTACT_PREFIX)
    owner = _suffix(data.get("suggested_owner_id"), OWNER_PREFIX)
    if contact is None:
        return Skip(f"lead {data.get('lead_id')!r} is not a HubSpot contact")
    if owner is None:
        return Skip(f"suggested owner {data.get('suggested_owner_id')!r} is not a HubSpot owner")
    return Reassign(str(event.get("id")), contact, _suffix(data.get("owner_id"), OWNER_PREFIX), owner)


def _suffix(value: object, prefix: str) -> str | None:
    """Return the HubSpot id after a leadflow prefix (digits only), or None."""
    if not isinstance(value, str) or not value.startswith(prefix):
        return None
    rest = value.removeprefix(prefix)
    return rest if rest.isascii() and rest.isdigit() else None


class HubSpotError(RuntimeError):
    """HubSpot answered what retrying will not change (a bad token, a missing scope)."""


class Retry(RuntimeError):
    """HubSpot is busy or away: try again after `after` seconds."""

    def __init__(self, message: str, after: float) -> None:
        super().__init__(message)
        self.after = after


class HubSpot:
    """The two calls of the CRM API this service makes, on one aiohttp session."""

    def __init__(self, session: aiohttp.ClientSession, api: str, token: str) -> None:
        self._session = session
        self._api = api
        self._headers = {"Authorization": f"Bearer {token}"}

    async def owner(self, contact: str) -> str | Skip | None:
        """Return the contact's `hubspot_owner_id` (None: unowned), or Skip if HubSpot has no such contact."""
        url = f"{self._api}/crm/v3/objects/contacts/{contact}"
        params = {"properties": "hubspot_owner_id"}
        async with self._session.get(url, params=params, headers=self._headers) as response:
            body = await _answer(response, contact)
        if isinstance(body, Skip):
            return body
        return (body.get("properties") or {}).get("hubspot_owner_id") or None

    async def assign(self, contact: str, owner: str) -> Skip | None:
        """Set the contact's owner; Skip if HubSpot has no such contact."""
        url = f"{self._api}/crm/v3/objects/contacts/{contact}"
        body = {"properties": {"hubspot_owner_id": owner}}
        async with self._session.patch(url, json=body, headers=self._headers) as response:
            answer = await _answer(response, contact)
        return answer if isinstance(answer, Skip) else None


async def _answer(response: aiohttp.ClientResponse, contact: str) -> dict[str, Any] | Skip:
    """Return a successful answer's JSON, or Skip for a request about one contact that HubSpot refuses.

    Raises Retry while HubSpot is busy or away, HubSpotError when it refuses the token (every request would fail).
    """
    if response.status == 404:
        return Skip(f"contact {contact} is not in HubSpot")
    if response.status == 429 or response.status >= 500:
        after = float(response.headers.get("Retry-After", "1") or 1)
        raise Retry(f"HubSpot answered {response.status}", max(after, 0.1))
    if response.status in (401, 403):
        raise HubSpotError(
            f"HubSpot refused the token ({response.status}): check LEADFLOW_HUBSPOT_TOKEN and its scopes"
        )
    if response.status >= 400:  # this contact's request only (an owner HubSpot does not know): the others go on
        said = (await response.text())[:300]
        return Skip(f"HubSpot refused the change of contact {contact} ({response.status}): {said}")
    found: dict[str, Any] = await response.json()
    return found


async def settle(hubspot: HubSpot, step: Reassign | Skip, apply: bool) -> str:
    """Carry out one planned step; return its outcome (applied, would_apply or skipped)."""
    if isinstance(step, Skip):
        log.debug("skipped: %s", step.reason)
        return "skipped"
    current = await hubspot.owner(step.contact)
    if isinstance(current, Skip):
        log.info("%s: skipped: %s", step.event_id, current.reason)
        return "skipped"
    if current != step.expected:
        log.info("%s: contact %s is owned by %s now, not %s: left alone", step.event_id, step.contact, current,
                 step.expected)  # fmt: skip
        return "skipped"
    if not apply:
        log.info("%s: dry run: would assign contact %s to owner %s", step.event_id, step.contact, step.owner)
        return "would_apply"
    missing = await hubspot.assign(step.contact, step.owner)
    if missing is not None:
        log.info("%s: skipped: %s", step.event_id, missing.reason)
        return "skipped"
    log.info("%s: assigned contact %s to owner %s", step.event_id, step.contact, step.owner)
    return "applied"


async def settle_with_retries(hubspot: HubSpot, step: Reassign | Skip, apply: bool, stop: asyncio.Event) -> str:
    """Settle a step, waiting out HubSpot's rate limit and outages (with back-off) unless told to stop.

    Returns the outcome, or "stopped" when told to stop first; HubSpotError ends the service.
    """
    backoff = 1.0
    while not stop.is_set():
        try:
            return await settle(hubspot, step, apply)
        except Retry as exc:
            wait, why = max(exc.after, backoff), str(exc)
        except aiohttp.ClientError as exc:
            wait, why = backoff, f"{type(exc).__name__}: {exc}"
        OUTCOMES.labels("failed").inc()
        log.warning("HubSpot: %s; trying again in %.1fs", why, wait)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
        backoff = min(backoff * 2, MAX_BACKOFF)
    return "stopped"


async def run(settings: ReassignSettings, common: Settings, stop: asyncio.Event) -> None:
    """Consume leadflow.sla and settle each suggested reassignment; commit what a batch settled, until `stop`."""
    topic = TopicNames(common.topic_prefix).name(SLA)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=common.kafka_bootstrap,
        group_id=f"{common.app_id}-hubspot-reassign",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    token = settings.token.get_secret_value() if settings.token else ""
    await consumer.start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            hubspot = HubSpot(session, settings.api, token)
            print(f"leadflow hubspot reassign: {settings.reassign}, reading {topic}", file=sys.stderr, flush=True)
            while not stop.is_set():
                await _settle_batch(consumer, hubspot, settings.reassign == "apply", stop)
    finally:
        await consumer.stop()


async def _settle_batch(consumer: AIOKafkaConsumer, hubspot: HubSpot, apply: bool, stop: asyncio.Event) -> None:
    """Settle what one fetch brings and commit up to the last settled record of each partition."""
    settled: dict[TopicPartition, int] = {}
    for partition, records in (await consumer.getmany(timeout_ms=500)).items():
        for record in records:
            outcome = await settle_with_retries(hubspot, plan(record.value or b""), apply, stop)
            if outcome == "stopped":
                break
            OUTCOMES.labels(outcome).inc()
            settled[partition] = record.offset + 1
    if settled:
        await consumer.commit(settled)


async def _main(settings: ReassignSettings, common: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await run(settings, common, stop)


def main(argv: list[str] | None = None) -> int:
    """Run the service until stopped; a bad setting or a refused token ends it with a one-line error."""
    parser = argparse.ArgumentParser(prog="python -m services.hubspot_reassign", description=__doc__.splitlines()[0])
    add_listen_flags(parser, DEFAULT_PORT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings, common = load_reassign_settings(), load_settings()
        start_http_server(args.port, args.host)
        asyncio.run(_main(settings, common))
    except (ConfigError, HubSpotError) as exc:
        print(f"leadflow hubspot reassign: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
