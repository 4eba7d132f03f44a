"""T0 specifics beyond the conformance suite: retention limits and construction errors."""

from __future__ import annotations

import asyncio

import pytest

from memfun_core.errors import ValidationError
from memfun_runtime.backends.memory import MemoryBackend
from memfun_runtime.backends.memory._events import MemoryEventBus
from memfun_runtime.testing import collect


async def test_the_log_keeps_only_the_newest_events_and_lagging_groups_skip_ahead() -> None:
    backend = MemoryBackend(max_events_per_topic=10)
    await backend.start()
    try:
        lagging = await backend.events.subscribe("t", "lagging")
        for i in range(100):
            await backend.events.publish("t", i)
        kept = [event.payload async for event in backend.events.replay("t")]
        assert 10 <= len(kept) <= 11
        assert kept == list(range(100 - len(kept), 100))
        got = await collect(lagging, 100, within=0.2)
        assert [d.event.payload for d in got] == kept
    finally:
        await backend.stop()


@pytest.mark.parametrize(
    "kwargs",
    [{"dedupe_window": 0}, {"max_events_per_topic": 0}, {"task_retention": -1}],
)
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        MemoryBackend(**kwargs)  # type: ignore[arg-type]


async def test_the_dedupe_window_forgets_old_ids() -> None:
    backend = MemoryBackend(dedupe_window=0.05)
    await backend.start()
    try:
        await backend.events.publish("t", 1, event_id="same")
        await backend.events.publish("t", 2, event_id="same")
        await asyncio.sleep(0.1)
        await backend.events.publish("t", 3, event_id="same")
        assert [e.payload async for e in backend.events.replay("t")] == [1, 3]
    finally:
        await backend.stop()


async def test_settled_deliveries_do_not_pile_up_in_the_timeout_heap() -> None:
    backend = MemoryBackend()
    await backend.start()
    try:
        sub = await backend.events.subscribe("t", "g", ack_timeout=60)
        for i in range(5000):
            await backend.events.publish("t", i)
        got = await collect(sub, 5000)
        for delivery in got[:-10]:
            await delivery.ack()
        await sub.fetch(1, timeout=0)  # a fetch compacts
        bus = backend.events
        assert isinstance(bus, MemoryEventBus)
        group = bus._topics["t"].groups["g"]  # pyright: ignore[reportPrivateUsage]
        assert len(group.pending) == 10
        assert len(group.timeouts) <= 2 * 10 + 1024
        for delivery in got[-10:]:
            await delivery.ack()
    finally:
        await backend.stop()
