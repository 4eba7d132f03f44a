"""Value objects of ``web_fetch``: a converted page and one slice of it."""

from __future__ import annotations

from dataclasses import dataclass

from memfun_tools.web._content import ContentKind

__all__ = ["Download", "FetchResult", "Page"]


@dataclass(frozen=True, slots=True)
class Page:
    """A fetched page after conversion (what the cache stores).

    Attributes:
        url: The URL that was asked for.
        final_url: The URL after redirects.
        status: The HTTP status of the final response.
        content_type: The declared media type (``text/html``) or ``""``.
        kind: How the body was treated (``html``, ``markdown``, ``json``, ``text``).
        encoding: The character encoding used to decode the body.
        title: The page title, when the page has one.
        content: The Markdown (for HTML) or the text as served.
        body_truncated: The body was longer than ``web.max_bytes`` and was cut.
        fetched_at: When it was fetched (seconds since the epoch).
    """

    url: str
    final_url: str
    status: int
    content_type: str
    kind: ContentKind
    encoding: str
    title: str | None
    content: str
    body_truncated: bool
    fetched_at: float


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What ``web_fetch`` returns: a window of a page's content.

    Attributes:
        url: The URL that was asked for.
        final_url: The URL after redirects.
        title: The page title, when the page has one.
        content_type: The declared media type.
        content: ``total_chars`` characters from ``start_index`` on, at most ``max_chars``.
        start_index: Where this window starts in the whole content.
        total_chars: Length of the whole content.
        next_start_index: Pass it as ``start_index`` to read on; ``None`` at the end.
        body_truncated: The server's body was longer than the byte limit and was cut.
        from_cache: The page came from the on-disk cache.
    """

    url: str
    final_url: str
    title: str | None
    content_type: str
    content: str
    start_index: int
    total_chars: int
    next_start_index: int | None
    body_truncated: bool
    from_cache: bool


@dataclass(frozen=True, slots=True)
class Download:
    """A body fetched as raw bytes (:meth:`~memfun_tools.web.WebFetcher.fetch_bytes`).

    Attributes:
        url: The URL that was asked for.
        final_url: The URL after redirects.
        content_type: The declared media type, or ``""``.
        body: The bytes, whole (a body over the limit is refused, never cut).
    """

    url: str
    final_url: str
    content_type: str
    body: bytes
