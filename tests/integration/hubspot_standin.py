"""A local stand-in for the two HubSpot CRM API calls the reassignment service makes, checked as HubSpot documents
them: `GET /crm/v3/objects/contacts/{id}?properties=hubspot_owner_id` and `PATCH /crm/v3/objects/contacts/{id}`
with `{"properties": {"hubspot_owner_id": "<id>"}}` as JSON, both with `Authorization: Bearer <token>`. Anything
else gets HubSpot's 400 (or 401 without the token), and every request is recorded."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.integration.kafka_fixture import free_port


@dataclass
class Call:
    """One request as the stand-in saw it."""

    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    content_type: str | None
    body: Any


@dataclass
class HubSpotStandIn:
    """Contacts by id with their owner; `busy` answers 429 to that many requests first."""

    token: str
    owners: dict[str, str | None]
    busy: int = 0
    calls: list[Call] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        """Return the base URL to give the service."""
        return f"http://127.0.0.1:{self.port}"

    def patches(self) -> list[Call]:
        """Return the PATCH requests received."""
        return [c for c in self.calls if c.method == "PATCH"]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        call = Call(request.method, request.path, dict(request.query), request.headers.get("Authorization"),
                    request.headers.get("Content-Type"), body)  # fmt: skip
        self.calls.append(call)
        if call.authorization != f"Bearer {self.token}":
            return web.json_response({"status": "error", "category": "INVALID_AUTHENTICATION"}, status=401)
        if self.busy > 0:
            self.busy -= 1
            return web.json_response({"status": "error", "category": "RATE_LIMITS"}, status=429,
                                     headers={"Retry-After": "1"})  # fmt: skip
        contact = request.match_info["contact"]
        if contact not in self.owners:
            return web.json_response({"status": "error", "category": "OBJECT_NOT_FOUND"}, status=404)
        if request.method == "PATCH":
            return self._patch(contact, call)
        if call.query != {"properties": "hubspot_owner_id"}:
            return web.json_response({"status": "error", "category": "VALIDATION_ERROR"}, status=400)
        return web.json_response(self._contact(contact))

    def _patch(self, contact: str, call: Call) -> web.Response:
        body = call.body
        valid = (
            call.content_type is not None
            and call.content_type.startswith("application/json")
            and isinstance(body, dict)
            and set(body) == {"properties"}
            and set(body["properties"]) == {"hubspot_owner_id"}
            and isinstance(body["properties"]["hubspot_owner_id"], str)
        )
        if not valid:
            return web.json_response({"status": "error", "category": "VALIDATION_ERROR"}, status=400)
        self.owners[contact] = body["properties"]["hubspot_owner_id"]
        return web.json_response(self._contact(contact))

    def _contact(self, contact: str) -> dict[str, Any]:
        return {"id": contact, "properties": {"hubspot_owner_id": self.owners[contact]}, "archived": False}

    def serve(self) -> threading.Thread:
        """Serve on a thread of its own until the process ends."""
        app = web.Application()
        app.router.add_route("*", "/crm/v3/objects/contacts/{contact}", self._handle)
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            runner = web.AppRunner(app)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
            ready.set()
            loop.run_forever()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        ready.wait(10)
        return thread
