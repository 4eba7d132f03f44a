"""Assembling the gateway server (FastMCP is imported only when it is built)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from memfun_core.errors import ValidationError
from memfun_tools._workspace import Limits, Workspace

if TYPE_CHECKING:
    from fastmcp import FastMCP
    from fastmcp.server.providers import Provider

__all__ = ["RESERVED_NAMESPACES", "build_gateway", "gateway_instructions", "gateway_version"]

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
    defer: bool = False,
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
        defer: Build the file, search, git and repo-map servers in the background once the
            gateway starts (see :class:`DeferredProvider`), so that a served gateway answers
            ``initialize`` before their modules load; the first tool request waits for them.
            A server that fails to build fails every listing with its error.

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

    from memfun_tools.gateway._deferred import DeferredProvider

    gateway: FastMCP[Any] = FastMCP(
        name, instructions=gateway_instructions(ws), version=gateway_version()
    )
    cache = Path(cache_dir) / "repomap.sqlite3" if cache_dir is not None else None
    builders: dict[str, Callable[[], FastMCP[Any]]] = {
        "fs": lambda: _fs_server(ws, allow_writes),
        "search": lambda: _search_server(ws),
        "git": lambda: _git_server(ws, allow_writes),
        "repomap": lambda: _repomap_server(ws, cache),
    }
    for namespace, build in builders.items():
        if defer:
            gateway.add_provider(DeferredProvider(build, label=namespace), namespace=namespace)
        else:
            gateway.mount(build(), namespace=namespace)
    pairs = _pairs(extra_providers)
    if defer or any(isinstance(provider, DeferredProvider) for _, provider in pairs):
        # A server that failed to build must fail the listing with its error; FastMCP's
        # default drops a failing provider's tools from the list with only a log line.
        gateway.provider_error_strategy = "raise"
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


def gateway_instructions(root: str | os.PathLike[str] | Workspace) -> str:
    """The instructions the gateway over ``root`` announces in its answer to ``initialize``.

    Raises:
        NotFoundError: When ``root`` is not a folder.
    """
    ws = root if isinstance(root, Workspace) else Workspace(root)
    return (
        f"Memfun tools for the workspace {ws.root}: fs_* (files), search_* (ripgrep, "
        "ast-grep), git_*, repomap_* (ranked map of the code), plus any extra namespaces."
    )


def gateway_version() -> str:
    """The version the gateway announces (``serverInfo.version``): memfun-tools' own."""
    from memfun_tools import __version__

    return __version__


def _fs_server(ws: Workspace, allow_writes: bool) -> FastMCP[Any]:
    from memfun_tools.fs.server import build_fs_server

    return build_fs_server(ws, allow_writes=allow_writes)


def _search_server(ws: Workspace) -> FastMCP[Any]:
    from memfun_tools.search.server import build_search_server

    return build_search_server(ws)


def _git_server(ws: Workspace, allow_writes: bool) -> FastMCP[Any]:
    from memfun_tools.git.server import build_git_server

    return build_git_server(ws, allow_writes=allow_writes)


def _repomap_server(ws: Workspace, cache: Path | None) -> FastMCP[Any]:
    from memfun_tools.repomap.server import build_repomap_server

    return build_repomap_server(ws, cache_path=cache)


def _pairs(
    extra: Mapping[str, FastMCP[Any] | Provider] | Iterable[tuple[str, FastMCP[Any] | Provider]],
) -> list[tuple[str, object]]:
    if isinstance(extra, Mapping):
        mapping = cast("Mapping[str, object]", extra)
        return list(mapping.items())
    return [(str(ns), obj) for ns, obj in cast("Iterable[tuple[str, object]]", extra)]
