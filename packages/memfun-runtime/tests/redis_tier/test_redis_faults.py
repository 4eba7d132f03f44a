"""T2 under server faults: a private redis-server is killed, stopped and frozen mid-traffic.

Nothing here touches the shared server: each test starts its own ``redis-server`` on a free
port with an append-only file fsynced on every write (``appendfsync always``), which is
what makes an acknowledged publish durable across a server crash.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from memfun_core.errors import BackendUnavailable
from memfun_runtime.backends.redis import RedisBackend
from memfun_runtime.backends.redis.testing import PrivateRedis
from memfun_runtime.protocols import Subscription
from memfun_runtime.testing import eventually

OP_TIMEOUT = 0.5
HANG_GUARD = 10.0
"""A call taking longer than this counts as a hang (the backend promises OP_TIMEOUT + retries)."""


async def _fails_fast(call: Callable[[], Awaitable[Any]]) -> BackendUnavailable:
    async with asyncio.timeout(HANG_GUARD):
        with pytest.raises(BackendUnavailable) as caught:
            await call()
    return caught.value


async def _every_service_fails_fast(backend: RedisBackend, sub: Subscription) -> None:
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: backend.events.publish("t", {"n": -1}),
        lambda: sub.fetch(1, timeout=0.5),
        lambda: backend.state.get("k"),
        lambda: backend.state.set("k", 2),
        lambda: backend.state.increment("c"),
        lambda: backend.tasks.enqueue("q", "job"),
        lambda: backend.tasks.lease("q", wait=0.5),
        backend.sessions.create,
        lambda: backend.agents.register("a", capabilities={"x"}),
        lambda: backend.skills.stats("s"),
    ]
    for call in calls:
        error = await _fails_fast(call)
        assert error.backend == "redis"
        assert "127.0.0.1" in error.target


@pytest.mark.parametrize(
    ("fault", "heal"),
    [
        pytest.param("kill", "restart", id="sigkill"),
        pytest.param("stop", "restart", id="sigterm"),
        pytest.param("freeze", "thaw", id="sigstop"),
    ],
)
async def test_calls_fail_fast_during_an_outage_and_work_again_after(
    private_redis: PrivateRedis, fault: str, heal: str
) -> None:
    backend = RedisBackend(private_redis.url, namespace="fault", operation_timeout=OP_TIMEOUT)
    await backend.start()
    try:
        sub = await backend.events.subscribe("t", "g", start="earliest")
        await backend.state.set("k", "before")
        await backend.events.publish("t", {"n": 0})
        assert (await backend.health()).ok

        _break(private_redis, fault)
        await _every_service_fails_fast(backend, sub)
        report = await backend.health()
        assert not report.ok
        assert all(c.status == "down" for c in report.components)

        _heal(private_redis, heal)
        entry = await backend.state.get("k")  # the same backend object reconnects by itself
        assert entry is not None
        assert entry.value == "before"
        [delivery] = await sub.fetch(1, timeout=5)
        assert delivery.event.payload == {"n": 0}
        await delivery.ack()
        assert (await backend.health()).ok
    finally:
        _heal(private_redis, heal)
        await backend.stop()


def _break(server: PrivateRedis, fault: str) -> None:
    if fault == "kill":
        server.kill(signal.SIGKILL)
    elif fault == "stop":
        server.kill(signal.SIGTERM)
    else:
        assert server.proc is not None
        server.proc.send_signal(signal.SIGSTOP)


def _heal(server: PrivateRedis, heal: str) -> None:
    if heal == "restart":
        if server.proc is None:
            server.start()
    elif server.proc is not None:
        server.proc.send_signal(signal.SIGCONT)


async def _until(condition: Callable[[], bool], what: str) -> None:
    async def check() -> bool:
        return condition()

    await eventually(check, within=30, interval=0.01, what=what)


class Traffic:
    """A publisher and a consumer that keep going through an outage, recording what succeeded."""

    def __init__(self, backend: RedisBackend, sub: Subscription) -> None:
        self.backend = backend
        self.sub = sub
        self.published: set[int] = set()  # publish() returned: acknowledged by the server
        self.received: set[int] = set()
        self.failures = 0
        self.stop_publishing = asyncio.Event()

    async def publish(self) -> None:
        n = 0
        while not self.stop_publishing.is_set():
            n += 1
            try:
                async with asyncio.timeout(HANG_GUARD):
                    await self.backend.events.publish("jobs", {"n": n})
            except BackendUnavailable:
                self.failures += 1
                await asyncio.sleep(0.05)
                continue
            self.published.add(n)
            await asyncio.sleep(0.002)

    async def consume(self, done: Callable[[], bool]) -> None:
        while not done():
            try:
                async with asyncio.timeout(HANG_GUARD):
                    batch = await self.sub.fetch(20, timeout=0.2)
                    for delivery in batch:
                        number = int(delivery.event.payload["n"])
                        self.received.add(number)
                        await delivery.ack()
            except BackendUnavailable:
                self.failures += 1
                await asyncio.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
async def test_no_acknowledged_event_is_lost_when_the_server_dies_mid_traffic(
    private_redis: PrivateRedis, sig: int
) -> None:
    backend = RedisBackend(private_redis.url, namespace="traffic", operation_timeout=OP_TIMEOUT)
    await backend.start()
    try:
        sub = await backend.events.subscribe("jobs", "g", ack_timeout=0.5, start="earliest")
        traffic = Traffic(backend, sub)
        publisher = asyncio.create_task(traffic.publish())
        consumer = asyncio.create_task(
            traffic.consume(lambda: publisher.done() and traffic.published <= traffic.received)
        )
        await _until(lambda: len(traffic.published) >= 150, "150 publishes")
        private_redis.kill(sig)
        failures = traffic.failures
        await _until(lambda: traffic.failures >= failures + 4, "calls failing in the outage")
        private_redis.start()
        seen = len(traffic.published)
        await _until(lambda: len(traffic.published) >= seen + 150, "150 more publishes")
        traffic.stop_publishing.set()
        await publisher
        async with asyncio.timeout(30):
            await consumer
    finally:
        await backend.stop()

    assert traffic.failures >= 4
    # Every publish the server acknowledged was delivered. (An ack or publish whose reply was
    # lost in the crash may or may not have been applied: at-least-once allows both.)
    assert traffic.published <= traffic.received
    assert len(traffic.published) >= 300
