"""The :class:`AgentSetup` of ``memfun.toml``: models, tools, sandbox, skills and limits."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from memfun_agent._audit import RunAudit
from memfun_agent._budget import Budgets
from memfun_agent.dispatch._defined import AgentSetup
from memfun_agent.tools import PermissionPolicy, ToolBridge
from memfun_core.config import MemfunConfig
from memfun_core.errors import ConfigError, NotFoundError
from memfun_runtime.protocols import JSONValue, NetworkPolicy, ReplSandbox, SandboxLimits
from memfun_skills import ActivatedSkill

__all__ = ["setup_from_config"]


def setup_from_config(
    config: MemfunConfig,
    *,
    workspace: str | Path | None = None,
    policy: PermissionPolicy | None = None,
    max_depth: int | None = None,
    delegate_timeout: float | None = None,
    listener: Callable[[dict[str, JSONValue]], None] | None = None,
    audit: RunAudit | None = None,
) -> AgentSetup:
    """What ``memfun agent run`` and agent workers give their agents.

    The model is ``[llm]`` (a definition's ``model`` replaces ``[llm] model``, with the same
    ``api_base`` and key variable); the tools are Memfun's gateway over the workspace plus
    ``[mcp.servers]``, behind ``policy`` (default: destructive tools refused, since a worker
    has nobody to ask); the sandbox, limits and budgets are ``[sandbox]`` and
    ``[llm.budgets]``; preloaded skills are found as ``memfun skill`` finds them.
    ``max_depth`` and ``delegate_timeout`` default to ``[agents] max_delegation_depth`` and
    ``delegation_timeout_seconds``; ``[agents]`` also says whether runs read the project's
    ``AGENTS.md`` and how much of it. The project's own MCP servers stay inactive until
    the folder is trusted; ``audit`` records what the agents do (:func:`run_audit`).

    Raises:
        ConfigError: No model, an unset key variable or an unsupported sandbox backend.
    """
    from memfun_agent._providers import check_llm

    check_llm(config.llm)  # fail before anything heavy, with the fix in the hint
    if config.sandbox.backend != "local":
        raise ConfigError(
            f"agents cannot use the {config.sandbox.backend!r} sandbox yet",
            key="sandbox.backend",
            hint='set [sandbox] backend = "local"',
        )
    root = Path(workspace or config.project_root).resolve()
    sandbox_config = config.sandbox
    permissions = policy or PermissionPolicy(destructive_default="deny")

    def lm(model: str | None) -> Any:
        from memfun_agent._providers import build_lm

        llm = config.llm if model is None else dataclasses.replace(config.llm, model=model)
        return build_lm(llm)

    def tools() -> ToolBridge:
        from memfun_agent.tools import gateway_client
        from memfun_agent.tools._mcp import add_config_servers

        bridge = ToolBridge(policy=permissions)
        try:
            bridge.add_mcp(gateway_client(root, web=config.web), prefix="", source="memfun")
            add_config_servers(bridge, config.mcp.servers, root=root)
        except BaseException:
            bridge.close()
            raise
        return bridge

    def sandbox() -> ReplSandbox:
        from memfun_runtime.sandboxes import LocalSandbox

        return LocalSandbox(require=sandbox_config.require, unsafe_host=sandbox_config.unsafe_host)

    def skill(name: str) -> ActivatedSkill:
        from memfun_skills import activate_skill, discover_from_config

        found = discover_from_config(config).get(name)
        if found is None:
            raise NotFoundError("skill", name, hint="an agent definition preloads it (skills:)")
        return activate_skill(found.properties.skill_dir)

    options: dict[str, Any] = {
        "limits": SandboxLimits(
            cpu_seconds=float(sandbox_config.cpu_seconds),
            memory_mb=sandbox_config.memory_mb,
            wall_seconds=sandbox_config.timeout_seconds,
        ),
        "network": NetworkPolicy(allow=sandbox_config.network),
        "secret_names": (config.llm.api_key_env,) if config.llm.api_key_env else (),
    }
    if listener is not None:
        options["listener"] = listener
    if audit is not None:
        options["audit"] = audit
    return AgentSetup(
        workspace=root,
        lm=lm,
        tools=tools,
        sandbox=sandbox,
        budgets=Budgets.from_config(config.llm.budgets),
        skills=skill,
        max_depth=config.agents.max_delegation_depth if max_depth is None else max_depth,
        delegate_timeout=(
            config.agents.delegation_timeout_seconds
            if delegate_timeout is None
            else delegate_timeout
        ),
        agent_options=options,
        agents=config.agents,
    )
