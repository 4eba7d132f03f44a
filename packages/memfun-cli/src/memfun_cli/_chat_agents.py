"""Agents in ``memfun chat``: ``/agents`` lists them, ``@name message`` runs one for a turn.

The chat side (:func:`agent_mention`, :func:`show_agents`) only reads agent files; the turn
process runs the agent with :func:`run_agent_turn`, the way ``memfun agent run`` does
(:func:`memfun_cli.commands.agent_run.run_team`): the agent and the agents it may delegate to
run in that process on the configured runtime tier, with the conversation so far as the
REPL variable ``conversation`` and each edit confirmed in the chat (unless ``--yes``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from memfun_core.config import MemfunConfig

if TYPE_CHECKING:
    from rich.console import Console

    from memfun_agent import AgentResult
    from memfun_agent.definitions import AgentCatalog
    from memfun_agent.dispatch import AgentTaskResult
    from memfun_agent.tools import AskCallback

__all__ = [
    "agent_mention",
    "catalog",
    "run_agent_turn",
    "show_agents",
    "turn_data",
    "unknown_agent",
]

_MENTION = re.compile(r"@([a-z0-9][a-z0-9-]*)(?=\s|\Z)")
_SUMMARY = 80


def catalog(config: MemfunConfig) -> AgentCatalog:
    """The agents, found as ``memfun agent list`` finds them (read again on every call)."""
    from memfun_agent.definitions import discover_from_config

    return discover_from_config(config)


def agent_mention(line: str) -> tuple[str, str] | None:
    """``("name", "rest of the message")`` when ``line`` starts with ``@name``, else ``None``.

    Only an agent-shaped word counts (lowercase letters, digits, hyphens, then a space or the
    end): ``@src/app.py explain`` is an ordinary message.
    """
    match = _MENTION.match(line)
    if match is None:
        return None
    return match.group(1), line[match.end() :].strip()


def show_agents(config: MemfunConfig, console: Console) -> None:
    """Print the ``/agents`` list: ``@name [scope] summary``, then the files skipped."""
    found = catalog(config)
    for agent in found.agents:
        summary = agent.description.split(". ")[0].strip()[:_SUMMARY]
        flag = " (read-only)" if agent.read_only else ""
        line = f"  @{agent.name}  [{agent.scope}] {summary}{flag}"
        console.print(line, highlight=False, markup=False)
    if not found.agents:
        console.print("  no agents found (create one with: memfun agent create NAME -d '...')")
    for skipped in found.skipped:
        console.print(f"  skipped: {skipped.error}", highlight=False, markup=False)
    for waiting in found.inactive:
        line = f"  inactive: @{waiting.agent.name}: {waiting.reason}"
        console.print(line, highlight=False, markup=False)
    console.print("  @NAME MESSAGE runs that agent for one turn", highlight=False, markup=False)


def unknown_agent(config: MemfunConfig, name: str) -> str:
    """The message for an ``@name`` that names no agent, with the close names."""
    found = catalog(config)
    waiting = next((i for i in found.inactive if i.agent.name == name), None)
    if waiting is not None:
        return f"@{name} is inactive: {waiting.reason} — to use it: {waiting.hint}"
    close = difflib.get_close_matches(name, found.names, n=3)
    hint = f" — did you mean {', '.join('@' + c for c in close)}?" if close else ""
    return f"unknown agent @{name}{hint or ' — /agents lists them'}"


async def run_agent_turn(
    config: MemfunConfig,
    request: Mapping[str, Any],
    *,
    ask: AskCallback,
    listener: Callable[[dict[str, Any]], None],
) -> AgentTaskResult:
    """Run the turn's agent (``request["agent"]``) on its task; edits are asked for.

    Args:
        config: The loaded configuration.
        request: The turn request (``agent``, ``task``, ``conversation``, ``yes``).
        ask: Confirms each edit in the chat (not called with ``yes``).
        listener: Receives the agents' trace records (live progress).

    Raises:
        NotFoundError: No agent has that name (any more).
    """
    from memfun_cli.commands.agent_run import may_write, run_team, team_of
    from memfun_cli.commands.tasks import edit_policy

    agents = catalog(config)
    lead = agents.require(str(request["agent"]))
    team = team_of(agents, lead)
    writes = any(may_write(member) for member in team)
    policy = edit_policy(
        edits=writes, yes=bool(request.get("yes")), ask=ask, security=config.security
    )
    conversation = str(request.get("conversation", ""))
    return await run_team(
        config,
        team,
        lead.name,
        str(request["task"]),
        policy,
        listener=listener,
        context={"conversation": conversation} if conversation else None,
    )


def turn_data(result: AgentResult | AgentTaskResult) -> dict[str, Any]:
    """A turn's result as the chat renders and stores it, for either kind of run."""
    from memfun_agent.dispatch import AgentTaskResult

    if isinstance(result, AgentTaskResult):
        from memfun_cli.commands.agent_run import result_data as agent_result_data

        data = agent_result_data(result)
        data["agent"] = result.agent
        return data
    from memfun_cli.commands.tasks import result_data

    return result_data(result)
