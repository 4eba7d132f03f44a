"""T3 replay over a stream with a retention: events may expire while a replay reads them."""

from __future__ import annotations

import asyncio
import time

import pytest

from memfun_core.errors import ValidationError
from memfun_runtime.backends.nats import NatsBackend
from memfun_runtime.backends.nats.testing import PrivateNats

RETENTION = 0.5


async def test_a_replay_ends_when_events_expire_while_it_reads(private_nats: PrivateNats) -> None:
    """nats-server 2.9 never answers a ``no_wait`` pull whose pending messages expired."""
    backend = NatsBackend(
        private_nats.url, namespace="rp", event_retention=RETENTION, dedupe_window=RETENTION
    )
    await backend.start()
    try:
        for i in range(300):  # more than one read batch (256)
            await backend.events.publish("t", i)
        started = time.monotonic()
        seen: list[int] = []
        async for event in backend.events.replay("t"):
            seen.append(int(event.payload))  # type: ignore[arg-type]
            if len(seen) == 1:
                await asyncio.sleep(RETENTION * 4)  # the rest of the log expires meanwhile
        elapsed = time.monotonic() - started
        assert seen[:256] == list(range(256))  # the first batch was read before the expiry
        assert len(seen) < 300
        assert elapsed < RETENTION * 4 + 2.0  # ended at once, not after a timeout
    finally:
        await backend.stop()


def test_a_retention_shorter_than_the_dedupe_window_is_refused_with_both_named() -> None:
    with pytest.raises(ValidationError) as info:
        NatsBackend("nats://127.0.0.1:4222", namespace="rp", event_retention=60)
    assert info.value.field == "event_retention"
    assert "dedupe_window (120 s)" in str(info.value)
