"""Lifecycle and health: how a runtime part starts, stops and reports its state."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

__all__ = ["ComponentHealth", "HealthCheck", "HealthReport", "HealthStatus", "Lifecycle"]


class HealthStatus(StrEnum):
    """How a component is doing, worst last."""

    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"


_RANK = {HealthStatus.OK: 0, HealthStatus.DEGRADED: 1, HealthStatus.DOWN: 2}


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    """The health of one part (``"events"``, ``"state"``, ``"agent:echo"``, ...).

    Attributes:
        name: The part.
        status: Its status.
        detail: A short human-readable explanation (what failed, what to do).
    """

    name: str
    status: HealthStatus
    detail: str = ""


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The health of a whole backend or runtime.

    Attributes:
        tier: The backend tier (``"memory"``, ``"sqlite"``, ...).
        components: One entry per part.
        checked_at: Unix time of the check.
    """

    tier: str
    components: tuple[ComponentHealth, ...]
    checked_at: float

    @property
    def status(self) -> HealthStatus:
        """The worst component status (OK when there are none)."""
        statuses = (component.status for component in self.components)
        return max(statuses, key=_RANK.__getitem__, default=HealthStatus.OK)

    @property
    def ok(self) -> bool:
        """Whether every component is OK."""
        return self.status is HealthStatus.OK

    def component(self, name: str) -> ComponentHealth | None:
        """Return the component called ``name``, or ``None``."""
        return next((c for c in self.components if c.name == name), None)


@runtime_checkable
class Lifecycle(Protocol):
    """Something that must be started before use and stopped after."""

    async def start(self) -> None:
        """Acquire resources (open files, connect); idempotent."""
        ...

    async def stop(self) -> None:
        """Release resources; idempotent. Open subscriptions are closed."""
        ...


@runtime_checkable
class HealthCheck(Protocol):
    """Something that can report its health without raising."""

    async def health(self) -> HealthReport:
        """Check every part and return a report; failures are reported, not raised."""
        ...
