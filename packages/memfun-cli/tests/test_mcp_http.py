"""MCP over streamable HTTP, attacked the way a hostile web page or local program would (issue 15).

Every test starts the real server (``memfun mcp serve --transport http``) in a subprocess and talks
to it with real HTTP clients (httpx) or a real MCP client (fastmcp's ``Client``).
"""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from memfun_cli.testing import MEMFUN, cli_env, new_project
from memfun_cli.testing import memfun as run_memfun

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "attacker", "version": "1"},
    },
}
MCP_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


@dataclass
class Served:
    port: int
    tokens: dict[str, str]
    project: Path
    process: subprocess.Popen[bytes]
    stderr: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def post(self, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(self.url, json=INITIALIZE, headers={**MCP_HEADERS, **headers}, timeout=30)

    def bearer(self, name: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[name]}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return new_project(tmp_path, None, files={"hello.txt": "hello from the workspace\n"})


def memfun(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_memfun(project, *args, timeout=90)


def create_token(project: Path, tokens_file: Path, name: str, *scopes: str) -> str:
    flags = [item for scope in scopes for item in ("--scope", scope)]
    result = memfun(
        project, "mcp", "token", "create", name, *flags, "--token-file", str(tokens_file)
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def start(
    project: Path, *args: str, command: tuple[str, ...] = (MEMFUN, "mcp", "serve")
) -> tuple[subprocess.Popen[bytes], int, Path]:
    """Start the server; return once its port answers (or fail with its stderr)."""
    port = free_port()
    log = project.parent / f"serve-{port}.log"
    port_args = ("--transport", "http", "--port") if command[0] == MEMFUN else ("--http",)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, *port_args, str(port), *args],
            cwd=project,
            env=cli_env(project),
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited {process.returncode}: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port, log
        except OSError:
            time.sleep(0.1)
    process.kill()
    pytest.fail(f"server did not listen: {log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def served(project: Path) -> Iterator[Served]:
    tokens_file = project.parent / "home" / "tokens.json"
    tokens = {
        "admin": create_token(project, tokens_file, "admin", "read", "write", "agents"),
        "reader": create_token(project, tokens_file, "reader", "read"),
    }
    process, port, log = start(
        project, "--allow-writes", "--no-web", "--token-file", str(tokens_file)
    )
    try:
        yield Served(port, tokens, project, process, log)
    finally:
        stop(process)


def test_no_token_is_401_and_reveals_nothing(served: Served) -> None:
    response = served.post({})
    assert response.status_code == 401
    assert "fs_read" not in response.text


def test_a_wrong_token_is_401(served: Served) -> None:
    almost = served.tokens["admin"][:-1] + ("A" if served.tokens["admin"][-1] != "A" else "B")
    for token in ("not-a-token", almost, "Bearer"):
        assert served.post({"authorization": f"Bearer {token}"}).status_code == 401
    assert served.post(served.bearer("admin")).status_code == 200


@pytest.mark.parametrize("with_token", [False, True])
def test_dns_rebinding_shape_is_403(served: Served, with_token: bool) -> None:
    # attacker.example resolved to 127.0.0.1: the browser sends the attacker's name as Host
    # and Origin. Refused before the token is even looked at.
    headers = {
        "host": f"attacker.example:{served.port}",
        "origin": f"http://attacker.example:{served.port}",
    }
    if with_token:
        headers.update(served.bearer("admin"))
    response = served.post(headers)
    assert response.status_code == 403
    assert "Host not allowed" in response.text


@pytest.mark.parametrize(
    "host",
    [
        "attacker.example",
        "attacker.example:{port}",
        "127.0.0.1.attacker.example:{port}",
        "localhost:1",  # a loopback name with another port than the one served
    ],
)
def test_a_foreign_host_is_403_even_with_a_valid_token(served: Served, host: str) -> None:
    headers = {"host": host.format(port=served.port), **served.bearer("admin")}
    assert served.post(headers).status_code == 403


@pytest.mark.parametrize(
    "origin",
    [
        "http://attacker.example",
        "https://attacker.example:{port}",
        "http://localhost:3000",  # another local web app (a dev server, a compromised page)
        "null",  # sandboxed iframes and file:// pages
    ],
)
def test_a_foreign_origin_is_403_even_with_a_valid_token(served: Served, origin: str) -> None:
    headers = {"origin": origin.format(port=served.port), **served.bearer("admin")}
    response = served.post(headers)
    assert response.status_code == 403
    assert "Origin not allowed" in response.text


def test_loopback_host_and_origin_are_accepted(served: Served) -> None:
    for name in ("127.0.0.1", "localhost", "[::1]"):
        headers = {
            "host": f"{name}:{served.port}",
            "origin": f"http://{name}:{served.port}",
            **served.bearer("admin"),
        }
        assert served.post(headers).status_code == 200, name


async def test_a_real_mcp_client_with_a_token_lists_and_calls_tools(served: Served) -> None:
    transport = StreamableHttpTransport(served.url, auth=served.tokens["admin"])
    async with Client(transport) as client:
        names = {tool.name for tool in await client.list_tools()}
        assert {"fs_read", "fs_write", "git_status", "search_text", "repomap_map"} <= names
        result = await client.call_tool("fs_read", {"path": "hello.txt"})
        assert "hello from the workspace" in str(result.structured_content)
        written = await client.call_tool("fs_write", {"path": "made.txt", "content": "ok\n"})
        assert not written.is_error
    assert (served.project / "made.txt").read_text(encoding="utf-8") == "ok\n"


async def test_a_read_token_cannot_write_even_with_allow_writes(served: Served) -> None:
    transport = StreamableHttpTransport(served.url, auth=served.tokens["reader"])
    async with Client(transport) as client:
        names = {tool.name for tool in await client.list_tools()}
        assert "fs_read" in names
        assert "skills_review-code" in names
        assert not names & {"fs_write", "fs_edit", "fs_multi_edit", "git_commit", "git_checkout"}
        with pytest.raises(Exception, match="needs the 'write' scope"):
            await client.call_tool("fs_write", {"path": "pwned.txt", "content": "x"})
        with pytest.raises(Exception, match="needs the 'write' scope"):
            await client.call_tool("fs_edit", {"path": "hello.txt", "old": "hello", "new": "pwned"})
        read = await client.call_tool("fs_read", {"path": "hello.txt"})
        assert not read.is_error
    assert not (served.project / "pwned.txt").exists()
    assert "pwned" not in (served.project / "hello.txt").read_text(encoding="utf-8")


def test_a_revoked_token_is_refused_without_a_restart(served: Served) -> None:
    assert served.post(served.bearer("reader")).status_code == 200
    tokens_file = served.project.parent / "home" / "tokens.json"
    revoked = memfun(
        served.project, "mcp", "token", "revoke", "reader", "--token-file", str(tokens_file)
    )
    assert revoked.returncode == 0, revoked.stderr
    assert served.post(served.bearer("reader")).status_code == 401
    assert served.post(served.bearer("admin")).status_code == 200


def test_first_serve_creates_a_private_token_and_prints_it_once(project: Path) -> None:
    process, port, log = start(project, "--no-web")
    try:
        printed = log.read_text(encoding="utf-8")
        lines = printed.splitlines()
        marker = next(i for i, line in enumerate(lines) if "Authorization: Bearer" in line)
        token = lines[marker + 1].strip()
        tokens_file = project.parent / "home" / ".config" / "memfun" / "mcp-tokens.json"
        assert stat.S_IMODE(tokens_file.stat().st_mode) == 0o600
        assert token not in tokens_file.read_text(encoding="utf-8")  # only its hash is kept
        assert not str(tokens_file).startswith(str(project))  # outside the repository
        url = f"http://127.0.0.1:{port}/mcp"
        ok = httpx.post(
            url, json=INITIALIZE, headers={**MCP_HEADERS, "authorization": f"Bearer {token}"}
        )
        assert ok.status_code == 200
    finally:
        stop(process)
    process, _, log = start(project, "--no-web")
    try:
        assert token not in log.read_text(encoding="utf-8")  # printed once, never again
    finally:
        stop(process)


def test_a_tokens_file_others_can_read_is_refused(project: Path) -> None:
    tokens_file = project.parent / "home" / "tokens.json"
    create_token(project, tokens_file, "admin", "read")
    tokens_file.chmod(0o644)
    result = memfun(
        project, "mcp", "serve", "--transport", "http", "--port", str(free_port()),
        "--token-file", str(tokens_file),
    )  # fmt: skip
    assert result.returncode == 2
    assert "0600" in result.stderr


def test_no_auth_refuses_a_non_loopback_bind(project: Path) -> None:
    for host in ("0.0.0.0", "192.0.2.1", "::"):
        result = memfun(
            project, "mcp", "serve", "--transport", "http", "--no-auth", "--host", host,
            "--port", str(free_port()),
        )  # fmt: skip
        assert result.returncode == 2, host
        assert "loopback" in result.stderr


def test_no_auth_on_loopback_warns_and_still_checks_host(project: Path) -> None:
    process, port, log = start(project, "--no-web", "--no-auth")
    try:
        assert "WITHOUT AUTHENTICATION" in log.read_text(encoding="utf-8")
        url = f"http://127.0.0.1:{port}/mcp"
        assert httpx.post(url, json=INITIALIZE, headers=MCP_HEADERS).status_code == 200
        rebound = {**MCP_HEADERS, "host": f"attacker.example:{port}"}
        assert httpx.post(url, json=INITIALIZE, headers=rebound).status_code == 403
    finally:
        stop(process)


def test_allow_host_and_allow_origin_add_names(project: Path) -> None:
    tokens_file = project.parent / "home" / "tokens.json"
    token = create_token(project, tokens_file, "admin", "read")
    process, port, _ = start(
        project, "--no-web", "--token-file", str(tokens_file),
        "--allow-host", "memfun.internal", "--allow-origin", "https://app.example",
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        headers = {
            **MCP_HEADERS,
            "authorization": f"Bearer {token}",
            "host": f"memfun.internal:{port}",
            "origin": "https://app.example",
        }
        assert httpx.post(url, json=INITIALIZE, headers=headers).status_code == 200
        headers["origin"] = "https://other.example"
        assert httpx.post(url, json=INITIALIZE, headers=headers).status_code == 403
    finally:
        stop(process)


def test_the_bare_gateway_module_is_protected_too(project: Path) -> None:
    command = (sys.executable, "-m", "memfun_tools.gateway", "--root", str(project))
    process, port, log = start(project, command=command)
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        assert httpx.post(url, json=INITIALIZE, headers=MCP_HEADERS).status_code == 401
        rebound = {**MCP_HEADERS, "host": f"attacker.example:{port}"}
        assert httpx.post(url, json=INITIALIZE, headers=rebound).status_code == 403
        assert "shown only this once" in log.read_text(encoding="utf-8")
    finally:
        stop(process)


async def test_refused_and_answered_requests_are_in_the_audit_trail(served: Served) -> None:
    assert served.post({"host": f"attacker.example:{served.port}"}).status_code == 403
    assert served.post({}).status_code == 401
    transport = StreamableHttpTransport(served.url, auth=served.tokens["reader"])
    async with Client(transport) as client:
        with pytest.raises(Exception, match="needs the 'write' scope"):
            await client.call_tool("fs_write", {"path": "pwned.txt", "content": "x"})
    trail = served.project / ".memfun" / "audit.jsonl"
    entries = [json.loads(line)["data"] for line in trail.read_text().splitlines()]
    reasons = [e.get("reason") for e in entries if e.get("outcome") == "refused"]
    assert "Host not allowed" in reasons
    assert "no valid bearer token" in reasons
    denied = [e for e in entries if e.get("name") == "fs_write"]
    assert denied[0]["client"] == "reader"
    assert "needs the 'write' scope" in denied[0]["outcome"]
    assert not any(served.tokens["reader"] in json.dumps(e) for e in entries)
    verified = memfun(served.project, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
