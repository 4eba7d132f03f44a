"""SessionStore conformance: append, windowed reads, list, fork, resume, expiry."""

from __future__ import annotations

import asyncio

import pytest

from memfun_core.errors import ConflictError, NotFoundError, ValidationError
from memfun_runtime._backend import Backend
from memfun_runtime.protocols import Session, Turn

TTL = 0.3


async def filled(backend: Backend, turns: int, **kwargs: object) -> Session:
    session = await backend.sessions.create(**kwargs)  # type: ignore[arg-type]
    for i in range(turns):
        await backend.sessions.append(session.id, "user" if i % 2 == 0 else "assistant", f"t{i}")
    return session


def contents(turns: list[Turn] | tuple[Turn, ...]) -> list[object]:
    return [t.content for t in turns]


class CreateAppendRead:
    async def test_create_and_get(self, backend: Backend) -> None:
        session = await backend.sessions.create(session_id="s-1", metadata={"user": "ada"})
        assert (session.id, session.turn_count, dict(session.metadata)) == (
            "s-1",
            0,
            {"user": "ada"},
        )
        assert session.created_at > 0
        assert await backend.sessions.get("s-1") == session
        assert await backend.sessions.get("s-2") is None
        generated = await backend.sessions.create()
        assert generated.id != "s-1"

    async def test_a_taken_id_conflicts(self, backend: Backend) -> None:
        await backend.sessions.create(session_id="s")
        with pytest.raises(ConflictError):
            await backend.sessions.create(session_id="s")

    async def test_append_numbers_turns_and_read_returns_them(self, backend: Backend) -> None:
        session = await backend.sessions.create()
        turn = await backend.sessions.append(
            session.id, "user", {"text": "hi"}, metadata={"tokens": 2}
        )
        assert (turn.index, turn.role, turn.content, dict(turn.metadata)) == (
            0,
            "user",
            {"text": "hi"},
            {"tokens": 2},
        )
        second = await backend.sessions.append(session.id, "assistant", "hello")
        assert second.index == 1
        turns = await backend.sessions.read(session.id)
        assert turns == [turn, second]
        header = await backend.sessions.get(session.id)
        assert header is not None
        assert header.turn_count == 2

    async def test_concurrent_appends_are_all_kept_in_order(self, backend: Backend) -> None:
        session = await backend.sessions.create()
        await asyncio.gather(*(backend.sessions.append(session.id, "tool", i) for i in range(20)))
        turns = await backend.sessions.read(session.id)
        assert [t.index for t in turns] == list(range(20))
        assert sorted(contents(turns)) == list(range(20))  # type: ignore[type-var]

    async def test_windowed_reads(self, backend: Backend) -> None:
        session = await filled(backend, 10)
        assert contents(await backend.sessions.read(session.id, last=3)) == ["t7", "t8", "t9"]
        assert contents(await backend.sessions.read(session.id, start=2, end=5)) == [
            "t2",
            "t3",
            "t4",
        ]
        assert contents(await backend.sessions.read(session.id, start=8)) == ["t8", "t9"]
        assert await backend.sessions.read(session.id, start=20) == []
        assert len(await backend.sessions.read(session.id, last=50)) == 10
        assert await backend.sessions.read(session.id, last=0) == []
        with pytest.raises(ValidationError):
            await backend.sessions.read(session.id, last=2, start=1)
        with pytest.raises(ValidationError):
            await backend.sessions.read(session.id, start=-1)

    async def test_list_is_most_recently_active_first(self, backend: Backend) -> None:
        a = await backend.sessions.create(session_id="a")
        b = await backend.sessions.create(session_id="b")
        await asyncio.sleep(0.01)
        await backend.sessions.append(a.id, "user", "bump")
        listed = await backend.sessions.list()
        assert [s.id for s in listed] == ["a", "b"]
        assert [s.id for s in await backend.sessions.list(limit=1)] == ["a"]
        assert b.id in {s.id for s in listed}

    async def test_missing_sessions_raise_not_found(self, backend: Backend) -> None:
        with pytest.raises(NotFoundError) as info:
            await backend.sessions.append("ghost", "user", "x")
        assert info.value.kind == "session"
        with pytest.raises(NotFoundError):
            await backend.sessions.read("ghost")
        with pytest.raises(NotFoundError):
            await backend.sessions.resume("ghost")
        with pytest.raises(NotFoundError):
            await backend.sessions.fork("ghost")

    async def test_delete(self, backend: Backend) -> None:
        session = await filled(backend, 2)
        assert await backend.sessions.delete(session.id) is True
        assert await backend.sessions.get(session.id) is None
        assert await backend.sessions.delete(session.id) is False


