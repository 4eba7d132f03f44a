"""BaseAgent and @handler: lifecycle hooks, typed handlers, stores, retries, dead letters."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from memfun_core.errors import ConflictError, ValidationError
from memfun_runtime import Event, RuntimeBuilder
from memfun_runtime.agents import BaseAgent, handler
from memfun_runtime.protocols import HEADER_DEAD_REASON
from memfun_runtime.testing import collect, eventually


@dataclass
class Order:
    id: int
    item: str


class Recorder(BaseAgent):
    """Records what it sees in the state store and in memory."""

    capabilities = frozenset({"record", "orders"})
    hooks: list[str]

    def __init__(self) -> None:
        super().__init__()
        self.hooks = []

    async def on_start(self) -> None:
        self.hooks.append("start")
        await self.state.set("recorder.started", True)

    async def on_stop(self) -> None:
        self.hooks.append("stop")
        await self.state.set("recorder.stopped", True)

    @handler("orders.new")
    async def on_order(self, order: Order, event: Event) -> None:
        await self.state.set(f"order.{order.id}", {"item": order.item, "topic": event.topic})
        await self.publish("orders.seen", order.id)

    @handler("numbers", group="math")
    async def on_number(self, value: float) -> None:
        await self.state.increment("sum", int(value))

    @handler("raw")
    async def on_raw(self, anything: Any) -> None:
        await self.state.set("raw", anything)


async def started_runtime(*agents: type[BaseAgent]) -> Any:
    builder = RuntimeBuilder().memory()
    for agent_class in agents:
        builder.agent(agent_class)
    runtime = builder.build()
    await runtime.start()
    return runtime


async def value_of(runtime: Any, key: str) -> Any:
    entry = await runtime.state.get(key)
    return None if entry is None else entry.value


async def test_name_defaults_to_kebab_case_and_handlers_are_found() -> None:
    class FancyEchoAgent(BaseAgent):
        pass

    assert FancyEchoAgent.agent_name() == "fancy-echo-agent"
    assert Recorder.agent_name() == "recorder"
    specs = {spec.topic: spec for spec, _ in Recorder().bindings()}
    assert set(specs) == {"orders.new", "numbers", "raw"}
    assert specs["numbers"].group == "math"


async def test_hooks_typed_handlers_and_stores() -> None:
    runtime = await started_runtime(Recorder)
    agent = runtime.manager.instance("recorder")
    assert isinstance(agent, Recorder)
    seen = await runtime.events.subscribe("orders.seen", "test")
    try:
        assert await value_of(runtime, "recorder.started") is True
        [instance] = await runtime.agents.find("orders")
        assert instance.instance_id == agent.instance_id
        await runtime.events.publish("orders.new", {"id": 7, "item": "book"})
        await runtime.events.publish("numbers", 2)
        await runtime.events.publish("numbers", 3.0)
        await runtime.events.publish("raw", [1, {"x": None}])
        [delivery] = await collect(seen, 1)
        assert delivery.event.payload == 7
        assert await value_of(runtime, "order.7") == {"item": "book", "topic": "orders.new"}

        async def summed() -> bool:
            return (
                await value_of(runtime, "sum") == 5 and await value_of(runtime, "raw") is not None
            )

        await eventually(summed, what="numbers and raw handled")
        assert await value_of(runtime, "raw") == [1, {"x": None}]
    finally:
        await runtime.stop()
    assert agent.hooks == ["start", "stop"]


async def test_stop_deregisters_and_calls_on_stop() -> None:
    runtime = await started_runtime(Recorder)
    assert len(await runtime.agents.list()) == 1
    await runtime.manager.stop("recorder")
    assert await runtime.agents.list() == []
    assert await value_of(runtime, "recorder.stopped") is True
    await runtime.stop()


class Flaky(BaseAgent):
    """Fails on a message twice, then succeeds."""

    @handler("work", max_deliveries=5, ack_timeout=30)
    async def on_work(self, job: str) -> None:
        attempts = await self.state.increment(f"attempts.{job}")
        if attempts < 3:
            raise RuntimeError(f"transient failure {attempts}")
        await self.state.set(f"done.{job}", attempts)


async def test_a_failing_handler_is_retried_then_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    runtime = await started_runtime(Flaky)
    try:
        await runtime.events.publish("work", "a")

        async def done() -> bool:
            return await value_of(runtime, "done.a") == 3

        await eventually(done, what="the third attempt")
        assert "transient failure 1" in caplog.text
        assert runtime.manager.status("flaky").restarts == 0  # a handler error is no crash
    finally:
        await runtime.stop()


class Hopeless(BaseAgent):
    @handler("doomed", max_deliveries=2, ack_timeout=30)
    async def on_doomed(self, job: str) -> None:
        raise ValueError(f"cannot do {job}")


async def test_a_handler_failing_every_time_is_dead_lettered() -> None:
    runtime = await started_runtime(Hopeless)
    try:
        dead = await runtime.events.subscribe("doomed.dead", "test")
        await runtime.events.publish("doomed", "x")
        [corpse] = await collect(dead, 1)
        assert corpse.event.payload == "x"
        assert "max deliveries (2)" in corpse.event.headers[HEADER_DEAD_REASON]
    finally:
        await runtime.stop()


async def test_a_payload_that_does_not_fit_the_type_is_dead_lettered_at_once() -> None:
    runtime = await started_runtime(Recorder)
    try:
        dead = await runtime.events.subscribe("orders.new.dead", "test")
        await runtime.events.publish("orders.new", {"id": 1})  # "item" missing
        await runtime.events.publish("numbers", "not a number")
        corpse = await collect(dead, 1)
        assert corpse[0].event.payload == {"id": 1}
        assert "invalid payload" in corpse[0].event.headers[HEADER_DEAD_REASON]
        assert "Order" in corpse[0].event.headers[HEADER_DEAD_REASON]
        numbers_dead = await runtime.events.subscribe("numbers.dead", "t", start="earliest")
        [bad] = await collect(numbers_dead, 1)
        assert bad.event.payload == "not a number"
        assert await value_of(runtime, "order.1") is None
    finally:
        await runtime.stop()


async def test_an_agent_outside_a_runtime_says_so() -> None:
    with pytest.raises(ConflictError, match="not attached"):
        _ = Recorder().state


def test_bad_handlers_are_refused_early() -> None:
    with pytest.raises(ValidationError):
        handler("bad topic")
    with pytest.raises(ValidationError):
        handler("t", max_deliveries=0)

    with pytest.raises(ValidationError, match="async"):

        @handler("t")  # pyright: ignore[reportArgumentType]
        def not_async(self: Any, message: Any) -> None:
            del self, message


async def test_a_handler_with_an_unconvertible_annotation_crashes_start() -> None:
    class Weird(BaseAgent):
        @handler("t")
        async def on_t(self, message: set[int]) -> None:
            del message

    runtime = RuntimeBuilder().memory().restart_policy(max_restarts=0).build()
    await runtime.add_agent(Weird)
    await runtime.start()
    try:
        status = runtime.manager.status("weird")
        assert status.state.value == "failed"
        assert status.last_error is not None
        assert "cannot convert messages" in status.last_error
    finally:
        await runtime.stop()


async def test_two_agents_share_a_topic_through_their_own_groups() -> None:
    class Left(BaseAgent):
        @handler("shared")
        async def on_shared(self, n: int) -> None:
            await self.state.increment("left")

    class Right(BaseAgent):
        @handler("shared")
        async def on_shared(self, n: int) -> None:
            await self.state.increment("right")

    runtime = await started_runtime(Left, Right)
    try:
        for i in range(5):
            await runtime.events.publish("shared", i)

        async def both() -> bool:
            return await value_of(runtime, "left") == 5 and await value_of(runtime, "right") == 5

        await eventually(both, what="both groups")
        await asyncio.sleep(0)
    finally:
        await runtime.stop()
