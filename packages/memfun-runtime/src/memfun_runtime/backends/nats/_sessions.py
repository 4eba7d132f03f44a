"""Sessions on the KV bucket ``<ns>_sessions``.

A session's header lives under ``h.<session id>`` and its turns under
``t.<epoch>.<index>``, where the epoch is a fresh id per session incarnation (so a deleted
and recreated session, or a fork, never sees stale turns). Appending *creates* the turn key
for index ``turn_count`` (JetStream refuses a second create, so concurrent appends are
serialized without a lock) and then advances the header with a revision-checked update; a
writer that finds the turn taken helps advance the header and retries. Expiry is stored
with the header and enforced on every access.
"""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import Mapping
from typing import Any

from memfun_core.errors import ConflictError, NotFoundError, ValidationError
from memfun_runtime import _codec
from memfun_runtime.backends.nats._client import NatsClient
from memfun_runtime.backends.nats._kv import Bucket
from memfun_runtime.protocols import JSONValue, Session, SessionSnapshot, SessionStore, Turn

__all__ = ["NatsSessionStore"]

_Header = dict[str, Any]


def _session(header: _Header) -> Session:
    ttl = header.get("ttl")
    return Session(
        id=header["id"],
        metadata=header.get("metadata") or {},
        created_at=header["created_at"],
        updated_at=header["updated_at"],
        turn_count=header["turn_count"],
        ttl=ttl,
        expires_at=None if ttl is None else header["updated_at"] + ttl,
        parent_id=header.get("parent_id"),
        forked_at=header.get("forked_at"),
    )


def _missing(session_id: str) -> NotFoundError:
    return NotFoundError("session", session_id, hint="it never existed, was deleted or expired")


def _expired(header: _Header, now: float) -> bool:
    ttl = header.get("ttl")
    return ttl is not None and header["updated_at"] + ttl <= now