class ForkAndResume:
    async def test_fork_copies_turns_up_to_k(self, backend: Backend) -> None:
        parent = await filled(backend, 5, metadata={"topic": "x"})
        fork = await backend.sessions.fork(parent.id, upto=3, new_session_id="branch")
        assert (fork.id, fork.parent_id, fork.forked_at, fork.turn_count) == (
            "branch",
            parent.id,
            3,
            3,
        )
        assert dict(fork.metadata) == {"topic": "x"}
        assert contents(await backend.sessions.read("branch")) == ["t0", "t1", "t2"]
        await backend.sessions.append("branch", "user", "only in fork")
        await backend.sessions.append(parent.id, "user", "only in parent")
        assert contents(await backend.sessions.read("branch"))[-1] == "only in fork"
        parent_turns = await backend.sessions.read(parent.id)
        assert len(parent_turns) == 6
        assert "only in fork" not in contents(parent_turns)

    async def test_fork_of_everything_and_bad_cut(self, backend: Backend) -> None:
        parent = await filled(backend, 2)
        whole = await backend.sessions.fork(parent.id)
        assert contents(await backend.sessions.read(whole.id)) == ["t0", "t1"]
        with pytest.raises(ValidationError):
            await backend.sessions.fork(parent.id, upto=3)
        with pytest.raises(ConflictError):
            await backend.sessions.fork(parent.id, new_session_id=whole.id)

    async def test_resume_returns_the_session_and_its_turns(self, backend: Backend) -> None:
        session = await filled(backend, 4)
        snapshot = await backend.sessions.resume(session.id)
        assert snapshot.session.id == session.id
        assert contents(snapshot.turns) == ["t0", "t1", "t2", "t3"]
        assert contents((await backend.sessions.resume(session.id, last=2)).turns) == ["t2", "t3"]


class Expiry:
    async def test_an_idle_session_expires(self, backend: Backend) -> None:
        session = await filled(backend, 1, ttl=TTL)
        assert session.ttl == TTL
        await asyncio.sleep(TTL * 1.5)
        assert await backend.sessions.get(session.id) is None
        assert session.id not in {s.id for s in await backend.sessions.list()}
        with pytest.raises(NotFoundError):
            await backend.sessions.append(session.id, "user", "too late")
        await backend.sessions.create(session_id=session.id)  # the id is free again

    async def test_activity_refreshes_the_ttl(self, backend: Backend) -> None:
        session = await backend.sessions.create(ttl=TTL)
        for _ in range(3):
            await asyncio.sleep(TTL * 0.6)
            await backend.sessions.append(session.id, "user", "still here")
        await asyncio.sleep(TTL * 0.6)
        snapshot = await backend.sessions.resume(session.id)
        assert len(snapshot.turns) == 3
        await asyncio.sleep(TTL * 0.6)
        assert await backend.sessions.get(session.id) is not None  # resume refreshed it
        header = await backend.sessions.get(session.id)
        assert header is not None
        assert header.expires_at is not None
        assert header.expires_at > header.created_at + TTL

    async def test_a_bad_ttl_or_id_is_refused(self, backend: Backend) -> None:
        with pytest.raises(ValidationError):
            await backend.sessions.create(ttl=-1)
        with pytest.raises(ValidationError):
            await backend.sessions.create(session_id="has space")
        with pytest.raises(ValidationError):
            await backend.sessions.create(metadata={"x": object()})
        session = await backend.sessions.create()
        with pytest.raises(ValidationError):
            await backend.sessions.append(session.id, "", "no role")
        with pytest.raises(ValidationError):
            await backend.sessions.append(session.id, "user", {1j})


class TestSessionStore(CreateAppendRead, ForkAndResume, Expiry):
    """Runs every SessionStore behaviour on every tier."""
