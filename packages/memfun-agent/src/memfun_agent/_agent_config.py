"""The agent ``memfun ask`` runs, built from Memfun's configuration."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from memfun_agent._agent_inputs import MemoryRecall
from memfun_agent._audit import RunAudit
from memfun_agent._budget import Budgets
from memfun_agent._program import trusted_program
from memfun_agent.tools import PermissionPolicy, ToolBridge, gateway_client
from memfun_agent.traces import TraceStore
from memfun_core.config import MemfunConfig
from memfun_core.errors import ConfigError
from memfun_runtime.protocols import JSONValue, NetworkPolicy, ReplSandbox, SandboxLimits

if TYPE_CHECKING:
    from memfun_agent._agent import RLMAgent

__all__ = ["agent_from_config"]


def agent_from_config(
    cls: type[RLMAgent],
    config: MemfunConfig,
    *,
    workspace: str | Path | None,
    policy: PermissionPolicy | None,
    traces: TraceStore | None,
    web: bool,
    listener: Callable[[dict[str, JSONValue]], None] | None,
    audit: RunAudit | None,
    memories: MemoryRecall | None,
) -> RLMAgent:
    """An agent (of class ``cls``) as configured, on ``workspace`` or the project's root.

    Models, sandbox, tools (the gateway and the configured MCP servers) and budgets come
    from ``config``; see :meth:`memfun_agent.RLMAgent.from_config` for the rest.

    Raises:
        ConfigError: No model, an unset key variable, an unsupported sandbox backend or
            a bad MCP server entry.
    """
    from memfun_agent._providers import build_lm, model_limits
    from memfun_agent.tools._mcp import add_config_servers
    from memfun_runtime.sandboxes import LocalSandbox

    if config.sandbox.backend != "local":
        raise ConfigError(
            f"the agent cannot use the {config.sandbox.backend!r} sandbox yet",
            key="sandbox.backend",
            hint='set [sandbox] backend = "local"',
        )
    root = Path(workspace or config.project_root).resolve()
    model = model_limits(config.llm)  # asks only a local server, within a second
    lm = build_lm(config.llm, max_tokens=model.reply_tokens)
    sub_lm = (
        build_lm(config.llm, sub=True, max_tokens=model.reply_tokens)
        if config.llm.sub_model
        else None
    )
    sandbox_config = config.sandbox

    def make_sandbox() -> ReplSandbox:
        return LocalSandbox(require=sandbox_config.require, unsafe_host=sandbox_config.unsafe_host)

    bridge = ToolBridge(policy=policy)
    try:
        bridge.add_mcp(
            gateway_client(root, web=config.web if web else None),
            prefix="",
            source="memfun",
        )
        add_config_servers(bridge, config.mcp.servers, root=root)
    except BaseException:
        bridge.close()
        raise
    limits = SandboxLimits(
        cpu_seconds=float(sandbox_config.cpu_seconds),
        memory_mb=sandbox_config.memory_mb,
        wall_seconds=sandbox_config.timeout_seconds,
    )
    return cls(
        root,
        lm=lm,
        sub_lm=sub_lm,
        sandbox=make_sandbox,
        bridge=bridge,
        budgets=Budgets.from_config(config.llm.budgets, local=model.local),
        traces=traces,
        limits=limits,
        network=NetworkPolicy(allow=sandbox_config.network),
        secret_names=(config.llm.api_key_env,) if config.llm.api_key_env else (),
        listener=listener,
        audit=audit,
        context_window=model.context_window,
        project_instructions=(
            config.agents.project_instructions_bytes if config.agents.project_instructions else None
        ),
        program=trusted_program(config),
        memories=memories,
        compact=config.llm.prompt == "compact" or (config.llm.prompt == "auto" and model.local),
    )
