"""``agent_validate``: the REPL tool that checks an agent file's text before it is saved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memfun_agent.definitions._loader import validate_agent_text
from memfun_agent.tools import ToolBridge, ToolSpec
from memfun_core.config import AgentsConfig, MemfunConfig
from memfun_runtime.protocols import JSONValue

__all__ = ["AGENT_VALIDATE_TOOL", "add_agent_validate_tool"]

AGENT_VALIDATE_TOOL = "agent_validate"


def add_agent_validate_tool(
    bridge: ToolBridge,
    workspace: str | Path,
    *,
    config: MemfunConfig | AgentsConfig | None = None,
) -> None:
    """Offer ``agent_validate(text, path)`` on ``bridge`` (agent-architect saves nothing unchecked).

    The tool writes nothing: it returns the report ``memfun agent validate`` would give once
    ``text`` is saved at ``path`` (relative to ``workspace``): ``valid``, ``errors`` (each
    with ``file``, ``line``, ``field``, ``rule``, ``message``, ``hint``) and ``warnings``.
    """
    root = Path(workspace).resolve()

    async def validate(arguments: dict[str, Any]) -> JSONValue:
        text = str(arguments.get("text", ""))
        path = str(arguments.get("path") or ".memfun/agents/agent.md")
        report = validate_agent_text(text, root / path, config=config).to_dict()
        report["path"] = path
        return report  # pyright: ignore[reportReturnType]

    bridge.add(
        ToolSpec(
            name=AGENT_VALIDATE_TOOL,
            description="Check the text of an agent file (AGENT.md) before saving it at path; "
            "returns valid, errors (file, line, field, rule, message, hint) and warnings. "
            "Writes nothing.",
            input_schema={
                "type": "object",
                "properties": {
                    "text": {
                        "type": "string",
                        "description": "The whole file: frontmatter and body",
                    },
                    "path": {
                        "type": "string",
                        "description": "Where it will be saved, e.g. .memfun/agents/NAME.md",
                    },
                },
                "required": ["text", "path"],
            },
            source="agent",
            timeout=30.0,
        ),
        validate,
    )
