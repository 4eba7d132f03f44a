"""Errors of the web tools, each naming the rule that refused a request."""

from __future__ import annotations

from typing import Literal

from memfun_core.errors import BackendError, PermissionDeniedError, ValidationError

__all__ = ["BlockedRule", "HttpStatusError", "UnsupportedContentError", "WebAccessDenied"]

#: Every rule that can refuse a fetch. ``WebAccessDenied.rule`` is one of these.
BlockedRule = Literal[
    "scheme",
    "credentials",
    "url-too-long",
    "invalid-host",
    "non-canonical-ip",
    "denied-host",
    "host-not-allowed",
    "too-many-redirects",
    "cloud-metadata",
    "loopback",
    "unspecified",
    "private",
    "cgnat",
    "link-local",
    "multicast",
    "reserved",
]

_HINTS: dict[str, str] = {
    "scheme": "only http:// and https:// URLs can be fetched",
    "credentials": "remove the user:password@ part; web_fetch never sends credentials",
    "url-too-long": "shorten the URL (drop tracking parameters)",
    "invalid-host": "check the host name of the URL",
    "non-canonical-ip": "write an IPv4 address as four decimal numbers (a.b.c.d)",
    "denied-host": "the host is on web.deny_hosts in memfun.toml",
    "host-not-allowed": "add the host to web.allow_hosts in memfun.toml to allow it",
    "too-many-redirects": "fetch the final URL directly, or raise web.max_redirects",
    "loopback": ("set web.allow_loopback = true in memfun.toml to read a local server on purpose"),
}
_ADDRESS_HINT = (
    "web_fetch only reaches public internet addresses; this protects your network from "
    "requests the model makes"
)


class WebAccessDenied(PermissionDeniedError):
    """The web policy refused a URL, a redirect hop or a resolved address.

    Attributes:
        rule: The rule that refused it (see :data:`BlockedRule`).
        url: The URL (credentials removed) that was refused.
    """

    def __init__(self, rule: BlockedRule, url: str, detail: str) -> None:
        super().__init__(
            f"fetching {url}", f"[{rule}] {detail}", hint=_HINTS.get(rule, _ADDRESS_HINT)
        )
        self.rule: BlockedRule = rule
        self.url = url


class UnsupportedContentError(ValidationError):
    """The response is not text (an image, a PDF, an archive, ...).

    Attributes:
        content_type: The media type the server declared (or ``"unknown"``).
    """

    def __init__(self, url: str, content_type: str) -> None:
        super().__init__(
            f"{url} returned {content_type}, which is binary; web_fetch reads only HTML, "
            "text, Markdown and JSON",
            field="content-type",
            rule="binary-content",
            hint="look for an HTML or text version of the document",
        )
        self.content_type = content_type


class HttpStatusError(BackendError):
    """The server answered with an HTTP error status.

    Attributes:
        status: The HTTP status code.
        url: The URL that answered it.
    """

    def __init__(self, url: str, status: int, reason: str) -> None:
        hint = "check the URL" if 400 <= status < 500 else "the server failed; retry later"  # noqa: PLR2004
        super().__init__(f"HTTP {status} {reason} for {url}", backend="web", hint=hint)
        self.status = status
        self.url = url
