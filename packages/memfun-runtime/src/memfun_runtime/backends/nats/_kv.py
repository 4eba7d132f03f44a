"""JSON records in a JetStream KV bucket, with revision-based compare-and-set.

Every write that must not race is an ``update(key, last=revision)`` (JetStream's
``Nats-Expected-Last-Subject-Sequence``): the server refuses it when another write landed
first, which is how every service of this tier gets compare-and-set without locks.
:meth:`Bucket.purge` removes a key at a revision without leaving a delete marker behind.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import nats.js.errors
from nats.js.api import DeliverPolicy
from nats.js.kv import KeyValue

from memfun_core.errors import BackendError
from memfun_runtime import _codec
from memfun_runtime.backends.nats._client import BACKEND, NatsClient
from memfun_runtime.backends.nats._pull import read_stream, reader_config

__all__ = ["Bucket", "Record"]

_WRONG_LAST = (10071, 10164)
_OP = "KV-Operation"
_PATIENCE = 0.25  # seconds a listing waits for a key that vanished while it was read

Record = tuple[Any, int]
"""A decoded JSON value and its revision."""


class Bucket:
    """The KV bucket ``<ns>_<kind>`` of JSON values.

    ``max_age``: seconds the server keeps an entry after its last write (``None``: until it
    is deleted); JetStream applies it to the whole bucket.
    """

    def __init__(self, client: NatsClient, kind: str, *, max_age: float | None = None) -> None:
        self._client = client
        self._kind = kind
        self.max_age = max_age
        self.name = client.name(kind)
        self._stream = f"KV_{self.name}"
        self._pre = f"$KV.{self.name}."

    async def open(self) -> KeyValue:
        """Create the bucket if needed, with its ``max_age`` (idempotent); return it."""
        return await self._client.ensure_bucket(self._kind, max_age=self.max_age)

    async def get(self, key: str) -> Record | None:
        """Return ``(value, revision)``, or ``None`` when absent or deleted."""
        kv = await self.open()

        async def read() -> Record | None:
            try:
                entry = await kv.get(key, validate_keys=False)
            except nats.js.errors.KeyNotFoundError:
                return None
            return self._decode(key, entry.value), entry.revision or 0

        return await self._client.call(f"reading {key!r} from {self.name}", read)

    async def put(self, key: str, value: Any) -> int:
        """Write unconditionally (``bytes``: JSON text as is); return the new revision."""
        kv = await self.open()
        data = _encode(value)
        return await self._client.call(
            f"writing {key!r} to {self.name}", lambda: kv.put(key, data, validate_keys=False)
        )

    async def create(self, key: str, value: Any) -> int | None:
        """Write only if the key is absent (or deleted); ``None`` when it exists."""
        return await self.update(key, value, None)

    async def update(self, key: str, value: Any, revision: int | None) -> int | None:
        """Write only if the key is at ``revision`` (``None``: absent); else return ``None``."""
        kv = await self.open()
        data = _encode(value)

        async def write() -> int | None:
            try:
                if revision is None:
                    return await kv.create(key, data, validate_keys=False)
                return await kv.update(key, data, last=revision, validate_keys=False)
            except nats.js.errors.KeyWrongLastSequenceError:
                return None

        return await self._client.call(f"writing {key!r} to {self.name}", write)

    async def delete(self, key: str, revision: int | None = None) -> bool:
        """Delete (only at ``revision`` when given); ``False`` when the revision differs."""
        kv = await self.open()

        async def remove() -> bool:
            try:
                return await kv.delete(key, last=revision, validate_keys=False)
            except nats.js.errors.APIError as exc:
                if exc.err_code in _WRONG_LAST:
                    return False
                raise

        return await self._client.call(f"deleting {key!r} from {self.name}", remove)

    async def purge(self, key: str, revision: int) -> bool:
        """Remove ``key`` if it is still at ``revision``; ``False`` when a newer write exists.

        Unlike :meth:`delete` this leaves no delete marker in the bucket (a stream purge of
        the key's subject below ``revision + 1``), so removed keys take no space at all.
        """
        await self.open()
        body = json.dumps({"filter": self._pre + key, "seq": revision + 1}).encode()
        what = f"removing {key!r} from {self.name}"
        reply = await self._client.request(f"$JS.API.STREAM.PURGE.{self._stream}", body, what)
        answer = json.loads(reply.data)
        if "error" in answer:
            raise BackendError(
                f"{what} was refused by the server: {answer['error']}",
                backend=BACKEND,
                hint="check the server's JetStream limits and logs",
            )
        return int(answer.get("purged", 0)) > 0

    async def items(self, pattern: str = ">") -> AsyncIterator[tuple[str, Any, int]]:
        """Yield ``(key, value, revision)`` of every live key matching a subject pattern.

        Each key once. A key removed while the listing runs (:meth:`purge`, ``max_age``) may
        still be yielded or not; nats-server 2.9 then hands the consumer another key's entry
        in its place, which is skipped as a repeat.
        """
        config = reader_config(self._pre + pattern, deliver_policy=DeliverPolicy.LAST_PER_SUBJECT)
        seen: set[str] = set()
        async for msg in read_stream(self._client, self._stream, config, patience=_PATIENCE):
            key = msg.subject[len(self._pre) :]
            if key in seen:
                continue
            seen.add(key)
            if msg.headers and msg.headers.get(_OP) in ("DEL", "PURGE"):
                continue
            yield key, self._decode(key, msg.data), msg.metadata.sequence.stream

    def _decode(self, key: str, data: bytes | None) -> Any:
        return _codec.decode_json(data or b"", backend=BACKEND, location=f"{self.name}/{key}")


def _encode(value: Any) -> bytes:
    """JSON for a value; ``bytes`` are taken as JSON text already encoded."""
    return value if isinstance(value, bytes) else _codec.encode_json(value, field="value").encode()
