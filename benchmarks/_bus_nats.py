"""Event bus on T3 (NATS JetStream) against raw nats-py on the same pattern.

The pattern is the one of ``runtime_bus.py``: a producer publishes N messages while at most
WINDOW are unacknowledged (one task per publish, each awaiting JetStream's PubAck); C
consumers of one durable pull consumer fetch batches of up to 100 and acknowledge each
message. Latency runs from the publish call to the return of its ack.

* raw nats-py, the baselines: ``js.publish`` of JSON payloads, ``pull_subscribe`` +
  ``fetch(100)``, then either ``msg.ack()`` (fire-and-forget, the common idiom) or
  ``msg.ack_sync()`` (the server confirms: the guarantee the protocol's ``ack`` gives);
* memfun T3 (``NatsBackend``): ``events.publish`` / ``subscribe`` / ``fetch`` /
  ``asyncio.gather`` of the acks of a batch, plus everything the protocol adds: validation,
  event-id headers, dead-letter bookkeeping, confirmed acks.

``measure_raw`` and ``measure_t3`` return a :class:`Result`; ``runtime_bus.py`` wires them
into its table. Run alone: uv run python benchmarks/_bus_nats.py [--quick] [--url URL]
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

from memfun_runtime.backends.nats import NatsBackend

WINDOW = 1000
BATCH = 100
DEFAULT_URL = os.environ.get("MEMFUN_NATS_URL") or "nats://127.0.0.1:4222"


async def measure_raw(
    url: str, n: int, size: int, consumers: int, *, confirm: bool = True
) -> Result:
    """Raw nats-py: JetStream publish, pull fetch, ack (``ack_sync`` when ``confirm``)."""
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig

    nc: Any = await nats.connect(url)
    js: Any = nc.jetstream()
    stream = f"BENCH_{uuid.uuid4().hex[:12]}"
    subject = f"{stream.lower()}.bench"
    await js.add_stream(name=stream, subjects=[subject])
    config = ConsumerConfig(durable_name="g", ack_policy=AckPolicy.EXPLICIT, ack_wait=30)
    await js.add_consumer(stream, config)
    subs = [await js.pull_subscribe_bind("g", stream) for _ in range(consumers)]
    window = asyncio.Semaphore(WINDOW)
    clock = Clock(n)

    async def consume(sub: Any) -> None:
        while not clock.done.is_set():
            try:
                msgs = await sub.fetch(BATCH, timeout=0.05)
            except TimeoutError:  # nats-py raises both its own and the builtin one
                continue
            if confirm:
                await asyncio.gather(*(m.ack_sync() for m in msgs))
            else:
                for m in msgs:
                    await m.ack()
            for _ in msgs:
                window.release()
            clock.acked([json.loads(m.data)["i"] for m in msgs])

    async def publish(i: int) -> None:
        await js.publish(subject, json.dumps(payload(i, size)).encode())

    start = time.perf_counter()
    workers = [asyncio.create_task(consume(sub)) for sub in subs]
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
    await js.delete_stream(stream)
    await nc.close()
    label = "raw nats-py (ack_sync)" if confirm else "raw nats-py (ack)"
    return Result(label, size, consumers, n, elapsed, clock.latencies)


async def measure_t3(url: str, n: int, size: int, consumers: int) -> Result:
    """Memfun T3 on the same pattern (the runtime_bus.py memfun loop)."""
    namespace = f"bench{uuid.uuid4().hex[:12]}"
    backend = NatsBackend(url, namespace=namespace)
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
    await backend.destroy()
    await backend.stop()
    return Result("memfun T3 nats", size, consumers, n, elapsed, clock.latencies)


def main() -> None:
    """Print the table and whether T3 stays within 1.5x of the raw baseline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages (smoke run)")
    parser.add_argument("--url", default=DEFAULT_URL, help="NATS URL")
    args = parser.parse_args()
    n = 5_000 if args.quick else 20_000
    print(
        f"{'system':<28} {'bytes':>6} {'cons':>4} {'msgs':>7} {'msg/s':>10} {'p50 ms':>8} "
        f"{'p99 ms':>8}  vs base"
    )
    checks: list[tuple[str, bool]] = []
    for size in (100, 10_000):
        for consumers in (1, 4):
            confirmed = run(measure_raw(args.url, n, size, consumers, confirm=True))
            plain = run(measure_raw(args.url, n, size, consumers, confirm=False))
            t3 = run(measure_t3(args.url, n, size, consumers))
            print(row(confirmed, None))
            print(row(plain, confirmed))
            print(row(t3, confirmed))
            print()
            label = f"{size} B, {consumers} consumer(s)"
            checks.append(
                (
                    f"T3 within 1.5x of raw nats-py, same ack ({label})",
                    confirmed.rate <= 1.5 * t3.rate,
                )
            )
            checks.append(
                (f"T3 within 1.5x of raw nats-py, plain ack ({label})", plain.rate <= 1.5 * t3.rate)
            )
    for what, ok in checks:
        print(f"{'PASS' if ok else 'MISS'}  {what}")


if __name__ == "__main__":
    main()
