"""``memfun mcp``: serve Memfun over MCP, and manage the external MCP servers it uses."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from memfun_core.config import PROJECT_FILE, MCPServerConfig, find_project_file, load_config
from memfun_core.errors import BackendUnavailable, UserError

if TYPE_CHECKING:
    from fastmcp import FastMCP

    from memfun_core.config import MemfunConfig
    from memfun_tools.gateway import TokenStore

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
    token_file: Annotated[
        Path | None,
        typer.Option(
            help="HTTP: the tokens file to accept (default ~/.config/memfun/mcp-tokens.json, "
            "where a first token is created and printed once)."
        ),
    ] = None,
    no_auth: Annotated[
        bool,
        typer.Option("--no-auth", help="HTTP: accept requests without a token (loopback only)."),
    ] = False,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(help="HTTP: also accept this Host name (repeatable; loopback names are)."),
    ] = None,
    allow_origin: Annotated[
        list[str] | None,
        typer.Option(help="HTTP: also accept this browser Origin, e.g. https://app.example."),
    ] = None,
) -> None:
    """Serve tools (fs_*, search_*, git_*, repomap_*, web_*), skills and agents over MCP.

    Each skill is a tool skills_NAME; each agent (see `memfun agent list`) is a tool
    agents_NAME that runs it, read-only unless --allow-writes.

    Add it to Claude Code with: claude mcp add memfun -- memfun mcp serve. Over HTTP every
    request needs "Authorization: Bearer <token>" (see `memfun mcp token`), a token's scopes
    (read, write, agents) decide which tools it sees and calls, and only loopback Host and
    Origin headers are accepted unless --allow-host/--allow-origin add more.
    """
    if transport not in ("stdio", "http"):
        raise UserError(f"unknown transport {transport!r}", hint="use stdio or http")
    if transport == "stdio" and (no_auth or token_file or allow_host or allow_origin):
        raise UserError(
            "--token-file, --no-auth, --allow-host and --allow-origin apply to --transport http",
            hint="stdio needs none: only the client that started the server can talk to it",
        )
    from memfun_cli._compose import build_memfun_gateway

    config = load_config()
    workspace = root or Path(config.project_root)
    from memfun_cli.commands.audit import project_audit_log
    from memfun_tools.gateway import audit_middleware, audit_rejection

    audit = project_audit_log(config)
    if transport == "stdio":
        # initialize is answered while FastMCP loads and the gateway is built (_mcp_stdio).
        from memfun_cli._mcp_stdio import EarlyInitialize, serve_stdio
        from memfun_tools.gateway import gateway_instructions, gateway_version

        early = EarlyInitialize("memfun", gateway_version(), gateway_instructions(workspace))

        def build() -> FastMCP[Any]:
            server = build_memfun_gateway(
                config, workspace, allow_writes=allow_writes, web=not no_web
            )
            _mount_agents(server, config, workspace, allow_writes=allow_writes)
            server.add_middleware(audit_middleware(audit, transport="stdio"))
            return server

        serve_stdio(build, early)
        return
    from memfun_tools.gateway import http_security, serve_http

    security = http_security(
        host,
        token_file=token_file,
        no_auth=no_auth,
        hosts=allow_host or (),
        origins=allow_origin or (),
        announce=lambda text: typer.echo(text, err=True),
    )
    security = dataclasses.replace(security, on_reject=audit_rejection(audit))
    server = build_memfun_gateway(config, workspace, allow_writes=allow_writes, web=not no_web)
    _mount_agents(server, config, workspace, allow_writes=allow_writes)
    server.add_middleware(audit_middleware(audit, transport="http"))  # outside the scope check
    auth = "no authentication" if security.tokens is None else "bearer token required"
    typer.echo(f"memfun: serving MCP on http://{host}:{port}/mcp ({auth})", err=True)
    serve_http(server, host=host, port=port, security=security)


def _mount_agents(
    server: FastMCP[Any], config: MemfunConfig, workspace: Path, *, allow_writes: bool
) -> None:
    """Serve each discovered agent as a tool ``agents_<name>`` (see memfun_cli._mcp_agents)."""
    from memfun_cli._mcp_agents import NAMESPACE, build_agents_server

    agents = build_agents_server(config, workspace, allow_writes=allow_writes)
    server.mount(agents, namespace=NAMESPACE)


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


token_app = typer.Typer(
    name="token",
    help="Bearer tokens of `memfun mcp serve --transport http` and their scopes.",
    no_args_is_help=True,
)
app.add_typer(token_app)

_TokenFile = Annotated[
    Path | None,
    typer.Option(help="The tokens file (default ~/.config/memfun/mcp-tokens.json)."),
]


def _store(token_file: Path | None) -> TokenStore:
    from memfun_tools.gateway import TokenStore, default_tokens_path

    return TokenStore(token_file or default_tokens_path())


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="A name for the token (who or what uses it).")],
    scope: Annotated[
        list[str] | None,
        typer.Option(help="read, write or agents (repeatable; default: read only)."),
    ] = None,
    token_file: _TokenFile = None,
) -> None:
    """Create a token, print it once on stdout, and store only its SHA-256.

    read: read-only tools, skills and resources; write: tools that change files or commit
    (served with --allow-writes); agents: tools that run agents.
    """
    store = _store(token_file)
    token, grant = store.create(name, scope or ["read"])
    typer.echo(
        f"created {grant.name!r} (scopes: {', '.join(sorted(grant.scopes))}) in {store.path}; "
        "the token below is not shown again",
        err=True,
    )
    typer.echo(token)


@token_app.command("list")
def token_list(
    token_file: _TokenFile = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """List the tokens' names, scopes and creation times (never the tokens)."""
    grants = _store(token_file).grants()
    if as_json:
        typer.echo(json.dumps({grant.name: grant.to_json() for grant in grants}, indent=2))
        return
    if not grants:
        typer.echo("no MCP tokens (`memfun mcp serve --transport http` creates a first one)")
    for grant in grants:
        typer.echo(f"{grant.name}: {', '.join(sorted(grant.scopes))}  (created {grant.created_at})")


@token_app.command("revoke")
def token_revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")],
    token_file: _TokenFile = None,
) -> None:
    """Remove a token: a running server refuses it from its next request."""
    grant = _store(token_file).revoke(name)
    typer.echo(f"revoked {grant.name!r}")
