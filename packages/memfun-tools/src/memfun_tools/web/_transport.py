"""An httpx transport that connects only to addresses the policy vetted.

The fetcher resolves a host, checks every address, and records them in :class:`Pins`. The
transport's network backend ignores DNS altogether: asked to connect to a host, it dials
the pinned addresses of that host and nothing else. A host without pins is an internal
error, so no code path can reach an unvetted address and a DNS answer cannot change
between the check and the connection (no rebinding window). TLS still verifies the
certificate against the host name, because the URL keeps the name.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from types import TracebackType
from typing import Any, Self, cast

import httpcore
import httpx

from memfun_core.errors import BackendUnavailable, InternalError, OperationTimeout

__all__ = ["PinnedTransport", "Pins"]


class Pins:
    """The vetted addresses of each host, for one fetch."""

    def __init__(self) -> None:
        self._by_host: dict[str, tuple[str, ...]] = {}

    def set(self, host: str, addresses: Sequence[str]) -> None:
        """Record the vetted ``addresses`` of ``host`` (replacing earlier ones)."""
        self._by_host[host.lower()] = tuple(addresses)

    def get(self, host: str) -> tuple[str, ...]:
        """Return the vetted addresses of ``host``.

        Raises:
            InternalError: ``host`` was never vetted (a bug: every hop is vetted first).
        """
        try:
            return self._by_host[host.lower()]
        except KeyError:
            raise InternalError(f"web fetch tried to connect to unvetted host {host!r}") from None


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Dials the pinned addresses of a host instead of resolving it."""

    def __init__(self, pins: Pins) -> None:
        self._pins = pins
        self._inner: httpcore.AsyncNetworkBackend = httpcore.AnyIOBackend()  # pyright: ignore[reportAttributeAccessIssue]

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        last: Exception | None = None
        for address in self._pins.get(host):
            try:
                return await self._inner.connect_tcp(
                    address.split("%", 1)[0],
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise httpcore.ConnectError(f"could not connect to {host}:{port}: {last}")

    async def connect_unix_socket(
        self,
        path: str,  # noqa: ARG002 - httpcore's interface
        timeout: float | None = None,  # noqa: ASYNC109, ARG002
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,  # noqa: ARG002
    ) -> httpcore.AsyncNetworkStream:
        raise InternalError("web fetch never connects to Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _Stream(httpx.AsyncByteStream):
    def __init__(
        self, inner: AsyncIterable[bytes] | Iterable[bytes], target: str, timeout: float
    ) -> None:
        self._inner = inner
        self._target = target
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped_errors(self._target, self._timeout):
            if isinstance(self._inner, Iterable):
                for part in self._inner:
                    yield part
                return
            async for part in self._inner:
                yield part

    async def aclose(self) -> None:
        closer = getattr(self._inner, "aclose", None)
        if closer is not None:
            await closer()


class _mapped_errors:
    """Turns httpcore's network errors into Memfun errors naming the target."""

    def __init__(self, target: str, timeout: float) -> None:
        self._target = target
        self._timeout = timeout

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, httpcore.TimeoutException):
            raise OperationTimeout(
                f"talking to {self._target}",
                self._timeout,
                backend="web",
                hint="the server is slow; retry",
            ) from exc
        if isinstance(exc, httpcore.ConnectError):
            raise BackendUnavailable(
                str(exc) or "connection failed", backend="web", target=self._target
            ) from exc
        if isinstance(exc, (httpcore.NetworkError, httpcore.ProtocolError)):
            raise BackendUnavailable(
                f"{type(exc).__name__}: {exc}", backend="web", target=self._target
            ) from exc


class PinnedTransport(httpx.AsyncBaseTransport):
    """An httpx transport whose connections go only to pinned, vetted addresses.

    It ignores proxy environment variables: a proxy would make the vetted address moot.
    """

    def __init__(
        self, pins: Pins, *, timeout: float, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._timeout = timeout
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=4,
            network_backend=_PinnedBackend(pins),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` over a pinned connection."""
        target = str(request.url.copy_with(query=None))
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _mapped_errors(target, self._timeout):
            response = await self._pool.handle_async_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Stream(response.stream, target, self._timeout),
            extensions=cast("dict[str, Any]", response.extensions),  # pyright: ignore[reportUnknownMemberType]
        )

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._pool.aclose()
