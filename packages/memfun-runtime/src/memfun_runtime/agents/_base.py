"""``BaseAgent``: lifecycle hooks, typed handlers and access to the runtime's stores."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, cast

from memfun_core.errors import ConflictError
from memfun_runtime import _codec
from memfun_runtime.agents._handlers import HandlerSpec, MessageBinding, bind_message, spec_of
from memfun_runtime.protocols import (
    DEFAULT_AGENT_TTL,
    AgentHost,
    AgentRegistry,
    Delivery,
    EventBus,
    JSONValue,
    SessionStore,
    SkillRegistry,
    StateStore,
    TaskQueue,
)

__all__ = ["BaseAgent"]

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


class BaseAgent:
    """Base class of every agent: subclass it, add ``@handler`` methods and hooks.

    An :class:`~memfun_runtime.agents.AgentManager` creates a fresh instance on every
    (re)start, attaches the runtime, registers the instance in the agent registry with its
    ``capabilities``, subscribes each handler, calls :meth:`on_start` (events arriving
    meanwhile wait), starts handling messages, runs :meth:`run` when overridden and
    heartbeats; on stop it drains in-flight messages and calls :meth:`on_stop`. An
    exception from :meth:`on_start` or :meth:`run` (or a lost backend) is a crash: the
    manager logs it and restarts the agent with backoff. An exception from a handler is not
    a crash: the message is nacked and retried, then dead-lettered.

    Class attributes:
        name: The agent's name (default: the class name in kebab case); also the default
            consumer group of its handlers.
        capabilities: What it can do, announced in the agent registry.
        heartbeat_interval: Seconds between registry heartbeats.
        registry_ttl: Seconds the registration lives without a heartbeat.

    Example:
        >>> from memfun_runtime.agents import BaseAgent, handler
        >>> class Echo(BaseAgent):
        ...     capabilities = frozenset({"echo"})
        ...
        ...     @handler("echo.in")
        ...     async def echo(self, text: str) -> None:
        ...         await self.publish("echo.out", text)
    """

    name: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[str]] = frozenset()
    heartbeat_interval: ClassVar[float] = 10.0
    registry_ttl: ClassVar[float] = DEFAULT_AGENT_TTL

    def __init__(self) -> None:
        self.instance_id = _codec.new_id()
        self.log = logging.getLogger(f"memfun_runtime.agents.{self.agent_name()}")
        self._runtime: AgentHost | None = None

    # --- identity and wiring -------------------------------------------------------------

    @classmethod
    def agent_name(cls) -> str:
        """The agent's name: ``name``, or the class name in kebab case.

        ``EchoAgent`` becomes ``echo-agent``.
        """
        return cls.name or _CAMEL.sub("-", cls.__name__).lower()

    def bindings(self) -> list[tuple[HandlerSpec, MessageBinding]]:
        """Every ``@handler`` of this agent with how to call it.

        Raises:
            ValidationError: A handler's signature or annotation is unusable.
        """
        found: list[tuple[HandlerSpec, MessageBinding]] = []
        for attribute in sorted(dir(type(self))):
            function = getattr(type(self), attribute, None)
            spec = spec_of(function)
            if spec is not None and callable(function):
                method = cast("Callable[..., Awaitable[Any]]", function)
                found.append((spec, bind_message(method, is_method=True)))
        return found

    def attach(self, runtime: AgentHost) -> None:
        """Give the agent its runtime (done by the manager before :meth:`on_start`)."""
        self._runtime = runtime

    @property
    def runtime(self) -> AgentHost:
        """The runtime this agent runs in.

        Raises:
            ConflictError: The agent was not started by a manager.
        """
        if self._runtime is None:
            raise ConflictError(
                f"agent {self.agent_name()!r} is not attached to a runtime",
                hint="add it to a Runtime (runtime.add_agent(...)) instead of calling it directly",
            )
        return self._runtime

    @property
    def events(self) -> EventBus:
        """The runtime's event bus."""
        return self.runtime.events

    @property
    def state(self) -> StateStore:
        """The runtime's state store."""
        return self.runtime.state

    @property
    def tasks(self) -> TaskQueue:
        """The runtime's task queue."""
        return self.runtime.tasks

    @property
    def sessions(self) -> SessionStore:
        """The runtime's session store."""
        return self.runtime.sessions

    @property
    def registry(self) -> AgentRegistry:
        """The runtime's agent registry."""
        return self.runtime.agents

    @property
    def skills(self) -> SkillRegistry:
        """The runtime's skill registry."""
        return self.runtime.skills

    async def publish(
        self,
        topic: str,
        payload: JSONValue,
        *,
        headers: Mapping[str, str] | None = None,
        event_id: str | None = None,
    ) -> str:
        """Publish an event on the runtime's bus; see :meth:`EventBus.publish`."""
        return await self.events.publish(topic, payload, headers=headers, event_id=event_id)

    # --- hooks ---------------------------------------------------------------------------

    async def on_start(self) -> None:
        """Called after registration and subscription, before handlers receive messages."""

    async def on_stop(self) -> None:
        """Called after the handlers drained, before deregistration."""

    async def run(self) -> None:
        """Override for a long-running main loop; it is cancelled on stop."""

    async def on_handler_error(self, error: Exception, delivery: Delivery) -> None:
        """Called when a handler raised; the message is then nacked. Default: log it."""
        self.log.error(
            "handler of %r failed on event %s (attempt %d): %s",
            delivery.event.topic,
            delivery.event.id,
            delivery.attempt,
            error,
            exc_info=error,
        )

    def metadata(self) -> dict[str, Any]:
        """Metadata stored with the registration (override to add more)."""
        return {"class": f"{type(self).__module__}.{type(self).__qualname__}"}
