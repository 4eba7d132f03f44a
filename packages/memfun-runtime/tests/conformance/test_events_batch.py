"""EventBus conformance for the batch calls: ``publish_many`` and ``Subscription.ack_many``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from memfun_core.errors import ValidationError
from memfun_runtime._backend import Backend
from memfun_runtime.protocols import Delivery, Event
from memfun_runtime.testing import TierConfig, collect

ACK = 0.2  # a short ack timeout keeps redelivery tests fast


def payloads(deliveries: list[Delivery]) -> list[Any]:
    return [d.event.payload for d in deliveries]


async def replayed(backend: Backend, topic: str) -> list[Event]:
    return [event async for event in backend.events.replay(topic)]


class PublishMany:
    async def test_events_arrive_in_order_with_the_returned_ids(self, backend: Backend) -> None:
        sub = await backend.events.subscribe("t", "g")
        values: list[Any] = [{"i": i, "tag": "x" * (i % 3)} for i in range(40)]
        ids = await backend.events.publish_many("t", values, headers={"trace": "b1"})
        assert len(ids) == 40
        assert len(set(ids)) == 40
        got = await collect(sub, 40)
        assert payloads(got) == values
        assert [d.event.id for d in got] == ids
        assert all(d.event.headers["trace"] == "b1" for d in got)
        assert all(d.attempt == 1 for d in got)
        assert [e.id for e in await replayed(backend, "t")] == ids
        await sub.ack_many(got)

    async def test_a_batch_follows_and_precedes_single_publishes_in_order(
        self, backend: Backend
    ) -> None:
        sub = await backend.events.subscribe("t", "g")
        await backend.events.publish("t", "first")
        await backend.events.publish_many("t", ["a", "b", "c"])
        await backend.events.publish("t", "last")
        got = await collect(sub, 5)
        assert payloads(got) == ["first", "a", "b", "c", "last"]
        await sub.ack_many(got)

    async def test_given_ids_are_returned_and_deduplicated(self, backend: Backend) -> None:
        sub = await backend.events.subscribe("t", "g")
        ids = await backend.events.publish_many(
            "t", ["a", "b", "c", "a again"], event_ids=["id-a", None, "id-c", "id-a"]
        )
        assert ids[0] == "id-a"
        assert ids[2] == "id-c"
        assert ids[3] == "id-a"  # a duplicate inside the batch stores nothing new
        assert ids[1] not in {"id-a", "id-c"}
        again = await backend.events.publish_many("t", ["c again"], event_ids=["id-c"])
        assert again == ["id-c"]
        got = await collect(sub, 3)
        assert payloads(got) == ["a", "b", "c"]
        assert await sub.fetch(10, timeout=0.2) == []
        await sub.ack_many(got)

    async def test_strings_come_back_exactly_from_small_and_large_batches(
        self, backend: Backend
    ) -> None:
        sub = await backend.events.subscribe("t", "g")
        small: list[Any] = [
            "lone \ud800 surrogate",
            'quote " backslash \\ slash / nul \x00 tab \t',
            "é 😀 \u2028 \U0010ffff",
            {"k\u00e9y": ["\udfff", 1.5, -0.0, 2**63 - 1, None, True]},
            "",
            "x" * 100,
        ]
        large: list[Any] = ["é" * 10_000, {"blob": "\ud800" + "y" * 10_000}]
        await backend.events.publish_many("t", small, headers={"note": "é 😀"})
        await backend.events.publish_many("t", large)
        got = await collect(sub, len(small) + len(large))
        assert [repr(p) for p in payloads(got)] == [repr(v) for v in small + large]
        assert got[0].event.headers["note"] == "é 😀"
        stored = [event.payload for event in await replayed(backend, "t")]
        assert [repr(p) for p in stored] == [repr(v) for v in small + large]
        await sub.ack_many(got)

    async def test_an_empty_batch_publishes_nothing(self, backend: Backend) -> None:
        sub = await backend.events.subscribe("t", "g")
        assert await backend.events.publish_many("t", []) == []
        assert await backend.events.publish_many("t", (), event_ids=[]) == []
        assert await sub.fetch(10, timeout=0.1) == []
        assert await replayed(backend, "t") == []

    async def test_a_bad_payload_anywhere_publishes_nothing(self, backend: Backend) -> None:
        sub = await backend.events.subscribe("t", "g")
        with pytest.raises(ValidationError) as info:
            await backend.events.publish_many("t", [1, 2, 3, {"bad": object()}, 5])
        assert info.value.field == "payloads[3]"
        assert "payloads[3]" in str(info.value)
        with pytest.raises(ValidationError) as info:
            await backend.events.publish_many("t", [1, 2], event_ids=["ok", "not ok"])
        assert info.value.field == "event_ids[1]"
        with pytest.raises(ValidationError) as info:
            await backend.events.publish_many("t", [1, 2], event_ids=["only-one"])
        assert info.value.field == "event_ids"
        with pytest.raises(ValidationError) as info:
            await backend.events.publish_many("t", [1, 2], headers={"bad name": "x"})
        with pytest.raises(ValidationError) as info:
            await backend.events.publish_many("a b", [1, 2])
        assert info.value.field == "topic"
        assert await sub.fetch(10, timeout=0.1) == []
        assert await replayed(backend, "t") == []

    @pytest.mark.parametrize("value", ["text", b"bytes", {"a": 1}, 7, None])
    async def test_payloads_must_be_a_sequence(self, backend: Backend, value: Any) -> None:
        with pytest.raises(ValidationError) as info:
            await backend.events.publish_many("t", value)
        assert info.value.field == "payloads"
        assert await replayed(backend, "t") == []

    async def test_the_batch_is_copied_when_published(self, backend: Backend) -> None:
        sub = await backend.events.subscribe("t", "g")
        batch: list[Any] = [{"items": [1]}, {"items": [2]}]
        await backend.events.publish_many("t", batch)
        batch[0]["items"].append("changed")
        batch.append("added later")
        got = await collect(sub, 2)
        assert payloads(got) == [{"items": [1]}, {"items": [2]}]
        assert await sub.fetch(10, timeout=0.1) == []
        await sub.ack_many(got)


class AckMany:
    async def test_acked_deliveries_are_never_redelivered(self, backend: Backend) -> None:
        sub = await backend.events.subscribe("t", "g", ack_timeout=ACK)
        await backend.events.publish_many("t", list(range(30)))
        got = await collect(sub, 30)
        assert payloads(got) == list(range(30))
        await sub.ack_many(got)
        await asyncio.sleep(ACK * 3)
        assert await sub.fetch(100, timeout=ACK * 2) == []

    async def test_only_the_acked_part_of_a_batch_is_settled(self, backend: Backend) -> None:
        sub = await backend.events.subscribe("t", "g", ack_timeout=ACK)
        await backend.events.publish_many("t", list(range(6)))
        got = await collect(sub, 6)
        await sub.ack_many(got[:4])
        again = await collect(sub, 2, within=5.0)
        assert sorted(payloads(again)) == [4, 5]
        assert all(d.attempt == 2 for d in again)
        await sub.ack_many(again)
        assert await sub.fetch(10, timeout=ACK * 3) == []

    async def test_nacks_and_a_batch_ack_mix(self, backend: Backend) -> None:
        sub = await backend.events.subscribe("t", "g", ack_timeout=30)
        await backend.events.publish_many("t", list(range(6)))
        got = await collect(sub, 6)
        for delivery in got[0::2]:
            await delivery.nack()
        await sub.ack_many(got[1::2])
        again = await collect(sub, 3)
        assert sorted(payloads(again)) == [0, 2, 4]
        assert all(d.attempt == 2 for d in again)
        await sub.ack_many(again)
        assert await sub.fetch(10, timeout=0.2) == []

    async def test_an_already_acked_delivery_is_a_no_op(self, backend: Backend) -> None:
        sub = await backend.events.subscribe("t", "g", ack_timeout=ACK)
        await backend.events.publish_many("t", ["a", "b", "c"])
        got = await collect(sub, 3)
        await got[0].ack()
        await sub.ack_many(got)  # got[0] was acked alone: no error, same outcome
        await sub.ack_many(got)  # twice: still a no-op
        await sub.ack_many([])
        await got[1].ack()  # a single ack after the batch ack: a no-op too
        assert await sub.fetch(10, timeout=ACK * 3) == []

    async def test_deliveries_of_another_subscription_are_refused(self, backend: Backend) -> None:
        mine = await backend.events.subscribe("t", "g", consumer="a", ack_timeout=ACK)
        theirs = await backend.events.subscribe("t", "g", consumer="b", ack_timeout=ACK)
        other_group = await backend.events.subscribe("t", "h", ack_timeout=ACK)
        await backend.events.publish_many("t", ["x", "y"])
        [first] = await mine.fetch(1, timeout=5)
        [second] = await theirs.fetch(1, timeout=5)
        elsewhere = await collect(other_group, 2)
        with pytest.raises(ValidationError) as info:
            await mine.ack_many([first, second])
        assert info.value.field == "deliveries[1]"
        with pytest.raises(ValidationError) as info:
            await mine.ack_many([first, *elsewhere])
        assert info.value.field == "deliveries[1]"
        fake: Any = "not a delivery"
        with pytest.raises(ValidationError) as info:
            await mine.ack_many([fake])
        assert info.value.field == "deliveries[0]"
        with pytest.raises(ValidationError) as info:
            await mine.ack_many(first)  # type: ignore[arg-type]
        assert info.value.field == "deliveries"
        # Nothing was acknowledged by the refused calls: the event comes back.
        [back] = await collect(mine, 1, within=5.0)
        assert back.event.payload == first.event.payload
        assert back.attempt == 2
        await mine.ack_many([back])
        await theirs.ack_many([second])
        await other_group.ack_many(elsewhere)


class BatchDurability:
    async def test_a_batch_and_its_acks_survive_a_restart(
        self, tier: TierConfig, storage: Path
    ) -> None:
        if not tier.durable:
            pytest.skip("this tier is volatile by design")
        first: Backend = tier.build(storage)
        await first.start()
        sub = await first.events.subscribe("t", "g", ack_timeout=ACK)
        ids = await first.events.publish_many("t", list(range(10)))
        got = await collect(sub, 10)
        await sub.ack_many(got[:7])
        await first.stop()
        second: Backend = tier.build(storage)
        await second.start()
        try:
            assert [e.id for e in await replayed(second, "t")] == ids
            again = await second.events.subscribe("t", "g", ack_timeout=ACK)
            back = await collect(again, 3, within=10.0)
            assert sorted(payloads(back)) == [7, 8, 9]  # the acked seven never come back
            await again.ack_many(back)
            assert await again.fetch(10, timeout=ACK * 3) == []
        finally:
            await second.stop()


class TestEventBatches(PublishMany, AckMany, BatchDurability):
    """Runs the batch calls' behaviour on every tier."""
