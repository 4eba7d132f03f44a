"""Which IP addresses ``web_fetch`` may connect to.

Every address a host name resolves to, and every address written in a URL, goes through
:func:`address_rule`. IPv6 forms that embed an IPv4 address (IPv4-mapped, IPv4-compatible,
6to4, Teredo, NAT64) are judged by the IPv4 address they carry.
"""

from __future__ import annotations

import ipaddress
from typing import Final

from memfun_tools.web._errors import BlockedRule

__all__ = ["IPAddress", "address_rule", "parse_ip"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Instance-metadata endpoints of cloud providers (AWS, GCP, Azure, Oracle, Alibaba, ...).
_METADATA: Final = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.169.253",
        "100.100.100.200",
        "192.0.0.192",
        "fd00:ec2::254",
        "fd00:ec2::23",
    )
)
_CGNAT: Final = ipaddress.ip_network("100.64.0.0/10")
_THIS_NETWORK: Final = ipaddress.ip_network("0.0.0.0/8")
_NAT64: Final = (
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
)
_IPV4_COMPATIBLE: Final = ipaddress.ip_network("::/96")


def parse_ip(text: str) -> IPAddress | None:
    """Parse a canonical IPv4 or IPv6 address (an IPv6 zone id is allowed), or return None."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    packed = int(ip)
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    if ip in _IPV4_COMPATIBLE and packed > 1:  # ::a.b.c.d (deprecated form); :: and ::1 excluded
        return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    return None


def _rule_of(ip: IPAddress) -> BlockedRule | None:  # noqa: PLR0911 - one return per rule
    if ip in _METADATA:
        return "cloud-metadata"
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified or (ip.version == 4 and ip in _THIS_NETWORK):  # noqa: PLR2004
        return "unspecified"
    if ip.version == 4 and ip in _CGNAT:  # noqa: PLR2004
        return "cgnat"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "reserved"
    return None


def address_rule(ip: IPAddress, *, allow_loopback: bool = False) -> BlockedRule | None:
    """Return the rule that forbids connecting to ``ip``, or ``None`` when it is public.

    Args:
        ip: The address (an IPv6 zone id is ignored).
        allow_loopback: Let loopback addresses through (the explicit opt-in).

    Returns:
        ``"cloud-metadata"``, ``"loopback"``, ``"unspecified"``, ``"cgnat"``,
        ``"link-local"``, ``"multicast"``, ``"private"`` or ``"reserved"``; or ``None``.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return address_rule(inner, allow_loopback=allow_loopback)
    rule = _rule_of(ip)
    if rule == "loopback" and allow_loopback:
        return None
    return rule
