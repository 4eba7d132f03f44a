"""Backend conformance: lifecycle, health, protocol conformance, durability (capability flag)."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_core.errors import ConflictError
from memfun_runtime._backend import Backend
from memfun_runtime.protocols import (
    AgentRegistry,
    EventBus,
    HealthStatus,
    SessionStore,
    SkillRegistry,
    StateStore,
    TaskQueue,
)
from memfun_runtime.testing import TierConfig

SERVICES = {"events", "state", "tasks", "sessions", "agents", "skills"}


class Lifecycle:
    async def test_every_service_satisfies_its_protocol(self, backend: Backend) -> None:
        assert isinstance(backend, Backend)
        assert isinstance(backend.events, EventBus)
        assert isinstance(backend.state, StateStore)
        assert isinstance(backend.tasks, TaskQueue)
        assert isinstance(backend.sessions, SessionStore)
        assert isinstance(backend.agents, AgentRegistry)
        assert isinstance(backend.skills, SkillRegistry)
        assert backend.tier

    async def test_health_reports_every_service(self, backend: Backend) -> None:
        report = await backend.health()
        assert report.tier == backend.tier
        assert {c.name for c in report.components} == SERVICES
        assert report.ok
        assert report.status is HealthStatus.OK

    async def test_an_unstarted_backend_refuses_work_and_reports_down(
        self, tier: TierConfig, storage: Path
    ) -> None:
        fresh: Backend = tier.build(storage)
        with pytest.raises(ConflictError):
            await fresh.state.set("k", 1)
        report = await fresh.health()
        assert not report.ok
        await fresh.start()
        await fresh.start()  # idempotent
        await fresh.state.set("k", 1)
        await fresh.stop()
        await fresh.stop()  # idempotent
        with pytest.raises(ConflictError):
            await fresh.events.publish("t", 1)

    async def test_stop_closes_open_subscriptions(self, tier: TierConfig, storage: Path) -> None:
        fresh: Backend = tier.build(storage)
        await fresh.start()
        sub = await fresh.events.subscribe("t", "g")
        await fresh.stop()
        with pytest.raises(ConflictError):
            await sub.fetch(1, timeout=0)

    async def test_durable_tiers_keep_data_across_a_restart(
        self, tier: TierConfig, storage: Path
    ) -> None:
        if not tier.durable:
            pytest.skip("this tier is volatile by design")
        first: Backend = tier.build(storage)
        await first.start()
        await first.state.set("k", "kept")
        sub = await first.events.subscribe("t", "g", start="earliest")
        await first.events.publish("t", "a")
        await first.events.publish("t", "b")
        [delivery] = await sub.fetch(1, timeout=5)
        await delivery.ack()
        task_id = await first.tasks.enqueue("q", "job")
        await first.stop()
        second: Backend = tier.build(storage)
        await second.start()
        try:
            entry = await second.state.get("k")
            assert entry is not None
            assert entry.value == "kept"
            again = await second.events.subscribe("t", "g")
            got = await again.fetch(10, timeout=5)
            assert [d.event.payload for d in got] == ["b"]  # the acked "a" is not redelivered
            lease = await second.tasks.lease("q")
            assert lease is not None
            assert lease.task_id == task_id
        finally:
            await second.stop()


class TestBackend(Lifecycle):
    """Runs the lifecycle behaviour on every tier."""
