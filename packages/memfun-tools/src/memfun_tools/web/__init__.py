"""Web tools: ``web_fetch`` (a URL to clean Markdown, SSRF-proof) and ``web_search``.

Example:
    >>> from memfun_tools.web import WebConfig, WebFetcher
    >>> fetcher = WebFetcher(WebConfig(cache_dir=".memfun/cache/web"))
    >>> # result = await fetcher.fetch("https://docs.python.org/3/library/asyncio.html")

``build_web_server`` (the MCP server) is imported lazily: FastMCP is slow to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    if name == "build_web_server":
        from memfun_tools.web._server import build_web_server

        return build_web_server
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
