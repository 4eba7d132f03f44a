"""The zero-configuration backend: ``ddgs`` (the successor of ``duckduckgo-search``).

``ddgs`` queries public search engines (DuckDuckGo's HTML endpoint, Mojeek, Wikipedia,
...) without an API key, parses their result pages and ranks the merged hits. It is
synchronous, so each search runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from memfun_core.errors import BackendError, BackendUnavailable, OperationTimeout
from memfun_tools.web._search import SearchBackend, SearchResult, normalize_results

__all__ = ["DdgsBackend"]

_NO_RESULTS = "No results found."


class DdgsBackend(SearchBackend):
    """Searches through the ``ddgs`` metasearch library.

    Args:
        engines: ``"auto"`` or a comma list of ddgs engines (``"duckduckgo,mojeek"``).
        region: The region code (``"us-en"``).
        safesearch: ``"on"``, ``"moderate"`` or ``"off"``.
        timeout_seconds: Limit for the engines' requests.
        proxy: A proxy URL for ddgs; ``None`` uses ``DDGS_PROXY`` when set.
        ca_bundle: A PEM file of certificate authorities to trust (a TLS-inspecting proxy).
    """

    def __init__(
        self,
        *,
        engines: str = "auto",
        region: str = "us-en",
        safesearch: str = "moderate",
        timeout_seconds: float = 15.0,
        proxy: str | None = None,
        ca_bundle: str | None = None,
    ) -> None:
        self._engines = engines
        self._region = region
        self._safesearch = safesearch
        self._timeout = timeout_seconds
        self._proxy = proxy
        self._ca_bundle = ca_bundle

    @property
    def name(self) -> str:
        return "ddgs"

    async def search(self, query: str, max_results: int) -> list[SearchResult]:
        raw = await asyncio.to_thread(self._search_sync, query, max_results)
        return normalize_results(raw, max_results, url_key="href", snippet_key="body")

    def _search_sync(self, query: str, max_results: int) -> list[dict[str, Any]]:
        from ddgs.ddgs import DDGS
        from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException

        client = DDGS(
            proxy=self._proxy,
            timeout=max(1, math.ceil(self._timeout)),
            verify=self._ca_bundle or True,
        )
        try:
            return client.text(
                query,
                region=self._region,
                safesearch=self._safesearch,
                max_results=max_results,
                backend=self._engines,
            )
        except TimeoutException as exc:
            raise OperationTimeout("ddgs search", self._timeout, backend="ddgs") from exc
        except RatelimitException as exc:
            raise BackendUnavailable(
                "the search engines rate-limited this machine",
                backend="ddgs",
                target=self._engines,
                hint="wait a minute, or configure web.search_backend = 'searxng' or 'brave'",
            ) from exc
        except DDGSException as exc:
            if str(exc) == _NO_RESULTS:
                return []
            raise BackendError(
                f"search failed: {exc}",
                backend="ddgs",
                hint="check the network, or configure another web.search_backend",
            ) from exc
