"""The event buses' shared skeleton (backends/_delivery.py), on the in-memory tier."""

from __future__ import annotations

from typing import Any

import pytest

from memfun_core.errors import ValidationError
from memfun_runtime.backends.memory import MemoryBackend


async def test_topics_are_checked_however_many_were_seen_before() -> None:
    backend = MemoryBackend()
    await backend.start()
    bad: Any = ["orders"]  # unhashable: must still be refused as a bad name
    with pytest.raises(ValidationError, match="topic"):
        await backend.events.publish(bad, 1)
    for n in range(5000):  # more than the bus remembers as checked
        await backend.events.publish(f"t{n}", n)
    with pytest.raises(ValidationError, match="topic"):
        await backend.events.publish("a b", 1)
    assert [e.payload async for e in backend.events.replay("t4999")] == [4999]
    await backend.stop()


async def test_replay_stops_at_the_limit_and_from_the_time() -> None:
    backend = MemoryBackend()
    await backend.start()
    for n in range(5):
        await backend.events.publish("log", n)
    events = [e async for e in backend.events.replay("log")]
    cut = events[2].timestamp
    assert [e.payload async for e in backend.events.replay("log", limit=2)] == [0, 1]
    later = [e.payload async for e in backend.events.replay("log", from_time=cut, limit=10)]
    assert later[-1] == 4
    assert all(e.timestamp >= cut for e in events if e.payload in later)
    with pytest.raises(ValidationError, match="from_time"):
        [e async for e in backend.events.replay("log", from_time=-1.0)]
    await backend.stop()
