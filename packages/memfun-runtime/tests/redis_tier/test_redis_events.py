"""T2 event bus specifics beyond the conformance suite.

The bus keeps payloads out of Lua: publishes are pipelined ``XADD``s (a script only for an
``event_id``), first deliveries a plain ``XREADGROUP`` that a fetch queues behind its claim
script, acks one ``XACK`` per batch, and redelivery reads the idle times of the group's
pending entries. These tests pin what that design must keep: a fetch returns at most what
was asked even when redeliveries and new events meet, each consumer times out by its own
``ack_timeout``, a nack's delay outlasts the ack timeout, batches mix plain and idempotent
publishes, one refused or unstorable publish fails alone, a lost script cache is rebuilt,
entries written by earlier versions (with a ``t`` field) still decode, and a fetch reads
the group's pending list only when something in it can have timed out.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from memfun_core.errors import BackendError, ValidationError
from memfun_runtime.backends.redis import RedisBackend
from memfun_runtime.backends.redis.testing import PrivateRedis
from memfun_runtime.protocols import Delivery
from memfun_runtime.testing import collect

ACK = 0.2


@pytest.fixture
async def raw(shared_redis_url: str) -> AsyncIterator[Any]:
    """A plain redis-py client on the shared server, to look at what the bus stored."""
    import redis.asyncio as aioredis

    client: Any = aioredis.Redis.from_url(shared_redis_url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def alone(private_redis: PrivateRedis) -> AsyncIterator[tuple[RedisBackend, Any]]:
    """A started backend alone on a private server, and a plain client to that server."""
    import redis.asyncio as aioredis

    backend = RedisBackend(private_redis.url, namespace="alone")
    await backend.start()
    admin: Any = aioredis.Redis.from_url(private_redis.url, decode_responses=True)
    try:
        yield backend, admin
    finally:
        await admin.aclose()
        await backend.stop()


def _stream(backend: RedisBackend, topic: str) -> str:
    return f"{backend.namespace}:ev:{topic}"


def _payloads(deliveries: list[Delivery]) -> list[Any]:
    return [d.event.payload for d in deliveries]


async def test_a_fetch_that_redelivers_leaves_new_events_for_later(
    shared_backend: RedisBackend, raw: Any
) -> None:
    sub = await shared_backend.events.subscribe("t", "g", ack_timeout=ACK)
    for name in ("a", "b", "c"):
        await shared_backend.events.publish("t", name)
    [first] = await sub.fetch(1, timeout=1.0)
    assert (first.event.payload, first.attempt) == ("a", 1)
    await asyncio.sleep(ACK * 2)
    again = await sub.fetch(1, timeout=1.0)
    assert [(d.event.payload, d.attempt) for d in again] == [("a", 2)]
    # The read queued behind the claim did not run: "b" and "c" were not taken.
    summary = await raw.xpending(_stream(shared_backend, "t"), "g")
    assert summary["pending"] == 1
    rest = await sub.fetch(10, timeout=1.0)
    assert [(d.event.payload, d.attempt) for d in rest] == [("b", 1), ("c", 1)]
    for delivery in [*again, *rest]:
        await delivery.ack()
    assert (await raw.xpending(_stream(shared_backend, "t"), "g"))["pending"] == 0


async def test_each_consumer_times_out_by_its_own_ack_timeout(
    shared_backend: RedisBackend,
) -> None:
    events = shared_backend.events
    quick = await events.subscribe("t", "g", consumer="quick", ack_timeout=ACK)
    slow = await events.subscribe("t", "g", consumer="slow", ack_timeout=30)
    await events.publish("t", "x")
    await events.publish("t", "y")
    assert _payloads(await quick.fetch(1, timeout=1.0)) == ["x"]
    assert _payloads(await slow.fetch(1, timeout=1.0)) == ["y"]
    helper = await events.subscribe("t", "g", consumer="helper", ack_timeout=30)
    got = await collect(helper, 2, within=ACK * 5)
    assert [(d.event.payload, d.attempt) for d in got] == [("x", 2)]
    await got[0].ack()


async def test_a_nack_delay_longer_than_the_ack_timeout_holds(
    shared_backend: RedisBackend,
) -> None:
    sub = await shared_backend.events.subscribe("t", "g", ack_timeout=ACK)
    await shared_backend.events.publish("t", "later")
    [first] = await sub.fetch(1, timeout=1.0)
    await first.nack(delay=ACK * 4)
    assert await sub.fetch(1, timeout=ACK * 2) == []  # timed out, but the delay rules
    [second] = await collect(sub, 1, within=5.0)
    assert (second.event.payload, second.attempt) == ("later", 2)
    await second.ack()


SIZES = [pytest.param(0, id="small"), pytest.param(3000, id="large"), pytest.param(-1, id="mixed")]
"""Padding of the payloads: small events are stored by a batch script, large ones by their
own XADD (or the one-event script when they carry an id); -1 alternates the two."""


def _padded(n: int, pad: int) -> dict[str, Any]:
    width = (3000 if n % 2 else 0) if pad < 0 else pad
    return {"n": n, "pad": "x" * width}


@pytest.mark.parametrize("pad", SIZES)
async def test_concurrent_publishes_mix_plain_and_idempotent_events(
    shared_backend: RedisBackend, pad: int
) -> None:
    events = shared_backend.events
    same = [n for n in range(300) if n % 50 in (7, 8)]  # ids shared by a small and a large
    calls = [
        events.publish("t", _padded(n, pad), event_id="same" if n in same else None)
        for n in range(300)
    ]
    ids = await asyncio.gather(*calls)
    assert ids.count("same") == len(same)
    stored = [e async for e in events.replay("t")]
    numbers = [cast("dict[str, int]", e.payload)["n"] for e in stored]
    assert numbers == [n for n in range(300) if n not in same or n == same[0]]
    assert [e.id for e in stored].count("same") == 1
    assert all(len(cast("dict[str, str]", e.payload)["pad"]) in (0, 3000) for e in stored)


@pytest.mark.parametrize("pad", SIZES)
async def test_one_refused_publish_fails_alone(
    shared_backend: RedisBackend, raw: Any, pad: int
) -> None:
    await raw.set(_stream(shared_backend, "broken"), "not a stream")
    events = shared_backend.events
    outcomes = await asyncio.gather(
        events.publish("fine", _padded(0, pad)),
        events.publish("broken", _padded(1, pad), event_id="kept"),
        events.publish("fine", _padded(2, pad)),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], str)
    assert isinstance(outcomes[2], str)
    refused = outcomes[1]
    assert isinstance(refused, BackendError)
    assert "WRONGTYPE" in str(refused)
    fine = [cast("dict[str, int]", e.payload)["n"] async for e in events.replay("fine")]
    assert fine == [0, 2]
    # Nothing was stored, so the id is not spent: publishing it again stores the event.
    await raw.delete(_stream(shared_backend, "broken"))
    assert await events.publish("broken", _padded(1, pad), event_id="kept") == "kept"
    assert len([e async for e in events.replay("broken")]) == 1


async def test_a_bad_payload_fails_alone_and_a_lone_surrogate_is_stored(
    shared_backend: RedisBackend,
) -> None:
    events = shared_backend.events
    good, bad, lone = await asyncio.gather(
        events.publish("t", "ok"),
        events.publish("t", {"not json": object()}),
        events.publish("t", "lone \ud800 surrogate"),  # escaped in the stored JSON
        return_exceptions=True,
    )
    assert isinstance(good, str)
    assert isinstance(lone, str)
    assert isinstance(bad, ValidationError)
    assert bad.field == "payload"
    assert [e.payload async for e in events.replay("t")] == ["ok", "lone \ud800 surrogate"]


async def test_large_payloads_and_headers_round_trip(shared_backend: RedisBackend) -> None:
    events = shared_backend.events
    sub = await events.subscribe("t", "g")
    payload = {"text": "é€😀" * 30_000, "nested": [{"k": list(range(100))}]}
    await events.publish("t", payload, headers={"trace": "abc", "who": "me"})
    await events.publish("t", "plain", headers={})
    first, second = await collect(sub, 2)
    assert first.event.payload == payload
    assert dict(first.event.headers) == {"trace": "abc", "who": "me"}
    assert (second.event.payload, dict(second.event.headers)) == ("plain", {})
    assert first.event.timestamp <= second.event.timestamp
    await first.ack()
    await second.ack()


async def test_entries_of_earlier_versions_keep_their_stored_time(
    shared_backend: RedisBackend, raw: Any
) -> None:
    sub = await shared_backend.events.subscribe("t", "g")
    fields = {"i": "old-1", "p": json.dumps({"v": 1}), "h": "{}", "t": "1700000000.123456"}
    await raw.xadd(_stream(shared_backend, "t"), fields)
    [delivery] = await collect(sub, 1)
    assert delivery.event.id == "old-1"
    assert delivery.event.payload == {"v": 1}
    assert delivery.event.timestamp == 1700000000.123456
    await delivery.ack()
    [replayed] = [e async for e in shared_backend.events.replay("t")]
    assert replayed.timestamp == 1700000000.123456


async def test_more_concurrent_calls_than_kept_connections_all_complete(
    shared_backend: RedisBackend,
) -> None:
    events = shared_backend.events
    subs = [await events.subscribe("t", f"g{k}", ack_timeout=30) for k in range(40)]
    await asyncio.gather(*(events.publish("t", n) for n in range(3)))
    batches = await asyncio.gather(*(collect(sub, 3) for sub in subs))
    assert all(_payloads(batch) == [0, 1, 2] for batch in batches)
    await asyncio.gather(*(d.ack() for batch in batches for d in batch))
    assert await asyncio.gather(*(sub.fetch(1, timeout=0) for sub in subs)) == [[]] * 40


async def test_a_lost_script_cache_is_rebuilt(alone: tuple[RedisBackend, Any]) -> None:
    backend, admin = alone
    events = backend.events
    sub = await events.subscribe("t", "g", ack_timeout=ACK)
    await events.publish("t", 1, event_id="one")
    [first] = await collect(sub, 1)
    await admin.script_flush()
    # The publish scripts and the fetch's claim script run from their source again.
    assert await events.publish("t", 2, event_id="two") == "two"
    assert await events.publish("t", 3, event_id="two") == "two"
    assert await events.publish("t", "y" * 3000, event_id="big") == "big"
    assert await events.publish("t", "z" * 3000, event_id="big") == "big"
    got = await collect(sub, 3, within=5.0)
    assert sorted((str(d.event.payload)[:1], d.attempt) for d in got) == [
        ("1", 2),
        ("2", 1),
        ("y", 1),
    ]
    await admin.script_flush()
    await first.nack()
    for delivery in got:
        await delivery.ack()
    assert await sub.fetch(1, timeout=ACK * 2) == []


async def test_a_fetch_leaves_the_pending_list_unread_while_nothing_in_it_can_have_timed_out(
    alone: tuple[RedisBackend, Any],
) -> None:
    """Finding timed-out deliveries reads the group's whole pending list (``XPENDING IDLE``
    skips the young entries one by one), and every fetch of every consumer ran it: ~60 µs of
    the server's single thread per 1,000 held deliveries. While the oldest pending id is
    younger than the shortest ack timeout nothing can have timed out, so the read is skipped.
    """
    backend, admin = alone
    events, timeout = backend.events, 3.0
    holder = await events.subscribe("t", "g", consumer="holder", ack_timeout=timeout)
    other = await events.subscribe("t", "g", consumer="other", ack_timeout=timeout)
    await events.publish_many("t", list(range(2000)))
    assert len(await collect(holder, 2000)) == 2000
    await admin.config_resetstat()
    for _ in range(20):
        assert await other.fetch(10, timeout=0) == []
    stats = await admin.info("commandstats")
    assert stats["cmdstat_xpending"]["calls"] == 20  # a look at the oldest, per fetch
    await asyncio.sleep(timeout)  # the held deliveries have now outlived it
    again = await other.fetch(10, timeout=0)
    assert [(d.event.payload, d.attempt) for d in again] == [(k, 2) for k in range(10)]


async def test_deliveries_are_redelivered_when_the_stream_ids_run_ahead_of_the_clock(
    alone: tuple[RedisBackend, Any],
) -> None:
    """An id given by hand far in the future (or a server clock set back) puts every later
    id ahead of the clock: the age of the oldest pending id then proves nothing, and the
    timed-out delivery must still come back."""
    backend, admin = alone
    events = backend.events
    holder = await events.subscribe("t", "g", consumer="holder", ack_timeout=ACK)
    other = await events.subscribe("t", "g", consumer="other", ack_timeout=ACK)
    year_3000 = 32_503_680_000_000
    planted = {"i": "planted", "p": '"early"'}
    await admin.xadd(_stream(backend, "t"), planted, id=f"{year_3000}-0")
    await events.publish("t", "late")
    assert _payloads(await collect(holder, 2)) == ["early", "late"]
    await asyncio.sleep(ACK * 2)
    again = await other.fetch(10, timeout=0)
    assert [(d.event.payload, d.attempt) for d in again] == [("early", 2), ("late", 2)]
