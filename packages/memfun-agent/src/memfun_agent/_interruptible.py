"""Run blocking work in a daemon thread and stop waiting for it when woken (an interrupt)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ["run_until_woken"]

T = TypeVar("T")

Wake = Callable[[], None]


async def run_until_woken(
    work: Callable[[], T], register: Callable[[Wake | None], None], *, name: str
) -> T | None:
    """Run ``work()`` in a daemon thread; return its result, or ``None`` once woken.

    A daemon thread, not the loop's executor: an interrupted process must be able to exit
    while ``work`` (a step's sandbox or model call) is still winding down.

    Args:
        work: The blocking work; an exception it raises is raised here.
        register: Receives the thread-safe wake function while the work runs, then
            ``None``; calling the wake function ends the wait (``None`` is returned and the
            work's eventual result is dropped).
        name: The thread's name.
    """
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[T] = loop.create_future()
    woken = asyncio.Event()

    def deliver(outcome: T | None, error: BaseException | None) -> None:
        if finished.done():
            return
        if error is not None:
            finished.set_exception(error)
        else:
            finished.set_result(outcome)  # pyright: ignore[reportArgumentType] - T when no error

    def run() -> None:
        try:
            outcome = work()
        except BaseException as exc:  # handed to the awaiting coroutine
            if not loop.is_closed():
                loop.call_soon_threadsafe(deliver, None, exc)
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(deliver, outcome, None)

    def wake() -> None:
        loop.call_soon_threadsafe(woken.set)

    register(wake)
    waiter = asyncio.ensure_future(woken.wait())
    threading.Thread(target=run, name=name, daemon=True).start()
    try:
        await asyncio.wait({finished, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        register(None)
        waiter.cancel()
    if finished.done():
        return finished.result()
    finished.cancel()
    return None
