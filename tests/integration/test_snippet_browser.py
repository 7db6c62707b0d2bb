"""The website snippet in a real browser: headless Chromium → collector → Kafka → worker → report.

A page on loopback includes /v1/snippet.js and is opened with UTM parameters; its form is filled in and
submitted as a person would (a click on the button). The `web.visit` and `web.form_submitted` events go
through the collector into Kafka, a `leadflow worker` turns them into a lead, and `leadflow report` counts
the visits and the lead; the lead's first touch carries the landing page's UTM fields. Then, with Do Not
Track on, a new visit sets no cookie and sends nothing. Chromium is driven over the DevTools protocol
(aiohttp's WebSocket client), so no WebDriver is needed.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.monthly.browser import FLAGS
from tests.integration.kafka_fixture import LocalKafka, free_port
from tests.integration.processes import Worker, leadflow_json, wait_until
from tests.integration.test_collector_kafka import BROWSER_KEY, Collector, keys_file, messages

pytestmark = pytest.mark.integration

EMAIL = "Ada.Lovelace@Example.com"
UTM = {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "autumn-launch"}
CHROMIUM_FLAGS = [*FLAGS, "--remote-debugging-port=0"]


def page(collector_url: str, body: str) -> bytes:
    script = f'<script async src="{collector_url}/v1/snippet.js" data-key="{BROWSER_KEY}" data-source="/web/shop.test">'
    return f"<!doctype html><html><head><title>shop</title>{script}</script></head><body>{body}</body></html>".encode()


class Site:
    """The website under test, on 127.0.0.1: a landing page with a form, and a thank-you page."""

    def __init__(self, collector_url: str) -> None:
        form = (
            '<form data-leadflow-form="demo-request" action="/thanks.html" method="get">'
            '<input type="email" name="email"><button type="submit">Request a demo</button></form>'
        )
        pages = {"/landing.html": page(collector_url, form), "/thanks.html": page(collector_url, "<p>Thanks</p>")}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                content = pages.get(self.path.split("?")[0])
                self.send_response(200 if content else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(content or b"not found")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Site:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Browser:
    """Headless Chromium with a fresh profile; its DevTools endpoint found through DevToolsActivePort."""

    def __init__(self, profile: Path) -> None:
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        assert binary, "headless Chromium is needed: apt-get install chromium"
        self.profile = profile
        self.log = (profile.parent / "chromium.log").open("wb")
        flags = [*CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"]
        self.process = subprocess.Popen([binary, *flags], stdout=self.log, stderr=subprocess.STDOUT)
        active = profile / "DevToolsActivePort"
        wait_until(lambda: active.exists() and len(active.read_text().splitlines()) == 2, 30, "Chromium's DevTools")
        self.port = int(active.read_text().splitlines()[0])

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log.close()


class Tab:
    """One page target over the DevTools protocol: commands, and waiting for events."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        while True:
            message = await asyncio.wait_for(self.ws.receive_json(), timeout=30)
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return dict(message.get("result", {}))
            self.events.append(message)

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    async def until(self, expression: str, timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.2)
        raise AssertionError(f"timed out waiting for {expression}")


