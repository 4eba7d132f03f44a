"""The NATS connection shared by every service of one backend: naming, errors, timeouts.

Every call to the server goes through :meth:`NatsClient.call`, which bounds it in time and
turns nats-py's exceptions into the Memfun error hierarchy, so that an outage surfaces as
:class:`~memfun_core.errors.BackendUnavailable` within ``timeout`` seconds and never hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from memfun_core._extras import import_extra
from memfun_core.errors import BackendError, BackendUnavailable
from memfun_core.secrets import redact_url
from memfun_runtime.backends._services import not_started

import_extra("nats", package="memfun-runtime", extra="nats", feature="the NATS backend")

import nats  # noqa: E402 - import_extra above turns a missing package into a clear error
import nats.errors  # noqa: E402
import nats.js.errors  # noqa: E402
from nats.aio.client import Client  # noqa: E402
from nats.aio.msg import Msg  # noqa: E402
from nats.aio.subscription import Subscription  # noqa: E402
from nats.js import JetStreamContext  # noqa: E402
from nats.js.api import (  # noqa: E402
    ConsumerConfig,
    ConsumerInfo,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.kv import KeyValue  # noqa: E402

__all__ = ["BACKEND", "NatsClient", "stream_config", "token"]

BACKEND = "nats"
"""The ``backend`` field of every error this tier raises."""

_log = logging.getLogger("memfun_runtime.nats")
_RECONNECT_WAIT = 0.25  # seconds between reconnect attempts (nats-py accepts floats)
_IN_USE = 10058  # JetStream: stream name already in use (with another configuration)
_KV_DUPLICATE_WINDOW = 120.0  # seconds; what nats-py gives a bucket without an age
_T = TypeVar("_T")

_UNAVAILABLE = (
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionDrainingError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.NoServersError,
    nats.errors.NoRespondersError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    nats.errors.UnexpectedEOF,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.ServerError,
    OSError,
)


def token(text: str, size: int = 20) -> str:
    """A single subject token standing for ``text`` (names may contain dots)."""
    return hashlib.sha256(text.encode()).hexdigest()[:size]


def stream_config(
    name: str,
    subjects: list[str],
    *,
    retention: RetentionPolicy = RetentionPolicy.LIMITS,
    max_age: float | None = None,
    dedupe: float = 0.0,
) -> StreamConfig:
    """The configuration of a stream this backend needs (created idempotently at start)."""
    return StreamConfig(
        name=name,
        subjects=subjects,
        retention=retention,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=max_age,
        duplicate_window=dedupe,
        allow_direct=True,
    )


class NatsClient:
    """One connection to a NATS server with JetStream, and the namespace of one runtime.

    Args:
        url: ``nats://host:port`` (credentials in the URL are never logged).
        namespace: A token prefixed to every stream, bucket and subject, so that several
            runtimes share one server.
        timeout: Seconds any single server call may take before it fails.
    """

    def __init__(self, url: str, *, namespace: str, timeout: float) -> None:
        self.url = url
        self.target = redact_url(url)
        self.namespace = namespace
        self.timeout = timeout
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._buckets: dict[str, KeyValue] = {}
        self._closing = False

    def name(self, kind: str) -> str:
        """The name of this namespace's stream or KV bucket ``kind`` (``EVENTS``, ``state``)."""
        return f"{self.namespace}_{kind}"

    @property
    def connected(self) -> bool:
        """Whether the connection is up right now."""
        return self._nc is not None and self._nc.is_connected

    @property
    def nc(self) -> Client:
        """The connection (raises when the backend is not started)."""
        if self._nc is None:
            raise not_started("NATS")
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        """The JetStream context (raises when the backend is not started)."""
        if self._js is None:
            raise not_started("NATS")
        return self._js

    async def connect(self) -> None:
        """Connect, reconnecting forever afterwards; fail within ``timeout`` if unreachable.

        Raises:
            BackendUnavailable: No server answered in time.
        """
        if self._nc is not None:
            return
        self._closing = False
        nc = Client()

        async def on_error(exc: Exception) -> None:
            _log.debug("nats connection error: %s", exc)

        async def on_disconnected() -> None:
            _log.info("disconnected from NATS at %s; reconnecting", self.target)

        async def on_reconnected() -> None:
            _log.info("reconnected to NATS at %s", self.target)

        try:
            await asyncio.wait_for(
                nc.connect(
                    servers=[self.url],
                    connect_timeout=max(round(self.timeout), 1),
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=_RECONNECT_WAIT,  # pyright: ignore[reportArgumentType]
                    ping_interval=5,
                    max_outstanding_pings=2,
                    error_cb=on_error,
                    disconnected_cb=on_disconnected,
                    reconnected_cb=on_reconnected,
                    name=f"memfun-runtime:{self.namespace}",
                ),
                self.timeout,
            )
        except (TimeoutError, *_UNAVAILABLE) as exc:
            await _close_quietly(nc)
            if isinstance(exc, TimeoutError):
                detail = f"no connection within {self.timeout:g} s"
            else:
                detail = str(exc) or type(exc).__name__
            raise BackendUnavailable(
                f"cannot connect to the NATS server: {detail}",
                backend=BACKEND,
                target=self.target,
                hint="start nats-server with JetStream (`nats-server -js`) or fix the URL",
            ) from exc
        self._nc = nc
        self._js = nc.jetstream(timeout=self.timeout)  # pyright: ignore[reportUnknownMemberType]

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        nc, self._nc, self._js = self._nc, None, None
        self._buckets.clear()
        self._closing = True
        if nc is not None:
            await _close_quietly(nc)

    def unavailable(self, what: str, cause: object = None) -> BackendUnavailable:
        """The error for a call that could not reach the server."""
        detail = f": {cause}" if cause not in (None, "") else ""
        return BackendUnavailable(
            f"{what} failed: the NATS server did not answer within {self.timeout:g} s{detail}",
            backend=BACKEND,
            target=self.target,
            hint="check that nats-server is running with JetStream; the backend reconnects "
            "by itself, retry the call",
        )

    async def call(
        self, what: str, make: Callable[[], Awaitable[_T]], *, bounded: bool = False
    ) -> _T:
        """Run one server call with a bounded time and mapped errors.

        Args:
            what: Describes the call for error messages (``"publishing to 'a.b'"``).
            make: Creates the awaitable (called once the connection is known to be up).
            bounded: The awaitable enforces ``timeout`` itself (a nats-py request given
                ``timeout``), so no extra timer is needed on this hot path.

        Raises:
            BackendUnavailable: The server is unreachable or did not answer in time.
            BackendError: The server refused the call for another reason.
        """
        nc = self.nc
        if not nc.is_connected:  # a reconnect in progress: wait for it within the timeout
            deadline = time.monotonic() + self.timeout
            while not nc.is_connected:
                if nc.is_closed or self._closing or time.monotonic() >= deadline:
                    raise self.unavailable(what, "not connected")
                await asyncio.sleep(0.02)
        try:
            if bounded:
                return await make()
            return await asyncio.wait_for(make(), self.timeout)
        except (TimeoutError, nats.errors.TimeoutError) as exc:
            raise self.unavailable(what, "timed out") from exc
        except _UNAVAILABLE as exc:
            raise self.unavailable(what, exc) from exc
        except nats.js.errors.APIError as exc:
            raise BackendError(
                f"{what} was refused by the server: {exc}",
                backend=BACKEND,
                hint="check the server's JetStream limits and logs",
            ) from exc

    async def publish(self, subject: str, body: bytes, what: str, reply: str = "") -> None:
        """Send a core message (an ack, a nack, a pull request) without awaiting an answer."""
        nc = self.nc
        await self.call(what, lambda: nc.publish(subject, body, reply))

    async def request(self, subject: str, data: bytes, what: str) -> Any:
        """Send a core request and return the reply message (bounded, mapped errors)."""
        nc = self.nc
        return await self.call(
            what, lambda: nc.request(subject, data, timeout=self.timeout), bounded=True
        )

    async def add_consumer(self, stream: str, config: ConsumerConfig) -> ConsumerInfo:
        """Create or update a consumer (raw: wrap it in :meth:`call`)."""
        return await self.js.add_consumer(stream, config)  # pyright: ignore[reportUnknownMemberType]

    async def subscribe(
        self, subject: str, callback: Callable[[Msg], Awaitable[None]], what: str
    ) -> Subscription:
        """Subscribe to core NATS messages (bounded, mapped errors)."""
        nc = self.nc
        return await self.call(what, lambda: nc.subscribe(subject, cb=callback))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType, reportUnknownLambdaType]

    async def quietly(self, work: Awaitable[object]) -> None:
        """Await best-effort clean-up (an unsubscribe, a delete) whose failure changes nothing.

        The server removes such leftovers by itself (inactive thresholds), or the connection
        is going away.
        """
        try:
            await asyncio.wait_for(work, self.timeout)
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            _log.debug("clean-up failed (harmless): %s", exc)

    async def _create(
        self, what: str, create: Callable[[], Awaitable[_T]], existing: Callable[[], Awaitable[_T]]
    ) -> _T:
        """``create()``, or ``existing()`` when the server says the name is in use."""

        async def attempt() -> _T:
            try:
                return await create()
            except nats.js.errors.BadRequestError as exc:
                if exc.err_code != _IN_USE:
                    raise
                return await existing()

        return await self.call(what, attempt)

    async def ensure_stream(self, config: StreamConfig) -> None:
        """Create the stream, or update it to ``config`` when it exists (idempotent)."""
        js = self.js
        await self._create(
            f"creating stream {config.name!r}",
            lambda: js.add_stream(config),  # pyright: ignore[reportUnknownMemberType]
            lambda: js.update_stream(config),  # pyright: ignore[reportUnknownMemberType]
        )

    async def ensure_bucket(self, kind: str, *, max_age: float | None = None) -> KeyValue:
        """Create (idempotently) and return this namespace's KV bucket ``kind``.

        ``max_age``: seconds the server keeps each entry (``None``: forever). An existing
        bucket is updated to it, so the backend started last sets the age.
        """
        bucket = self._buckets.get(kind)
        if bucket is not None:
            return bucket
        name = self.name(kind)
        js = self.js

        async def existing() -> KeyValue:
            config = (await js.stream_info(f"KV_{name}")).config
            if _nanoseconds(config.max_age) != _nanoseconds(max_age):
                config.max_age = max_age or 0.0
                # The server refuses a duplicate window longer than the age (as at creation).
                config.duplicate_window = min(_KV_DUPLICATE_WINDOW, max_age or _KV_DUPLICATE_WINDOW)
                await js.update_stream(config)  # pyright: ignore[reportUnknownMemberType]
            return await js.key_value(name)

        bucket = await self._create(
            f"creating bucket {name!r}",
            lambda: js.create_key_value(bucket=name, history=1, direct=True, ttl=max_age),  # pyright: ignore[reportUnknownMemberType]
            existing,
        )
        self._buckets[kind] = bucket
        return bucket

    async def destroy(self, streams: list[str], buckets: list[str]) -> None:
        """Delete the given streams and buckets (missing ones are fine)."""
        self._buckets.clear()
        for name in [*streams, *(f"KV_{self.name(kind)}" for kind in buckets)]:
            await self.call(f"deleting stream {name!r}", functools.partial(self._delete, name))

    async def _delete(self, stream: str) -> None:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await self.js.delete_stream(stream)


def _nanoseconds(seconds: float | None) -> int:
    """A duration as the server stores it (``None`` and 0 both mean unlimited)."""
    return round((seconds or 0.0) * 1_000_000_000)


async def _close_quietly(nc: Client) -> None:
    try:
        await asyncio.wait_for(nc.close(), 2.0)
    except (TimeoutError, *_UNAVAILABLE, nats.errors.Error):
        pass
