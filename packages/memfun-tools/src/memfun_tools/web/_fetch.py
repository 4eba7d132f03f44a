"""``web_fetch``: a URL to clean Markdown, without ever reaching a private network.

For every hop (the first URL and each redirect) the fetcher checks the URL statically,
resolves the host with its :class:`~memfun_tools.web._resolve.Resolver`, checks every
address, pins the vetted addresses for the connection layer, and only then sends the
request. Bodies are streamed up to a byte limit; binary content is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final, TypeVar

import httpx

from memfun_core.errors import BackendUnavailable, OperationTimeout, ValidationError
from memfun_tools.web._address import parse_ip
from memfun_tools.web._cache import PageCache
from memfun_tools.web._config import WebConfig
from memfun_tools.web._content import classify, decode
from memfun_tools.web._errors import HttpStatusError, WebAccessDenied
from memfun_tools.web._html import html_to_markdown
from memfun_tools.web._page import Download, FetchResult, Page
from memfun_tools.web._policy import CheckedUrl, UrlPolicy
from memfun_tools.web._resolve import Resolver, SystemResolver
from memfun_tools.web._transport import PinnedTransport, Pins

__all__ = ["WebFetcher"]

_T = TypeVar("_T")
_Reader = Callable[[httpx.Response, CheckedUrl], Awaitable[_T]]

_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_ACCEPT: Final = (
    "text/html,application/xhtml+xml,text/markdown;q=0.9,text/plain;q=0.8,"
    "application/json;q=0.8,*/*;q=0.1"
)


class WebFetcher:
    """Fetches web pages under the policy of a :class:`WebConfig`.

    Args:
        config: Limits, host lists, the loopback opt-in and the cache settings.
        resolver: How host names become addresses (the operating system by default).
        clock: The time source for the cache (seconds since the epoch).
    """

    def __init__(
        self,
        config: WebConfig | None = None,
        *,
        resolver: Resolver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config or WebConfig()
        self._policy = UrlPolicy(self._config)
        self._resolver: Resolver = resolver or SystemResolver()
        self._clock = clock
        self._cache = (
            PageCache(
                Path(self._config.cache_dir),
                ttl_seconds=self._config.cache_ttl_seconds,
                max_entries=self._config.cache_max_entries,
                clock=clock,
            )
            if self._config.cache_dir
            else None
        )

    @property
    def config(self) -> WebConfig:
        """The configuration in force."""
        return self._config

    async def fetch(
        self,
        url: str,
        *,
        max_chars: int = 20_000,
        start_index: int = 0,
        selector: str | None = None,
    ) -> FetchResult:
        """Fetch ``url`` and return a window of its content as Markdown or text.

        Args:
            url: An ``http://`` or ``https://`` URL.
            max_chars: The most characters to return.
            start_index: Where the window starts (use ``next_start_index`` to page on).
            selector: A CSS selector picking the content of an HTML page.

        Returns:
            The window, with the title, final URL and paging information.

        Raises:
            WebAccessDenied: A policy rule refused the URL, an address or a redirect.
            UnsupportedContentError: The response is binary.
            HttpStatusError: The server answered 4xx or 5xx.
            BackendUnavailable: The host does not resolve or cannot be reached.
            OperationTimeout: The fetch took longer than its limits.
            ValidationError: An argument is out of range or the selector matches nothing.
        """
        if max_chars < 1:
            raise ValidationError("must be at least 1", field="max_chars", rule="positive")
        if start_index < 0:
            raise ValidationError("must be 0 or more", field="start_index", rule="non-negative")
        checked = self._policy.check(url)
        key = self._cache_key(str(checked.url), selector)
        cache = self._cache
        page = await asyncio.to_thread(cache.get, key) if cache else None
        from_cache = page is not None
        if page is None:
            page = await self._download(
                checked, lambda response, hop: self._read(response, hop, url, selector)
            )
            if cache:
                await asyncio.to_thread(cache.put, key, page)
        content = page.content[start_index : start_index + max_chars]
        end = start_index + len(content)
        return FetchResult(
            url=url,
            final_url=page.final_url,
            title=page.title,
            content_type=page.content_type,
            content=content,
            start_index=start_index,
            total_chars=len(page.content),
            next_start_index=end if end < len(page.content) else None,
            body_truncated=page.body_truncated,
            from_cache=from_cache,
        )

    async def fetch_bytes(self, url: str, *, max_bytes: int) -> Download:
        """Download ``url`` as raw bytes (an archive, a JSON index) under the same policy.

        Every hop is checked as :meth:`fetch` checks it (scheme, host lists, resolved
        addresses, redirects); the body is never cached or converted.

        Args:
            url: An ``http://`` or ``https://`` URL.
            max_bytes: The largest body accepted; a longer one is refused, never cut.

        Returns:
            The body with the final URL and the declared media type.

        Raises:
            WebAccessDenied: A policy rule refused the URL, an address or a redirect.
            HttpStatusError: The server answered 4xx or 5xx.
            BackendUnavailable: The host does not resolve or cannot be reached.
            OperationTimeout: The download took longer than its limits.
            ValidationError: The body is larger than ``max_bytes``.
        """
        if max_bytes < 1:
            raise ValidationError("must be at least 1", field="max_bytes", rule="positive")
        checked = self._policy.check(url)
        return await self._download(
            checked,
            lambda response, hop: self._read_bytes(response, hop, url, max_bytes),
            accept="*/*",
        )

    @staticmethod
    async def _read_bytes(
        response: httpx.Response, current: CheckedUrl, asked: str, max_bytes: int
    ) -> Download:
        final_url = str(current.url)

        def too_large() -> ValidationError:
            return ValidationError(
                f"{final_url} is larger than {max_bytes} bytes",
                field="body",
                rule="too-large",
                hint="the download limit protects the disk; check that the URL is right",
            )

        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise too_large()
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise too_large()
            chunks.append(chunk)
        content_type = response.headers.get("content-type") or ""
        return Download(
            url=asked,
            final_url=final_url,
            content_type=content_type.split(";", 1)[0].strip(),
            body=b"".join(chunks),
        )

    def _cache_key(self, url: str, selector: str | None) -> str:
        cfg = self._config
        policy = repr((cfg.allow_loopback, cfg.allow_hosts, cfg.deny_hosts, cfg.max_bytes))
        digest = hashlib.sha256(policy.encode()).hexdigest()[:16]
        return f"{digest} {selector or ''} {url}"

    async def _vet(self, checked: CheckedUrl, pins: Pins) -> None:
        """Resolve the host of ``checked``, refuse any forbidden address, pin the rest."""
        shown = str(checked.url.copy_with(query=None))
        if checked.ip is not None:
            pins.set(checked.host, [str(checked.ip)])
            return
        addresses = await self._resolver.resolve(checked.host, checked.port)
        if not addresses:
            raise BackendUnavailable(
                f"the host {checked.host} does not resolve",
                backend="dns",
                target=checked.host,
                hint="check the spelling of the host name",
            )
        for address in addresses:
            ip = parse_ip(address)
            if ip is None:
                raise BackendUnavailable(
                    f"the resolver returned {address!r}, which is not an IP address",
                    backend="dns",
                    target=checked.host,
                )
            self._policy.check_address(ip, shown, checked.host, resolved=True)
        pins.set(checked.host, addresses)

    async def _download(
        self, first: CheckedUrl, reader: _Reader[_T], *, accept: str = _ACCEPT
    ) -> _T:
        cfg = self._config
        pins = Pins()
        timeout = httpx.Timeout(
            cfg.read_timeout_seconds, connect=cfg.connect_timeout_seconds, pool=None
        )
        transport = PinnedTransport(pins, timeout=cfg.read_timeout_seconds)
        headers = {"User-Agent": cfg.user_agent, "Accept": accept}
        try:
            async with (
                asyncio.timeout(cfg.total_timeout_seconds),
                httpx.AsyncClient(
                    transport=transport,
                    timeout=timeout,
                    headers=headers,
                    follow_redirects=False,
                    trust_env=False,
                ) as client,
            ):
                return await self._follow(client, pins, first, reader)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise OperationTimeout(
                f"fetching {first.url}",
                cfg.total_timeout_seconds,
                backend="web",
                hint="the server is slow; retry, or raise web.total_timeout_seconds",
            ) from exc

    async def _follow(
        self,
        client: httpx.AsyncClient,
        pins: Pins,
        first: CheckedUrl,
        reader: _Reader[_T],
    ) -> _T:
        current = first
        for _hop in range(self._config.max_redirects + 1):
            await self._vet(current, pins)
            request = client.build_request("GET", current.url)
            response = await client.send(request, stream=True)
            try:
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    current = self._policy.check(str(current.url.join(location)))
                    continue
                if response.status_code >= 400:  # noqa: PLR2004
                    raise HttpStatusError(
                        str(current.url), response.status_code, response.reason_phrase
                    )
                return await reader(response, current)
            finally:
                await response.aclose()
        raise WebAccessDenied(
            "too-many-redirects",
            str(first.url),
            f"more than {self._config.max_redirects} redirects",
        )

    async def _read(
        self, response: httpx.Response, current: CheckedUrl, asked: str, selector: str | None
    ) -> Page:
        final_url = str(current.url)
        content_type = response.headers.get("content-type")
        chunks: list[bytes] = []
        size = 0
        truncated = False
        kind = None
        async for chunk in response.aiter_bytes():
            if kind is None:
                kind = classify(final_url, content_type, chunk)
            room = self._config.max_bytes - size
            if len(chunk) >= room:
                chunks.append(chunk[:room])
                truncated = len(chunk) > room
                size += room
                if truncated:
                    break
                continue
            chunks.append(chunk)
            size += len(chunk)
        body = b"".join(chunks)
        kind = kind or classify(final_url, content_type, body)
        text, encoding = decode(body, content_type, kind)
        title: str | None = None
        if kind == "html":
            document = html_to_markdown(text, base_url=final_url, selector=selector)
            title, text = document.title, document.markdown
        elif selector:
            raise ValidationError(
                f"a selector applies to HTML pages; {final_url} is {kind}",
                field="selector",
                rule="html-only",
            )
        return Page(
            url=asked,
            final_url=final_url,
            status=response.status_code,
            content_type=(content_type or "").split(";", 1)[0].strip(),
            kind=kind,
            encoding=encoding,
            title=title,
            content=text,
            body_truncated=truncated,
            fetched_at=self._clock(),
        )
