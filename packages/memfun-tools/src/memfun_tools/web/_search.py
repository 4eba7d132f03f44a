"""``web_search``: one protocol for search backends, normalized results, one entry point."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol, cast, runtime_checkable
from urllib.parse import urlsplit

from memfun_core.errors import ValidationError

__all__ = [
    "MAX_RESULTS_LIMIT",
    "SearchBackend",
    "SearchResponse",
    "SearchResult",
    "WebSearcher",
    "json_objects",
    "normalize_results",
]

#: The most results one search may ask for.
MAX_RESULTS_LIMIT: Final = 50
_MAX_QUERY_CHARS: Final = 500
_MAX_SNIPPET_CHARS: Final = 600
_TAG_RE: Final = re.compile(r"<[^>]{0,200}>")


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One search hit, the same shape whatever the backend.

    Attributes:
        title: The page title (plain text).
        url: The page URL (``http`` or ``https``).
        snippet: A short extract of the page (plain text, may be empty).
    """

    title: str
    url: str
    snippet: str


@dataclass(frozen=True, slots=True)
class SearchResponse:
    """What ``web_search`` returns.

    Attributes:
        query: The query as searched.
        backend: The backend that answered (``ddgs``, ``searxng``, ``brave``).
        results: The hits, best first, without duplicate URLs.
    """

    query: str
    backend: str
    results: list[SearchResult]


@runtime_checkable
class SearchBackend(Protocol):
    """A web search service."""

    @property
    def name(self) -> str:
        """A short name for results and messages (``"searxng"``)."""
        ...

    async def search(self, query: str, max_results: int) -> list[SearchResult]:
        """Return up to ``max_results`` normalized hits for ``query``, best first.

        Raises:
            BackendError: The service failed, refused the request or timed out.
            ConfigError: The backend is not configured correctly (a missing key).
        """
        ...


def _plain(text: object, limit: int | None = None) -> str:
    value = html.unescape(_TAG_RE.sub("", str(text or "")))
    value = " ".join(value.split())
    if limit is not None and len(value) > limit:
        value = value[: limit - 1].rstrip() + "…"
    return value


def json_objects(raw: object) -> list[dict[str, Any]]:
    """Return the JSON objects of a decoded JSON list (anything else gives an empty list)."""
    if not isinstance(raw, list):
        return []
    items = cast("list[object]", raw)
    return [cast("dict[str, Any]", item) for item in items if isinstance(item, dict)]


def normalize_results(
    raw: Iterable[Mapping[str, Any]],
    max_results: int,
    *,
    title_key: str = "title",
    url_key: str = "url",
    snippet_key: str = "snippet",
) -> list[SearchResult]:
    """Turn a backend's raw hits into :class:`SearchResult` values.

    Tags and entities are stripped from titles and snippets, whitespace is collapsed,
    hits without an ``http(s)`` URL are dropped, duplicate URLs keep their first hit, and
    the list is cut to ``max_results``.
    """
    results: list[SearchResult] = []
    seen: set[str] = set()
    for item in raw:
        url = str(item.get(url_key) or "").strip()
        if urlsplit(url).scheme.lower() not in {"http", "https"} or url in seen:
            continue
        seen.add(url)
        title = _plain(item.get(title_key)) or url
        results.append(SearchResult(title, url, _plain(item.get(snippet_key), _MAX_SNIPPET_CHARS)))
        if len(results) >= max_results:
            break
    return results


class WebSearcher:
    """Checks arguments and runs a query on one :class:`SearchBackend`."""

    def __init__(self, backend: SearchBackend) -> None:
        self._backend = backend

    @property
    def backend(self) -> SearchBackend:
        """The backend queries go to."""
        return self._backend

    async def search(self, query: str, max_results: int = 10) -> SearchResponse:
        """Search the web.

        Args:
            query: What to look for (1-500 characters).
            max_results: How many hits to return at most (1-50).

        Raises:
            ValidationError: The query is empty or too long, or ``max_results`` is out of range.
            BackendError: The backend failed.
        """
        query = " ".join(query.split())
        if not query:
            raise ValidationError("must not be empty", field="query", rule="non-empty")
        if len(query) > _MAX_QUERY_CHARS:
            raise ValidationError(
                f"has {len(query)} characters; the limit is {_MAX_QUERY_CHARS}",
                field="query",
                rule="max-length",
            )
        if not 1 <= max_results <= MAX_RESULTS_LIMIT:
            raise ValidationError(
                f"must be between 1 and {MAX_RESULTS_LIMIT}", field="max_results", rule="range"
            )
        results = await self._backend.search(query, max_results)
        return SearchResponse(query=query, backend=self._backend.name, results=results)
