"""Event bus on T2 (Redis Streams) against raw redis-py on the same pattern.

The pattern is the one of ``runtime_bus.py``: a producer publishes N messages while at most
WINDOW are unacknowledged; C consumers (one consumer group) receive batches of up to 100 and
acknowledge each message. Latency runs from the publish call to the return of its ack.

* raw redis-py (the baseline): JSON-encoded payloads ``XADD``-ed in pipelines of up to 100;
  consumers ``XREADGROUP COUNT 100 BLOCK 50`` and ``XACK`` each batch in one call;
* memfun T2 (``RedisBackend``): one ``publish`` task per message and ``asyncio.gather`` of
  the acks of a batch (the backend sends concurrent publishes as one pipeline of ``XADD``s
  and concurrent acks as one ``XACK``), plus everything the protocol adds: validation,
  event ids, the claim script every fetch runs for redeliveries and dead letters.

``measure_raw`` and ``measure_t2`` return a :class:`Result`; ``runtime_bus.py`` wires them
into its table. Run alone: uv run python benchmarks/_bus_redis.py [--quick] [--url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from typing import Any

from _bench import Clock, Result, payload, row, run

from memfun_runtime.backends.redis import RedisBackend

WINDOW = 1000
BATCH = 100
DEFAULT_URL = os.environ.get("MEMFUN_REDIS_URL") or "redis://127.0.0.1:6379/0"


async def measure_raw(url: str, n: int, size: int, consumers: int) -> Result:
    """Raw redis-py: pipelined XADD, XREADGROUP batches, one XACK per batch."""
    import redis.asyncio as aioredis

    client: Any = aioredis.Redis.from_url(url, decode_responses=True)
    stream = f"bench-raw-{uuid.uuid4().hex}"
    await client.xgroup_create(stream, "g", id="$", mkstream=True)
    window = asyncio.Semaphore(WINDOW)
    clock = Clock(n)

    async def consume(name: str) -> None:
        while not clock.done.is_set():
            reply = await client.xreadgroup("g", name, {stream: ">"}, count=BATCH, block=50)
            if not reply:
                continue
            entries = reply[0][1]
            ids = [entry_id for entry_id, _ in entries]
            await client.xack(stream, "g", *ids)
            indexes = [json.loads(fields["p"])["i"] for _, fields in entries]
            for _ in ids:
                window.release()
            clock.acked(indexes)

    start = time.perf_counter()
    workers = [asyncio.create_task(consume(f"c{k}")) for k in range(consumers)]
    i = 0
    while i < n:
        await window.acquire()
        pipe = client.pipeline(transaction=False)
        chunk = [i]
        while len(chunk) < BATCH and i + len(chunk) < n and window.locked() is False:
            await window.acquire()
            chunk.append(i + len(chunk))
        for k in chunk:
            clock.published[k] = time.perf_counter()
            pipe.xadd(stream, {"p": json.dumps(payload(k, size))})
        await pipe.execute()
        i += len(chunk)
    await clock.done.wait()
    elapsed = time.perf_counter() - start
    await asyncio.gather(*workers)
    await client.delete(stream)
    await client.aclose()
    return Result("raw redis-py (pipelined)", size, consumers, n, elapsed, clock.latencies)


async def measure_t2(url: str, n: int, size: int, consumers: int) -> Result:
    """Memfun T2 on the same pattern (the runtime_bus.py memfun loop)."""
    backend = RedisBackend(url, namespace=f"bench{uuid.uuid4().hex[:12]}")
    await backend.start()
    subs = [
        await backend.events.subscribe("bench", "g", consumer=f"c{k}") for k in range(consumers)
    ]
    window = asyncio.Semaphore(WINDOW)
    clock = Clock(n)

    async def consume(index: int) -> None:
        sub = subs[index]
        while not clock.done.is_set():
            batch = await sub.fetch(BATCH, timeout=0.05)
            if not batch:
                continue
            await asyncio.gather(*(d.ack() for d in batch))
            for _ in batch:
                window.release()
            clock.acked([d.event.payload["i"] for d in batch])

    async def publish(i: int) -> None:
        await backend.events.publish("bench", payload(i, size))

    start = time.perf_counter()
    workers = [asyncio.create_task(consume(k)) for k in range(consumers)]
    pending: set[asyncio.Task[None]] = set()
    for i in range(n):
        await window.acquire()
        clock.published[i] = time.perf_counter()
        task = asyncio.create_task(publish(i))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await clock.done.wait()
    elapsed = time.perf_counter() - start
    await asyncio.gather(*workers, *pending)
    await backend.purge()
    await backend.stop()
    return Result("memfun T2 redis", size, consumers, n, elapsed, clock.latencies)


def main() -> None:
    """Print the table and whether T2 stays within 1.5x of the raw baseline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages (smoke run)")
    parser.add_argument("--url", default=DEFAULT_URL, help="Redis URL")
    args = parser.parse_args()
    n = 5_000 if args.quick else 20_000
    print(
        f"{'system':<28} {'bytes':>6} {'cons':>4} {'msgs':>7} {'msg/s':>10} {'p50 ms':>8} "
        f"{'p99 ms':>8}  vs base"
    )
    checks: list[tuple[str, bool]] = []
    for size in (100, 10_000):
        for consumers in (1, 4):
            raw = run(measure_raw(args.url, n, size, consumers))
            t2 = run(measure_t2(args.url, n, size, consumers))
            print(row(raw, None))
            print(row(t2, raw))
            print()
            label = f"{size} B, {consumers} consumer(s)"
            checks.append((f"T2 within 1.5x of raw redis-py ({label})", raw.rate <= 1.5 * t2.rate))
    for what, ok in checks:
        print(f"{'PASS' if ok else 'MISS'}  {what}")


if __name__ == "__main__":
    main()