async def visit_and_submit(port: int, landing: str, dnt_landing: str) -> dict[str, Any]:
    """Open the landing page, submit its form, then visit again with Do Not Track; return what the pages saw."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
            targets = await response.json()
        url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        async with session.ws_connect(url, max_msg_size=0) as ws:
            tab = Tab(ws)
            await tab.send("Page.enable")
            await tab.send("Page.navigate", url=landing)
            seen = await tab.until("window.leadflow && window.leadflow.enabled && window.leadflow.visitorId")
            cookie = await tab.evaluate("document.cookie")
            fill = f"document.querySelector('input[name=email]').value = {json.dumps(EMAIL)}"
            await tab.evaluate(fill)
            await tab.evaluate("document.querySelector('button').click()")
            await tab.until("location.pathname === '/thanks.html' && window.leadflow && window.leadflow.enabled")
            await tab.send("Network.clearBrowserCookies")
            dnt = "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'})"
            await tab.send("Page.addScriptToEvaluateOnNewDocument", source=dnt)
            await tab.send("Page.navigate", url=dnt_landing)
            dnt_state = await tab.until("window.leadflow && JSON.stringify(window.leadflow)")
            return {
                "visitor": seen,
                "cookie": cookie,
                "dnt": json.loads(dnt_state),
                "dnt_cookie": await tab.evaluate("document.cookie"),
            }


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    running = Browser(tmp_path / "chromium-profile")
    yield running
    running.close()


def report_window() -> list[str]:
    today = datetime.now(UTC).date()
    return ["--from", str(today - timedelta(days=1)), "--to", str(today + timedelta(days=2)), "--format", "json"]


def test_snippet_visit_and_form_reach_the_report(
    kafka: LocalKafka, worker_env: dict[str, str], tmp_path: Path, browser: Browser
) -> None:
    worker = Worker(worker_env, tmp_path).start()
    try:
        collector = Collector(worker_env, tmp_path)
        site = Site(collector.url)
        collector.env["LEADFLOW_COLLECTOR_KEYS_FILE"] = str(keys_file(tmp_path, [site.origin]))
        collector.start()
        try:
            with site:
                query = "&".join(f"{k}={v}" for k, v in UTM.items())
                seen = asyncio.run(
                    visit_and_submit(browser.port, f"{site.origin}/landing.html?{query}", f"{site.origin}/landing.html")
                )
            check_browser_side(seen)
            check_kafka_and_report(kafka, worker_env, tmp_path, worker, seen["visitor"], collector)
        finally:
            collector.stop()
    finally:
        worker.stop()


def check_browser_side(seen: dict[str, Any]) -> None:
    visitor = seen["visitor"]
    assert len(visitor) == 32 and f"lf_vid={visitor}" in seen["cookie"]
    assert seen["cookie"].count("=") == 1, "the snippet sets one cookie only"
    assert seen["dnt"] == {"enabled": False, "reason": "do-not-track"}
    assert "lf_vid" not in seen["dnt_cookie"]


def lead_id() -> str:
    return "web-" + hashlib.sha256(EMAIL.strip().lower().encode()).hexdigest()[:32]


def check_kafka_and_report(
    kafka: LocalKafka, env: dict[str, str], cwd: Path, worker: Worker, visitor: str, collector: Collector
) -> None:
    prefix = env["LEADFLOW_TOPIC_PREFIX"]
    visits = [json.loads(m.value) for m in messages(kafka, prefix + "leadflow.visits", 2)]
    assert len(visits) == 2 and {v["subject"] for v in visits} == {visitor}
    landing = min(visits, key=lambda v: v["time"])
    assert {k: landing["data"].get(k) for k in UTM} == UTM and landing["source"] == "/web/shop.test"
    [form] = [json.loads(m.value) for m in messages(kafka, prefix + "leadflow.forms", 1)]
    assert form["data"] == {"visitor_id": visitor, "lead_id": lead_id(), "form_id": "demo-request"}
    assert EMAIL.lower() not in json.dumps(form).lower(), "the address itself is not sent"

    def settled() -> bool:
        counts = leadflow_json(["report", *report_window()], env, cwd)["counts"]
        return bool(counts["visits"] == 2 and counts["visitors"] == 1 and counts["lead"] == 1)

    wait_until(settled, 120, "the report to show two visits of one visitor and one lead", every=2)
    store = worker.store()
    sql = f"SELECT utm_source, utm_medium, utm_campaign, first_visitor_id FROM leads WHERE lead_id = '{lead_id()}'"
    assert store.query(sql) == [(UTM["utm_source"], UTM["utm_medium"], UTM["utm_campaign"], visitor)]
    time.sleep(1.0)  # the Do Not Track visit had every chance to send something by now
    accepted = collector.request("GET", "/metrics")[1].decode()
    assert 'leadflow_collector_events_total{outcome="accepted",type="web.visit"} 2.0' in accepted
