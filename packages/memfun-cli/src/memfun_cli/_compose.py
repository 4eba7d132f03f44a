"""The composition root: turn configuration into runtime objects (gateway, ...).

Everything here imports heavy libraries lazily, inside the functions.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memfun_core.config import MemfunConfig

if TYPE_CHECKING:
    from fastmcp import FastMCP

__all__ = ["build_memfun_gateway", "data_dir"]


def data_dir(config: MemfunConfig) -> Path:
    """The project's data folder (``[runtime] data_dir``, relative to the project root)."""
    return Path(config.project_root, config.runtime.data_dir).expanduser()


def build_memfun_gateway(
    config: MemfunConfig, root: Path, *, allow_writes: bool, web: bool = True
) -> FastMCP[Any]:
    """Build the MCP gateway: Memfun's tools, its discovered skills and the web tools.

    The skills are served at once (the MCP Skills extension is announced in ``initialize``);
    the file, search, git, repo-map and web servers are built in the background once the
    gateway starts, so a client's ``initialize`` is answered before their modules load.

    Args:
        config: The loaded configuration.
        root: The workspace every file, search and git tool is confined to.
        allow_writes: Serve the tools that change files or the repository.
        web: Serve ``web_fetch`` and ``web_search``.
    """
    from memfun_skills import discover_from_config
    from memfun_skills.mcp import create_skills_server
    from memfun_tools.gateway import DeferredProvider, build_gateway

    runner = None
    if config.llm.model is not None:  # skills run with the agent; without a model, instructions
        from memfun_cli._mcp_skills import skill_runner

        runner = skill_runner(config, root, allow_writes=allow_writes)
    providers: dict[str, Any] = {
        "skills": create_skills_server(discover_from_config(config), tool_prefix="", runner=runner)
    }
    if web:
        web_config = config.web
        if web_config.cache_dir is None:
            web_config = dataclasses.replace(
                web_config, cache_dir=str(data_dir(config) / "cache" / "web")
            )

        def build_web() -> FastMCP[Any]:
            from memfun_tools.web import build_web_server

            return build_web_server(web_config)

        providers["web"] = DeferredProvider(build_web, label="web")
    return build_gateway(
        root,
        allow_writes=allow_writes,
        extra_providers=providers,
        cache_dir=data_dir(config),
        defer=True,
    )
