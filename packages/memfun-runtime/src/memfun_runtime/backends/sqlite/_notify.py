"""In-process wake-ups: a committed write wakes the local waiters of its topic or queue.

Other processes' writes are noticed by polling (see ``poll_interval`` of the backend); this
only makes local delivery immediate. Take a :meth:`Notifier.watch` ticket *before* looking
for work, so a change committed between the look and the wait is not missed.
"""

from __future__ import annotations

import asyncio

__all__ = ["Notifier", "wait_ticket"]


class Notifier:
    """Broadcast "something changed under this key" to every coroutine waiting on it."""

    __slots__ = ("_events",)

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def watch(self, key: str) -> asyncio.Event:
        """Return a ticket that is set by the next :meth:`notify` of ``key``."""
        event = self._events.get(key)
        if event is None:
            event = self._events[key] = asyncio.Event()
        return event

    def notify(self, key: str) -> None:
        """Wake everyone holding a ticket for ``key`` (no-op without waiters)."""
        event = self._events.pop(key, None)
        if event is not None:
            event.set()

    def notify_all(self) -> None:
        """Wake every waiter (used when the backend stops)."""
        events, self._events = self._events, {}
        for event in events.values():
            event.set()


async def wait_ticket(ticket: asyncio.Event, timeout: float) -> bool:  # noqa: ASYNC109
    """Wait until ``ticket`` is set or ``timeout`` seconds pass; return whether it was set."""
    if ticket.is_set():
        return True
    if timeout <= 0:
        return False
    try:
        async with asyncio.timeout(timeout):
            await ticket.wait()
    except TimeoutError:
        return False
    return True
