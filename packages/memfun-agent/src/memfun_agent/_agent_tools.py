"""Tools the agent itself adds to the bridge: ``verify`` and the sandboxed ``shell``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memfun_agent._verify import Verifier
from memfun_agent.tools import ToolBridge, ToolFailed, ToolSpec
from memfun_runtime.protocols import (
    FileSystemView,
    JSONValue,
    NetworkPolicy,
    SandboxAdapter,
    SandboxLimits,
)

__all__ = ["add_agent_tools"]

_MAX_SHELL_SECONDS = 600.0


def add_agent_tools(
    bridge: ToolBridge, *, sandbox: SandboxAdapter, workspace: Path, verifier: Verifier | None
) -> None:
    """Add ``shell`` and (with a verifier) ``verify`` unless the bridge already has them."""
    if "shell" not in bridge.names:

        async def shell(arguments: dict[str, Any]) -> JSONValue:
            command = arguments.get("command")
            if not isinstance(command, str) or not command.strip():
                raise ToolFailed("shell needs a command string, e.g. shell('ls -la')")
            timeout = float(arguments.get("timeout") or 120.0)
            done = await sandbox.run_command(
                ["/bin/sh", "-c", command],
                limits=SandboxLimits(wall_seconds=min(max(timeout, 1.0), _MAX_SHELL_SECONDS)),
                files=FileSystemView(workspace=str(workspace), workspace_writable=False),
                network=NetworkPolicy(),
            )
            return {
                "exit_code": done.exit_code,
                "stdout": done.stdout,
                "stderr": done.stderr,
                "timed_out": done.timed_out,
            }

        bridge.add(
            ToolSpec(
                name="shell",
                description=(
                    "Run a shell command in the sandbox (workspace read-only, no network); "
                    "returns exit_code, stdout, stderr, timed_out."
                ),
                input_schema={
                    "type": "object",
                    "properties": {
                        "command": {"type": "string"},
                        "timeout": {"type": "number", "default": 120},
                    },
                    "required": ["command"],
                },
                source="agent",
                timeout=_MAX_SHELL_SECONDS + 30.0,
            ),
            shell,
        )
    if verifier is not None and "verify" not in bridge.names:

        async def verify(arguments: dict[str, Any]) -> JSONValue:
            del arguments
            if not verifier.checks:
                return {"passed": True, "checks": [], "note": "this project has no checks"}
            result = await verifier.run()
            return result.to_json()  # pyright: ignore[reportReturnType]

        names = ", ".join(check.name for check in verifier.checks) or "none found"
        bridge.add(
            ToolSpec(
                name="verify",
                description=f"Run the project's checks ({names}) in the sandbox; returns "
                "passed and each check's output.",
                input_schema={"type": "object", "properties": {}},
                source="agent",
                timeout=verifier.timeout * max(1, len(verifier.checks)) + 30.0,
            ),
            verify,
        )
