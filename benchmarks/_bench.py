"""Shared pieces of the event-bus benchmarks: one run's result, the payload, the clock, a row.

Imported by ``runtime_bus.py``, ``_bus_redis.py`` and ``_bus_nats.py`` (run as scripts from
this folder, so a plain ``import _bench`` finds it).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

_T = TypeVar("_T")


@dataclass
class Result:
    """One run: elapsed seconds and per-message latencies."""

    system: str
    size: int
    consumers: int
    messages: int
    seconds: float
    latencies: list[float] = field(repr=False)

    @property
    def rate(self) -> float:
        """Acknowledged messages per second."""
        return self.messages / self.seconds

    def percentile(self, q: float) -> float:
        """Latency percentile in milliseconds."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def payload(i: int, size: int) -> dict[str, Any]:
    """The message body: about ``size`` bytes of JSON."""
    return {"i": i, "data": "x" * max(size - 20, 1)}


class Clock:
    """Publish times, latencies and the end signal shared by one run."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.published = [0.0] * n
        self.latencies: list[float] = []
        self.done = asyncio.Event()

    def acked(self, indexes: list[int]) -> None:
        now = time.perf_counter()
        self.latencies.extend(now - self.published[i] for i in indexes)
        if len(self.latencies) >= self.n:
            self.done.set()


def row(result: Result, baseline: Result | None, *, width: int = 36) -> str:
    """One table row, with the rate relative to ``baseline``."""
    versus = f"{result.rate / baseline.rate:6.2f}x" if baseline else "  base "
    return (
        f"{result.system:<{width}} {result.size:>6} {result.consumers:>4} {result.messages:>7} "
        f"{result.rate:>10,.0f} {result.percentile(0.5):>8.2f} {result.percentile(0.99):>8.2f}"
        f"  {versus}"
    )


def settled() -> None:
    """Collect garbage before a run, so no system pays for the garbage of the one before.

    A full collection walks every object of the process (tens of milliseconds with AutoGen
    imported); without this, whichever system happens to cross the collector's threshold
    pays for the objects the previous systems left.
    """
    gc.collect()


def run(coro: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run(coro)`` after :func:`settled`."""
    settled()
    return asyncio.run(coro)
