"""AgentRegistry and SkillRegistry conformance."""

from __future__ import annotations

import asyncio

import pytest

from memfun_core.errors import ConflictError, NotFoundError, ValidationError
from memfun_runtime._backend import Backend

TTL = 0.3


class AgentRegistration:
    async def test_register_and_find_by_capability(self, backend: Backend) -> None:
        reviewer = await backend.agents.register(
            "reviewer", capabilities={"review-code", "explain"}, metadata={"pid": 1}
        )
        writer = await backend.agents.register("writer", capabilities=("write-code",))
        both = await backend.agents.register("senior", capabilities=["review-code", "write-code"])
        assert reviewer.capabilities == frozenset({"review-code", "explain"})
        assert dict(reviewer.metadata) == {"pid": 1}
        assert [i.instance_id for i in await backend.agents.find("review-code")] == [
            reviewer.instance_id,
            both.instance_id,
        ]
        assert [i.instance_id for i in await backend.agents.find("write-code")] == [
            writer.instance_id,
            both.instance_id,
        ]
        assert await backend.agents.find("juggle") == []
        assert await backend.agents.get(writer.instance_id) == writer

    async def test_list_by_name_and_deregister(self, backend: Backend) -> None:
        one = await backend.agents.register("echo", instance_id="echo-1")
        await backend.agents.register("echo", instance_id="echo-2")
        await backend.agents.register("other")
        assert [i.instance_id for i in await backend.agents.list(name="echo")] == [
            "echo-1",
            "echo-2",
        ]
        assert len(await backend.agents.list()) == 3
        assert await backend.agents.deregister(one.instance_id) is True
        assert await backend.agents.deregister(one.instance_id) is False
        assert [i.instance_id for i in await backend.agents.list(name="echo")] == ["echo-2"]

    async def test_a_silent_instance_expires_and_a_beating_one_lives(
        self, backend: Backend
    ) -> None:
        silent = await backend.agents.register("a", capabilities={"c"}, ttl=TTL)
        beating = await backend.agents.register("b", capabilities={"c"}, ttl=TTL)
        for _ in range(3):
            await asyncio.sleep(TTL * 0.5)
            refreshed = await backend.agents.heartbeat(beating.instance_id)
            assert refreshed.expires_at >= refreshed.last_heartbeat + TTL * 0.99
        assert [i.instance_id for i in await backend.agents.find("c")] == [beating.instance_id]
        assert await backend.agents.get(silent.instance_id) is None
        with pytest.raises(NotFoundError) as info:
            await backend.agents.heartbeat(silent.instance_id)
        assert info.value.kind == "agent instance"

    async def test_re_registering_replaces(self, backend: Backend) -> None:
        await backend.agents.register("a", instance_id="i", capabilities={"x"})
        await backend.agents.register("a", instance_id="i", capabilities={"y"})
        assert await backend.agents.find("x") == []
        assert [i.instance_id for i in await backend.agents.find("y")] == ["i"]

    async def test_bad_registrations_are_refused(self, backend: Backend) -> None:
        with pytest.raises(ValidationError):
            await backend.agents.register("a", ttl=-1)
        with pytest.raises(ValidationError):
            await backend.agents.register("a", ttl=0)
        with pytest.raises(ValidationError):
            await backend.agents.register("bad name")
        with pytest.raises(ValidationError):
            await backend.agents.register("a", capabilities="review-code")  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            await backend.agents.register("a", capabilities={"has space"})
        assert await backend.agents.list() == []


class SkillPublishing:
    async def test_publish_get_versions_and_list(self, backend: Backend) -> None:
        v1 = await backend.skills.publish(
            "review-code", "1.0.0", description="Reviews code", metadata={"license": "MIT"}
        )
        v2 = await backend.skills.publish("review-code", "1.1.0", description="Reviews code better")
        await backend.skills.publish("explain", "0.1", description="Explains")
        assert (v1.name, v1.version, dict(v1.metadata)) == (
            "review-code",
            "1.0.0",
            {"license": "MIT"},
        )
        assert await backend.skills.get("review-code") == v2
        assert await backend.skills.get("review-code", "1.0.0") == v1
        assert await backend.skills.get("review-code", "9.9") is None
        assert await backend.skills.get("nope") is None
        assert [v.version for v in await backend.skills.versions("review-code")] == [
            "1.0.0",
            "1.1.0",
        ]
        assert [(s.name, s.version) for s in await backend.skills.list()] == [
            ("explain", "0.1"),
            ("review-code", "1.1.0"),
        ]

    async def test_published_versions_are_immutable(self, backend: Backend) -> None:
        first = await backend.skills.publish("s", "1.0", description="d", metadata={"a": 1})
        again = await backend.skills.publish("s", "1.0", description="d", metadata={"a": 1})
        assert again == first
        with pytest.raises(ConflictError):
            await backend.skills.publish("s", "1.0", description="changed")
        with pytest.raises(ValidationError):
            await backend.skills.publish("s", "1.0+build", description="d")

    async def test_invocations_are_recorded_and_summed(self, backend: Backend) -> None:
        await backend.skills.record_invocation(
            "s", outcome="success", latency=1.0, version="1.0", tokens=100, cost=0.01
        )
        await backend.skills.record_invocation("s", outcome="failure", latency=2.0, tokens=50)
        last = await backend.skills.record_invocation(
            "s", outcome="error", latency=3.0, metadata={"error": "timeout"}
        )
        await backend.skills.record_invocation("other", outcome="success", latency=9.0)
        records = await backend.skills.invocations("s")
        assert [r.outcome for r in records] == ["error", "failure", "success"]
        assert records[0] == last
        assert dict(last.metadata) == {"error": "timeout"}
        assert records[2].version == "1.0"
        assert len(await backend.skills.invocations("s", limit=1)) == 1
        stats = await backend.skills.stats("s")
        assert (stats.invocations, stats.successes, stats.failures, stats.errors) == (3, 1, 1, 1)
        assert stats.mean_latency == pytest.approx(2.0)
        assert (stats.total_tokens, stats.total_cost) == (150, pytest.approx(0.01))
        assert stats.success_rate == pytest.approx(1 / 3)
        empty = await backend.skills.stats("never")
        assert (empty.invocations, empty.success_rate) == (0, 0.0)

    async def test_bad_invocations_are_refused(self, backend: Backend) -> None:
        with pytest.raises(ValidationError):
            await backend.skills.record_invocation("s", outcome="meh", latency=1.0)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            await backend.skills.record_invocation("s", outcome="success", latency=-1.0)
        with pytest.raises(ValidationError):
            await backend.skills.record_invocation("s", outcome="success", latency=1, tokens=-1)
        assert await backend.skills.invocations("s") == []


class TestRegistries(AgentRegistration, SkillPublishing):
    """Runs every AgentRegistry and SkillRegistry behaviour on every tier."""
