"""Serving the gateway over streamable HTTP: Host/Origin allow-lists, bearer tokens, scopes.

Layers, outermost first:

1. :class:`HostOriginGuard` (an ASGI middleware around FastMCP's Starlette app): 403 for a
   foreign Host or Origin, before anything else runs;
2. FastMCP's bearer authentication with a :class:`TokenStore` verifier: 401 without a valid
   token;
3. FastMCP's ``AuthMiddleware`` with :func:`required_scope`: the tool list a client sees hides
   the tools its token's scopes do not grant, and calling one is refused.

FastMCP is imported only when serving.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from memfun_core.errors import PermissionDeniedError, UserError
from memfun_tools.gateway._guard import (
    HostOriginGuard,
    Rejection,
    allowed_hosts,
    allowed_origins,
    is_loopback,
)
from memfun_tools.gateway._tokens import TokenGrant, TokenStore, default_tokens_path

if TYPE_CHECKING:
    from fastmcp import FastMCP
    from fastmcp.server.auth import AccessToken, AuthContext

__all__ = ["HttpSecurity", "http_security", "required_scope", "serve_http"]

_WILDCARDS = ("0.0.0.0", "::", "")  # noqa: S104 - addresses compared, not bound

#: Namespaces whose tools need a given scope whatever their annotations say.
DEFAULT_NAMESPACE_SCOPES: Mapping[str, str] = {"skills": "read", "agents": "agents"}


@dataclass(frozen=True, slots=True)
class HttpSecurity:
    """How the HTTP gateway is protected.

    Attributes:
        tokens: The tokens file; ``None`` serves without authentication (loopback only).
        extra_hosts: Host names accepted besides the loopback names (``--allow-host``).
        extra_origins: Browser origins accepted besides the loopback ones (``--allow-origin``).
        namespace_scopes: ``namespace -> scope`` for tools whose namespace decides.
        on_reject: Told of every request refused for its Host or Origin.
    """

    tokens: TokenStore | None
    extra_hosts: tuple[str, ...] = ()
    extra_origins: tuple[str, ...] = ()
    namespace_scopes: Mapping[str, str] = field(default_factory=lambda: DEFAULT_NAMESPACE_SCOPES)
    on_reject: Rejection | None = None


def required_scope(
    component: object, namespace_scopes: Mapping[str, str] = DEFAULT_NAMESPACE_SCOPES
) -> str:
    """The scope a token needs for a tool, resource or prompt (fail closed: ``write``).

    Resources and prompts are reads. A tool in a namespace of ``namespace_scopes`` needs that
    scope; any other tool needs ``read`` only when it is annotated read-only, else ``write``.
    """
    from fastmcp.tools import Tool

    if not isinstance(component, Tool):
        return "read"
    for namespace, scope in namespace_scopes.items():
        if component.name.startswith(f"{namespace}_"):
            return scope
    annotations = component.annotations
    return "read" if annotations is not None and annotations.read_only_hint is True else "write"


def _scope_check(namespace_scopes: Mapping[str, str]) -> Callable[[AuthContext], bool]:
    from fastmcp.exceptions import AuthorizationError

    def check(ctx: AuthContext) -> bool:
        needed = required_scope(ctx.component, namespace_scopes)
        granted: set[str] = set(ctx.token.scopes) if ctx.token is not None else set()
        if needed in granted:
            return True
        raise AuthorizationError(
            f"{ctx.component.name!r} needs the {needed!r} scope; this token has "
            f"{', '.join(sorted(granted)) or 'none'} (create one with: "
            f"memfun mcp token create NAME --scope {needed})"
        )

    return check


def _verifier(tokens: TokenStore) -> Any:
    from fastmcp.server.auth import AccessToken, TokenVerifier

    class TokenFileVerifier(TokenVerifier):
        """Accepts the tokens whose SHA-256 is in the tokens file (read on every request)."""

        async def verify_token(self, token: str) -> AccessToken | None:
            grant: TokenGrant | None = tokens.verify(token)
            if grant is None:
                return None
            return AccessToken(token=token, client_id=grant.name, scopes=sorted(grant.scopes))

    return TokenFileVerifier()


def http_security(
    host: str,
    *,
    token_file: str | os.PathLike[str] | None = None,
    no_auth: bool = False,
    hosts: Iterable[str] = (),
    origins: Iterable[str] = (),
    announce: Callable[[str], None],
) -> HttpSecurity:
    """The protection for serving on ``host``, from the command-line options.

    Without ``token_file``, the default tokens file is used and, when it holds no token, one
    with every scope is created and its value passed to ``announce`` (the only time it is
    shown). A specific (not wildcard) non-loopback bind address is added to the Host names.

    Raises:
        UserError: ``no_auth`` on a non-loopback address; ``token_file`` holds no token, is not
            private (0600) or is unreadable.
    """
    extra_hosts = list(hosts)
    if host not in _WILDCARDS and not is_loopback(host):
        extra_hosts.append(f"[{host}]" if ":" in host else host)
    if no_auth:
        if token_file is not None:
            raise UserError("--no-auth and --token-file contradict each other", hint="drop one")
        if not is_loopback(host):
            raise UserError(
                f"--no-auth may only serve a loopback address, not {host}",
                hint="drop --no-auth: clients then send a bearer token (memfun mcp token)",
            )
        return HttpSecurity(None, tuple(extra_hosts), tuple(origins))
    store = TokenStore(token_file if token_file is not None else default_tokens_path())
    if token_file is not None:
        if not store.grants():
            raise UserError(
                f"the tokens file {store.path} holds no token",
                hint=f"create one: memfun mcp token create NAME --token-file {store.path}",
            )
    elif (created := store.ensure_one()) is not None:
        token, grant = created
        announce(
            f"memfun: created the MCP token {grant.name!r} (scopes: "
            f"{', '.join(sorted(grant.scopes))}); its SHA-256 is in {store.path}.\n"
            "It is shown only this once. Clients send it as the header "
            f'"Authorization: Bearer <token>":\n{token}'
        )
    return HttpSecurity(store, tuple(extra_hosts), tuple(origins))


def serve_http(
    server: FastMCP[Any], *, host: str, port: int, security: HttpSecurity, path: str = "/mcp"
) -> None:
    """Serve ``server`` over streamable HTTP at ``http://host:port/mcp`` until interrupted.

    Raises:
        PermissionDeniedError: No tokens (``security.tokens is None``) on a non-loopback bind.
        UserError, CorruptDataError: The tokens file is not private (0600) or unreadable.
    """
    from fastmcp.server.middleware.authorization import AuthMiddleware
    from starlette.middleware import Middleware

    if security.tokens is None:
        if not is_loopback(host):
            raise PermissionDeniedError(
                f"serving MCP on {host} without authentication",
                "only a loopback address (127.0.0.1, ::1, localhost) may be served without a token",
                hint="drop --no-auth (clients then send: Authorization: Bearer <token>)",
            )
        print(
            "WARNING: serving MCP over HTTP WITHOUT AUTHENTICATION (--no-auth): every program on "
            "this machine can read (and with --allow-writes, change) the workspace.",
            file=sys.stderr,
        )
    else:
        security.tokens.grants()  # an unsafe or broken tokens file fails before serving
        server.auth = _verifier(security.tokens)
        server.add_middleware(AuthMiddleware(auth=_scope_check(security.namespace_scopes)))
    guard = Middleware(
        HostOriginGuard,
        hosts=allowed_hosts(port, security.extra_hosts),
        origins=allowed_origins(port, security.extra_origins),
        on_reject=security.on_reject,
    )
    server.run(
        transport="http",
        host=host,
        port=port,
        path=path,
        show_banner=False,
        middleware=[guard],
    )
