"""State, sessions and registries on every tier: the edge cases their shared checks decide.

Each of these once differed between tiers (a check one tier made and another did not, a
conflict one tier found and another missed); the tiers now share one implementation of the
checks, and these tests hold every tier to it.
"""

from __future__ import annotations

from typing import Any

import pytest

from memfun_core.errors import ConflictError, NotFoundError, ValidationError
from memfun_runtime._backend import Backend
from memfun_runtime.protocols import InvocationOutcome


class StateChecks:
    @pytest.mark.parametrize("version", ["1", 1.0, True, -1])
    async def test_an_expected_version_that_is_not_a_version_is_refused(
        self, backend: Backend, version: Any
    ) -> None:
        await backend.state.set("k", 1)
        with pytest.raises(ValidationError) as info:
            await backend.state.compare_and_set("k", 2, expected_version=version)
        assert info.value.field == "expected_version"
        with pytest.raises(ValidationError):
            await backend.state.delete("k", expected_version=version)
        entry = await backend.state.get("k")
        assert entry is not None
        assert entry.value == 1

    @pytest.mark.parametrize("delta", [True, 1.5, "1"])
    async def test_a_delta_that_is_not_an_int_is_refused(
        self, backend: Backend, delta: Any
    ) -> None:
        with pytest.raises(ValidationError) as info:
            await backend.state.increment("n", delta)
        assert info.value.field == "delta"
        assert await backend.state.get("n") is None

    async def test_a_conditional_delete_of_an_absent_key_is_a_conflict(
        self, backend: Backend
    ) -> None:
        version = await backend.state.set("k", 1)
        assert await backend.state.delete("k") is True
        with pytest.raises(ConflictError, match="absent"):
            await backend.state.delete("k", expected_version=version)

    async def test_the_conflict_names_the_version_found(self, backend: Backend) -> None:
        version = await backend.state.set("k", 1)
        with pytest.raises(ConflictError, match=f"at version {version}"):
            await backend.state.compare_and_set("k", 2, expected_version=None)
        assert await backend.state.get("k") is not None


class SessionChecks:
    async def test_a_fork_of_no_turns_records_zero(self, backend: Backend) -> None:
        parent = await backend.sessions.create(metadata={"a": 1})
        await backend.sessions.append(parent.id, "user", "hi")
        child = await backend.sessions.fork(parent.id, upto=0)
        assert child.forked_at == 0
        assert child.parent_id == parent.id
        assert child.turn_count == 0
        assert child.metadata == {"a": 1}
        assert await backend.sessions.read(child.id) == []

    async def test_a_fork_to_a_taken_id_is_a_conflict(self, backend: Backend) -> None:
        parent = await backend.sessions.create()
        taken = await backend.sessions.create()
        with pytest.raises(ConflictError):
            await backend.sessions.fork(parent.id, new_session_id=taken.id)

    async def test_a_bad_window_of_a_missing_session_is_not_found(self, backend: Backend) -> None:
        with pytest.raises(NotFoundError):
            await backend.sessions.read("missing", last=1, start=1)

    @pytest.mark.parametrize("last", [-1, 1.0, True])
    async def test_resume_refuses_a_bad_last_before_touching_the_session(
        self, backend: Backend, last: Any
    ) -> None:
        session = await backend.sessions.create(ttl=60)
        with pytest.raises(ValidationError):
            await backend.sessions.resume(session.id, last=last)
        after = await backend.sessions.get(session.id)
        assert after is not None
        assert after.updated_at == session.updated_at


class RegistryChecks:
    async def test_republishing_with_the_keys_reordered_is_a_conflict(
        self, backend: Backend
    ) -> None:
        await backend.skills.publish("s", "1.0", description="d", metadata={"a": 1, "b": 2})
        with pytest.raises(ConflictError):
            await backend.skills.publish("s", "1.0", description="d", metadata={"b": 2, "a": 1})
        same = await backend.skills.publish("s", "1.0", description="d", metadata={"a": 1, "b": 2})
        assert same.metadata == {"a": 1, "b": 2}

    async def test_republishing_true_for_one_is_a_conflict(self, backend: Backend) -> None:
        await backend.skills.publish("s", "1.0", description="d", metadata={"flag": 1})
        with pytest.raises(ConflictError):
            await backend.skills.publish("s", "1.0", description="d", metadata={"flag": True})

    async def test_find_and_list_filter_together_oldest_first(self, backend: Backend) -> None:
        first = await backend.agents.register("a", capabilities=["x"])
        await backend.agents.register("b", capabilities=["x"])
        third = await backend.agents.register("a", capabilities=["x", "y"])
        assert [i.instance_id for i in await backend.agents.list(name="a")] == [
            first.instance_id,
            third.instance_id,
        ]
        assert [i.instance_id for i in await backend.agents.find("y")] == [third.instance_id]
        assert len(await backend.agents.find("x")) == 3

    async def test_stats_and_invocations_agree(self, backend: Backend) -> None:
        runs: list[tuple[InvocationOutcome, float]] = [
            ("success", 1.0),
            ("error", 3.0),
            ("success", 2.0),
        ]
        for outcome, latency in runs:
            await backend.skills.record_invocation(
                "s", outcome=outcome, latency=latency, tokens=2, cost=0.5
            )
        records = await backend.skills.invocations("s")
        assert [r.latency for r in records] == [2.0, 3.0, 1.0]
        assert await backend.skills.invocations("s", limit=0) == []
        stats = await backend.skills.stats("s")
        assert (stats.invocations, stats.successes, stats.errors) == (3, 2, 1)
        assert stats.mean_latency == pytest.approx(2.0)
        assert (stats.total_tokens, stats.total_cost) == (6, pytest.approx(1.5))


class TestSharedChecks(StateChecks, SessionChecks, RegistryChecks):
    """Runs the shared checks on every tier."""
