"""The static half of the web policy: checks on a URL before any DNS lookup or connection.

:class:`UrlPolicy` refuses non-http schemes, credentials, overlong URLs, malformed or
obfuscated hosts, hosts outside the allow-list or on the deny-list, and IP literals that
:func:`~memfun_tools.web._address.address_rule` forbids. The addresses a host name
resolves to are checked by the fetcher with the same address rules.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import SplitResult, urlsplit, urlunsplit

import httpx

from memfun_tools.web._address import IPAddress, address_rule, parse_ip
from memfun_tools.web._config import WebConfig
from memfun_tools.web._errors import WebAccessDenied

__all__ = ["CheckedUrl", "UrlPolicy", "host_matches"]

_SCHEMES: Final = frozenset({"http", "https"})
_LABEL_RE: Final = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_HEX_RE: Final = re.compile(r"^0[xX][0-9a-fA-F]*$")
_MAX_HOST_LEN: Final = 253
_IPV4_PARTS: Final = 4


@dataclass(frozen=True, slots=True)
class CheckedUrl:
    """A URL that passed the static checks.

    Attributes:
        url: The URL to request (httpx form, host IDNA-encoded and lower-case).
        host: The host as the connection layer sees it (no brackets, no trailing dot).
        port: The TCP port (the scheme default when the URL names none).
        ip: The address when the host is an IP literal, else ``None`` (a name to resolve).
    """

    url: httpx.URL
    host: str
    port: int
    ip: IPAddress | None


def host_matches(host: str, pattern: str) -> bool:
    """Tell whether ``host`` matches an allow/deny entry (``example.com`` or ``*.example.com``)."""
    pattern = pattern.strip().lower().rstrip(".")
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def _ipv4_number(part: str) -> int | None:
    """Parse one part of a loose IPv4 address the way browsers and ``inet_aton`` do."""
    if _HEX_RE.match(part):
        return int(part[2:] or "0", 16)
    if part.isdigit() and part.isascii():
        if len(part) > 1 and part.startswith("0"):
            return int(part, 8) if all(c in "01234567" for c in part) else None
        return int(part)
    return None


def loose_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Decode numeric host forms (``127.1``, ``0x7f000001``, ``2130706433``, ``0177.0.0.1``).

    Returns:
        The address such a host reaches, or ``None`` when ``host`` is not numeric.

    Raises:
        ValueError: The host ends in a number but is not a valid IPv4 address.
    """
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts = parts[:-1]
    last = parts[-1]
    if not (_HEX_RE.match(last) or (last.isdigit() and last.isascii())):
        return None
    numbers = [_ipv4_number(p) for p in parts]
    if len(numbers) > _IPV4_PARTS or any(n is None for n in numbers):
        raise ValueError(f"{host!r} is not a valid IPv4 address")
    values = [n for n in numbers if n is not None]
    *head, tail = values
    if any(n > 255 for n in head) or tail >= 256 ** (_IPV4_PARTS + 1 - len(values)):  # noqa: PLR2004
        raise ValueError(f"{host!r} is not a valid IPv4 address")
    value = tail
    for index, number in enumerate(head):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _redacted(parts: SplitResult) -> str:
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


