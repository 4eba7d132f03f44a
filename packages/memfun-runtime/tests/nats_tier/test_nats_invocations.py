"""T3 reads a skill's newest invocations without reading its whole history.

Routing asks every skill of the catalog for its last few runs before each ``memfun /skill``;
the invocation log is a stream that JetStream reads forward only, and T3 read a skill's
entire history to keep the newest ``limit``: 0.6 s for one skill with 20,000 runs, growing
without bound. It now counts backwards by consumer probes and reads only the tail.
"""

from __future__ import annotations

import nats
import pytest

from memfun_core.errors import CorruptDataError
from memfun_runtime.backends.nats import NatsBackend
from memfun_runtime.backends.nats._client import token
from memfun_runtime.backends.nats.testing import PrivateNats


async def _record(backend: NatsBackend, skill: str, latencies: range) -> None:
    for latency in latencies:
        await backend.skills.record_invocation(skill, outcome="success", latency=latency)


async def test_the_newest_invocations_are_read_without_the_old_ones(
    private_nats: PrivateNats,
) -> None:
    backend = NatsBackend(private_nats.url, namespace="inv")
    await backend.start()
    try:
        skills = backend.skills
        # An old record that cannot be decoded: reading the whole history would fail on it.
        raw = await nats.connect(private_nats.url)
        try:
            await raw.jetstream().publish(f"inv.inv.{token('s')}", b"{not json")
        finally:
            await raw.close()
        await _record(backend, "s", range(300))  # dense and old
        await _record(backend, "other", range(1000))  # then another skill's runs
        await _record(backend, "s", range(1000, 1003))  # and three recent ones
        newest = await skills.invocations("s", limit=5)
        assert [r.latency for r in newest] == [1002, 1001, 1000, 299, 298]
        assert [r.latency for r in await skills.invocations("s", limit=2)] == [1002, 1001]
        sixty = await skills.invocations("s", limit=60)
        assert [r.latency for r in sixty] == [1002, 1001, 1000, *range(299, 242, -1)]
        assert await skills.invocations("s", limit=0) == []
        assert [r.latency for r in await skills.invocations("never", limit=3)] == []
        with pytest.raises(CorruptDataError):  # the whole history: the bad record is read
            await skills.invocations("s", limit=304)
        with pytest.raises(CorruptDataError):
            await skills.stats("s")
    finally:
        await backend.stop()
