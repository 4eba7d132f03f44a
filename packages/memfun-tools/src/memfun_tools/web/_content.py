"""What a response body is (HTML, text, JSON, Markdown or binary) and how to decode it."""

from __future__ import annotations

import codecs
import re
from typing import Final, Literal

from memfun_tools.web._errors import UnsupportedContentError

__all__ = ["ContentKind", "classify", "decode"]

ContentKind = Literal["html", "markdown", "json", "text"]

_HTML_TYPES: Final = frozenset({"text/html", "application/xhtml+xml"})
_MARKDOWN_TYPES: Final = frozenset({"text/markdown", "text/x-markdown"})
_TEXT_APPLICATION_TYPES: Final = frozenset(
    {
        "application/json",
        "application/ld+json",
        "application/xml",
        "application/javascript",
        "application/ecmascript",
        "application/x-javascript",
        "application/yaml",
        "application/x-yaml",
        "application/toml",
        "application/x-sh",
        "application/sql",
        "application/graphql",
        "application/x-ndjson",
    }
)
_SNIFF_BYTES: Final = 1024
_META_CHARSET_RE: Final = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE
)
_BOMS: Final = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def classify(url: str, content_type: str | None, head: bytes) -> ContentKind:
    """Decide how to treat a body from its declared type and its first bytes.

    Args:
        url: The URL, for the error message.
        content_type: The ``Content-Type`` header, if any.
        head: The first bytes of the body.

    Returns:
        ``"html"``, ``"markdown"``, ``"json"`` or ``"text"``.

    Raises:
        UnsupportedContentError: The body is binary (declared so, or it holds NUL bytes).
    """
    media = _media_type(content_type)
    has_bom = any(head.startswith(bom) for bom, _ in _BOMS)
    binary_bytes = b"\x00" in head[:_SNIFF_BYTES] and not has_bom
    if media in _HTML_TYPES:
        kind: ContentKind = "html"
    elif media in _MARKDOWN_TYPES:
        kind = "markdown"
    elif media == "application/json" or media.endswith("+json"):
        kind = "json"
    elif media.startswith("text/") or media in _TEXT_APPLICATION_TYPES or media.endswith("+xml"):
        kind = "text"
    elif not media:
        sniff = head[:_SNIFF_BYTES].lstrip().lower()
        kind = "html" if sniff.startswith((b"<!doctype html", b"<html")) else "text"
    else:
        raise UnsupportedContentError(url, media)
    if binary_bytes:
        raise UnsupportedContentError(url, media or "unknown (binary bytes)")
    return kind


def _usable(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def decode(body: bytes, content_type: str | None, kind: ContentKind) -> tuple[str, str]:
    """Decode ``body`` to text.

    The order is the one browsers use: a byte-order mark, the ``charset`` of the
    ``Content-Type`` header, a ``<meta charset>`` in an HTML head, then UTF-8, and
    Windows-1252 for legacy pages that are not valid UTF-8.

    Returns:
        The text and the name of the encoding used.
    """
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body.decode(name, errors="replace"), name
    declared: str | None = None
    match = re.search(r"charset\s*=\s*([^;\s]+)", content_type or "", re.IGNORECASE)
    if match:
        declared = _usable(match.group(1))
    if declared is None and kind == "html":
        meta = _META_CHARSET_RE.search(body[:4096])
        if meta:
            declared = _usable(meta.group(1).decode("ascii", errors="replace"))
    if declared is not None:
        return body.decode(declared, errors="replace"), declared
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(body) - 3 and exc.reason == "unexpected end of data":
            return body[: exc.start].decode("utf-8"), "utf-8"  # cut mid-character by the cap
        return body.decode("cp1252", errors="replace"), "cp1252"
