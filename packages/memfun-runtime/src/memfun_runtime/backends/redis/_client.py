"""The shared Redis connection: pooling, reconnect with backoff, bounded calls, key names."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

from memfun_core._extras import import_extra
from memfun_core.errors import BackendError, BackendUnavailable, ValidationError
from memfun_core.secrets import redact_url
from memfun_runtime import _codec
from memfun_runtime.backends._services import not_started

__all__ = [
    "LUA_CLOCK",
    "TIER",
    "RedisClient",
    "Script",
    "fields",
    "redact_url",
    "seconds_to_ms",
    "text",
]

TIER = "redis"

_T = TypeVar("_T")
_Word = str | int | float | bytes

LUA_CLOCK = """
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function fmt(x) return string.format('%.6f', x) end
"""
"""Lua: ``now()`` is the server's time in seconds, ``fmt(x)`` a time as the scripts store it."""

_LANES = 16
"""Connections that :meth:`RedisClient.send` keeps beside the pool (see ``_Lanes``)."""


def _module(name: str) -> Any:
    return import_extra(name, package="memfun-runtime", extra="redis", feature="the Redis backend")


class Script:
    """A Lua script, run by its SHA1 (EVALSHA) once the server caches it."""

    __slots__ = ("loaded", "sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
        self.loaded = False  # SCRIPT LOADed by RedisClient.loaded


class RedisClient:
    """One connection pool plus everything every Redis service needs.

    Calls go through :meth:`run`, which bounds their duration and turns connection failures
    into :class:`~memfun_core.errors.BackendUnavailable`. redis-py reconnects lazily: a
    command on a broken connection is retried on a fresh one with exponential backoff, so
    the backend recovers by itself once the server is back.

    Args:
        url: ``redis://[user:password@]host:port/db`` (``rediss://`` for TLS).
        namespace: Prefix of every key (one token), so several runtimes share one server.
        operation_timeout: Seconds any one call may take before it fails with
            ``BackendUnavailable`` (connect, retries and the reply included).
        max_connections: Size of the connection pool (blocking reads hold one each).
    """

    def __init__(
        self, url: str, *, namespace: str, operation_timeout: float, max_connections: int
    ) -> None:
        self._asyncio = _module("redis.asyncio")
        exceptions = _module("redis.exceptions")
        self._backoff = _module("redis.backoff")
        self._retry = _module("redis.asyncio.retry")
        self.url = url
        self.target = redact_url(url)
        self.namespace = _codec.check_group(namespace, field="namespace")
        self.timeout = _codec.check_positive(operation_timeout, field="operation_timeout")
        self._max_connections = _codec.check_int(
            max_connections, field="max_connections", minimum=4
        )
        self.response_error: type[Exception] = exceptions.ResponseError
        self.no_script: type[Exception] = exceptions.NoScriptError
        self._connection_error: type[Exception] = exceptions.ConnectionError
        self.pack: Callable[[tuple[_Word, ...]], bytes] = _module("hiredis").pack_command
        """Encode one command in the Redis protocol (in C, by hiredis)."""
        self._down: tuple[type[BaseException], ...] = (
            exceptions.ConnectionError,
            exceptions.TimeoutError,
            TimeoutError,
            OSError,
        )
        self._redis: Any = None
        self._scripts: dict[str, Script] = {}
        self._lanes = _Lanes(_LANES)
        if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
            raise ValidationError(
                f"{self.target!r} is not a Redis URL",
                field="redis_url",
                rule="redis://host:port/db, rediss://... or unix://path",
                hint="set runtime.redis_url, e.g. redis://127.0.0.1:6379/0",
            )

    @property
    def started(self) -> bool:
        """Whether :meth:`open` was called (and :meth:`close` not since)."""
        return self._redis is not None

    async def open(self) -> None:
        """Create the pool and check that the server answers (else ``BackendUnavailable``)."""
        if self._redis is not None:
            return
        retry = self._retry.Retry(self._backoff.ExponentialBackoff(cap=0.5, base=0.05), 3)
        # A blocking pool: when every connection is busy, a call waits for one (bounded by
        # the operation timeout) instead of failing.
        pool = self._asyncio.BlockingConnectionPool.from_url(
            self.url,
            decode_responses=True,
            socket_timeout=self.timeout,
            socket_connect_timeout=min(self.timeout, 2.0),
            retry=retry,
            max_connections=self._max_connections,
            timeout=self.timeout,
            health_check_interval=30,
        )
        self._redis = self._asyncio.Redis.from_pool(pool)  # the client owns (and closes) it
        try:
            await self.run("PING", lambda r: r.ping())
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close every connection of the pool and the lanes (idempotent)."""
        client, self._redis = self._redis, None
        self._scripts.clear()
        lanes, self._lanes = self._lanes, _Lanes(_LANES)
        await lanes.close(self._connection_error("the backend is stopping"))
        if client is not None:
            with contextlib.suppress(*self._down):
                await client.aclose()

    def script(self, source: str) -> Script:
        """Return the script for ``source`` (one object per source)."""
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = Script(source)
        return script

    async def loaded(self, source: str) -> Script:
        """Return the script for ``source``, loaded into the server's cache on first use.

        A pipeline that runs a script with EVALSHA keeps its order only if the server knows
        the script: loading it first means a NOSCRIPT reply (and a late EVAL of that one
        command) happens only when the server lost its cache (a restart, SCRIPT FLUSH).
        """
        script = self.script(source)
        if not script.loaded:
            await self.call("script", ("SCRIPT", "LOAD", source))
            script.loaded = True
        return script

    async def run(
        self,
        operation: str,
        call: Callable[[Any], Awaitable[_T]],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the bound is the point
    ) -> _T:
        """Run ``call(redis)`` within ``timeout`` (default: the operation timeout).

        Raises:
            ConflictError: The backend was not started.
            BackendUnavailable: The server cannot be reached or did not answer in time.
        """
        client = self._redis
        if client is None:
            raise not_started(TIER)
        try:
            async with asyncio.timeout(self.timeout if timeout is None else timeout):
                return await call(client)
        except self._down as exc:
            reason = str(exc) or type(exc).__name__
            raise BackendUnavailable(
                f"{operation} failed: {reason}",
                backend=TIER,
                target=self.target,
                hint="check that the Redis server is running and reachable; "
                "the backend reconnects by itself once it is back",
            ) from exc

    async def call(self, operation: str, command: tuple[_Word, ...]) -> Any:
        """Send one command and return its reply (``BackendError`` if the server refuses)."""
        [reply] = await self.send(operation, self.pack(command), 1)
        return self.checked(operation, reply)

    async def eval(
        self, operation: str, source: str, keys: Sequence[str], args: Sequence[_Word]
    ) -> Any:
        """Run a script with EVALSHA, or with EVAL when the server does not cache it yet."""
        script = self.script(source)
        command = (len(keys), *keys, *args)
        [reply] = await self.send(operation, self.pack(("EVALSHA", script.sha, *command)), 1)
        if isinstance(reply, self.no_script):
            [reply] = await self.send(operation, self.pack(("EVAL", source, *command)), 1)
        return self.checked(operation, reply)

    def checked(self, operation: str, reply: Any) -> Any:
        """Return ``reply``, or raise the ``BackendError`` for an error reply."""
        if isinstance(reply, Exception):
            raise self.refused(operation, reply) from reply
        return reply

    def refused(self, operation: str, reason: object) -> BackendError:
        """Build the error for a command the server refused (``reason``: its error reply)."""
        return BackendError(
            f"{operation} refused by {self.target}: {reason}",
            backend=TIER,
            hint="check the server's state (memory limit, a read-only replica, a disk "
            "error) and that no other program writes to this namespace's keys",
        )

    async def send(
        self,
        operation: str,
        packed: bytes,
        replies: int,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the bound is the point
    ) -> list[Any]:
        """Write already packed commands at once and read ``replies`` replies.

        The hot path: the replies are read without a timer each (:meth:`run` bounds the
        whole exchange). An error reply is returned in the list as a ``ResponseError``, not
        raised, so that the replies that follow it are still read.
        """
        if self._lanes.pid != os.getpid():  # a forked child must not share its parent's sockets
            self._lanes = _Lanes(_LANES)
        lanes, refused = self._lanes, self.response_error
        return await self.run(
            operation,
            lambda r: lanes.exchange(r.connection_pool, packed, replies, refused),
            timeout=timeout,
        )

    async def pipeline(self, operation: str, build: Callable[[Any], object]) -> list[Any]:
        """Send the commands ``build(pipe)`` queues in one round trip and return the replies."""

        async def call(client: Any) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            build(pipe)
            return await pipe.execute()

        return await self.run(operation, call)

    async def scan(
        self, operation: str, pattern: str, kind: str | None = None
    ) -> AsyncIterator[list[str]]:
        """Yield the names of the keys matching ``pattern`` (of type ``kind``) in batches."""
        cursor: object = 0
        while True:
            cursor, names = await self.run(
                operation, lambda r, c=cursor: r.scan(c, match=pattern, count=1000, _type=kind)
            )
            if names:
                yield [text(name) for name in names]
            if int(str(cursor)) == 0:
                return

    async def keys(self, pattern: str, kind: str | None = None) -> list[str]:
        """Every key matching ``pattern`` (of type ``kind``), sorted.

        ``SCAN`` walks the whole database, other namespaces included: for one-off work
        (migration, rebuilding an index), never for a call that repeats.
        """
        return sorted(
            {name async for names in self.scan("listing keys", pattern, kind) for name in names}
        )

    async def ping(self) -> float:
        """Return the round-trip time of a PING in seconds (``BackendUnavailable``: none)."""
        began = time.perf_counter()
        await self.run("PING", lambda r: r.ping(), timeout=min(self.timeout, 2.0))
        return time.perf_counter() - began

    def key(self, kind: str, *parts: str) -> str:
        """Return the namespaced key ``<namespace>:<kind>:<part>:...``."""
        return ":".join((self.namespace, kind, *parts))


async def _retried(conn: Any, packed: bytes, replies: int, refused: type[Exception]) -> list[Any]:
    """Send ``packed`` on ``conn`` and read ``replies`` replies (errors in their place).

    A broken connection is dropped and the exchange retried with backoff, as redis-py does
    for its own commands.
    """

    async def attempt() -> list[Any]:
        await conn.send_packed_command(packed)
        out: list[Any] = []
        for _ in range(replies):
            try:
                # No per-reply timer: RedisClient.run bounds the whole exchange, and a read
                # cut short by it disconnects the connection (so no reply is left unread).
                out.append(await conn.read_response(timeout=math.inf))
            except refused as exc:
                out.append(exc)
        return out

    async def failed(_error: BaseException) -> None:
        await conn.disconnect()

    return await conn.retry.call_with_retry(attempt, failed)


class _Lanes:
    """The connections of :meth:`RedisClient.send`, each used by one exchange at a time.

    Taking a connection from the redis-py pool and giving it back costs more than the rest
    of a pipelined exchange (its lock, timer, health and metrics steps), so the hot calls
    keep up to ``limit`` connections of their own, made by the pool's connection factory
    (same URL, credentials, timeouts and retry policy) on first use. When all are busy, an
    exchange waits for one. A connection whose exchange fails or is cancelled reconnects on
    its next use. Blocking reads stay on the pool.
    """

    __slots__ = ("_idle", "_limit", "_stopping", "pid")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._idle: asyncio.LifoQueue[Any] = asyncio.LifoQueue()
        for _ in range(limit):
            self._idle.put_nowait(None)  # a connection not made yet
        self.pid = os.getpid()
        self._stopping: BaseException | None = None

    async def exchange(
        self, pool: Any, packed: bytes, replies: int, refused: type[Exception]
    ) -> list[Any]:
        """Send ``packed`` on a free connection and read ``replies`` replies."""
        conn = await self._idle.get()
        try:
            if self._stopping is not None:
                raise self._stopping
            if conn is None:
                conn = pool.make_connection()
            return await _retried(conn, packed, replies, refused)
        finally:
            if self._stopping is not None and conn is not None:
                with contextlib.suppress(Exception):  # discarded anyway
                    await conn.disconnect()
                conn = None
            self._idle.put_nowait(conn)  # to the next exchange, or a waiting one

    async def close(self, stopping: BaseException) -> None:
        """Disconnect the idle connections (busy ones when their exchange ends).

        Exchanges still waiting for a connection fail with ``stopping``.
        """
        self._stopping = stopping
        while not self._idle.empty():
            conn = self._idle.get_nowait()
            if conn is not None:
                with contextlib.suppress(Exception):  # discarded anyway
                    await conn.disconnect()
        for _ in range(self._limit):
            self._idle.put_nowait(None)  # each waiter takes one, fails, and hands it on


def seconds_to_ms(seconds: float) -> int:
    """Round a positive duration up to whole milliseconds (at least 1)."""
    return max(1, int(-(-seconds * 1000 // 1)))


def text(value: Any) -> str:
    """Return a reply value as ``str`` (replies are decoded; ``None`` becomes ``""``)."""
    return "" if value is None else str(value)


def fields(reply: Any) -> dict[str, str]:
    """A hash as text: a dict (redis-py's reply) or a flat list (a script's, a stream's)."""
    if isinstance(reply, dict):
        return {text(k): text(v) for k, v in reply.items()}  # pyright: ignore[reportUnknownVariableType]
    return {text(reply[i]): text(reply[i + 1]) for i in range(0, len(reply), 2)}
