"""MCP clients as tool sources: Memfun's gateway in process, external servers from config."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from memfun_agent.tools._inproc import InProcessClient, RegistryClient, error_text
from memfun_agent.tools._spec import Handler, ToolFailed, ToolSpec
from memfun_core.config import MCPServerConfig, WebConfig, expand_env_refs
from memfun_core.errors import ConfigError, MemfunError, PermissionDeniedError
from memfun_core.trust import project_mcp_servers, workspace_trust
from memfun_runtime.protocols import JSONValue

if TYPE_CHECKING:
    from fastmcp import Client

    from memfun_agent.tools._bridge import ToolBridge

__all__ = [
    "ToolClient",
    "add_config_servers",
    "connect_client",
    "gateway_client",
    "inactive_servers",
    "server_client",
    "tool_name",
]

_log = logging.getLogger("memfun.trust")

ToolClient: TypeAlias = "Client[Any] | InProcessClient | RegistryClient"
"""What the bridge connects: an MCP client, a FastMCP server or Memfun's own tool registry."""

_NOT_IDENT = re.compile(r"[^0-9A-Za-z_]")


def tool_name(prefix: str, name: str) -> str:
    """The REPL name of an MCP tool: ``<prefix>_<name>`` made a Python identifier."""
    full = f"{prefix}_{name}" if prefix else name
    full = _NOT_IDENT.sub("_", full)
    return f"_{full}" if full[:1].isdigit() else full


def _expand_env(server: str, env: Mapping[str, str]) -> dict[str, str]:
    return expand_env_refs(env, key=f"mcp.servers.{server}.env")


def server_client(name: str, config: MCPServerConfig, *, cwd: str | None = None) -> Client[Any]:
    """A fastmcp client for ``[mcp.servers.NAME]`` (stdio ``command`` or HTTP ``url``).

    ``cwd`` is the project folder: a server that the project's own ``memfun.toml`` defines
    (or changes) is refused there until the user trusts the folder (``memfun trust``).

    Raises:
        ConfigError: Neither or both of ``command`` and ``url`` are set, or ``env`` names
            a variable that is not set.
        PermissionDeniedError: A project-provided server in a folder that is not trusted.
    """
    if cwd is not None and name in project_mcp_servers(cwd):
        state = workspace_trust(cwd)
        if not state.trusted:
            raise PermissionDeniedError(
                f"start the MCP server {name!r}",
                f"the project's memfun.toml defines it and {state.reason}",
                hint=state.hint,
            )
    from fastmcp import Client
    from fastmcp.client.transports import StdioTransport, StreamableHttpTransport

    if (config.command is None) == (config.url is None):
        raise ConfigError(
            "needs exactly one of command (stdio) or url (HTTP)",
            key=f"mcp.servers.{name}",
            hint='e.g. command = "npx", args = ["-y", "@modelcontextprotocol/server-github"]',
        )
    if config.command is not None:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        env.update(_expand_env(name, config.env))
        transport: Any = StdioTransport(
            config.command, list(config.args), env=env, cwd=cwd, keep_alive=False
        )
    else:
        transport = StreamableHttpTransport(str(config.url))
    return Client(transport, name=f"memfun-{name}", init_timeout=config.timeout_seconds)


def inactive_servers(
    servers: Mapping[str, MCPServerConfig], root: str | os.PathLike[str]
) -> dict[str, str]:
    """The servers of ``servers`` that must not start in ``root`` yet, with the reason.

    A server the project's own ``memfun.toml`` defines or changes waits until the user
    trusts the folder (``memfun trust``); the user's own servers always start.
    """
    names = [name for name in project_mcp_servers(root) if name in servers]
    if not names:
        return {}
    state = workspace_trust(root)
    if state.trusted:
        return {}
    why = f"the project's memfun.toml defines it and {state.reason}; to start it: {state.hint}"
    return dict.fromkeys(names, why)


