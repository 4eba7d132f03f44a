"""Assembling the gateway server (FastMCP is imported only when it is built)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from memfun_core.errors import ValidationError
from memfun_tools._workspace import Limits, Workspace

if TYPE_CHECKING:
    from fastmcp import FastMCP
    from fastmcp.server.providers import Provider

__all__ = ["RESERVED_NAMESPACES", "build_gateway"]

RESERVED_NAMESPACES = ("fs", "search", "git", "repomap")
_NAMESPACE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*\Z")


def build_gateway(
    root: str | os.PathLike[str],
    *,
    allow_writes: bool = False,
    extra_providers: Mapping[str, FastMCP[Any] | Provider]
    | Iterable[tuple[str, FastMCP[Any] | Provider]] = (),
    name: str = "memfun",
    limits: Limits | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> FastMCP[Any]:
    """Build the gateway server over a workspace.

    Args:
        root: The workspace root; every tool is confined to it.
        allow_writes: Serve the tools that change files or the repository
            (``fs_write``, ``fs_edit``, ``fs_multi_edit``, ``git_commit``, ``git_checkout``).
        extra_providers: ``namespace -> server or provider`` (a mapping or pairs). A
            ``FastMCP`` server is mounted, any other FastMCP ``Provider`` is added; their
            tools appear as ``<namespace>_<tool>``.
        name: The gateway's server name.
        limits: Size limits of the file tools.
        cache_dir: The folder of the repo map's cache (default ``<root>/.memfun``).

    Returns:
        The gateway, ready for ``run()`` or an in-memory ``Client``.

    Raises:
        ValidationError: On a bad or duplicate namespace, or an object that is neither a
            FastMCP server nor a provider.
        NotFoundError: When ``root`` is not a folder.
    """
    ws = Workspace(root, limits=limits)  # fails fast on a bad root, before FastMCP loads

    from fastmcp import FastMCP
    from fastmcp.server.providers import Provider

    from memfun_tools.fs.server import build_fs_server
    from memfun_tools.git.server import build_git_server
    from memfun_tools.repomap.server import build_repomap_server
    from memfun_tools.search.server import build_search_server

    gateway: FastMCP[Any] = FastMCP(
        name,
        instructions=(
            f"Memfun tools for the workspace {ws.root}: fs_* (files), search_* (ripgrep, "
            "ast-grep), git_*, repomap_* (ranked map of the code), plus any extra namespaces."
        ),
    )
    gateway.mount(build_fs_server(ws, allow_writes=allow_writes), namespace="fs")
    gateway.mount(build_search_server(ws), namespace="search")
    gateway.mount(build_git_server(ws, allow_writes=allow_writes), namespace="git")
    cache = Path(cache_dir) / "repomap.sqlite3" if cache_dir is not None else None
    gateway.mount(build_repomap_server(ws, cache_path=cache), namespace="repomap")
    pairs = _pairs(extra_providers)
    seen: set[str] = set(RESERVED_NAMESPACES)
    for namespace, provider in pairs:
        if not _NAMESPACE.match(namespace) or namespace in seen:
            raise ValidationError(
                f"is {namespace!r}",
                field="namespace",
                rule="lowercase, unique, not one of " + ", ".join(RESERVED_NAMESPACES),
            )
        seen.add(namespace)
        if isinstance(provider, FastMCP):
            gateway.mount(cast("FastMCP[Any]", provider), namespace=namespace)
        elif isinstance(provider, Provider):
            gateway.add_provider(provider, namespace=namespace)
        else:
            raise ValidationError(
                f"is a {type(provider).__name__}, not a FastMCP server or a fastmcp Provider",
                field=f"extra_providers[{namespace!r}]",
                rule="a FastMCP server or a fastmcp Provider",
            )
    return gateway


def _pairs(
    extra: Mapping[str, FastMCP[Any] | Provider] | Iterable[tuple[str, FastMCP[Any] | Provider]],
) -> list[tuple[str, object]]:
    if isinstance(extra, Mapping):
        mapping = cast("Mapping[str, object]", extra)
        return list(mapping.items())
    return [(str(ns), obj) for ns, obj in cast("Iterable[tuple[str, object]]", extra)]
