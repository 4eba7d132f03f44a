"""Coalescing of concurrent calls into one server round trip."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["Coalescer"]

_In = TypeVar("_In")
_Out = TypeVar("_Out")


class Coalescer(Generic[_In, _Out]):
    """Gathers the items submitted during one event-loop turn and sends them in one call.

    The future ``submit`` returns resolves only after the batch holding its item was applied
    by the server, so coalescing never weakens what a call promises; it only saves round
    trips when callers run concurrently (``asyncio.gather``, many tasks). A lone caller pays
    one loop turn. One batch is in flight at a time: a caller that awaits each call before
    the next never has two items in one batch, nor in two batches at once.

    Args:
        send: Applies a batch and returns one result per item, in order; an exception in
            place of a result is raised to that item's caller alone.
        max_batch: Items per call at most; larger backlogs are sent in several calls.
    """

    __slots__ = ("_flushing", "_items", "_max", "_send", "_task", "_waiting")

    def __init__(
        self, send: Callable[[list[_In]], Awaitable[list[_Out]]], *, max_batch: int = 256
    ) -> None:
        self._send = send
        self._max = max_batch
        self._items: list[_In] = []
        self._waiting: list[asyncio.Future[_Out]] = []
        self._flushing = False
        self._task: asyncio.Task[None] | None = None

    def submit(self, item: _In) -> asyncio.Future[_Out]:
        """Queue ``item``; the returned future resolves once its batch was sent.

        A plain function returning the future, not a coroutine: at tens of thousands of
        calls a second, the coroutine object each call would create is measurable (in time
        and in garbage-collector work).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_Out] = loop.create_future()
        self._items.append(item)
        self._waiting.append(future)
        if not self._flushing:
            # The flush task's first step runs after the steps already scheduled, e.g. the
            # other tasks of an asyncio.gather: their items join this batch.
            self._flushing = True
            self._task = loop.create_task(self._flush())
        return future

    async def _flush(self) -> None:
        try:
            while self._items:
                items, self._items = self._items[: self._max], self._items[self._max :]
                waiting, self._waiting = self._waiting[: self._max], self._waiting[self._max :]
                try:
                    results = await self._send(items)
                except Exception as exc:  # handed to every caller of the batch
                    for future in waiting:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                except BaseException:  # cancelled: so are the calls it carried
                    for future in waiting:
                        future.cancel()
                    raise
                for future, result in zip(waiting, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._flushing = False
