"""Typed message handlers: the ``@handler`` decorator and payload-to-type conversion."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from memfun_core.errors import ValidationError
from memfun_runtime import _codec
from memfun_runtime.protocols import (
    DEFAULT_ACK_TIMEOUT,
    DEFAULT_MAX_DELIVERIES,
    Event,
    StartPosition,
)

__all__ = ["HandlerSpec", "MessageBinding", "bind_message", "handler"]

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

_SPEC_ATTRIBUTE = "__memfun_handler__"
_PLAIN = (dict, list, str, int, float, bool)


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """Where a handler's messages come from and how failures are treated.

    Attributes:
        topic: The topic consumed.
        group: The consumer group; ``None`` means the agent's name (so the instances of
            one agent compete and different agents each see every event).
        ack_timeout: Seconds a message may take before it is redelivered.
        max_deliveries: Deliveries before a failing message is dead-lettered.
        dead_letter_topic: Where dead messages go (default ``"<topic>.dead"``).
        start: Where a new group starts.
        retry_delay: Seconds before a message whose handler raised is redelivered.
        batch: Messages fetched at once.
    """

    topic: str
    group: str | None = None
    ack_timeout: float = DEFAULT_ACK_TIMEOUT
    max_deliveries: int = DEFAULT_MAX_DELIVERIES
    dead_letter_topic: str | None = None
    start: StartPosition = "new"
    retry_delay: float = 0.0
    batch: int = 16

    def dead_topic(self) -> str:
        """The effective dead-letter topic."""
        return self.dead_letter_topic or f"{self.topic}.dead"


def handler(
    topic: str,
    *,
    group: str | None = None,
    ack_timeout: float = DEFAULT_ACK_TIMEOUT,
    max_deliveries: int = DEFAULT_MAX_DELIVERIES,
    dead_letter_topic: str | None = None,
    start: StartPosition = "new",
    retry_delay: float = 0.0,
    batch: int = 16,
) -> Callable[[F], F]:
    """Mark an ``async`` method of a :class:`~memfun_runtime.agents.BaseAgent` as a handler.

    The method's first parameter after ``self`` receives the message, converted to its
    annotation: a dataclass (built from the JSON object), ``dict``, ``list``, ``str``,
    ``int``, ``float``, ``bool``, :class:`~memfun_runtime.protocols.Event` (the whole
    event), or ``Any``/no annotation (the raw payload). A parameter named ``event`` also
    receives the event. The message is acked when the method returns, nacked (and retried
    after ``retry_delay``) when it raises, and dead-lettered at once when its payload does
    not fit the annotation.

    Example:
        >>> class Greeter(BaseAgent):
        ...     @handler("greetings")
        ...     async def greet(self, name: str) -> None:
        ...         await self.publish("replies", f"hello {name}")

    Raises:
        ValidationError: An illegal topic, group or setting.
    """
    _codec.check_name(topic, field="topic")
    if group is not None:
        _codec.check_group(group, field="group")
    if dead_letter_topic is not None:
        _codec.check_name(dead_letter_topic, field="dead_letter_topic")
    spec = HandlerSpec(
        topic=topic,
        group=group,
        ack_timeout=_codec.check_positive(ack_timeout, field="ack_timeout"),
        max_deliveries=_codec.check_int(max_deliveries, field="max_deliveries", minimum=1),
        dead_letter_topic=dead_letter_topic,
        start=start,
        retry_delay=_codec.check_non_negative(retry_delay, field="retry_delay"),
        batch=_codec.check_int(batch, field="batch", minimum=1),
    )

    def mark(method: F) -> F:
        if not inspect.iscoroutinefunction(method):
            raise ValidationError(
                f"{getattr(method, '__qualname__', method)!r} is not an async function",
                field="handler",
                rule="handlers are `async def` functions",
            )
        setattr(method, _SPEC_ATTRIBUTE, spec)
        return method

    return mark


def spec_of(function: object) -> HandlerSpec | None:
    """Return the :class:`HandlerSpec` attached by :func:`handler`, if any."""
    spec = getattr(function, _SPEC_ATTRIBUTE, None)
    return spec if isinstance(spec, HandlerSpec) else None


@dataclass(frozen=True, slots=True)
class MessageBinding:
    """How to call one handler function with a delivery's payload.

    Attributes:
        function: The handler (unbound for methods).
        message_type: The annotation of the message parameter (``object`` for any).
        keywords: Extra parameters by name: ``"event"`` and/or ``"agent"``.
        positional_self: Whether the function takes the agent as its first argument.
    """

    function: Callable[..., Awaitable[Any]]
    message_type: Any
    keywords: frozenset[str]
    positional_self: bool

    def convert(self, payload: Any, event: Event) -> Any:
        """Convert a payload to the handler's message type.

        Raises:
            ValidationError: The payload does not fit the annotation.
        """
        kind = self.message_type
        if kind is object or kind is Any:
            return payload
        if kind is Event:
            return event
        if dataclasses.is_dataclass(kind) and isinstance(kind, type):
            if not isinstance(payload, dict):
                raise _mismatch(payload, kind.__name__)
            try:
                return kind(**cast("dict[str, Any]", payload))
            except TypeError as exc:
                raise _mismatch(payload, kind.__name__, str(exc)) from exc
        plain = cast("type", kind)
        if plain is float and isinstance(payload, int) and not isinstance(payload, bool):
            return float(payload)
        if not isinstance(payload, plain) or (plain is int and isinstance(payload, bool)):
            raise _mismatch(payload, plain.__name__)
        return payload

    async def call(self, agent: object, message: Any, event: Event) -> Any:
        """Run the handler."""
        extra: dict[str, Any] = {}
        if "event" in self.keywords:
            extra["event"] = event
        if "agent" in self.keywords:
            extra["agent"] = agent
        if self.positional_self:
            return await self.function(agent, message, **extra)
        return await self.function(message, **extra)


def _mismatch(payload: Any, expected: str, detail: str = "") -> ValidationError:
    suffix = f" ({detail})" if detail else ""
    return ValidationError(
        f"a {type(payload).__name__} payload does not fit {expected}{suffix}",
        field="payload",
        rule=f"the handler expects {expected}",
        hint="fix the publisher or the handler's annotation",
    )


def bind_message(function: Callable[..., Awaitable[Any]], *, is_method: bool) -> MessageBinding:
    """Inspect a handler and return how to feed it.

    Raises:
        ValidationError: It has no message parameter, or an annotation that cannot be
            resolved or converted to.
    """
    name = getattr(function, "__qualname__", repr(function))
    parameters = list(inspect.signature(function).parameters.values())
    if is_method:
        parameters = parameters[1:]
    keywords = frozenset(p.name for p in parameters if p.name in {"event", "agent"})
    rest = [p for p in parameters if p.name not in keywords]
    if not rest and "event" in keywords:  # `async def f(event: Event)`: the event is the message
        keywords = keywords - {"event"}
        rest = [p for p in parameters if p.name == "event"]
    if len(rest) != 1:
        raise ValidationError(
            f"{name} must take exactly one message parameter (plus optional `event`/`agent`)",
            field="handler",
            rule="async def handler(message: T, event: Event = ...)",
        )
    try:
        hints = typing.get_type_hints(function)
    except (NameError, TypeError) as exc:
        raise ValidationError(
            f"cannot resolve the annotations of {name}: {exc}",
            field="handler",
            rule="annotations must name importable types",
            hint="define message types at module level, not inside a function",
        ) from exc
    kind: Any = hints.get(rest[0].name, object)
    if not (
        kind is object
        or kind is Any
        or kind is Event
        or kind in _PLAIN
        or (dataclasses.is_dataclass(kind) and isinstance(kind, type))
    ):
        raise ValidationError(
            f"{name}: cannot convert messages to {kind!r}",
            field="handler",
            rule="a dataclass, dict, list, str, int, float, bool, Event or Any",
        )
    return MessageBinding(function, kind, keywords, is_method)
