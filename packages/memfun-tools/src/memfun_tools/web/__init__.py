"""Web tools: ``web_fetch`` (a URL to clean Markdown, SSRF-proof) and ``web_search``.

Example:
    >>> from memfun_tools.web import WebConfig, WebFetcher
    >>> fetcher = WebFetcher(WebConfig(cache_dir=".memfun/cache/web"))
    >>> # result = await fetcher.fetch("https://docs.python.org/3/library/asyncio.html")

Every name is imported on first use: ``build_web_server`` loads FastMCP, the fetcher
loads httpx, and ``memfun_tools.git`` only needs the address rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memfun_tools.web._address import address_rule
    from memfun_tools.web._backends import build_search_backend
    from memfun_tools.web._brave import BraveBackend
    from memfun_tools.web._config import SearchBackendName, WebConfig
    from memfun_tools.web._ddgs import DdgsBackend
    from memfun_tools.web._errors import (
        BlockedRule,
        HttpStatusError,
        UnsupportedContentError,
        WebAccessDenied,
    )
    from memfun_tools.web._fetch import WebFetcher
    from memfun_tools.web._html import HtmlDocument, html_to_markdown
    from memfun_tools.web._page import Download, FetchResult, Page
    from memfun_tools.web._resolve import Resolver, StaticResolver, SystemResolver
    from memfun_tools.web._search import (
        SearchBackend,
        SearchResponse,
        SearchResult,
        WebSearcher,
        normalize_results,
    )
    from memfun_tools.web._searxng import SearxngBackend
    from memfun_tools.web._server import build_web_server

__all__ = [
    "BlockedRule",
    "BraveBackend",
    "DdgsBackend",
    "Download",
    "FetchResult",
    "HtmlDocument",
    "HttpStatusError",
    "Page",
    "Resolver",
    "SearchBackend",
    "SearchBackendName",
    "SearchResponse",
    "SearchResult",
    "SearxngBackend",
    "StaticResolver",
    "SystemResolver",
    "UnsupportedContentError",
    "WebAccessDenied",
    "WebConfig",
    "WebFetcher",
    "WebSearcher",
    "address_rule",
    "build_search_backend",
    "build_web_server",
    "html_to_markdown",
    "normalize_results",
]


_WHERE: dict[str, str] = {
    "BlockedRule": "memfun_tools.web._errors",
    "BraveBackend": "memfun_tools.web._brave",
    "DdgsBackend": "memfun_tools.web._ddgs",
    "Download": "memfun_tools.web._page",
    "FetchResult": "memfun_tools.web._page",
    "HtmlDocument": "memfun_tools.web._html",
    "HttpStatusError": "memfun_tools.web._errors",
    "Page": "memfun_tools.web._page",
    "Resolver": "memfun_tools.web._resolve",
    "SearchBackend": "memfun_tools.web._search",
    "SearchBackendName": "memfun_tools.web._config",
    "SearchResponse": "memfun_tools.web._search",
    "SearchResult": "memfun_tools.web._search",
    "SearxngBackend": "memfun_tools.web._searxng",
    "StaticResolver": "memfun_tools.web._resolve",
    "SystemResolver": "memfun_tools.web._resolve",
    "UnsupportedContentError": "memfun_tools.web._errors",
    "WebAccessDenied": "memfun_tools.web._errors",
    "WebConfig": "memfun_tools.web._config",
    "WebFetcher": "memfun_tools.web._fetch",
    "WebSearcher": "memfun_tools.web._search",
    "address_rule": "memfun_tools.web._address",
    "build_search_backend": "memfun_tools.web._backends",
    "build_web_server": "memfun_tools.web._server",
    "html_to_markdown": "memfun_tools.web._html",
    "normalize_results": "memfun_tools.web._search",
}
"""Where each public name lives: imported on first use (the web stack loads httpx)."""


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
