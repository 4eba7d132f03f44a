"""The shared Redis connection: pooling, reconnect with backoff, bounded calls, key names."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from memfun_core._extras import import_extra
from memfun_core.errors import BackendUnavailable, ConflictError, ValidationError
from memfun_runtime import _codec

__all__ = ["TIER", "RedisClient", "Script", "redact_url", "seconds_to_ms", "text"]

TIER = "redis"

_T = TypeVar("_T")


def _module(name: str) -> Any:
    return import_extra(name, package="memfun-runtime", extra="redis", feature="the Redis backend")


def redact_url(url: str) -> str:
    """Return ``url`` without its password (safe for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, f"{user}{host}{port}", parts.path, parts.query, ""))


class Script:
    """A Lua script registered once; runs with EVALSHA and reloads itself after NOSCRIPT."""

    __slots__ = ("_script",)

    def __init__(self, script: Any) -> None:
        self._script = script

    async def __call__(
        self, keys: Sequence[str], args: Sequence[str | int | float], client: Any = None
    ) -> Any:
        """Run the script with ``keys`` and ``args`` (on ``client``: a pipeline or the pool)."""
        return await self._script(keys=list(keys), args=list(args), client=client)


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
        self,
        url: str,
        *,
        namespace: str,
        operation_timeout: float,
        max_connections: int,
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
        self._down: tuple[type[BaseException], ...] = (
            exceptions.ConnectionError,
            exceptions.TimeoutError,
            TimeoutError,
            OSError,
        )
        self._redis: Any = None
        self._scripts: dict[str, Script] = {}
        if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
            raise ValidationError(
                f"{self.target!r} is not a Redis URL",
                field="redis_url",
                rule="redis://host:port/db, rediss://... or unix://path",
                hint="set runtime.redis_url, e.g. redis://127.0.0.1:6379/0",
            )

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """Whether :meth:`open` was called (and :meth:`close` not since)."""
        return self._redis is not None

    async def open(self) -> None:
        """Create the pool and check that the server answers.

        Raises:
            BackendUnavailable: The server does not answer within the operation timeout.
        """
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
        """Close every connection of the pool (idempotent)."""
        client, self._redis = self._redis, None
        self._scripts.clear()
        if client is not None:
            with contextlib.suppress(*self._down):
                await client.aclose()

    @property
    def redis(self) -> Any:
        """The ``redis.asyncio.Redis`` client.

        Raises:
            ConflictError: The backend was not started.
        """
        if self._redis is None:
            raise ConflictError(
                "the redis backend is not started",
                hint="await backend.start() first, or use `async with runtime:`",
            )
        return self._redis

    def script(self, source: str) -> Script:
        """Return the registered script for ``source`` (registered on first use)."""
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = Script(self.redis.register_script(source))
        return script

    # --- calls ------------------------------------------------------------------------------

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
        client = self.redis
        limit = self.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                return await call(client)
        except self._down as exc:
            raise self.unavailable(operation, exc) from exc

    async def pipeline(self, operation: str, build: Callable[[Any], object]) -> list[Any]:
        """Send the commands ``build(pipe)`` queues in one round trip and return the replies.

        Raises:
            BackendUnavailable: The server cannot be reached or did not answer in time.
        """

        async def call(client: Any) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            build(pipe)
            return await pipe.execute()

        return await self.run(operation, call)

    def unavailable(self, operation: str, exc: BaseException) -> BackendUnavailable:
        """Build the error for a call that could not reach the server."""
        reason = str(exc) or type(exc).__name__
        return BackendUnavailable(
            f"{operation} failed: {reason}",
            backend=TIER,
            target=self.target,
            hint="check that the Redis server is running and reachable; "
            "the backend reconnects by itself once it is back",
        )

    async def ping(self) -> float:
        """Return the round-trip time of a PING in seconds.

        Raises:
            BackendUnavailable: No answer.
        """
        began = time.perf_counter()
        await self.run("PING", lambda r: r.ping(), timeout=min(self.timeout, 2.0))
        return time.perf_counter() - began

    # --- names ------------------------------------------------------------------------------

    def key(self, kind: str, *parts: str) -> str:
        """Return the namespaced key ``<namespace>:<kind>:<part>:...``."""
        return ":".join((self.namespace, kind, *parts))


def seconds_to_ms(seconds: float) -> int:
    """Round a positive duration up to whole milliseconds (at least 1)."""
    return max(1, int(-(-seconds * 1000 // 1)))


def text(value: Any) -> str:
    """Return a reply value as ``str`` (replies are decoded; ``None`` becomes ``""``)."""
    return "" if value is None else str(value)