class NatsSessionStore(SessionStore):
    """:class:`~memfun_runtime.protocols.SessionStore` on JetStream KV (see the module)."""

    def __init__(self, client: NatsClient) -> None:
        self._bucket = Bucket(client, "sessions")

    @property
    def bucket(self) -> Bucket:
        """The KV bucket."""
        return self._bucket

    async def _header(self, session_id: str) -> tuple[_Header, int] | None:
        _codec.check_name(session_id, field="session_id")
        found = await self._bucket.get(f"h.{session_id}")
        if found is None:
            return None
        header, revision = found
        if _expired(header, time.time()):
            await self._remove(header, revision)
            return None
        return header, revision

    async def _require(self, session_id: str) -> tuple[_Header, int]:
        found = await self._header(session_id)
        if found is None:
            raise _missing(session_id)
        return found

    async def _remove(self, header: _Header, revision: int) -> bool:
        """Delete a header (at ``revision``) and then its turns."""
        if not await self._bucket.delete(f"h.{header['id']}", revision):
            return False
        epoch = header["epoch"]
        keys = [f"t.{epoch}.{i}" for i in range(header["turn_count"] + 1)]
        await asyncio.gather(*(self._bucket.delete(k) for k in keys))
        return True

    async def _new(
        self,
        session_id: str | None,
        metadata: Any,
        ttl: float | None,
        *,
        parent: tuple[str, int] | None = None,
        turns: builtins.list[Any] | None = None,
    ) -> Session:
        sid = (
            _codec.new_id()
            if session_id is None
            else _codec.check_name(session_id, field="session_id")
        )
        if await self._header(sid) is not None:
            raise ConflictError(
                f"a session named {sid!r} exists", hint="pick another id or resume that session"
            )
        stamp = time.time()
        epoch = _codec.new_id()
        copied = turns or []
        await asyncio.gather(
            *(self._bucket.put(f"t.{epoch}.{i}", turn) for i, turn in enumerate(copied))
        )
        header: _Header = {
            "id": sid,
            "metadata": metadata,
            "created_at": stamp,
            "updated_at": stamp,
            "turn_count": len(copied),
            "ttl": ttl,
            "parent_id": None if parent is None else parent[0],
            "forked_at": None if parent is None else parent[1],
            "epoch": epoch,
        }
        if await self._bucket.create(f"h.{sid}", header) is None:
            raise ConflictError(
                f"a session named {sid!r} was created concurrently",
                hint="pick another id or resume that session",
            )
        return _session(header)

    async def create(
        self,
        *,
        session_id: str | None = None,
        metadata: Mapping[str, JSONValue] | None = None,
        ttl: float | None = None,
    ) -> Session:
        """Create an empty session."""
        meta = _codec.decode_json(_codec.check_metadata(metadata), backend="nats", location="-")
        return await self._new(session_id, meta, _codec.check_ttl(ttl))

    async def get(self, session_id: str) -> Session | None:
        """Return the session's header, or ``None``."""
        found = await self._header(session_id)
        return None if found is None else _session(found[0])

    async def append(
        self,
        session_id: str,
        role: str,
        content: JSONValue,
        *,
        metadata: Mapping[str, JSONValue] | None = None,
    ) -> Turn:
        """Append one turn and return it; refreshes the session's TTL."""
        if not isinstance(role, str) or not role:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValidationError(
                f"must be a non-empty str, got {role!r}", field="role", rule="a non-empty str"
            )
        _codec.encode_json(content, field="content")
        meta = _codec.decode_json(_codec.check_metadata(metadata), backend="nats", location="-")
        stamp = time.time()
        stored = {"role": role, "content": content, "metadata": meta, "created_at": stamp}
        while True:
            header, revision = await self._require(session_id)
            index = header["turn_count"]
            created = await self._bucket.create(f"t.{header['epoch']}.{index}", stored)
            await self._advance(session_id, header, revision, index)
            if created is not None:
                return Turn(index, role, content, meta, stamp)

    async def _advance(self, session_id: str, header: _Header, revision: int, index: int) -> None:
        """Move the header past turn ``index`` (ours, or a crashed or racing writer's)."""
        while header["turn_count"] <= index:
            header["turn_count"] = index + 1
            header["updated_at"] = time.time()
            if await self._bucket.update(f"h.{session_id}", header, revision) is not None:
                return
            header, revision = await self._require(session_id)

    async def read(
        self,
        session_id: str,
        *,
        last: int | None = None,
        start: int = 0,
        end: int | None = None,
    ) -> builtins.list[Turn]:
        """Return turns in order: the ``last`` N, or the index range ``[start, end)``."""
        header, _ = await self._require(session_id)
        window = _codec.turn_window(header["turn_count"], last=last, start=start, end=end)
        return await self._turns(header, window)

    async def _turns(self, header: _Header, window: range) -> builtins.list[Turn]:
        epoch = header["epoch"]
        found = await asyncio.gather(*(self._bucket.get(f"t.{epoch}.{i}") for i in window))
        turns: builtins.list[Turn] = []
        for index, record in zip(window, found, strict=True):
            if record is None:
                continue
            data = record[0]
            turns.append(
                Turn(index, data["role"], data["content"], data["metadata"], data["created_at"])
            )
        return turns

    async def list(self, *, limit: int = 100) -> builtins.list[Session]:
        """Return up to ``limit`` live sessions, most recently active first."""
        _codec.check_int(limit, field="limit", minimum=0)
        now = time.time()
        live = [
            _session(header)
            async for _, header, _ in self._bucket.items("h.>")
            if not _expired(header, now)
        ]
        live.sort(key=lambda s: s.updated_at, reverse=True)
        return live[:limit]

    async def fork(
        self,
        session_id: str,
        *,
        upto: int | None = None,
        new_session_id: str | None = None,
        metadata: Mapping[str, JSONValue] | None = None,
        ttl: float | None = None,
    ) -> Session:
        """Create a new session holding copies of turns ``[0, upto)``."""
        header, _ = await self._require(session_id)
        count = header["turn_count"]
        cut = count if upto is None else _codec.check_int(upto, field="upto", minimum=0)
        if cut > count:
            raise ValidationError(
                f"is {cut} but the session has {count} turns",
                field="upto",
                rule="0 <= upto <= turn count",
            )
        meta = (
            _codec.decode_json(_codec.check_metadata(metadata), backend="nats", location="-")
            if metadata is not None
            else header.get("metadata")
        )
        seconds = _codec.check_ttl(ttl) if ttl is not None else header.get("ttl")
        epoch = header["epoch"]
        found = await asyncio.gather(*(self._bucket.get(f"t.{epoch}.{i}") for i in range(cut)))
        turns = [record[0] for record in found if record is not None]
        return await self._new(new_session_id, meta, seconds, parent=(session_id, cut), turns=turns)

    async def resume(self, session_id: str, *, last: int | None = None) -> SessionSnapshot:
        """Return the session and its turns and refresh its TTL."""
        while True:
            header, revision = await self._require(session_id)
            header["updated_at"] = time.time()
            if await self._bucket.update(f"h.{session_id}", header, revision) is not None:
                break
        window = _codec.turn_window(header["turn_count"], last=last, start=0, end=None)
        return SessionSnapshot(
            session=_session(header), turns=tuple(await self._turns(header, window))
        )

    async def delete(self, session_id: str) -> bool:
        """Remove the session and its turns; return whether a live one existed."""
        while True:
            found = await self._header(session_id)
            if found is None:
                return False
            if await self._remove(*found):
                return True
