"""Host name resolution for ``web_fetch``: a small protocol and two implementations.

The fetcher asks a :class:`Resolver` for every address of a host, checks each one, and
connects only to those addresses. Passing another resolver (a fixed table, a DNS-over-HTTPS
client, a corporate resolver) changes where names point without touching the checks.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

__all__ = ["Resolver", "StaticResolver", "SystemResolver"]


@runtime_checkable
class Resolver(Protocol):
    """Turns a host name into IP addresses."""

    async def resolve(self, host: str, port: int) -> Sequence[str]:
        """Return every IPv4 and IPv6 address of ``host`` as text, in preference order.

        Args:
            host: An IDNA-encoded, lower-case host name.
            port: The port that will be connected to (some resolvers care).

        Returns:
            The addresses; an empty sequence when the name does not exist.
        """
        ...


class SystemResolver(Resolver):
    """Resolves through the operating system (``getaddrinfo``: /etc/hosts, then DNS)."""

    async def resolve(self, host: str, port: int) -> Sequence[str]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except socket.gaierror:
            return ()
        addresses: list[str] = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            address = str(sockaddr[0])
            if address not in addresses:
                addresses.append(address)
        return tuple(addresses)


class StaticResolver(Resolver):
    """Resolves from a fixed table (like an ``/etc/hosts`` of its own).

    Names missing from the table go to ``fallback`` when one is given, else do not exist.

    Example:
        >>> resolver = StaticResolver({"docs.internal": ["127.0.0.1"]})
    """

    def __init__(
        self, table: Mapping[str, Sequence[str]], *, fallback: Resolver | None = None
    ) -> None:
        self._table = {name.lower().rstrip("."): tuple(addrs) for name, addrs in table.items()}
        self._fallback = fallback

    async def resolve(self, host: str, port: int) -> Sequence[str]:
        found = self._table.get(host.lower().rstrip("."))
        if found is not None:
            return found
        if self._fallback is not None:
            return await self._fallback.resolve(host, port)
        return ()
