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
from typing import Any

from memfun_runtime import _codec
from memfun_runtime.backends._sessions_base import Fork, SessionStoreBase, taken
from memfun_runtime.backends.nats._client import BACKEND, NatsClient
from memfun_runtime.backends.nats._kv import Bucket
from memfun_runtime.protocols import Session, Turn

__all__ = ["NatsSessionStore"]

_Header = dict[str, Any]
_Found = tuple[_Header, int]


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


def _expired(header: _Header, now: float) -> bool:
    ttl = header.get("ttl")
    return ttl is not None and header["updated_at"] + ttl <= now


class NatsSessionStore(SessionStoreBase[_Found]):
    """:class:`~memfun_runtime.protocols.SessionStore` on JetStream KV (see the module)."""

    def __init__(self, client: NatsClient) -> None:
        self._bucket = Bucket(client, "sessions")

    def _header(self, found: _Found) -> Session:
        return _session(found[0])

    async def _find(self, session_id: str) -> _Found | None:
        found = await self._bucket.get(f"h.{session_id}")
        if found is not None and _expired(found[0], time.time()):
            await self._remove(*found)
            return None
        return found

    async def _remove(self, header: _Header, revision: int) -> bool:
        """Delete a header (at ``revision``) and then its turns."""
        if not await self._bucket.delete(f"h.{header['id']}", revision):
            return False
        epoch = header["epoch"]
        keys = [f"t.{epoch}.{i}" for i in range(header["turn_count"] + 1)]
        await asyncio.gather(*(self._bucket.delete(k) for k in keys))
        return True

    async def _turns(self, found: _Found, window: range) -> builtins.list[Turn]:
        epoch = found[0]["epoch"]
        records = await asyncio.gather(*(self._bucket.get(f"t.{epoch}.{i}") for i in window))
        return [
            Turn(index, r[0]["role"], r[0]["content"], r[0]["metadata"], r[0]["created_at"])
            for index, r in zip(window, records, strict=True)
            if r is not None
        ]

    async def _create(
        self,
        session_id: str,
        metadata: str,
        ttl: float | None,
        parent: tuple[str, int] | None = None,
        turns: builtins.list[Any] | None = None,
    ) -> Session | None:
        if await self._find(session_id) is not None:
            return None
        stamp = time.time()
        epoch = _codec.new_id()
        copied = turns or []
        await asyncio.gather(
            *(self._bucket.put(f"t.{epoch}.{i}", turn) for i, turn in enumerate(copied))
        )
        header: _Header = {
            "id": session_id,
            "metadata": _codec.decode_json(metadata, backend=BACKEND, location=session_id),
            "created_at": stamp,
            "updated_at": stamp,
            "turn_count": len(copied),
            "ttl": ttl,
            "parent_id": None if parent is None else parent[0],
            "forked_at": None if parent is None else parent[1],
            "epoch": epoch,
        }
        if await self._bucket.create(f"h.{session_id}", header) is None:
            return None  # created concurrently
        return _session(header)

    async def _append(
        self, session_id: str, role: str, content: str, metadata: str
    ) -> tuple[int, float] | None:
        stamp = time.time()
        stored = (
            f'{{"role":{_codec.encode_json(role)},"content":{content},'
            f'"metadata":{metadata},"created_at":{stamp!r}}}'
        ).encode()
        while True:
            found = await self._find(session_id)
            if found is None:
                return None
            header, revision = found
            index = header["turn_count"]
            created = await self._bucket.create(f"t.{header['epoch']}.{index}", stored)
            if not await self._advance(session_id, header, revision, index):
                return None
            if created is not None:
                return index, stamp

    async def _advance(self, session_id: str, header: _Header, revision: int, index: int) -> bool:
        """Move the header past turn ``index`` (ours, or a crashed or racing writer's).

        Returns ``False`` when the session is gone.
        """
        while header["turn_count"] <= index:
            header["turn_count"] = index + 1
            header["updated_at"] = time.time()
            if await self._bucket.update(f"h.{session_id}", header, revision) is not None:
                return True
            found = await self._find(session_id)
            if found is None:
                return False
            header, revision = found
        return True

    async def _list(self, limit: int) -> builtins.list[Session]:  # noqa: ARG002 - the base sorts and cuts
        now = time.time()
        headers = [header async for _, header, _ in self._bucket.items("h.>")]
        return [_session(header) for header in headers if not _expired(header, now)]

    async def _fork(self, fork: Fork) -> Session:
        found = await self._require(fork.parent)
        cut, meta, life = fork.of(_session(found[0]))
        epoch = found[0]["epoch"]
        records = await asyncio.gather(*(self._bucket.get(f"t.{epoch}.{i}") for i in range(cut)))
        turns = [record[0] for record in records if record is not None]
        created = await self._create(fork.child, meta, life, (fork.parent, cut), turns)
        if created is None:
            raise taken(fork.child)
        return created

    async def _resume(self, session_id: str) -> _Found | None:
        while (found := await self._find(session_id)) is not None:
            found[0]["updated_at"] = time.time()
            if await self._bucket.update(f"h.{session_id}", *found) is not None:
                return found
        return None

    async def _delete(self, session_id: str) -> bool:
        while (found := await self._find(session_id)) is not None:
            if await self._remove(*found):
                return True
        return False
