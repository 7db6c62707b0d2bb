"""A record's delivery runs at once when nothing makes it wait, and goes on in a task exactly as awaited otherwise."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest

from pipelines.eager import Finished, close_unstarted, first_step, resumed


async def _quick(value: int) -> int:
    return value


async def _waits(future: asyncio.Future[int], log: list[str]) -> int:
    log.append("started")
    try:
        got = await future
    except ValueError:
        log.append("handled")
        return -1
    finally:
        log.append("ended")
    return got + 1


async def _fails() -> None:
    raise KeyError("broken")


def test_a_delivery_that_need_not_wait_finishes_in_its_first_step() -> None:
    with pytest.raises(Finished) as finished:
        first_step(_quick(7))
    assert finished.value.value == 7


def test_an_error_of_the_first_step_is_raised_as_it_is() -> None:
    with pytest.raises(KeyError, match="broken"):
        first_step(_fails())


def test_a_waiting_delivery_goes_on_in_a_task_with_what_it_waits_for() -> None:
    asyncio.run(_a_waiting_delivery_goes_on_in_a_task_with_what_it_waits_for())


async def _resumed_in_a_task(log: list[str]) -> tuple[asyncio.Future[int], Any, asyncio.Future[int]]:
    """Step a delivery that waits on a future, then go on with it in a task that has run up to that wait.

    Returns the future it waits on, what its first step gave, and the task.
    """
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    coro = _waits(future, log)
    waiting = first_step(coro)
    task = asyncio.ensure_future(resumed(coro, waiting))
    await asyncio.sleep(0)
    return future, waiting, task


async def _a_waiting_delivery_goes_on_in_a_task_with_what_it_waits_for() -> None:
    log: list[str] = []
    future, waiting, task = await _resumed_in_a_task(log)
    assert waiting is future and log == ["started"]
    assert not task.done()
    future.set_result(41)
    assert await task == 42
    assert log == ["started", "ended"]


def test_an_error_thrown_in_reaches_the_delivery_which_may_handle_it() -> None:
    asyncio.run(_an_error_thrown_in_reaches_the_delivery_which_may_handle_it())


async def _an_error_thrown_in_reaches_the_delivery_which_may_handle_it() -> None:
    log: list[str] = []
    future, _waiting, task = await _resumed_in_a_task(log)
    future.set_exception(ValueError("no"))
    assert await task == -1
    assert log == ["started", "handled", "ended"]


def test_cancelling_the_task_cancels_the_delivery_and_what_it_waits_for() -> None:
    asyncio.run(_cancelling_the_task_cancels_the_delivery_and_what_it_waits_for())


async def _cancelling_the_task_cancels_the_delivery_and_what_it_waits_for() -> None:
    log: list[str] = []
    future, _waiting, task = await _resumed_in_a_task(log)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert future.cancelled() and log == ["started", "ended"]


def test_closing_unstarted_coroutines_reports_none_as_never_awaited() -> None:
    others: tuple[Any, ...] = (_quick(1), asyncio.sleep(0), "not a coroutine")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        close_unstarted(others)
    assert others[0].cr_frame is None  # closed: it can no longer run
