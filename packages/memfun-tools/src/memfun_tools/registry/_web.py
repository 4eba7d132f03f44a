"""The web tools (``web_fetch``, ``web_search``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from memfun_tools.registry._core import READ_ONLY_WEB, ToolDef
from memfun_tools.registry._schema import integer, nullable, params, string
from memfun_tools.web._backends import build_search_backend
from memfun_tools.web._config import WebConfig
from memfun_tools.web._page import FetchResult
from memfun_tools.web._search import MAX_RESULTS_LIMIT, SearchBackend, SearchResponse, WebSearcher

if TYPE_CHECKING:
    from memfun_tools.web._fetch import WebFetcher
    from memfun_tools.web._resolve import Resolver

__all__ = ["web_tools"]

_FETCH_DESCRIPTION = (
    "Fetch a public web page (http/https) and return its main content as Markdown "
    "(headings, code blocks, tables and links kept; navigation, scripts and banners removed). "
    "Text, Markdown and JSON come back as served; binary files are refused. Private, "
    "loopback and cloud-metadata addresses are refused. Long pages are returned in windows: "
    "call again with start_index = next_start_index to read on."
)
_SEARCH_DESCRIPTION = (
    "Search the web and return hits as title, url and snippet, best first. "
    "Follow up with web_fetch on a url to read the page."
)


def web_tools(
    config: WebConfig | None = None,
    *,
    resolver: Resolver | None = None,
    search_backend: SearchBackend | None = None,
) -> list[ToolDef]:
    """``fetch`` and ``search`` under the ``web`` namespace.

    The search backend is configured at once (a missing setting is an error here); the
    fetcher, whose HTML-to-Markdown stack takes a while to import, on the first fetch.

    Args:
        config: The web options (defaults: no cache, ddgs search, loopback refused).
        resolver: How host names are resolved (the operating system by default).
        search_backend: A backend to use instead of the one ``config`` names.
    """
    config = config or WebConfig()
    searcher = WebSearcher(search_backend or build_search_backend(config))
    fetchers: list[WebFetcher] = []

    async def fetch(
        url: str, max_chars: int, start_index: int, selector: str | None
    ) -> FetchResult:
        if not fetchers:
            from memfun_tools.web._fetch import WebFetcher

            fetchers.append(WebFetcher(config, resolver=resolver))
        return await fetchers[0].fetch(
            url, max_chars=max_chars, start_index=start_index, selector=selector
        )

    async def search(query: str, max_results: int) -> SearchResponse:
        return await searcher.search(query, max_results)

    return [
        ToolDef(
            "web",
            "fetch",
            _FETCH_DESCRIPTION,
            params(
                ("url",),
                url=string("The http:// or https:// URL to read."),
                max_chars=integer(
                    "The most characters to return.", ge=1, le=200_000, default=20_000
                ),
                start_index=integer("Where to start in the content (for paging).", ge=0, default=0),
                selector=nullable(
                    {"type": "string"},
                    "A CSS selector to extract instead of the detected main content.",
                ),
            ),
            READ_ONLY_WEB,
            FetchResult,
            fetch,
            title="Fetch a web page",
        ),
        ToolDef(
            "web",
            "search",
            _SEARCH_DESCRIPTION,
            params(
                ("query",),
                query=string("What to search for."),
                max_results=integer(
                    "How many hits to return.", ge=1, le=MAX_RESULTS_LIMIT, default=10
                ),
            ),
            READ_ONLY_WEB,
            SearchResponse,
            search,
            title="Search the web",
        ),
    ]
