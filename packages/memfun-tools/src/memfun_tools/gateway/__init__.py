"""The MCP tool gateway: one FastMCP server per tool family, mounted under namespaces.

``build_gateway(root)`` serves ``fs_*``, ``search_*``, ``git_*`` and ``repomap_*`` tools; the
caller adds more servers or providers (skills, agents, web) under their own namespaces.
``memfun-tools`` never imports skills or agents: the composition root passes them in.
Run it with ``python -m memfun_tools.gateway --root PATH [--http PORT]``. Over HTTP,
``serve_http`` adds Host/Origin allow-lists, bearer tokens (``TokenStore``) and scopes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memfun_tools.gateway._audit import audit_middleware, audit_rejection
from memfun_tools.gateway._build import (
    RESERVED_NAMESPACES,
    build_gateway,
    gateway_instructions,
    gateway_version,
)
from memfun_tools.gateway._guard import is_loopback
from memfun_tools.gateway._http import HttpSecurity, http_security, required_scope, serve_http
from memfun_tools.gateway._tokens import SCOPES, TokenGrant, TokenStore, default_tokens_path

if TYPE_CHECKING:
    from memfun_tools.gateway._deferred import DeferredProvider

__all__ = [
    "RESERVED_NAMESPACES",
    "SCOPES",
    "DeferredProvider",
    "HttpSecurity",
    "TokenGrant",
    "TokenStore",
    "audit_middleware",
    "audit_rejection",
    "build_gateway",
    "default_tokens_path",
    "gateway_instructions",
    "gateway_version",
    "http_security",
    "is_loopback",
    "required_scope",
    "serve_http",
]


def __getattr__(name: str) -> Any:
    # DeferredProvider subclasses a FastMCP class: FastMCP loads only when it is asked for.
    if name != "DeferredProvider":
        raise AttributeError(f"module 'memfun_tools.gateway' has no attribute {name!r}")
    from memfun_tools.gateway._deferred import DeferredProvider

    return DeferredProvider
