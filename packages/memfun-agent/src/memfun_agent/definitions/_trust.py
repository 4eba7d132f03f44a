"""Project agents wait until the folder is trusted (``memfun trust``).

A cloned repository's ``.memfun/agents``, ``.agents/agents`` and ``.claude/agents`` carry
instructions, tools and delegation rights chosen by whoever wrote the repository. Until the
user trusts the folder they stay inactive, with the reason, like risky project skills.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping

from memfun_agent.definitions._discovery import AgentCatalog, InactiveAgent, discover_agents
from memfun_core.config import MemfunConfig
from memfun_core.trust import workspace_trust

__all__ = ["discover_from_config", "gate_untrusted_agents"]

_log = logging.getLogger("memfun.trust")


def gate_untrusted_agents(
    catalog: AgentCatalog,
    project_root: str | os.PathLike[str],
    environ: Mapping[str, str] | None = None,
) -> AgentCatalog:
    """Move the project agents of an untrusted folder to ``catalog.inactive``.

    A user or built-in agent of the same name that an inactive one shadowed takes its
    place. User and built-in agents are never affected.
    """
    project = [agent for agent in catalog.agents if agent.scope == "project"]
    if not project:
        return catalog
    state = workspace_trust(project_root, environ)
    if state.trusted or state.reason is None:
        return catalog
    names = {agent.name for agent in project}
    _log.warning(
        "project agents %s are inactive: %s. To use them: %s",
        ", ".join(f"@{name}" for name in sorted(names)),
        state.reason,
        state.hint,
    )
    agents = [agent for agent in catalog.agents if agent.name not in names]
    shadowed = list(catalog.shadowed)
    for name in sorted(names):
        heir = next(
            (s for s in shadowed if s.agent.name == name and s.agent.scope != "project"), None
        )
        if heir is not None:
            shadowed.remove(heir)
            agents.append(heir.agent)
    return dataclasses.replace(
        catalog,
        agents=tuple(agents),
        shadowed=tuple(shadowed),
        inactive=(
            *catalog.inactive,
            *(InactiveAgent(agent, state.reason, state.hint) for agent in project),
        ),
    )


def discover_from_config(
    config: MemfunConfig, environ: Mapping[str, str] | None = None
) -> AgentCatalog:
    """The agents ``memfun agent``, chat, MCP and orchestration use: found, then gated.

    Project agents of a folder the user has not trusted are in ``inactive`` with the reason.
    """
    catalog = discover_agents(config.project_root, config=config)
    return gate_untrusted_agents(catalog, config.project_root, environ)
