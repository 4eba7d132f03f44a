"""``AgentManager``: start, stop, restart and supervise agents inside one runtime."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import cast

from memfun_core.errors import ConflictError, NotFoundError, ValidationError
from memfun_runtime import _codec
from memfun_runtime.agents._base import BaseAgent
from memfun_runtime.agents._handlers import HandlerSpec, MessageBinding
from memfun_runtime.protocols import (
    HEADER_DEAD_DELIVERIES,
    HEADER_DEAD_GROUP,
    HEADER_DEAD_ORIGINAL_ID,
    HEADER_DEAD_ORIGINAL_TOPIC,
    HEADER_DEAD_REASON,
    AgentHost,
    ComponentHealth,
    Delivery,
    HealthStatus,
    Subscription,
)

__all__ = ["AgentFactory", "AgentManager", "AgentState", "AgentStatus"]

log = logging.getLogger("memfun_runtime.agents")

AgentFactory = Callable[[], BaseAgent]
"""Anything that returns a fresh agent: an agent class, or a function building one."""

_FETCH_WAIT = 0.5


class AgentState(StrEnum):
    """Where a supervised agent is."""

    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """A snapshot of one supervised agent.

    Attributes:
        name: The agent's name.
        state: See :class:`AgentState`.
        restarts: Crashes so far (each followed by a restart unless ``FAILED``).
        last_error: The last crash, as ``Type: message``.
        instance_id: The registry id of the current instance, if running.
    """

    name: str
    state: AgentState
    restarts: int
    last_error: str | None
    instance_id: str | None


@dataclass(slots=True)
class _Slot:
    name: str
    factory: AgentFactory
    state: AgentState = AgentState.STOPPED
    restarts: int = 0
    last_error: str | None = None
    agent: BaseAgent | None = None
    task: asyncio.Task[None] | None = None
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)


class _Crash(Exception):
    """A part of a running agent failed; the supervisor restarts it."""


class AgentManager:
    """Runs agents in one runtime and keeps them running.

    Each started agent gets a supervisor task. A crash (an exception from ``on_start`` or
    ``run``, a failing subscription or heartbeat) is logged with its traceback and the
    agent is restarted from a fresh instance after a backoff that doubles from
    ``backoff_initial`` up to ``backoff_max`` (and resets once an instance ran for
    ``stable_after`` seconds). After ``max_restarts`` crashes (``None``: never) the agent
    is ``FAILED`` and left stopped.

    Args:
        runtime: The runtime whose stores the agents use.
        drain_timeout: Seconds a stopping agent may take to finish in-flight messages
            before its handlers are cancelled (the cancelled messages are redelivered).
        backoff_initial: First restart delay in seconds.
        backoff_max: Longest restart delay.
        stable_after: Seconds of running after which the backoff resets.
        max_restarts: Crashes tolerated before giving up.
    """

    def __init__(
        self,
        runtime: AgentHost,
        *,
        drain_timeout: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        stable_after: float = 60.0,
        max_restarts: int | None = None,
    ) -> None:
        self._runtime = runtime
        self.drain_timeout = _codec.check_non_negative(drain_timeout, field="drain_timeout")
        self.backoff_initial = _codec.check_positive(backoff_initial, field="backoff_initial")
        self.backoff_max = _codec.check_positive(backoff_max, field="backoff_max")
        self.stable_after = _codec.check_positive(stable_after, field="stable_after")
        if max_restarts is not None:
            _codec.check_int(max_restarts, field="max_restarts", minimum=0)
        self.max_restarts = max_restarts
        self._slots: dict[str, _Slot] = {}

    # --- registration --------------------------------------------------------------------

    def add(self, factory: AgentFactory, *, name: str | None = None) -> str:
        """Add an agent (not started yet) and return its name.

        Args:
            factory: An agent class or a zero-argument function returning a new agent.
            name: Overrides the agent's own name.

        Raises:
            ConflictError: An agent with this name was already added.
            ValidationError: The name is not a legal group name.
        """
        if name is None:
            agent_name = (
                factory.agent_name()
                if isinstance(factory, type) and issubclass(factory, BaseAgent)
                else factory().agent_name()
            )
        else:
            agent_name = name
        _codec.check_group(agent_name, field="name")
        if agent_name in self._slots:
            raise ConflictError(
                f"an agent named {agent_name!r} was already added",
                hint="give the second one another name: add(factory, name='...')",
            )
        self._slots[agent_name] = _Slot(agent_name, cast("AgentFactory", factory))
        return agent_name

    def names(self) -> list[str]:
        """Names of every added agent, in the order they were added."""
        return list(self._slots)

    def _slot(self, name: str) -> _Slot:
        slot = self._slots.get(name)
        if slot is None:
            raise NotFoundError("agent", name, suggestions=tuple(self._slots)[:3])
        return slot

    def status(self, name: str) -> AgentStatus:
        """Return the status of one agent.

        Raises:
            NotFoundError: No agent of that name was added.
        """
        slot = self._slot(name)
        instance = (
            slot.agent.instance_id if slot.agent and slot.state is AgentState.RUNNING else None
        )
        return AgentStatus(slot.name, slot.state, slot.restarts, slot.last_error, instance)

    def instance(self, name: str) -> BaseAgent | None:
        """Return the agent's current instance (``None`` while stopped)."""
        return self._slot(name).agent

    def health_components(self) -> tuple[ComponentHealth, ...]:
        """One health entry per agent: ok running, degraded restarting, down failed."""
        levels = {
            AgentState.RUNNING: HealthStatus.OK,
            AgentState.STARTING: HealthStatus.DEGRADED,
            AgentState.RESTARTING: HealthStatus.DEGRADED,
            AgentState.STOPPED: HealthStatus.OK,
            AgentState.FAILED: HealthStatus.DOWN,
        }
        return tuple(
            ComponentHealth(
                f"agent:{slot.name}",
                levels[slot.state],
                slot.state.value + (f" (last error: {slot.last_error})" if slot.last_error else ""),
            )
            for slot in self._slots.values()
        )

    # --- control -------------------------------------------------------------------------

    async def start(self, name: str | None = None) -> None:
        """Start one agent (or every added agent not running) and wait until it runs.

        Returns once the agent is subscribed and running, or after its first crash (it is
        then being restarted; see :meth:`status`).
        """
        for slot in self._targets(name):
            if slot.task is not None and not slot.task.done():
                continue
            slot.stopping = asyncio.Event()
            slot.ready = asyncio.Event()
            slot.state = AgentState.STARTING
            slot.task = asyncio.create_task(self._supervise(slot), name=f"agent:{slot.name}")
            ready = asyncio.create_task(slot.ready.wait())
            await asyncio.wait({ready, slot.task}, return_when=asyncio.FIRST_COMPLETED)
            ready.cancel()

    async def stop(self, name: str | None = None) -> None:
        """Stop one agent (or all, in reverse order), draining in-flight messages."""
        for slot in reversed(self._targets(name)):
            task = slot.task
            if task is None:
                continue
            slot.stopping.set()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            slot.task = None
            if slot.state is not AgentState.FAILED:
                slot.state = AgentState.STOPPED

    async def restart(self, name: str) -> None:
        """Stop the agent (draining) and start a fresh instance."""
        await self.stop(name)
        await self.start(name)

    def _targets(self, name: str | None) -> list[_Slot]:
        return list(self._slots.values()) if name is None else [self._slot(name)]

    # --- supervision ---------------------------------------------------------------------

    async def _supervise(self, slot: _Slot) -> None:
        delay = self.backoff_initial
        while not slot.stopping.is_set():
            began = time.monotonic()
            try:
                await self._run_once(slot)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                slot.restarts += 1
                slot.last_error = f"{type(exc).__name__}: {exc}"
                slot.ready.set()
                if self.max_restarts is not None and slot.restarts > self.max_restarts:
                    slot.state = AgentState.FAILED
                    log.error(
                        "agent %r crashed %d times; giving up",
                        slot.name,
                        slot.restarts,
                        exc_info=exc,
                    )
                    return
                if time.monotonic() - began >= self.stable_after:
                    delay = self.backoff_initial
                slot.state = AgentState.RESTARTING
                log.error(
                    "agent %r crashed (%s); restarting in %.2f s",
                    slot.name,
                    slot.last_error,
                    delay,
                    exc_info=exc,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(slot.stopping.wait(), delay)
                delay = min(delay * 2, self.backoff_max)
        slot.agent = None
        slot.state = AgentState.STOPPED

    async def _run_once(self, slot: _Slot) -> None:
        agent = slot.factory()
        if not isinstance(agent, BaseAgent):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValidationError(
                f"the factory of {slot.name!r} returned {type(agent).__name__}, not a BaseAgent",
                field="factory",
                rule="returns a BaseAgent",
            )
        slot.agent = agent
        agent.attach(self._runtime)
        bindings = agent.bindings()
        await self._register(slot, agent)
        subscriptions: list[Subscription] = []
        consumers: list[asyncio.Task[None]] = []
        helpers: list[asyncio.Task[None]] = []
        try:
            # Subscribe before on_start, so that replies to what on_start publishes are kept;
            # consume only after it, so handlers never run before on_start finished.
            for spec, _ in bindings:
                subscriptions.append(
                    await self._runtime.events.subscribe(
                        spec.topic,
                        spec.group or slot.name,
                        consumer=agent.instance_id,
                        ack_timeout=spec.ack_timeout,
                        max_deliveries=spec.max_deliveries,
                        dead_letter_topic=spec.dead_letter_topic,
                        start=spec.start,
                    )
                )
            await agent.on_start()
            for subscription, (spec, binding) in zip(subscriptions, bindings, strict=True):
                consume = self._consume(slot, agent, subscription, spec, binding)
                consumers.append(asyncio.create_task(consume))
            helpers.append(asyncio.create_task(self._heartbeat(slot, agent)))
            if type(agent).run is not BaseAgent.run:
                helpers.append(asyncio.create_task(agent.run()))
            slot.state = AgentState.RUNNING
            slot.ready.set()
            await self._watch(slot, [*consumers, *helpers])
        finally:
            await self._wind_down(slot, agent, subscriptions, consumers, helpers)

    async def _watch(self, slot: _Slot, tasks: list[asyncio.Task[None]]) -> None:
        """Return when stopping is requested; raise when a part of the agent failed."""
        stop = asyncio.create_task(slot.stopping.wait())
        try:
            pending = {stop, *tasks}
            while True:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if stop in done:
                    return
                for task in done:
                    error = task.exception()
                    if error is not None:
                        raise _Crash(f"{type(error).__name__}: {error}") from error
        finally:
            stop.cancel()

    async def _wind_down(
        self,
        slot: _Slot,
        agent: BaseAgent,
        subscriptions: list[Subscription],
        consumers: list[asyncio.Task[None]],
        helpers: list[asyncio.Task[None]],
    ) -> None:
        """Cancel helpers, let consumers finish in-flight messages, then on_stop, deregister."""
        for task in helpers:
            task.cancel()
        for subscription in subscriptions:
            with contextlib.suppress(Exception):
                await subscription.close()
        running = [t for t in consumers if not t.done()]
        if running:
            _, late = await asyncio.wait(running, timeout=self.drain_timeout)
            for task in late:
                task.cancel()
        for task in [*consumers, *helpers]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        try:
            await agent.on_stop()
        except Exception:
            log.exception("agent %r: on_stop failed", slot.name)
        with contextlib.suppress(Exception):
            await self._runtime.agents.deregister(agent.instance_id)

    async def _consume(
        self,
        slot: _Slot,
        agent: BaseAgent,
        subscription: Subscription,
        spec: HandlerSpec,
        binding: MessageBinding,
    ) -> None:
        while not slot.stopping.is_set():
            try:
                deliveries = await subscription.fetch(spec.batch, timeout=_FETCH_WAIT)
            except ConflictError:
                if slot.stopping.is_set():
                    return  # the subscription was closed because the agent is stopping
                raise
            for delivery in deliveries:
                await _dispatch(agent, spec, binding, delivery)

    async def _register(self, slot: _Slot, agent: BaseAgent) -> None:
        await self._runtime.agents.register(
            slot.name,
            capabilities=agent.capabilities,
            instance_id=agent.instance_id,
            metadata={**agent.metadata(), "pid": os.getpid()},
            ttl=agent.registry_ttl,
        )

    async def _heartbeat(self, slot: _Slot, agent: BaseAgent) -> None:
        while True:
            await asyncio.sleep(agent.heartbeat_interval)
            try:
                await self._runtime.agents.heartbeat(agent.instance_id)
            except NotFoundError:
                log.warning("agent %r: registration expired; registering again", slot.name)
                await self._register(slot, agent)


async def _dispatch(
    agent: BaseAgent, spec: HandlerSpec, binding: MessageBinding, delivery: Delivery
) -> None:
    """Convert, call, then ack; nack on error; dead-letter a payload that cannot fit."""
    event = delivery.event
    try:
        message = binding.convert(event.payload, event)
    except ValidationError as exc:
        agent.log.warning("dead-lettering event %s of %r: %s", event.id, event.topic, exc.message)
        headers = dict(event.headers)
        headers.update(
            {
                HEADER_DEAD_REASON: f"invalid payload: {exc.message}"[:1000],
                HEADER_DEAD_ORIGINAL_TOPIC: event.topic,
                HEADER_DEAD_ORIGINAL_ID: event.id,
                HEADER_DEAD_GROUP: delivery.group,
                HEADER_DEAD_DELIVERIES: str(delivery.attempt),
            }
        )
        await agent.events.publish(spec.dead_topic(), event.payload, headers=headers)
        await delivery.ack()
        return
    try:
        await binding.call(agent, message, event)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        await agent.on_handler_error(exc, delivery)
        await delivery.nack(delay=spec.retry_delay or None)
        return
    await delivery.ack()
