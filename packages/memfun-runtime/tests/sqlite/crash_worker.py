"""A consumer process for the T1 crash tests (run as a script; pytest does not collect it).

It joins group ``workers`` and writes one line per step to a shared log opened with
O_APPEND (one ``write`` per line, so lines of several processes never interleave):

* ``READY <name>`` once subscribed;
* ``R <n> <name> <attempt> <unix time>`` when event ``n`` is received;
* ``A <n> <name> <unix time>`` after its ack has returned (it is committed);
* ``HANG <name>`` when it stops mid-batch on purpose (``--hang-after``);
* ``P <n>`` after the publish of event ``n`` has returned (``--produce``: it publishes
  ``{"n": 0}``, ``{"n": 1}``, ... in concurrent chunks of ``--batch`` until killed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

from memfun_runtime.backends.sqlite import SQLiteBackend


async def run(args: argparse.Namespace) -> None:
    fd = os.open(args.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def note(line: str) -> None:
        os.write(fd, (line + "\n").encode())

    backend = SQLiteBackend(Path(args.db), poll_interval=0.01)
    await backend.start()
    if args.produce:
        note(f"READY {args.name}")
        start = 0
        while True:
            numbers = range(start, start + args.batch)
            await asyncio.gather(*(backend.events.publish(args.topic, {"n": n}) for n in numbers))
            for n in numbers:
                note(f"P {n}")
            start += args.batch
    sub = await backend.events.subscribe(
        args.topic,
        "workers",
        consumer=args.name,
        ack_timeout=args.ack_timeout,
        max_deliveries=1000,
        start="earliest",
    )
    note(f"READY {args.name}")
    while True:
        batch = await sub.fetch(args.batch, timeout=0.2)
        for delivery in batch:
            note(f"R {delivery.event.payload['n']} {args.name} {delivery.attempt} {time.time()}")
        if args.hang_after is not None and batch:
            keep = batch[: args.hang_after]
            await asyncio.gather(*(d.ack() for d in keep))
            for delivery in keep:
                note(f"A {delivery.event.payload['n']} {args.name} {time.time()}")
            note(f"HANG {args.name}")
            await asyncio.sleep(3600)
        await asyncio.gather(*(d.ack() for d in batch))
        for delivery in batch:
            note(f"A {delivery.event.payload['n']} {args.name} {time.time()}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--topic", default="jobs")
    parser.add_argument("--name", required=True)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--ack-timeout", type=float, default=2.0)
    parser.add_argument("--hang-after", type=int, default=None)
    parser.add_argument("--produce", action="store_true")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
