"""What a repository's own ``memfun.toml`` may not loosen until the user trusts the folder.

A cloned repository is untrusted input (ARCHITECTURE.md, *Trust*). Its ``memfun.toml`` may
pick a model, budgets and the like, but some settings would hand the repository the user's
secrets or host: a model endpoint elsewhere receives the API key and the code, a runtime
server elsewhere receives every trace, a sandbox with the network or on the host runs the
model's code unconfined, a data folder outside the project (or a namespace on a shared
Redis or NATS server) is another project's runtime.
Those wait for ``memfun trust``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit

__all__ = ["loosened_settings"]

#: Switches that loosen isolation when a project turns them on.
_LOOSENING_SWITCHES = (
    ("sandbox", "unsafe_host"),
    ("sandbox", "network"),
    ("web", "allow_loopback"),
)
#: Lists whose entries are sources Memfun fetches from.
_SOURCE_LISTS = (("skills", "registries"),)


def _is_address_key(name: str) -> bool:
    return name == "api_base" or name.endswith(("_url", "_endpoint")) or name == "endpoint"


def _off_machine(value: str) -> bool:
    """Whether ``value`` is a URL whose host is not this machine (loopback)."""
    host = urlsplit(value if "://" in value else f"//{value}").hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True  # a name: it resolves elsewhere as far as we can tell


def _addresses(tree: Mapping[str, Any], prefix: str) -> list[str]:
    found: list[str] = []
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if name.startswith("mcp."):  # project MCP servers have their own trust gate
            continue
        if isinstance(value, Mapping):
            found += _addresses(value, f"{name}.")  # pyright: ignore[reportUnknownArgumentType]
        elif isinstance(value, str) and _is_address_key(str(key)) and _off_machine(value):
            found.append(f"{name} = {value!r}")
    return found


def _outside(data_dir: str) -> bool:
    """Whether a project's ``data_dir`` can name a folder outside the project."""
    path = PurePath(data_dir)
    return path.is_absolute() or data_dir.startswith("~") or ".." in path.parts


def loosened_settings(project: Mapping[str, Any]) -> list[str]:
    """The settings of a project file (its validated tree) that need a trusted folder."""
    found = _addresses(project, "")
    runtime = project.get("runtime")
    data_dir = runtime.get("data_dir") if isinstance(runtime, Mapping) else None  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    if isinstance(data_dir, str) and _outside(data_dir):
        # another project's runtime: its agents' queues, sessions and traces
        found.append(f"runtime.data_dir = {data_dir!r} (outside the project)")
    namespace = runtime.get("namespace") if isinstance(runtime, Mapping) else None  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    if isinstance(namespace, str):
        # on a shared Redis or NATS server, the name of another project's runtime
        found.append(f"runtime.namespace = {namespace!r} (a server tier's shared name)")
    for section, key in _LOOSENING_SWITCHES:
        table = project.get(section)
        if isinstance(table, Mapping) and table.get(key) is True:  # pyright: ignore[reportUnknownMemberType]
            found.append(f"{section}.{key} = true")
    for section, key in _SOURCE_LISTS:
        table = project.get(section)
        if isinstance(table, Mapping) and table.get(key):  # pyright: ignore[reportUnknownMemberType]
            found.append(f"{section}.{key}")
    return found
