"""Skills over MCP that run: ``memfun mcp serve`` runs ``skills_<name>`` with Memfun's agent.

With a model configured, a call runs the skill in the server's process through the same path
as ``memfun /name`` (:func:`memfun_cli._skill_run.run_with_skills`): its ``allowed-tools``
applied, its scripts in the sandbox, the invocation recorded in the runtime's skill registry.
Writes follow the server's ``--allow-writes``: without it the tools that change files are
denied (there is nobody to confirm an edit over MCP).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from memfun_core.config import MemfunConfig

__all__ = ["skill_runner"]


def skill_runner(config: MemfunConfig, root: Path, *, allow_writes: bool) -> Any:
    """The ``runner`` of :func:`memfun_skills.mcp.create_skills_server` for this server."""
    workspace = root.resolve()

    async def run(name: str, arguments: str) -> dict[str, Any]:
        from memfun_agent import PermissionPolicy, RLMAgent, TraceStore
        from memfun_cli._skill_run import SkillRequest, run_with_skills
        from memfun_cli.commands.tasks import WRITE_TOOLS, result_data
        from memfun_runtime import RuntimeBuilder

        policy = (
            PermissionPolicy.from_flags(allow=WRITE_TOOLS)
            if allow_writes
            else PermissionPolicy.from_flags(deny=WRITE_TOOLS)
        )
        async with RuntimeBuilder().from_config(config).build() as runtime:
            agent = await asyncio.to_thread(
                lambda: RLMAgent.from_config(
                    config,
                    workspace=workspace,
                    policy=policy,
                    traces=TraceStore(runtime.backend),
                    web=False,
                )
            )
            try:
                result = await run_with_skills(
                    config,
                    runtime,
                    agent,
                    f"Use the {name} skill" + (f": {arguments}" if arguments else "."),
                    SkillRequest(name=name, arguments=arguments),
                    metadata={"via": "mcp"},
                )
            finally:
                await asyncio.to_thread(agent.close)
        return {"skill": name, **result_data(result)}

    return run
