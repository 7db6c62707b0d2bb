"""Internal topics (visitor links, SLA checks): what the worker sends decodes back, anything else is dead-lettered."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines import agents
from pipelines.core.messages import from_check_message, from_link_message, to_check_message, to_link_message
from pipelines.core.model import Invalid

ids = st.text(min_size=1, max_size=60)


@given(visitor=ids, lead=ids)
def test_a_link_message_decodes_to_what_was_sent(visitor: str, lead: str) -> None:
    message = to_link_message(visitor, lead)
    assert message.key == visitor.encode()
    assert from_link_message(message.value) == (visitor, lead)


@given(lead=ids, at=st.integers(min_value=0, max_value=2**53))
def test_a_check_message_decodes_to_its_lead(lead: str, at: int) -> None:
    assert from_check_message(to_check_message(lead, at).value) == lead


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "not JSON"),
        (b"{", "not JSON"),
        (None, "not JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"visitor_id": "v1"}', "must be a JSON object with the non-empty strings visitor_id, lead_id"),
        (b'{"visitor_id": "v1", "lead_id": 7}', "non-empty strings"),
        (b'{"visitor_id": "", "lead_id": "L1"}', "non-empty strings"),
    ],
)
def test_a_malformed_link_message_says_why(value: Any, reason: str) -> None:
    result = from_link_message(value)
    assert isinstance(result, Invalid)
    assert result.reason.startswith("visitor link: ")
    assert reason in result.reason
    assert result.raw == (value or b"")


@given(value=st.binary(max_size=200))
def test_any_bytes_decode_or_say_why(value: bytes) -> None:
    for result in (from_link_message(value), from_check_message(value)):
        if isinstance(result, Invalid):
            assert result.raw == value and result.reason
        else:
            body = orjson.loads(value)
            assert isinstance(body, dict)


def test_a_failed_agent_stops_the_worker_and_is_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    signals: list[tuple[int, int]] = []
    later: list[tuple[float, Any, tuple[Any, ...]]] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: signals.append((pid, sig)))
    monkeypatch.setattr(agents, "_failures", [])

    async def fail() -> None:
        loop = asyncio.get_running_loop()
        monkeypatch.setattr(loop, "call_later", lambda delay, call, *args: later.append((delay, call, args)))
        await agents.stop_worker_on_error(agents.LEADS_AGENT, RuntimeError("boom"))

    assert agents.failure() is None
    asyncio.run(fail())
    assert signals == [(os.getpid(), signal.SIGTERM)]
    assert later == [(agents.STOP_GRACE, os._exit, (agents.FAILED_EXIT,))]
    failure = agents.failure()
    assert isinstance(failure, RuntimeError) and str(failure) == "boom"
