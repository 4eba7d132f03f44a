"""Helpers for testing code built on the runtime (used by Memfun's own tests too).

Example:
    >>> from memfun_runtime.testing import memory_runtime
    >>> runtime = memory_runtime()  # a Runtime on the in-process tier, not started yet
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from memfun_core.errors import OperationTimeout
from memfun_runtime.backends._names import RUN_ID, namespace_for

if TYPE_CHECKING:
    from memfun_runtime._backend import Backend
    from memfun_runtime._runtime import Runtime
    from memfun_runtime.protocols import Delivery, Subscription

__all__ = [
    "RUN_ID",
    "BuildBackend",
    "TierConfig",
    "collect",
    "eventually",
    "memory_runtime",
    "namespace_for",
]


def _runs_here() -> str | None:
    return None


class BuildBackend(Protocol):
    """Builds a new, unstarted backend of one tier."""

    def __call__(self, folder: Path, /, *, task_retention: float | None = None) -> Backend:
        """Build the backend.

        Args:
            folder: Where its storage lives (a fresh folder per test; building twice on one
                folder must reach the same data on durable tiers).
            task_retention: Seconds finished tasks are kept, when a test needs it short (the
                tier then also runs its clean-up often enough to observe the expiry).
        """
        ...


@dataclass(frozen=True, slots=True)
class TierConfig:
    """How a conformance suite builds one tier's backend, and what the tier declares.

    Differences between tiers are these capability flags, never checks of the name.

    Attributes:
        name: The tier's name (a test id).
        build: Returns a new, unstarted backend whose storage lives under the given folder
            (see :class:`BuildBackend`).
        durable: Data survives stopping the backend and building a new one on the same folder.
        skip_reason: Returns why the tier cannot run here (no server), or ``None``.
    """

    name: str
    build: BuildBackend
    durable: bool
    skip_reason: Callable[[], str | None] = _runs_here


def memory_runtime() -> Runtime:
    """Return a new, not yet started :class:`~memfun_runtime.Runtime` on the memory tier."""
    from memfun_runtime._builder import RuntimeBuilder

    return RuntimeBuilder().memory().build()


async def collect(
    subscription: Subscription,
    count: int,
    *,
    within: float = 5.0,
    batch: int = 100,
) -> list[Delivery]:
    """Fetch until ``count`` deliveries arrived or ``within`` seconds passed; return them all.

    Returns fewer than ``count`` deliveries when the time runs out (the caller asserts), and
    stops fetching once ``count`` were received (it never takes more).
    """
    out: list[Delivery] = []
    deadline = time.monotonic() + within
    while len(out) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        out.extend(await subscription.fetch(min(batch, count - len(out)), timeout=remaining))
    return out


async def eventually(
    check: Callable[[], Awaitable[bool]],
    *,
    within: float = 5.0,
    interval: float = 0.02,
    what: str = "condition",
) -> None:
    """Poll ``check`` until it returns True.

    Raises:
        OperationTimeout: It did not become true within ``within`` seconds.
    """
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() >= deadline:
            raise OperationTimeout(f"waiting for {what}", within, backend="testing")
        await asyncio.sleep(interval)
