"""Resuming the flow again keeps the records queued for the agents; resuming after a suspension drops them."""

from __future__ import annotations

import asyncio

import faust
from hypothesis import given
from hypothesis import strategies as st
from mode.utils.queues import FlowControlEvent, FlowControlQueue

from pipelines.flow import FlowControl


def _queue(flow: FlowControlEvent) -> FlowControlQueue[int]:
    return FlowControlQueue(maxsize=100, flow_control=flow, clear_on_resume=True)


def test_faust_flow_control_drops_live_records_on_a_second_resume() -> None:
    # the behaviour repaired here: Faust resumes when table recovery starts and again when it ends
    flow = FlowControlEvent()
    queue = _queue(flow)
    flow.resume()
    queue.put_nowait(1)
    flow.resume()
    assert queue.qsize() == 0


def test_a_second_resume_keeps_the_queued_records() -> None:
    flow = FlowControl()
    queue = _queue(flow)
    flow.resume()
    queue.put_nowait(1)
    queue.put_nowait(2)
    flow.resume()
    assert flow.is_active()
    assert [queue.get_nowait(), queue.get_nowait()] == [1, 2]


def test_a_resume_after_a_suspension_still_drops_the_old_assignment_records() -> None:
    flow = FlowControl()
    queue = _queue(flow)
    flow.resume()
    queue.put_nowait(1)
    flow.suspend()
    assert not flow.is_active()
    flow.resume()
    assert flow.is_active()
    assert queue.qsize() == 0


@given(st.lists(st.sampled_from(["suspend", "resume", "put"]), max_size=30))
def test_records_are_dropped_exactly_when_a_suspended_flow_resumes(steps: list[str]) -> None:
    flow = FlowControl()
    queue = _queue(flow)
    expected: list[int] = []
    for n, step in enumerate(steps):
        if step == "put":
            queue.put_nowait(n)
            expected.append(n)
        elif step == "suspend":
            flow.suspend()
        else:
            if not flow.is_active():
                expected.clear()
            flow.resume()
    assert [queue.get_nowait() for _ in range(queue.qsize())] == expected


def test_the_app_stream_queues_use_it(worker_app: faust.App) -> None:
    assert isinstance(worker_app.flow_control, FlowControl)

    async def scenario() -> int:
        queue = worker_app.topic("leadflow.stages").queue  # the queue an agent's stream reads from
        worker_app.flow_control.resume()  # recovery starts
        queue.put_nowait("record handed on while the committed offsets are fetched")
        worker_app.flow_control.resume()  # recovery ends
        return queue.qsize()

    assert asyncio.run(scenario()) == 1
