"""Pieces shared by the in-memory services: the started-guard and a wake-up signal."""

from __future__ import annotations

import asyncio
import time

from memfun_runtime.backends._services import not_started

__all__ = ["Gate", "Signal", "now"]

TIER = "memory"


def now() -> float:
    """Wall-clock Unix time (the unit of every timestamp in the protocols)."""
    return time.time()


class Gate:
    """Whether the backend is started; services call :meth:`check` before each operation."""

    __slots__ = ("started",)

    def __init__(self) -> None:
        self.started = False

    def check(self) -> None:
        """Raise :class:`ConflictError` unless the backend is started."""
        if not self.started:
            raise not_started(TIER)


class Signal:
    """Wakes every coroutine waiting on it; cheaper than a Condition (no lock)."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def notify(self) -> None:
        """Wake all current waiters."""
        if not self._waiters:  # the common case on a busy bus: nobody is waiting
            return
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, seconds: float) -> None:
        """Return after the next :meth:`notify` or after ``seconds``, whichever comes first."""
        if seconds <= 0:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, seconds)
        except TimeoutError:
            pass
        finally:
            if not waiter.done():
                waiter.cancel()
            if waiter in self._waiters:
                self._waiters.remove(waiter)
