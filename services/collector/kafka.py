"""The collector's way to Kafka: an idempotent aiokafka producer (acks=all) that reconnects by itself.

The collector starts whether or not Kafka answers. A background task creates the topics (as the worker
would, so their partition counts line up), starts the producer and then checks cluster metadata every few
seconds; `ready` says whether the last check passed. Requests are refused with 503 while it is not ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar, cast

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from pipelines.kafka_admin import ensure_topics
from pipelines.settings import Settings
from pipelines.topics import TopicError

log = logging.getLogger("leadflow.collector")
T = TypeVar("T")


async def off_loop(function: Callable[[], T]) -> T:
    """Run a blocking call in a daemon thread, so that stopping never waits for a broker that does not answer."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: object, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(cast(T, result))

    def run() -> None:
        result: object = None
        error: BaseException | None = None
        try:
            result = function()
        except Exception as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="leadflow-collector-topics", daemon=True).start()
    return await future


class KafkaDown(Exception):
    """Kafka did not confirm a write."""


class Gate(Protocol):
    """What the HTTP side needs from Kafka."""

    @property
    def ready(self) -> bool:
        """Say whether Kafka answered the last check."""
        ...

    async def check(self) -> bool:
        """Check Kafka now (cheaply) and return whether it answers."""
        ...

    async def send(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        """Write one message and wait for every in-sync replica, or raise KafkaDown."""
        ...


class KafkaGate:
    """The producer, its readiness, and the task that keeps it connected."""

    def __init__(
        self,
        settings: Settings,
        produce_timeout: float,
        on_ready: Callable[[bool], None] = lambda ready: None,
        interval: float = 2.0,
    ) -> None:
        self._settings = settings
        self._timeout = produce_timeout
        self._on_ready = on_ready
        self._interval = interval
        self._producer: AIOKafkaProducer | None = None
        self._ready = False
        self._task: asyncio.Task[None] | None = None
        self._told = False

    @property
    def ready(self) -> bool:
        """Say whether Kafka answered the last check."""
        return self._ready

    def _set_ready(self, ready: bool) -> None:
        if ready != self._ready:
            log.warning("Kafka at %s is %s", self._settings.kafka_bootstrap, "ready" if ready else "unavailable")
        self._ready = ready
        self._on_ready(ready)

    async def start(self) -> None:
        """Start the background task that connects and checks."""
        self._on_ready(False)
        self._task = asyncio.create_task(self._keep_connected())

    async def _connect(self) -> None:
        await off_loop(lambda: ensure_topics(self._settings))
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap.split(","),
            client_id="leadflow-collector",
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            request_timeout_ms=int(self._timeout * 1000),
        )
        try:
            await asyncio.wait_for(producer.start(), timeout=self._timeout * 2)
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer

    async def _keep_connected(self) -> None:
        while True:
            if self._producer is None:
                try:
                    await self._connect()
                except (KafkaError, TopicError, OSError, TimeoutError) as exc:
                    log.log(logging.DEBUG if self._told else logging.WARNING, "Kafka not reachable yet: %s", exc)
                    self._told = True
            await self.check()
            await asyncio.sleep(self._interval if self._ready else min(self._interval, 1.0))

    async def check(self) -> bool:
        """Check Kafka now (a metadata request for the topics the producer writes to); `ready` follows."""
        answered = False
        if self._producer is not None:
            update = self._producer.client.force_metadata_update()
            with contextlib.suppress(KafkaError, OSError, TimeoutError):
                answered = bool(await asyncio.wait_for(update, timeout=self._timeout))
        self._set_ready(answered)
        return answered

    async def send(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        """Write one message and wait for every in-sync replica, or raise KafkaDown."""
        if self._producer is None or not self._ready:
            raise KafkaDown("Kafka is unavailable")
        sent = self._producer.send_and_wait(topic, value=value, key=key, headers=list(headers) or None)
        try:
            await asyncio.wait_for(sent, timeout=self._timeout)
        except (KafkaError, OSError, TimeoutError) as exc:
            self._set_ready(False)
            raise KafkaDown(f"Kafka did not confirm the write ({type(exc).__name__})") from None

    async def close(self) -> None:
        """Stop the background task and flush and stop the producer."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._producer is not None:
            with contextlib.suppress(KafkaError, OSError, TimeoutError):
                await asyncio.wait_for(self._producer.stop(), timeout=self._timeout * 2)