class UrlPolicy:
    """Applies the static URL rules of a :class:`WebConfig`."""

    def __init__(self, config: WebConfig) -> None:
        self._config = config

    @property
    def allow_loopback(self) -> bool:
        """Whether loopback addresses are allowed (the explicit opt-in)."""
        return self._config.allow_loopback

    def check(self, raw: str) -> CheckedUrl:
        """Check ``raw`` against every static rule.

        Args:
            raw: The URL as given (by the model, or a ``Location`` header made absolute).

        Returns:
            The checked URL, ready for the address check.

        Raises:
            WebAccessDenied: A rule refused the URL; ``rule`` names it.
        """
        if len(raw) > self._config.max_url_length:
            shown = raw[:80] + "..."
            raise WebAccessDenied(
                "url-too-long",
                shown,
                f"the URL has {len(raw)} characters; the limit is {self._config.max_url_length}",
            )
        try:
            parts = urlsplit(raw.strip())
            _ = parts.port
        except ValueError as exc:
            raise WebAccessDenied("invalid-host", raw[:200], f"malformed URL ({exc})") from exc
        shown = _redacted(parts)
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES:
            raise WebAccessDenied(
                "scheme", shown, f"the scheme {scheme or '(none)'!r} is not allowed"
            )
        if "@" in parts.netloc:
            raise WebAccessDenied("credentials", shown, "URLs with user:password@ are refused")
        host, ip = self._host(parts, shown)
        for pattern in self._config.deny_hosts:
            if host_matches(host, pattern):
                raise WebAccessDenied(
                    "denied-host", shown, f"{host} matches deny entry {pattern!r}"
                )
        allow = self._config.allow_hosts
        if allow and not any(host_matches(host, p) for p in allow):
            raise WebAccessDenied("host-not-allowed", shown, f"{host} is not on the allow-list")
        if ip is not None:
            self.check_address(ip, shown, host, resolved=False)
        elif (
            host == "localhost" or host.endswith(".localhost")
        ) and not self._config.allow_loopback:
            raise WebAccessDenied("loopback", shown, f"{host} is a loopback name")
        url = self._httpx_url(parts, scheme, host, ip, shown)
        port = url.port or (443 if scheme == "https" else 80)
        return CheckedUrl(url=url, host=url.raw_host.decode("ascii"), port=port, ip=ip)

    def check_address(self, ip: IPAddress, shown: str, host: str, *, resolved: bool) -> None:
        """Refuse ``ip`` unless it is a public address.

        Args:
            ip: The address to check.
            shown: The URL, for the message.
            host: The host as written in the URL.
            resolved: ``ip`` came from resolving ``host`` (else ``host`` is a literal).

        Raises:
            WebAccessDenied: The address rule that forbids ``ip``.
        """
        rule = address_rule(ip, allow_loopback=self._config.allow_loopback)
        if rule is not None:
            via = f" ({host} resolves to it)" if resolved else ""
            raise WebAccessDenied(rule, shown, f"{ip} is a {rule} address{via}")

    def _host(self, parts: SplitResult, shown: str) -> tuple[str, IPAddress | None]:
        netloc = parts.netloc
        bracketed = netloc.startswith("[")
        host = (parts.hostname or "").rstrip(".")
        if not host:
            raise WebAccessDenied("invalid-host", shown, "the URL has no host")
        if bracketed:
            ip = parse_ip(host.replace("%25", "%"))
            if ip is None or ip.version != 6:  # noqa: PLR2004
                raise WebAccessDenied("invalid-host", shown, f"[{host}] is not an IPv6 address")
            return host, ip
        try:
            ip4 = loose_ipv4(host)
        except ValueError as exc:
            raise WebAccessDenied("invalid-host", shown, str(exc)) from exc
        if ip4 is not None:
            if str(ip4) != host:
                self.check_address(ip4, shown, host, resolved=False)
                raise WebAccessDenied(
                    "non-canonical-ip", shown, f"{host!r} is a disguised form of {ip4}"
                )
            return host, ip4
        return self._name(host, shown), None

    @staticmethod
    def _name(host: str, shown: str) -> str:
        try:
            ascii_host = httpx.URL(f"http://{host}/").raw_host.decode("ascii").rstrip(".")
        except (httpx.InvalidURL, UnicodeError) as exc:
            raise WebAccessDenied("invalid-host", shown, f"{host!r} is not a valid host") from exc
        labels = ascii_host.split(".")
        if len(ascii_host) > _MAX_HOST_LEN or not all(_LABEL_RE.match(lb) for lb in labels):
            raise WebAccessDenied("invalid-host", shown, f"{host!r} is not a valid host name")
        return ascii_host

    @staticmethod
    def _httpx_url(
        parts: SplitResult, scheme: str, host: str, ip: IPAddress | None, shown: str
    ) -> httpx.URL:
        netloc_host = f"[{ip}]" if ip is not None and ip.version == 6 else host  # noqa: PLR2004
        netloc = netloc_host if parts.port is None else f"{netloc_host}:{parts.port}"
        rebuilt = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
        try:
            return httpx.URL(rebuilt)
        except httpx.InvalidURL as exc:
            raise WebAccessDenied("invalid-host", shown, f"malformed URL ({exc})") from exc
