"""The ``web`` MCP server: ``fetch`` and ``search`` tools over FastMCP.

The gateway mounts it with ``namespace="web"``, so clients see ``web_fetch`` and
``web_search``.
"""

from __future__ import annotations

from typing import Annotated

from fastmcp import FastMCP
from mcp_types import ToolAnnotations
from pydantic import Field

from memfun_tools._mcp import guarded
from memfun_tools.web._backends import build_search_backend
from memfun_tools.web._config import WebConfig
from memfun_tools.web._fetch import WebFetcher
from memfun_tools.web._page import FetchResult
from memfun_tools.web._resolve import Resolver
from memfun_tools.web._search import MAX_RESULTS_LIMIT, SearchBackend, SearchResponse, WebSearcher

__all__ = ["build_web_server"]

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


def build_web_server(
    config: WebConfig | None = None,
    *,
    resolver: Resolver | None = None,
    search_backend: SearchBackend | None = None,
) -> FastMCP:
    """Build the FastMCP server exposing ``fetch`` and ``search``.

    Args:
        config: The web options (defaults: no cache, ddgs search, loopback refused).
        resolver: How host names are resolved (the operating system by default).
        search_backend: A backend to use instead of the one ``config`` names.

    Returns:
        A server to mount under the ``web`` namespace (or to run on its own).
    """
    config = config or WebConfig()
    fetcher = WebFetcher(config, resolver=resolver)
    searcher = WebSearcher(search_backend or build_search_backend(config))
    server = FastMCP("memfun-web")
    annotations = ToolAnnotations(
        read_only_hint=True,
        destructive_hint=False,
        idempotent_hint=True,
        open_world_hint=True,
    )

    @server.tool(
        name="fetch",
        title="Fetch a web page",
        description=_FETCH_DESCRIPTION,
        annotations=annotations,
    )
    async def fetch(  # pyright: ignore[reportUnusedFunction]
        url: Annotated[str, Field(description="The http:// or https:// URL to read.")],
        max_chars: Annotated[
            int, Field(ge=1, le=200_000, description="The most characters to return.")
        ] = 20_000,
        start_index: Annotated[
            int, Field(ge=0, description="Where to start in the content (for paging).")
        ] = 0,
        selector: Annotated[
            str | None,
            Field(description="A CSS selector to extract instead of the detected main content."),
        ] = None,
    ) -> FetchResult:
        return await guarded(fetcher.fetch)(
            url, max_chars=max_chars, start_index=start_index, selector=selector
        )

    @server.tool(
        name="search",
        title="Search the web",
        description=_SEARCH_DESCRIPTION,
        annotations=annotations,
    )
    async def search(  # pyright: ignore[reportUnusedFunction]
        query: Annotated[str, Field(description="What to search for.")],
        max_results: Annotated[
            int, Field(ge=1, le=MAX_RESULTS_LIMIT, description="How many hits to return.")
        ] = 10,
    ) -> SearchResponse:
        return await guarded(searcher.search)(query, max_results)

    return server
