"""Runtime: the async context manager starts and drains; health covers every part."""

from __future__ import annotations

import pytest

from memfun_core.errors import ConflictError
from memfun_runtime import BaseAgent, Runtime, RuntimeBuilder
from memfun_runtime.agents import handler
from memfun_runtime.protocols import HealthStatus
from memfun_runtime.testing import collect


class Doubler(BaseAgent):
    capabilities = frozenset({"double"})

    @handler("numbers")
    async def on_number(self, n: int) -> None:
        await self.publish("doubled", n * 2)


async def test_context_manager_starts_and_stops_everything() -> None:
    runtime = RuntimeBuilder().memory().agent(Doubler).build()
    assert not runtime.running
    async with runtime as entered:
        assert entered is runtime
        assert runtime.running
        out = await runtime.events.subscribe("doubled", "test")
        await runtime.events.publish("numbers", 21)
        [delivery] = await collect(out, 1)
        assert delivery.event.payload == 42
        report = await runtime.health()
        assert report.ok
        names = {c.name for c in report.components}
        assert {"events", "state", "tasks", "sessions", "agents", "skills"} <= names
        assert "agent:doubler" in names
    assert not runtime.running
    with pytest.raises(ConflictError):
        await runtime.state.get("k")
    report = await runtime.health()
    assert report.status is HealthStatus.DOWN


async def test_start_and_stop_are_idempotent_and_agents_added_later_start() -> None:
    runtime = RuntimeBuilder().memory().build()
    await runtime.start()
    await runtime.start()
    await runtime.add_agent(Doubler)
    assert runtime.manager.status("doubler").state.value == "running"
    assert [i.name for i in await runtime.agents.find("double")] == ["doubler"]
    await runtime.stop()
    await runtime.stop()
    assert runtime.manager.status("doubler").state.value == "stopped"


async def test_the_stores_are_the_backends() -> None:
    runtime = RuntimeBuilder().memory().build()
    backend = runtime.backend
    assert runtime.events is backend.events
    assert runtime.state is backend.state
    assert runtime.tasks is backend.tasks
    assert runtime.sessions is backend.sessions
    assert runtime.agents is backend.agents
    assert runtime.skills is backend.skills
    assert "memory" in repr(runtime)
    assert isinstance(runtime, Runtime)
