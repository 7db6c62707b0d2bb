"""Deliver a fetched record without tasks when nothing makes it wait: Faust's dearest per-record cost, avoided.

Faust's fetcher hands each record to the streams with `Service.wait_first(deliver(record), suspend_flow.wait())`,
which makes four tasks per record (the delivery, the flow's suspension, the consumer's stop and its crash), waits
for the first to finish and cancels the other three: about a third of what a trivial Faust agent spends per
record. A delivery waits only while the flow is suspended (a rebalance), the producer's buffer is full, or a
stream's queue is full; otherwise it finishes in its first step. So the first step runs at once, in the caller;
only a delivery that has to wait goes on as Faust runs it, racing the flow's suspension in tasks.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Coroutine, Generator
from typing import Any

Step = Any  # what a coroutine yields to the event loop when it waits (a future)


class Finished(Exception):
    """A coroutine's first step finished it; `value` is what it returned."""

    def __init__(self, value: Any) -> None:
        super().__init__("finished in its first step")
        self.value = value


def first_step(coro: Coroutine[Any, Any, Any]) -> Step:
    """Run a coroutine until it first waits and return what it waits on; raise `Finished` if it ends instead."""
    try:
        return coro.send(None)
    except StopIteration as stop:
        raise Finished(stop.value) from None


async def resumed(coro: Coroutine[Any, Any, Any], waiting: Step) -> Any:
    """Go on with a coroutine stopped at `waiting` (after `first_step`), as if it had been awaited from the start."""
    return await _driven(coro, waiting)


@types.coroutine
def _driven(coro: Coroutine[Any, Any, Any], waiting: Step) -> Generator[Step, Any, Any]:
    """Yield what the coroutine waits on; pass on what the event loop sends or throws in; closing closes it too."""
    while True:
        try:
            value = yield waiting
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # a cancellation or error thrown in by the task: the coroutine handles it
            try:
                waiting = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
            continue
        try:
            waiting = coro.send(value)
        except StopIteration as stop:
            return stop.value


def close_unstarted(awaitables: tuple[Any, ...]) -> None:
    """Close coroutines that will never run (so none is reported as never awaited)."""
    for awaitable in awaitables:
        if inspect.iscoroutine(awaitable):
            awaitable.close()
