"""``memfun mcp``: serve Memfun over MCP, and manage the external MCP servers it uses."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Annotated, Literal

import typer

from memfun_core.config import PROJECT_FILE, MCPServerConfig, find_project_file, load_config
from memfun_core.errors import BackendUnavailable, UserError

app = typer.Typer(
    name="mcp",
    help="Serve Memfun's tools and skills to MCP clients; manage external MCP servers.",
    no_args_is_help=True,
)

_SERVER_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@app.command("serve")
def serve(
    transport: Annotated[
        str, typer.Option(help="stdio (for Claude Code, Cursor) or http (streamable HTTP).")
    ] = "stdio",
    port: Annotated[int, typer.Option(help="Port for --transport http.")] = 8765,
    host: Annotated[str, typer.Option(help="Bind address for --transport http.")] = "127.0.0.1",
    root: Annotated[
        Path | None, typer.Option(help="Workspace root (default: the project root).")
    ] = None,
    allow_writes: Annotated[
        bool,
        typer.Option("--allow-writes", help="Also serve tools that write files or commit."),
    ] = False,
    no_web: Annotated[
        bool, typer.Option("--no-web", help="Do not serve web_fetch/web_search.")
    ] = False,
) -> None:
    """Serve tools (fs_*, search_*, git_*, repomap_*, web_*) and skills (skills_*) over MCP.

    Add it to Claude Code with: claude mcp add memfun -- memfun mcp serve
    """
    if transport not in ("stdio", "http"):
        raise UserError(f"unknown transport {transport!r}", hint="use stdio or http")
    from memfun_cli._compose import build_memfun_gateway

    config = load_config()
    workspace = root or Path(config.project_root)
    server = build_memfun_gateway(config, workspace, allow_writes=allow_writes, web=not no_web)
    chosen: Literal["stdio", "http"] = "stdio" if transport == "stdio" else "http"
    if chosen == "stdio":
        server.run(transport="stdio", show_banner=False)
    else:
        server.run(transport="http", host=host, port=port, show_banner=False)


@app.command("list")
def list_servers(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """List the external MCP servers configured in [mcp.servers]."""
    servers = load_config().mcp.servers
    if as_json:
        typer.echo(
            json.dumps(
                {
                    name: {
                        "command": s.command,
                        "args": list(s.args),
                        "url": s.url,
                        "env": sorted(s.env),
                    }
                    for name, s in servers.items()
                },
                indent=2,
            )
        )
        return
    if not servers:
        typer.echo("no external MCP servers configured (add one with `memfun mcp add`)")
    for name, server in servers.items():
        target = server.url or " ".join([server.command or "", *server.args])
        typer.echo(f"{name}: {target}")


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A name for the server (letters, digits, - and _).")],
    command: Annotated[
        list[str] | None,
        typer.Argument(help="The command and its arguments (after --), for a stdio server."),
    ] = None,
    url: Annotated[str | None, typer.Option(help="URL of a streamable-HTTP server.")] = None,
    env: Annotated[
        list[str] | None,
        typer.Option(help="NAME=VALUE for the server's environment; use ${VAR} for secrets."),
    ] = None,
) -> None:
    """Add an external MCP server to this project's memfun.toml.

    Examples: memfun mcp add files -- npx -y @modelcontextprotocol/server-filesystem .
    memfun mcp add docs --url http://127.0.0.1:9000/mcp
    """
    if not _SERVER_NAME.match(name):
        raise UserError(f"invalid server name {name!r}", hint="use letters, digits, - and _")
    if bool(command) == bool(url):
        raise UserError("give either a command (after --) or --url, not both or neither")
    config = load_config()
    if name in config.mcp.servers:
        raise UserError(f"an MCP server named {name!r} is already configured")
    pairs = dict(_split_env(item) for item in env or [])
    lines = [f"\n[mcp.servers.{name}]"]
    if url:
        lines.append(f"url = {json.dumps(url)}")
    else:
        assert command is not None
        lines.append(f"command = {json.dumps(command[0])}")
        lines.append(f"args = {json.dumps(command[1:])}")
    if pairs:
        inner = ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in pairs.items())
        lines.append(f"env = {{ {inner} }}")
    path = find_project_file(Path.cwd()) or Path.cwd() / PROJECT_FILE
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    new = old.rstrip("\n") + ("\n" if old else "") + "\n".join(lines) + "\n"
    path.write_text(new, encoding="utf-8")
    try:
        load_config()  # validates the result (e.g. a raw key in env)
    except UserError:
        if old:
            path.write_text(old, encoding="utf-8")
        else:
            path.unlink()
        raise
    typer.echo(f"added {name} to {path}")


def _split_env(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise UserError(f"--env {item!r} is not NAME=VALUE")
    return key, value


@app.command("test")
def test(name: Annotated[str, typer.Argument(help="A server from [mcp.servers].")]) -> None:
    """Start a configured MCP server, list its tools, and stop it."""
    servers = load_config().mcp.servers
    if name not in servers:
        from memfun_core.errors import NotFoundError

        raise NotFoundError("MCP server", name, suggestions=tuple(servers))
    tools = asyncio.run(_list_tools(name, servers[name]))
    typer.echo(f"{name}: {len(tools)} tools")
    for tool_name, description in tools:
        typer.echo(f"  {tool_name}: {description.splitlines()[0] if description else ''}")


async def _list_tools(name: str, server: MCPServerConfig) -> list[tuple[str, str]]:
    import os

    from fastmcp import Client
    from fastmcp.client.transports import StdioTransport, StreamableHttpTransport

    if server.url:
        transport: StdioTransport | StreamableHttpTransport = StreamableHttpTransport(server.url)
    else:
        env = {k: os.path.expandvars(v) for k, v in server.env.items()}
        transport = StdioTransport(
            command=server.command or "", args=list(server.args), env={**os.environ, **env}
        )
    try:
        async with asyncio.timeout(server.timeout_seconds):
            async with Client(transport) as client:
                listed = await client.list_tools()
    except Exception as exc:
        raise BackendUnavailable(
            f"MCP server {name!r} did not answer: {type(exc).__name__}: {exc}",
            backend="mcp",
            target=server.url or server.command or "?",
            hint="check the command/url with `memfun mcp list`, and run the command by hand",
        ) from exc
    return [(tool.name, tool.description or "") for tool in listed]
