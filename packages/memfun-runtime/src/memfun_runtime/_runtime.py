"""``Runtime``: one backend, its services and the agents running on them."""

from __future__ import annotations

import logging
from typing import Self

from memfun_runtime._backend import Backend
from memfun_runtime.agents._manager import AgentFactory, AgentManager
from memfun_runtime.protocols import (
    AgentRegistry,
    EventBus,
    HealthReport,
    SessionStore,
    SkillRegistry,
    StateStore,
    TaskQueue,
)

__all__ = ["Runtime"]

log = logging.getLogger("memfun_runtime")


class Runtime:
    """A started backend plus supervised agents, used as an async context manager.

    ``async with runtime:`` starts the backend, then every added agent (in the order added);
    leaving the block stops the agents in reverse order, letting each finish its in-flight
    messages within the drain timeout, then stops the backend. Build one with
    :class:`~memfun_runtime.RuntimeBuilder`.

    Example:
        >>> from memfun_runtime import RuntimeBuilder
        >>> runtime = RuntimeBuilder().memory().build()
        >>> # async with runtime: await runtime.events.publish("hello", {"n": 1})

    Args:
        backend: The tier's backend (not started).
        drain_timeout: Seconds each stopping agent may take to finish in-flight messages.
        restart_backoff: First and longest delay before restarting a crashed agent.
        stable_after: Seconds of running after which an agent's restart backoff resets.
        max_restarts: Crashes tolerated per agent before it is left failed (``None``: never).
    """

    def __init__(
        self,
        backend: Backend,
        *,
        drain_timeout: float = 10.0,
        restart_backoff: tuple[float, float] = (0.5, 30.0),
        stable_after: float = 60.0,
        max_restarts: int | None = None,
    ) -> None:
        self.backend = backend
        self.manager = AgentManager(
            self,
            drain_timeout=drain_timeout,
            backoff_initial=restart_backoff[0],
            backoff_max=restart_backoff[1],
            stable_after=stable_after,
            max_restarts=max_restarts,
        )
        self._running = False

    @property
    def tier(self) -> str:
        """The backend's tier name."""
        return self.backend.tier

    @property
    def running(self) -> bool:
        """Whether :meth:`start` completed and :meth:`stop` has not run since."""
        return self._running

    @property
    def events(self) -> EventBus:
        """The event bus."""
        return self.backend.events

    @property
    def state(self) -> StateStore:
        """The key-value state store."""
        return self.backend.state

    @property
    def tasks(self) -> TaskQueue:
        """The task queue."""
        return self.backend.tasks

    @property
    def sessions(self) -> SessionStore:
        """The session store."""
        return self.backend.sessions

    @property
    def agents(self) -> AgentRegistry:
        """The agent registry (live instances by capability)."""
        return self.backend.agents

    @property
    def skills(self) -> SkillRegistry:
        """The skill registry."""
        return self.backend.skills

    async def add_agent(self, factory: AgentFactory, *, name: str | None = None) -> str:
        """Add an agent and return its name; it starts now if the runtime is running.

        Args:
            factory: An agent class (``BaseAgent`` subclass or ``@agent`` function) or a
                zero-argument function returning a new agent.
            name: Overrides the agent's name.
        """
        added = self.manager.add(factory, name=name)
        if self._running:
            await self.manager.start(added)
        return added

    async def start(self) -> None:
        """Start the backend, then every added agent. Idempotent."""
        if self._running:
            return
        await self.backend.start()
        self._running = True
        try:
            await self.manager.start()
        except BaseException:
            await self.stop()
            raise
        log.info("runtime started on tier %s", self.tier)

    async def stop(self) -> None:
        """Drain and stop every agent, then stop the backend. Idempotent."""
        if not self._running:
            return
        try:
            await self.manager.stop()
        finally:
            self._running = False
            await self.backend.stop()
            log.info("runtime on tier %s stopped", self.tier)

    async def health(self) -> HealthReport:
        """The backend's report plus one ``agent:<name>`` component per agent."""
        report = await self.backend.health()
        return HealthReport(
            tier=report.tier,
            components=report.components + self.manager.health_components(),
            checked_at=report.checked_at,
        )

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"Runtime(tier={self.tier!r}, {state}, agents={self.manager.names()!r})"