def add_config_servers(
    bridge: ToolBridge, servers: Mapping[str, MCPServerConfig], *, root: str | os.PathLike[str]
) -> dict[str, str]:
    """Offer the tools of ``[mcp.servers]`` on ``bridge``, leaving untrusted ones inactive.

    The agent (``memfun ask``, chat) and agents run by dispatch both add their servers here.
    A project server of a folder the user has not trusted is not started: a warning names
    it, the reason and ``memfun trust``, and the run goes on without its tools.

    Returns:
        The servers left inactive, by name, with the reason.

    Raises:
        ConfigError: A server entry is invalid (see :func:`server_client`).
    """
    waiting = inactive_servers(servers, root)
    if waiting:
        _log.warning(
            "project MCP servers %s are inactive: %s",
            ", ".join(sorted(waiting)),
            next(iter(waiting.values())),
        )
    for name, server in sorted(servers.items()):
        if name in waiting:
            continue
        bridge.add_mcp(
            server_client(name, server, cwd=str(root)),
            prefix=name,
            source=f"mcp:{name}",
            timeout=server.timeout_seconds,
        )
    return waiting


def gateway_client(
    root: Path, *, web: WebConfig | None = None, cache_dir: Path | None = None
) -> RegistryClient:
    """Memfun's own tools over ``root`` (writes enabled), called directly in this process.

    The tools come from their registry (``memfun_tools.registry``), from which
    ``memfun mcp serve`` builds its servers: the same names, schemas, argument checks and
    error texts, without importing FastMCP, ``mcp`` or pydantic. Every write goes through
    the agent's permission policy before it reaches the tool.
    """
    from memfun_tools.registry import workspace_tools

    registry = workspace_tools(root, allow_writes=True, cache_dir=cache_dir, web=web)
    return RegistryClient(registry)


def _result_value(result: Any, wrapped: bool) -> JSONValue:
    structured = getattr(result, "structured_content", None)
    if structured is not None:
        if wrapped and isinstance(structured, dict) and "result" in structured:
            return cast("JSONValue", structured["result"])
        return cast("JSONValue", structured)
    texts = [str(getattr(block, "text", "")) for block in getattr(result, "content", [])]
    return "\n".join(text for text in texts if text)


def _error_text(result: Any) -> str:
    texts = [str(getattr(block, "text", "")) for block in getattr(result, "content", [])]
    return "\n".join(text for text in texts if text) or "the tool reported an error"


async def connect_client(
    stack: AsyncExitStack,
    client: ToolClient,
    *,
    prefix: str,
    source: str,
    timeout: float,  # noqa: ASYNC109 - each call's timeout, not this function's
) -> list[tuple[ToolSpec, Handler]]:
    """Open ``client`` (closed with ``stack``) and turn each of its tools into a handler."""
    await stack.enter_async_context(client)
    if isinstance(client, RegistryClient):
        return _registry_tools(client, prefix=prefix, source=source, timeout=timeout)
    tools = await client.list_tools()
    out: list[tuple[ToolSpec, Handler]] = []
    for tool in tools:
        annotations = tool.annotations
        destructive = annotations is None or not bool(annotations.read_only_hint)
        if annotations is not None and annotations.destructive_hint is False:
            destructive = False
        output_schema: dict[str, Any] = dict(tool.output_schema or {})
        wrapped = bool(output_schema.get("x-fastmcp-wrap-result"))
        spec = ToolSpec(
            name=tool_name(prefix, tool.name),
            description=(tool.description or tool.name).strip(),
            input_schema=dict(tool.input_schema or {}),
            destructive=destructive,
            source=source,
            timeout=timeout,
        )
        out.append((spec, _handler(client, tool.name, wrapped, timeout)))
    return out


def _handler(client: ToolClient, remote: str, wrapped: bool, timeout: float) -> Handler:
    async def call(arguments: dict[str, Any]) -> JSONValue:
        result = await client.call_tool(remote, arguments, timeout=timeout, raise_on_error=False)
        if result.is_error:
            raise ToolFailed(_error_text(result))
        return _result_value(result, wrapped)

    return call


def _registry_tools(
    client: RegistryClient, *, prefix: str, source: str, timeout: float
) -> list[tuple[ToolSpec, Handler]]:
    out: list[tuple[ToolSpec, Handler]] = []
    for tool in client.registry:
        spec = ToolSpec(
            name=tool_name(prefix, tool.full_name),
            description=tool.description.strip(),
            input_schema=dict(tool.input_schema),
            destructive=tool.destructive,
            source=source,
            timeout=timeout,
        )
        out.append((spec, _direct(client, tool.full_name)))
    return out


def _direct(client: RegistryClient, name: str) -> Handler:
    async def call(arguments: dict[str, Any]) -> JSONValue:
        try:
            value: JSONValue = await client.registry.call(name, arguments)
            return value
        except MemfunError as exc:
            raise ToolFailed(error_text(exc)) from exc

    return call
