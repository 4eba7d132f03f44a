"""Costs of the shared tiers that must not grow with what they hold, each against a baseline.

Private servers (a ``redis-server`` and a ``nats-server`` started on free ports), so no other
client's commands count. Baselines measured in the same run:

* **T2 fetch**: the Redis server's time per empty fetch (``INFO commandstats``, every
  command it ran, divided by the fetches) while another consumer of the group holds 5,000
  deliveries, against the same stream and group with all 5,000 acknowledged. The claim
  script used to walk the group's whole pending list on every fetch.
* **T3 newest invocations**: wall time of ``skills.invocations(skill, limit=50)`` after
  20,000 runs of the skill and then 20,000 of another, against a skill with 50 runs. Routing
  asks every skill of the catalog this before each ``memfun /skill``; T3 used to read the
  skill's whole history.

Budget: each within 2x of its baseline. Run: uv run python benchmarks/runtime_history.py
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from memfun_runtime.backends.nats import NatsBackend
from memfun_runtime.backends.nats.testing import PrivateNats
from memfun_runtime.backends.redis import RedisBackend
from memfun_runtime.backends.redis.testing import PrivateRedis
from memfun_runtime.testing import collect

HELD, FETCHES = 5_000, 200
HISTORY, LIMIT, CALLS = 20_000, 50, 5
BUDGET = 2.0


async def _server_us_per_fetch(url: str, topic: str, *, held: bool) -> float:
    """Server time per empty fetch of one consumer of a group whose topic has 5,000 events,
    while another consumer holds them all (``held``) or has acknowledged them all."""
    backend = RedisBackend(url, namespace="history")
    await backend.start()
    admin: Any = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        events = backend.events
        holder = await events.subscribe(topic, "g", consumer="holder", ack_timeout=600)
        other = await events.subscribe(topic, "g", consumer="other", ack_timeout=600)
        await events.publish_many(topic, list(range(HELD)))
        taken = await collect(holder, HELD, within=60)
        assert len(taken) == HELD
        if not held:  # the baseline: the same stream, every delivery acknowledged
            await holder.ack_many(taken)
        await other.fetch(1, timeout=0)  # the script is loaded
        await admin.config_resetstat()
        for _ in range(FETCHES):
            assert await other.fetch(10, timeout=0) == []
        stats = await admin.info("commandstats")
        busy = sum(v["usec"] for k, v in stats.items() if "resetstat" not in k)
        return busy / FETCHES
    finally:
        await admin.aclose()
        await backend.stop()


async def _record(backend: NatsBackend, skill: str, count: int) -> None:
    skills = backend.skills
    for first in range(0, count, 500):
        runs = min(500, count - first)
        await asyncio.gather(*(
            skills.record_invocation(skill, outcome="success", latency=0.1) for _ in range(runs)
        ))  # fmt: skip


async def _invocations_ms(url: str) -> tuple[float, float]:
    """Median ms of ``invocations(limit=50)``: a skill with 50 runs, one with 20,000 older."""
    backend = NatsBackend(url, namespace="history")
    await backend.start()
    try:
        await _record(backend, "long", HISTORY)
        await _record(backend, "other", HISTORY)
        await _record(backend, "short", LIMIT)
        times: dict[str, list[float]] = {"short": [], "long": []}
        for _ in range(CALLS):
            for skill, spent in times.items():
                started = time.perf_counter()
                assert len(await backend.skills.invocations(skill, limit=LIMIT)) == LIMIT
                spent.append((time.perf_counter() - started) * 1000)
        return statistics.median(times["short"]), statistics.median(times["long"])
    finally:
        await backend.stop()


def _check(what: str, base: float, measured: float, unit: str) -> bool:
    ratio = measured / base
    ok = ratio <= BUDGET
    print(f"{what:58} {base:9.1f} {measured:9.1f} {unit:3} {ratio:5.2f}x")
    print(f"{'PASS' if ok else 'MISS'}  within {BUDGET:.0f}x of its baseline")
    return ok


def main() -> None:
    """Print each measurement against its baseline and whether it stays within budget."""
    with tempfile.TemporaryDirectory() as folder:
        for name in ("redis", "nats"):
            (Path(folder) / name).mkdir()
        redis_server = PrivateRedis(Path(folder) / "redis")
        nats_server = PrivateNats(Path(folder) / "nats")
        redis_server.start()
        nats_server.start()
        try:
            none = asyncio.run(_server_us_per_fetch(redis_server.url, "acked", held=False))
            held = asyncio.run(_server_us_per_fetch(redis_server.url, "held", held=True))
            short, long = asyncio.run(_invocations_ms(nats_server.url))
        finally:
            redis_server.stop()
            nats_server.stop()
    print(f"{'measurement':58} {'baseline':>9} {'measured':>9}")
    _check(f"T2 server time per empty fetch, {HELD:,} held vs acked", none, held, "µs")
    _check(f"T3 invocations(limit={LIMIT}), {HISTORY:,} older runs vs {LIMIT}", short, long, "ms")


if __name__ == "__main__":
    main()
