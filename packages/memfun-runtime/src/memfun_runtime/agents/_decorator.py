"""``@agent``: turn one async function into an agent class."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ClassVar

from memfun_core.errors import ValidationError
from memfun_runtime import _codec
from memfun_runtime.agents._base import BaseAgent
from memfun_runtime.agents._handlers import HandlerSpec, MessageBinding, bind_message, handler
from memfun_runtime.protocols import DEFAULT_ACK_TIMEOUT, DEFAULT_MAX_DELIVERIES, StartPosition

__all__ = ["FunctionAgent", "agent"]


class FunctionAgent(BaseAgent):
    """An agent made by :func:`agent` from one function (one handler)."""

    function: ClassVar[Callable[..., Awaitable[Any]]]
    spec: ClassVar[HandlerSpec]

    def bindings(self) -> list[tuple[HandlerSpec, MessageBinding]]:
        """The single handler: the decorated function."""
        return [(self.spec, bind_message(type(self).function, is_method=False))]


def agent(
    topic: str,
    *,
    name: str | None = None,
    capabilities: Iterable[str] = (),
    group: str | None = None,
    ack_timeout: float = DEFAULT_ACK_TIMEOUT,
    max_deliveries: int = DEFAULT_MAX_DELIVERIES,
    retry_delay: float = 0.0,
    start: StartPosition = "new",
) -> Callable[[Callable[..., Awaitable[Any]]], type[FunctionAgent]]:
    """Turn an ``async`` function into an agent class that handles ``topic``.

    The function receives the message (converted to its annotation, as with
    :func:`~memfun_runtime.agents.handler`); a parameter named ``agent`` receives the
    running agent (for ``agent.publish``, ``agent.state``, ...), one named ``event`` the event.

    Example:
        >>> @agent("greetings", capabilities={"greet"})
        ... async def greeter(name: str, agent: BaseAgent) -> None:
        ...     await agent.publish("replies", f"hello {name}")

    Returns:
        A :class:`FunctionAgent` subclass named after the function; add it to a runtime.

    Raises:
        ValidationError: Bad names or settings, or a function that is not ``async``.
    """
    caps = frozenset(_codec.check_name(c, field="capabilities") for c in capabilities)
    mark = handler(
        topic,
        group=group,
        ack_timeout=ack_timeout,
        max_deliveries=max_deliveries,
        retry_delay=retry_delay,
        start=start,
    )

    def build(function: Callable[..., Awaitable[Any]]) -> type[FunctionAgent]:
        mark(function)
        agent_name = name or function.__name__.replace("_", "-")
        try:
            _codec.check_group(agent_name, field="name")
        except ValidationError as exc:
            raise ValidationError(
                f"{agent_name!r} cannot name an agent",
                field="name",
                rule=exc.rule,
                hint="pass name='...' to @agent",
            ) from exc
        bind_message(function, is_method=False)  # fail at decoration time, not at start
        namespace: dict[str, Any] = {
            "name": agent_name,
            "capabilities": caps,
            "function": staticmethod(function),
            "spec": HandlerSpec(
                topic=topic,
                group=group,
                ack_timeout=ack_timeout,
                max_deliveries=max_deliveries,
                start=start,
                retry_delay=retry_delay,
            ),
            "__doc__": function.__doc__,
            "__module__": function.__module__,
        }
        return type(function.__name__, (FunctionAgent,), namespace)

    return build
