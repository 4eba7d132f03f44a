"""The SearXNG backend: a self-hosted metasearch instance's JSON API."""

from __future__ import annotations

from typing import Any

import httpx

from memfun_core.errors import BackendError, BackendUnavailable, OperationTimeout
from memfun_tools.web._search import (
    SearchBackend,
    SearchResult,
    json_objects,
    normalize_results,
)

__all__ = ["SearxngBackend"]


class SearxngBackend(SearchBackend):
    """Searches a SearXNG instance (``GET /search?format=json``).

    The instance must list ``json`` under ``search.formats`` in its ``settings.yml``.
    The instance URL comes from configuration, not from the model, so it may be a local
    or private address.

    Args:
        base_url: The instance, e.g. ``http://127.0.0.1:8888``.
        timeout_seconds: Limit for one request.
        user_agent: The ``User-Agent`` header.
    """

    def __init__(self, base_url: str, *, timeout_seconds: float, user_agent: str) -> None:
        self._endpoint = base_url.rstrip("/") + "/search"
        self._timeout = timeout_seconds
        self._user_agent = user_agent

    @property
    def name(self) -> str:
        return "searxng"

    async def search(self, query: str, max_results: int) -> list[SearchResult]:
        params = {"q": query, "format": "json", "pageno": "1", "safesearch": "1"}
        headers = {"User-Agent": self._user_agent, "Accept": "application/json"}
        try:
            async with httpx.AsyncClient(timeout=self._timeout, headers=headers) as client:
                response = await client.get(self._endpoint, params=params)
        except httpx.TimeoutException as exc:
            raise OperationTimeout("SearXNG search", self._timeout, backend="searxng") from exc
        except httpx.HTTPError as exc:
            raise BackendUnavailable(
                f"cannot reach SearXNG ({type(exc).__name__})",
                backend="searxng",
                target=self._endpoint,
                hint="check web.searxng_url and that the instance is running",
            ) from exc
        if response.status_code == 403:  # noqa: PLR2004
            raise BackendError(
                "the instance refused format=json (HTTP 403)",
                backend="searxng",
                hint="add json to search.formats in the instance's settings.yml",
            )
        if response.status_code != 200:  # noqa: PLR2004
            raise BackendError(
                f"HTTP {response.status_code} from {self._endpoint}", backend="searxng"
            )
        try:
            payload: Any = response.json()
            raw: Any = payload["results"]
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendError(
                "the answer is not SearXNG JSON (no 'results' list)", backend="searxng"
            ) from exc
        hits = json_objects(raw)
        if not hits and not isinstance(raw, list):
            raise BackendError("'results' is not a list", backend="searxng")
        return normalize_results(hits, max_results, snippet_key="content")
