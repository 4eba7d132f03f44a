"""AgentManager: start, stop, restart, supervise crashes with backoff, drain; @agent."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from memfun_core.errors import ConflictError, NotFoundError, ValidationError
from memfun_runtime import Event, Runtime, RuntimeBuilder
from memfun_runtime.agents import AgentState, BaseAgent, agent, handler
from memfun_runtime.agents._decorator import FunctionAgent
from memfun_runtime.protocols import HealthStatus
from memfun_runtime.testing import collect, eventually, memory_runtime


def fast_runtime(max_restarts: int | None = None) -> Runtime:
    return (
        RuntimeBuilder()
        .memory()
        .restart_policy(backoff=(0.01, 0.05), max_restarts=max_restarts)
        .drain_timeout(5)
        .build()
    )


@agent("greetings", capabilities={"greet"})
async def greeter(name: str, agent: BaseAgent) -> None:
    await agent.publish("replies", f"hello {name}")


@agent("events.raw", name="event-logger")
async def log_event(event: Event) -> None:
    del event


async def test_agent_decorator_makes_a_working_agent() -> None:
    assert issubclass(greeter, FunctionAgent)
    assert greeter.agent_name() == "greeter"
    assert greeter.capabilities == frozenset({"greet"})
    assert log_event.agent_name() == "event-logger"
    runtime = memory_runtime()
    await runtime.add_agent(greeter)
    async with runtime:
        replies = await runtime.events.subscribe("replies", "test")
        await runtime.events.publish("greetings", "Ada")
        [reply] = await collect(replies, 1)
        assert reply.event.payload == "hello Ada"
        assert [i.name for i in await runtime.agents.find("greet")] == ["greeter"]


def test_agent_decorator_refuses_bad_input() -> None:
    with pytest.raises(ValidationError):
        agent("bad topic")
    with pytest.raises(ValidationError):

        @agent("t")
        async def two_messages(a: int, b: int) -> None:
            del a, b

    with pytest.raises(ValidationError):

        @agent("t", name="bad.name")
        async def named(a: int) -> None:
            del a


class CrashesTwice(BaseAgent):
    """on_start fails for the first two instances."""

    async def on_start(self) -> None:
        starts = await self.state.increment("starts")
        if starts <= 2:
            raise RuntimeError(f"boom {starts}")


async def test_a_crashing_agent_is_restarted_with_backoff_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="memfun_runtime.agents")
    runtime = fast_runtime()
    await runtime.add_agent(CrashesTwice)
    async with runtime:
        await eventually(
            lambda: _state_is(runtime, "crashes-twice", AgentState.RUNNING), what="running"
        )
        status = runtime.manager.status("crashes-twice")
        assert status.restarts == 2
        assert status.last_error == "RuntimeError: boom 2"
        assert status.instance_id is not None
        entry = await runtime.state.get("starts")
        assert entry is not None
        assert entry.value == 3  # a fresh instance each time
        crashes = [r for r in caplog.records if "crashed" in r.getMessage()]
        assert len(crashes) == 2
        assert crashes[0].exc_info is not None
        assert "restarting in 0.01 s" in crashes[0].getMessage()
        assert "restarting in 0.02 s" in crashes[1].getMessage()  # the backoff doubled


async def _state_is(runtime: Runtime, name: str, state: AgentState) -> bool:
    return runtime.manager.status(name).state is state


class AlwaysCrashes(BaseAgent):
    async def run(self) -> None:
        raise OSError("disk on fire")


async def test_an_agent_that_keeps_crashing_ends_failed_and_unhealthy() -> None:
    runtime = fast_runtime(max_restarts=2)
    await runtime.add_agent(AlwaysCrashes)
    async with runtime:
        await eventually(
            lambda: _state_is(runtime, "always-crashes", AgentState.FAILED), what="failed"
        )
        status = runtime.manager.status("always-crashes")
        assert status.restarts == 3
        assert status.last_error is not None
        assert "disk on fire" in status.last_error
        report = await runtime.health()
        component = report.component("agent:always-crashes")
        assert component is not None
        assert component.status is HealthStatus.DOWN
        assert report.status is HealthStatus.DOWN
        assert await runtime.agents.list() == []  # crashed instances deregistered


class Ticker(BaseAgent):
    """A run() loop that counts until cancelled."""

    async def run(self) -> None:
        while True:
            await self.state.increment("ticks")
            await asyncio.sleep(0.01)


async def test_run_loop_start_stop_and_restart() -> None:
    runtime = fast_runtime()
    await runtime.add_agent(Ticker)
    async with runtime:
        first = runtime.manager.instance("ticker")
        assert runtime.manager.status("ticker").state is AgentState.RUNNING

        async def ticked() -> bool:
            entry = await runtime.state.get("ticks")
            return entry is not None and entry.value >= 3

        await eventually(ticked, what="ticks")
        await runtime.manager.restart("ticker")
        second = runtime.manager.instance("ticker")
        assert second is not None
        assert second is not first
        assert runtime.manager.status("ticker").restarts == 0  # restart is not a crash
        await runtime.manager.stop("ticker")
        assert runtime.manager.status("ticker").state is AgentState.STOPPED
        assert runtime.manager.instance("ticker") is None
        stopped_at = await runtime.state.get("ticks")
        await asyncio.sleep(0.05)
        assert await runtime.state.get("ticks") == stopped_at
        await runtime.manager.start("ticker")
        assert runtime.manager.status("ticker").state is AgentState.RUNNING


class Slow(BaseAgent):
    """Takes a while per message; stop must let it finish."""

    @handler("slow", ack_timeout=30)
    async def on_slow(self, n: int) -> None:
        await self.state.set(f"began.{n}", True)
        await asyncio.sleep(0.2)
        await self.state.set(f"finished.{n}", True)


async def test_stop_drains_the_message_in_flight() -> None:
    runtime = fast_runtime()
    await runtime.add_agent(Slow)
    await runtime.start()
    await runtime.events.publish("slow", 1)

    async def began() -> bool:
        return await runtime.state.get("began.1") is not None

    await eventually(began, what="the handler to begin")
    await runtime.manager.stop()
    assert await runtime.state.get("finished.1") is not None
    # ...and it was acked: a new consumer of the group gets nothing.
    sub = await runtime.events.subscribe("slow", "slow")
    assert await sub.fetch(1, timeout=0.1) == []
    await runtime.stop()


async def test_manager_bookkeeping_errors() -> None:
    runtime = fast_runtime()
    runtime.manager.add(Ticker)
    with pytest.raises(ConflictError):
        runtime.manager.add(Ticker)
    with pytest.raises(NotFoundError):
        runtime.manager.status("nobody")
    with pytest.raises(ValidationError):
        runtime.manager.add(Ticker, name="has space")
    assert runtime.manager.names() == ["ticker"]

    def builds_nonsense() -> Any:
        return object()

    runtime.manager.add(builds_nonsense, name="nonsense")
    runtime.manager.max_restarts = 0
    async with runtime:
        status = runtime.manager.status("nonsense")
        assert status.state is AgentState.FAILED
        assert status.last_error is not None
        assert "not a BaseAgent" in status.last_error


async def test_a_factory_function_may_build_agents() -> None:
    def make() -> BaseAgent:
        return Ticker()

    runtime = fast_runtime()
    assert await runtime.add_agent(make, name="tick-from-factory") == "tick-from-factory"
    async with runtime:
        instance = runtime.manager.instance("tick-from-factory")
        assert isinstance(instance, Ticker)
