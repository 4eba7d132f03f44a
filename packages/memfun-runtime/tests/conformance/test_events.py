"""EventBus conformance: groups, acks, redelivery, dead letters, replay, order, idempotency."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from memfun_core.errors import ConflictError, ValidationError
from memfun_runtime._backend import Backend
from memfun_runtime.protocols import (
    HEADER_DEAD_DELIVERIES,
    HEADER_DEAD_GROUP,
    HEADER_DEAD_ORIGINAL_ID,
    HEADER_DEAD_ORIGINAL_TOPIC,
    HEADER_DEAD_REASON,
    Delivery,
    Event,
    Subscription,
)
from memfun_runtime.testing import collect

ACK = 0.2  # a short ack timeout keeps redelivery tests fast


def payloads(deliveries: list[Delivery]) -> list[Any]:
    return [d.event.payload for d in deliveries]


async def ack_all(deliveries: list[Delivery]) -> None:
    for delivery in deliveries:
        await delivery.ack()


async def replayed(backend: Backend, topic: str, **kwargs: Any) -> list[Event]:
    return [event async for event in backend.events.replay(topic, **kwargs)]


class PublishAndSubscribe:
    async def test_a_published_event_arrives_whole(self, backend: Backend) -> None:
        sub = await backend.events.subscribe("orders.created", "billing", start="earliest")
        event_id = await backend.events.publish(
            "orders.created", {"order": 7, "items": ["a", "b"], "ok": True}, headers={"trace": "t1"}
        )
        [delivery] = await collect(sub, 1)
        assert isinstance(delivery, Delivery)
        assert isinstance(sub, Subscription)
        event = delivery.event
        assert event.id == event_id
        assert event.topic == "orders.created"
        assert event.payload == {"order": 7, "items": ["a", "b"], "ok": True}
        assert event.headers["trace"] == "t1"
        assert event.offset
        assert event.timestamp > 0
        assert (delivery.attempt, delivery.group) == (1, "billing")
        assert delivery.consumer == sub.consumer
        await delivery.ack()

    async def test_payloads_of_every_json_type_round_trip(self, backend: Backend) -> None:
        sub = await backend.events.subscribe("t", "g")
        values: list[Any] = [None, True, 0, -3, 2.5, "ünïcode ✓", [], {}, [1, [2, {"x": None}]]]
        for value in values:
            await backend.events.publish("t", value)
        got = await collect(sub, len(values))
        assert payloads(got) == values
        await ack_all(got)

    async def test_payloads_come_out_as_json_would_make_them(self, backend: Backend) -> None:
        sub = await backend.events.subscribe("t", "g")
        await backend.events.publish("t", {"tuple": (1, 2), 3: "int key", "float": 1.0})
        [delivery] = await collect(sub, 1)
        assert delivery.event.payload == {"tuple": [1, 2], "3": "int key", "float": 1.0}
        assert type(delivery.event.payload["float"]) is float
        await delivery.ack()

    async def test_nobody_sees_changes_made_to_a_payload_after_publish(
        self, backend: Backend
    ) -> None:
        first = await backend.events.subscribe("t", "first", ack_timeout=ACK)
        second = await backend.events.subscribe("t", "second")
        payload: dict[str, Any] = {"items": [1, 2], "meta": {"k": "v"}}
        await backend.events.publish("t", payload)
        payload["items"].append(3)  # the publisher reuses its dict
        [mine] = await collect(first, 1)
        mine.event.payload["meta"]["k"] = "changed by a consumer"  # type: ignore[index]
        [again] = await collect(first, 1)  # not acked: redelivered
        [theirs] = await collect(second, 1)
        replayed = [event.payload async for event in backend.events.replay("t")]
        expected = {"items": [1, 2], "meta": {"k": "v"}}
        assert again.event.payload == theirs.event.payload == expected
        assert replayed == [expected]
        await ack_all([again, theirs])

    async def test_groups_fan_out_each_sees_every_event(self, backend: Backend) -> None:
        first = await backend.events.subscribe("t", "first")
        second = await backend.events.subscribe("t", "second")
        for i in range(20):
            await backend.events.publish("t", i)
        got_first = await collect(first, 20)
        got_second = await collect(second, 20)
        assert payloads(got_first) == list(range(20))
        assert payloads(got_second) == list(range(20))
        await ack_all(got_first + got_second)

    async def test_consumers_in_a_group_compete(self, backend: Backend) -> None:
        a = await backend.events.subscribe("t", "workers", consumer="a", ack_timeout=30)
        b = await backend.events.subscribe("t", "workers", consumer="b", ack_timeout=30)
        for i in range(20):
            await backend.events.publish("t", i)
        seen: dict[str, list[int]] = {"a": [], "b": []}
        for _ in range(10):
            for sub in (a, b):
                for delivery in await sub.fetch(1, timeout=2.0):
                    assert delivery.consumer == sub.consumer
                    seen[sub.consumer].append(delivery.event.payload)
                    await delivery.ack()
        assert seen["a"]
        assert seen["b"]
        assert sorted(seen["a"] + seen["b"]) == list(range(20))  # each exactly once
        assert await a.fetch(10, timeout=0) == []
        assert await b.fetch(10, timeout=0) == []

    async def test_a_new_group_starts_after_existing_events_unless_earliest(
        self, backend: Backend
    ) -> None:
        await backend.events.publish("t", "old")
        new = await backend.events.subscribe("t", "new")
        earliest = await backend.events.subscribe("t", "earliest", start="earliest")
        await backend.events.publish("t", "fresh")
        got_new = await collect(new, 1)
        got_earliest = await collect(earliest, 2)
        assert payloads(got_new) == ["fresh"]
        assert await new.fetch(1, timeout=0.1) == []
        assert payloads(got_earliest) == ["old", "fresh"]
        await ack_all(got_new + got_earliest)

    async def test_joining_an_existing_group_ignores_start(self, backend: Backend) -> None:
        first = await backend.events.subscribe("t", "g")
        await backend.events.publish("t", 1)
        got = await collect(first, 1)
        await ack_all(got)
        late = await backend.events.subscribe("t", "g", start="earliest")
        assert await late.fetch(10, timeout=0.2) == []

    async def test_fetch_times_out_empty_and_iteration_yields(self, backend: Backend) -> None:
        sub = await backend.events.subscribe("t", "g")
        assert await sub.fetch(5, timeout=0.05) == []
        await backend.events.publish("t", "x")
        async for delivery in sub:
            assert delivery.event.payload == "x"
            await delivery.ack()
            break

    async def test_fetch_returns_what_arrives_while_waiting(self, backend: Backend) -> None:
        sub = await backend.events.subscribe("t", "g")
        waiting = asyncio.create_task(sub.fetch(1, timeout=5.0))
        await asyncio.sleep(0.05)
        await backend.events.publish("t", "late")
        got = await waiting
        assert payloads(got) == ["late"]
        await ack_all(got)

    async def test_close_ends_a_pending_fetch_and_refuses_more(self, backend: Backend) -> None:
        sub = await backend.events.subscribe("t", "g")
        waiting = asyncio.create_task(sub.fetch(1, timeout=30.0))
        await asyncio.sleep(0.05)
        async with sub:
            pass  # __aexit__ closes
        assert await asyncio.wait_for(waiting, 10.0) == []
        await sub.close()  # idempotent
        with pytest.raises(ConflictError):
            await sub.fetch(1, timeout=0)


class AckNackRedelivery:
    async def test_an_acked_event_is_not_delivered_again(self, backend: Backend) -> None:
        sub = await backend.events.subscribe("t", "g", ack_timeout=ACK)
        await backend.events.publish("t", "once")
        got = await collect(sub, 1)
        await got[0].ack()
        await got[0].ack()  # idempotent
        assert await sub.fetch(1, timeout=ACK * 2) == []

    async def test_an_unacked_event_comes_back_after_the_ack_timeout(
        self, backend: Backend
    ) -> None:
        sub = await backend.events.subscribe("t", "g", ack_timeout=ACK)
        await backend.events.publish("t", "again")
        [first] = await collect(sub, 1)
        assert first.attempt == 1
        [second] = await collect(sub, 1)
        assert second.event.id == first.event.id
        assert second.attempt == 2
        await second.ack()
        assert await sub.fetch(1, timeout=ACK * 2) == []

    async def test_the_redelivery_may_go_to_another_consumer(self, backend: Backend) -> None:
        dying = await backend.events.subscribe("t", "g", consumer="dying", ack_timeout=ACK)
        await backend.events.publish("t", "job")
        [lost] = await collect(dying, 1)
        await dying.close()  # closing does not ack
        survivor = await backend.events.subscribe("t", "g", consumer="survivor", ack_timeout=ACK)
        [again] = await collect(survivor, 1)
        assert again.event.id == lost.event.id
        assert (again.attempt, again.consumer) == (2, "survivor")
        await again.ack()

    async def test_nack_redelivers_at_once(self, backend: Backend) -> None:
        sub = await backend.events.subscribe("t", "g", ack_timeout=30)
        await backend.events.publish("t", "retry me")
        [first] = await collect(sub, 1)
        await first.nack()
        [second] = await collect(sub, 1, within=5.0)
        assert second.event.id == first.event.id
        assert second.attempt == 2
        await second.ack()

    async def test_nack_with_delay_holds_the_event_back(self, backend: Backend) -> None:
        sub = await backend.events.subscribe("t", "g", ack_timeout=30)
        await backend.events.publish("t", "later")
        [first] = await collect(sub, 1)
        await first.nack(delay=30)
        assert await sub.fetch(1, timeout=0.1) == []

    async def test_a_nack_delay_longer_than_the_ack_timeout_still_holds_the_event_back(
        self, backend: Backend
    ) -> None:
        sub = await backend.events.subscribe("t", "g", ack_timeout=1.0)
        await backend.events.publish("t", "later")
        [first] = await collect(sub, 1)
        await first.nack(delay=2.0)
        assert await sub.fetch(1, timeout=1.5) == []  # past the ack timeout, not the delay
        [second] = await collect(sub, 1, within=5.0)
        assert (second.event.id, second.attempt) == (first.event.id, 2)
        await second.ack()

    async def test_nack_after_ack_changes_nothing(self, backend: Backend) -> None:
        sub = await backend.events.subscribe("t", "g", ack_timeout=ACK)
        await backend.events.publish("t", "done")
        [delivery] = await collect(sub, 1)
        await delivery.ack()
        await delivery.nack()
        assert await sub.fetch(1, timeout=ACK * 2) == []

    async def test_the_first_ack_of_a_redelivered_event_settles_it(self, backend: Backend) -> None:
        slow = await backend.events.subscribe("t", "g", consumer="slow", ack_timeout=ACK)
        fast = await backend.events.subscribe("t", "g", consumer="fast", ack_timeout=ACK)
        await backend.events.publish("t", "x")
        [late] = await collect(slow, 1)
        [again] = await collect(fast, 1)
        assert again.attempt == 2
        await late.ack()
        await again.ack()
        assert await fast.fetch(1, timeout=ACK * 2) == []
        assert await slow.fetch(1, timeout=0) == []


class DeadLetter:
    async def test_nacked_max_times_goes_to_the_dead_letter_topic(self, backend: Backend) -> None:
        sub = await backend.events.subscribe("jobs", "g", ack_timeout=30, max_deliveries=3)
        dead = await backend.events.subscribe("jobs.dead", "inspect")
        event_id = await backend.events.publish("jobs", {"n": 1}, headers={"who": "me"})
        attempts = []
        for _ in range(3):
            [delivery] = await collect(sub, 1)
            attempts.append(delivery.attempt)
            await delivery.nack()
        assert attempts == [1, 2, 3]
        [corpse] = await collect(dead, 1)
        assert corpse.event.payload == {"n": 1}
        headers = corpse.event.headers
        assert headers["who"] == "me"
        assert "max deliveries (3)" in headers[HEADER_DEAD_REASON]
        assert headers[HEADER_DEAD_ORIGINAL_TOPIC] == "jobs"
        assert headers[HEADER_DEAD_ORIGINAL_ID] == event_id
        assert headers[HEADER_DEAD_GROUP] == "g"
        assert headers[HEADER_DEAD_DELIVERIES] == "3"
        await corpse.ack()
        assert await sub.fetch(1, timeout=0.2) == []

    async def test_timing_out_max_times_dead_letters_to_a_chosen_topic(
        self, backend: Backend
    ) -> None:
        sub = await backend.events.subscribe(
            "jobs", "g", ack_timeout=ACK, max_deliveries=2, dead_letter_topic="graveyard"
        )
        await backend.events.publish("jobs", "never acked")
        got = await collect(sub, 2)
        assert [d.attempt for d in got] == [1, 2]
        assert await sub.fetch(1, timeout=ACK * 2) == []  # this fetch also dead-letters it
        events = await replayed(backend, "graveyard")
        assert payloads_of(events) == ["never acked"]
        assert "ack timeout" in events[0].headers[HEADER_DEAD_REASON]
        assert await replayed(backend, "jobs.dead") == []

    async def test_one_group_dead_lettering_does_not_affect_another(self, backend: Backend) -> None:
        fragile = await backend.events.subscribe("t", "fragile", max_deliveries=1, ack_timeout=30)
        sturdy = await backend.events.subscribe("t", "sturdy")
        await backend.events.publish("t", "x")
        [delivery] = await collect(fragile, 1)
        await delivery.nack()
        got = await collect(sturdy, 1)
        assert payloads(got) == ["x"]
        await ack_all(got)
        assert len(await replayed(backend, "t.dead")) == 1


def payloads_of(events: list[Event]) -> list[Any]:
    return [e.payload for e in events]


class Replay:
    async def test_replay_reads_the_log_without_a_group(self, backend: Backend) -> None:
        ids = [await backend.events.publish("log", i) for i in range(10)]
        events = await replayed(backend, "log")
        assert [e.id for e in events] == ids
        assert payloads_of(events) == list(range(10))
        again = await replayed(backend, "log")
        assert [e.offset for e in again] == [e.offset for e in events]

    async def test_replay_from_an_offset_is_inclusive(self, backend: Backend) -> None:
        for i in range(10):
            await backend.events.publish("log", i)
        events = await replayed(backend, "log")
        tail = await replayed(backend, "log", from_offset=events[6].offset)
        assert payloads_of(tail) == [6, 7, 8, 9]
        assert payloads_of(
            await replayed(backend, "log", from_offset=events[2].offset, limit=3)
        ) == [
            2,
            3,
            4,
        ]

    async def test_replay_from_a_time(self, backend: Backend) -> None:
        for i in range(3):
            await backend.events.publish("log", i)
        await asyncio.sleep(0.05)
        cut = time.time()
        await asyncio.sleep(0.05)
        for i in range(3, 6):
            await backend.events.publish("log", i)
        assert payloads_of(await replayed(backend, "log", from_time=cut)) == [3, 4, 5]

    async def test_replay_stops_at_the_end_of_the_log(self, backend: Backend) -> None:
        await backend.events.publish("log", 0)
        seen = []
        async for event in backend.events.replay("log"):
            seen.append(event.payload)
            if len(seen) == 1:
                await backend.events.publish("log", 1)
        assert seen[0] == 0
        assert await replayed(backend, "nothing-here") == []

    async def test_replay_refuses_bad_positions(self, backend: Backend) -> None:
        await backend.events.publish("log", 0)
        with pytest.raises(ValidationError):
            await replayed(backend, "log", from_offset="x", from_time=1.0)
        with pytest.raises(ValidationError):
            await replayed(backend, "log", from_offset="not an offset!")


class OrderAndIdempotency:
    async def test_one_consumer_sees_publish_order(self, backend: Backend) -> None:
        sub = await backend.events.subscribe("t", "g")
        for i in range(100):
            await backend.events.publish("t", i)
        got = await collect(sub, 100, batch=7)
        assert payloads(got) == list(range(100))
        await ack_all(got)

    async def test_competing_consumers_each_see_increasing_order(self, backend: Backend) -> None:
        a = await backend.events.subscribe("t", "g", consumer="a")
        b = await backend.events.subscribe("t", "g", consumer="b")
        for i in range(60):
            await backend.events.publish("t", i)
        seen: dict[str, list[int]] = {"a": [], "b": []}
        while len(seen["a"]) + len(seen["b"]) < 60:
            for sub in (a, b):
                batch = await sub.fetch(3, timeout=1.0)
                seen[sub.consumer].extend(d.event.payload for d in batch)
                await ack_all(batch)
        for values in seen.values():
            assert values == sorted(values)
        assert sorted(seen["a"] + seen["b"]) == list(range(60))

    async def test_publishing_the_same_event_id_twice_stores_it_once(
        self, backend: Backend
    ) -> None:
        sub = await backend.events.subscribe("t", "g")
        first = await backend.events.publish("t", {"v": 1}, event_id="order-42")
        second = await backend.events.publish("t", {"v": 2}, event_id="order-42")
        other = await backend.events.publish("other", {"v": 3}, event_id="order-42")
        assert first == second == other == "order-42"
        got = await collect(sub, 1)
        assert payloads(got) == [{"v": 1}]
        assert await sub.fetch(1, timeout=0.1) == []
        await ack_all(got)
        assert len(await replayed(backend, "t")) == 1
        assert len(await replayed(backend, "other")) == 1

    async def test_generated_ids_are_unique(self, backend: Backend) -> None:
        ids = {await backend.events.publish("t", i) for i in range(50)}
        assert len(ids) == 50


class BadEventInput:
    @pytest.mark.parametrize(
        "topic", ["", "a b", "a..b", ".a", "a.", "a.*", "a.>", "ö", "x" * 201, "a/b"]
    )
    async def test_an_illegal_topic_is_refused(self, backend: Backend, topic: str) -> None:
        with pytest.raises(ValidationError) as info:
            await backend.events.publish(topic, 1)
        assert info.value.field == "topic"
        with pytest.raises(ValidationError):
            await backend.events.subscribe(topic, "g")

    async def test_a_payload_that_is_not_json_names_the_field(self, backend: Backend) -> None:
        with pytest.raises(ValidationError) as info:
            await backend.events.publish("t", {"when": object()})
        assert info.value.field == "payload"
        assert "['when']" in str(info.value)
        with pytest.raises(ValidationError):
            await backend.events.publish("t", float("nan"))
        assert await replayed(backend, "t") == []

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"ack_timeout": -1}, "ack_timeout"),
            ({"ack_timeout": 0}, "ack_timeout"),
            ({"max_deliveries": 0}, "max_deliveries"),
            ({"consumer": "a.b"}, "consumer"),
            ({"dead_letter_topic": "bad topic"}, "dead_letter_topic"),
            ({"start": "latest"}, "start"),
        ],
    )
    async def test_bad_subscription_settings_are_refused(
        self, backend: Backend, kwargs: dict[str, Any], field: str
    ) -> None:
        with pytest.raises(ValidationError) as info:
            await backend.events.subscribe("t", "g", **kwargs)
        assert info.value.field == field

    async def test_bad_groups_headers_and_ids_are_refused(self, backend: Backend) -> None:
        with pytest.raises(ValidationError):
            await backend.events.subscribe("t", "a.b")
        with pytest.raises(ValidationError):
            await backend.events.publish("t", 1, headers={"bad name": "x"})
        with pytest.raises(ValidationError):
            await backend.events.publish("t", 1, headers={"ok": "two\nlines"})
        with pytest.raises(ValidationError):
            await backend.events.publish("t", 1, event_id="has space")
        sub = await backend.events.subscribe("t", "g")
        with pytest.raises(ValidationError):
            await sub.fetch(0)
        with pytest.raises(ValidationError):
            await sub.fetch(1, timeout=-1)


class TestEventBus(
    PublishAndSubscribe, AckNackRedelivery, DeadLetter, Replay, OrderAndIdempotency, BadEventInput
):
    """Runs every EventBus behaviour on every tier."""
