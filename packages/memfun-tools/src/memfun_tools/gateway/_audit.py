"""Every MCP request the gateway answers, appended to the audit trail (FastMCP loads lazily)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from memfun_core.audit import AuditLog

if TYPE_CHECKING:
    from fastmcp.server.middleware import Middleware

__all__ = ["audit_middleware", "audit_rejection"]


def audit_rejection(log: AuditLog) -> Callable[[str, str], None]:
    """A ``HostOriginGuard`` ``on_reject`` callback writing ``mcp_request`` entries."""

    def record(reason: str, value: str) -> None:
        entry = {"transport": "http", "outcome": "refused", "reason": reason, "value": value}
        log.append("mcp_request", entry)

    return record


def audit_middleware(log: AuditLog, *, transport: str) -> Middleware:
    """A FastMCP middleware appending one ``mcp_request`` entry per request it answers.

    The entry holds the method, the tool, resource or prompt named, the arguments (redacted),
    the token's name over HTTP, and the outcome (``ok`` or the error).
    """
    from fastmcp.server.dependencies import get_access_token
    from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext

    class AuditMiddleware(Middleware):
        async def on_request(
            self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
        ) -> Any:
            message = context.message
            data: dict[str, Any] = {"transport": transport, "method": context.method}
            for field in ("name", "uri"):
                value = getattr(message, field, None)
                if value is not None:
                    data[field] = str(value)
            arguments = getattr(message, "arguments", None)
            if arguments:
                data["arguments"] = arguments
            token = get_access_token()
            if token is not None:
                data["client"] = token.client_id
            try:
                result = await call_next(context)
            except Exception as exc:
                log.append("mcp_request", {**data, "outcome": f"{type(exc).__name__}: {exc}"})
                raise
            log.append("mcp_request", {**data, "outcome": "ok"})
            return result

    return AuditMiddleware()
