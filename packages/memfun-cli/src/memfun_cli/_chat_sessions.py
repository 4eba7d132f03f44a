"""Chat sessions in the configured runtime's SessionStore: create, append, load, list.

Each helper opens the runtime for one operation, so the turn processes (which store their
traces in the same runtime) never wait on a long-held connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from memfun_core.errors import UserError

if TYPE_CHECKING:
    from memfun_core.config import MemfunConfig
    from memfun_runtime.protocols import Session, SessionSnapshot, SessionStore

__all__ = [
    "CHAT_KIND",
    "append_turns",
    "create_session",
    "list_sessions",
    "load_session",
]

#: ``metadata["kind"]`` of the sessions ``memfun chat`` creates.
CHAT_KIND = "chat"
_TITLE_CHARS = 80
_START_HINT = "start one with `memfun chat` (sessions persist with the sqlite or redis tier)"

T = TypeVar("T")


def _with_store(config: MemfunConfig, action: Callable[[SessionStore], Awaitable[T]]) -> T:
    from memfun_runtime import RuntimeBuilder

    async def run() -> T:
        async with RuntimeBuilder().from_config(config).build() as runtime:
            return await action(runtime.sessions)

    return asyncio.run(run())


def create_session(config: MemfunConfig, title: str) -> str:
    """Create a chat session titled by its first message; return its id."""
    metadata: dict[str, Any] = {
        "kind": CHAT_KIND,
        "title": " ".join(title.split())[:_TITLE_CHARS],
        "project": str(config.project_root),
    }

    async def action(store: SessionStore) -> str:
        return (await store.create(metadata=metadata)).id

    return _with_store(config, action)


def append_turns(
    config: MemfunConfig, session_id: str, turns: list[tuple[str, str, dict[str, Any]]]
) -> None:
    """Append ``(role, text, metadata)`` turns to the session, in order."""

    async def action(store: SessionStore) -> None:
        for role, text, metadata in turns:
            await store.append(session_id, role, text, metadata=metadata)

    _with_store(config, action)


def list_sessions(config: MemfunConfig, limit: int = 100) -> list[Session]:
    """Chat sessions, most recently active first."""

    async def action(store: SessionStore) -> list[Session]:
        return await store.list(limit=limit)

    sessions = _with_store(config, action)
    return [s for s in sessions if s.metadata.get("kind") == CHAT_KIND]


def load_session(config: MemfunConfig, session_id: str | None) -> SessionSnapshot:
    """Resume a session with all its turns (the latest chat session when ``None``).

    Raises:
        NotFoundError: No such session.
        UserError: There is no chat session at all.
    """

    async def action(store: SessionStore) -> SessionSnapshot:
        wanted = session_id
        if wanted is None:
            chats = [s for s in await store.list(limit=100) if s.metadata.get("kind") == CHAT_KIND]
            if not chats:
                raise UserError("there is no chat session to resume", hint=_START_HINT)
            wanted = chats[0].id
        return await store.resume(wanted)

    return _with_store(config, action)
