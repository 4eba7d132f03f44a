"""T3 under server faults: a private nats-server is killed, stopped and frozen mid-traffic.

Nothing here touches the shared server: each test starts its own ``nats-server -js`` on a
free port with its own store folder, and restarts it on the same port and folder.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from memfun_core.errors import BackendUnavailable
from memfun_runtime.backends.nats import NatsBackend
from memfun_runtime.backends.nats.testing import PrivateNats
from memfun_runtime.protocols import Delivery, Subscription
from memfun_runtime.testing import eventually

OP_TIMEOUT = 0.5
HANG_GUARD = 10.0
"""A call taking longer than this counts as a hang (the backend promises about OP_TIMEOUT)."""


async def _fails_fast(call: Callable[[], Awaitable[Any]]) -> BackendUnavailable:
    async with asyncio.timeout(HANG_GUARD):
        with pytest.raises(BackendUnavailable) as caught:
            await call()
    return caught.value


async def _every_service_fails_fast(backend: NatsBackend, sub: Subscription, url: str) -> None:
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
        assert error.backend == "nats"
        assert error.target == url


def _break(server: PrivateNats, fault: str) -> None:
    {"kill": server.kill, "stop": server.stop, "freeze": server.freeze}[fault]()


def _heal(server: PrivateNats, fault: str) -> None:
    if fault == "freeze":
        server.thaw()
    else:
        server.start()


@pytest.mark.parametrize("fault", ["kill", "stop", "freeze"])
async def test_calls_fail_fast_during_an_outage_and_work_again_after(
    private_nats: PrivateNats, fault: str
) -> None:
    backend = NatsBackend(private_nats.url, namespace="fault", timeout=OP_TIMEOUT)
    await backend.start()
    try:
        sub = await backend.events.subscribe("t", "g", start="earliest")
        await backend.state.set("k", "before")
        await backend.events.publish("t", {"n": 0})
        assert (await backend.health()).ok

        _break(private_nats, fault)
        await _every_service_fails_fast(backend, sub, private_nats.url)
        report = await backend.health()
        assert not report.ok
        assert all(c.status == "down" for c in report.components)

        _heal(private_nats, fault)

        async def state_is_back() -> bool:
            with contextlib.suppress(BackendUnavailable):
                entry = await backend.state.get("k")  # the same backend reconnects by itself
                # a write that timed out may still have landed (a frozen server reads its
                # socket when thawed): its outcome is unknown, never a corruption
                return entry is not None and entry.value in ("before", 2)
            return False

        await eventually(state_is_back, within=15.0, what="the state to be readable again")
        await backend.events.publish("t", {"n": 1})
        seen: set[int] = set()
        async with asyncio.timeout(HANG_GUARD):
            while not {0, 1} <= seen:
                for delivery in await sub.fetch(10, timeout=2.0):
                    seen.add(delivery.event.payload["n"])
                    await delivery.ack()
        assert seen <= {-1, 0, 1}  # -1: the publish that timed out may have landed
        assert (await backend.health()).ok
    finally:
        private_nats.thaw()
        await backend.stop()


async def test_a_backend_cannot_start_without_a_server(private_nats: PrivateNats) -> None:
    private_nats.kill()
    backend = NatsBackend(private_nats.url, namespace="fault", timeout=OP_TIMEOUT)
    error = await _fails_fast(backend.start)
    assert "nats-server" in (error.hint or "")
    assert f"cannot connect to the NATS server: no connection within {OP_TIMEOUT:g} s" in str(
        error
    )  # said, not left blank after the colon


async def _publish_all(backend: NatsBackend, count: int, acknowledged: list[str]) -> None:
    """Publish ``count`` events, retrying through outages with the same id (idempotent)."""
    for n in range(count):
        event_id = f"e{n}"
        while True:
            try:
                await backend.events.publish("jobs", {"n": n}, event_id=event_id)
            except BackendUnavailable:
                await asyncio.sleep(0.05)
                continue
            acknowledged.append(event_id)
            break


async def _consume(
    sub: Subscription, seen: set[str], stop: asyncio.Event, acked: set[str] | None = None
) -> None:
    """Fetch and ack until stopped. An ack that fails in an outage may still have reached
    the server (its outcome is unknown), so what counts is what the application saw; an ack
    that returned is recorded in ``acked``."""
    while not stop.is_set():
        try:
            batch: list[Delivery] = await sub.fetch(20, timeout=0.5)
            for delivery in batch:
                seen.add(delivery.event.id)
                await delivery.ack()
                if acked is not None:
                    acked.add(delivery.event.id)
        except BackendUnavailable:
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("fault", ["kill", "stop"])
async def test_no_acknowledged_message_is_lost_when_the_server_dies(
    private_nats: PrivateNats, fault: str
) -> None:
    total = 400
    publisher = NatsBackend(private_nats.url, namespace="crash", timeout=OP_TIMEOUT)
    consumer = NatsBackend(private_nats.url, namespace="crash", timeout=OP_TIMEOUT)
    await publisher.start()
    await consumer.start()
    try:
        sub = await consumer.events.subscribe("jobs", "g", ack_timeout=1.0, start="earliest")
        published: list[str] = []
        seen: set[str] = set()
        acked: set[str] = set()
        stop = asyncio.Event()
        consuming = asyncio.create_task(_consume(sub, seen, stop, acked))
        publishing = asyncio.create_task(_publish_all(publisher, total, published))
        await eventually(
            lambda: _true(len(published) >= total // 3), within=30.0, what="a third published"
        )
        _break(private_nats, fault)
        await asyncio.sleep(1.0)  # calls fail meanwhile; both tasks keep retrying
        private_nats.start()
        async with asyncio.timeout(60):
            await publishing
        assert published == [f"e{n}" for n in range(total)]

        await eventually(
            lambda: _true(seen >= set(published)), within=30.0, what="every event delivered"
        )
        stop.set()
        await consuming
        stored = [event.id async for event in consumer.events.replay("jobs")]
        assert sorted(stored) == sorted(published)  # each stored once: dedupe by event id
        again = [d.event.id for d in await sub.fetch(100, timeout=1.5)]
        assert set(again) <= set(published)
        if fault == "stop":
            # A clean shutdown keeps every confirmed ack. An ack that failed during the outage
            # was never confirmed, so that event may come back (at least once).
            assert not set(again) & acked
        else:
            # nats-server 2.9 writes consumer state asynchronously: after a crash an ack of
            # the last milliseconds may be forgotten and that event delivered again
            # (at least once) - but never an event that was not published
            assert set(again) <= set(published)
    finally:
        await publisher.stop()
        await consumer.stop()


async def _true(value: bool) -> bool:
    return value
