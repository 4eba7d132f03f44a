"""Agent workers: run the definitions of a folder as runtime agents until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from memfun_agent._audit import run_audit
from memfun_agent.definitions import AgentDefinition, AgentRoot, discover_agents
from memfun_agent.dispatch._configured import setup_from_config
from memfun_agent.dispatch._defined import AgentSetup, defined_agent
from memfun_agent.dispatch._records import DEFAULT_MAX_DEPTH
from memfun_core.config import MemfunConfig
from memfun_core.errors import ValidationError

__all__ = ["agent_worker_parser", "load_agents", "run_agent_worker", "serve_agents"]

log = logging.getLogger("memfun_agent.worker")


def agent_worker_parser() -> argparse.ArgumentParser:
    """The options of ``memfun runtime worker --agents DIR``."""
    p = argparse.ArgumentParser(
        prog="memfun runtime worker --agents DIR",
        description="Run the agent definitions of DIR as runtime agents on the configured tier "
        "([runtime] of memfun.toml): each leases the tasks addressed to its name (queue "
        "agents.<name>) and runs them with the configured model, tools and sandbox. A task "
        "whose worker dies is leased again by another worker after the visibility timeout.",
    )
    p.add_argument("--agents", type=Path, required=True, help="a folder of agent definitions")
    p.add_argument(
        "--agent", action="append", default=None, help="serve only this agent (repeatable)"
    )
    p.add_argument("--concurrency", type=int, default=1, help="tasks each agent runs at once")
    p.add_argument(
        "--visibility-timeout",
        type=float,
        default=30.0,
        help="lease seconds, extended while a task runs (default 30)",
    )
    p.add_argument(
        "--max-depth",
        type=int,
        default=None,
        help="delegation levels below a top-level task (default: [agents] "
        f"max_delegation_depth, {DEFAULT_MAX_DEPTH} unless set)",
    )
    p.add_argument(
        "--delegate-timeout",
        type=float,
        default=None,
        help="seconds a run waits for a child (default: [agents] delegation_timeout_seconds, "
        "no limit unless set)",
    )
    return p


def load_agents(
    folder: Path, config: MemfunConfig, names: Iterable[str] | None = None
) -> list[AgentDefinition]:
    """The definitions in ``folder`` (only ``names`` when given), files that fail logged.

    Raises:
        ValidationError: The folder holds no usable definition.
        NotFoundError: A named agent is not in the folder.
    """
    catalog = discover_agents(roots=[AgentRoot(folder.resolve(), "project")], config=config)
    for line in catalog.diagnostics:
        log.warning("%s", line)
    chosen = list(catalog.all()) if names is None else [catalog.require(n) for n in names]
    if not chosen:
        raise ValidationError(
            f"{folder} holds no usable agent definition",
            field="--agents",
            rule="a folder with NAME.md or NAME/AGENT.md files",
            hint="see `memfun agent validate` for why a file does not load",
        )
    return chosen


async def serve_agents(
    config: MemfunConfig,
    definitions: Sequence[AgentDefinition],
    setup: AgentSetup,
    *,
    concurrency: int = 1,
    visibility_timeout: float = 30.0,
) -> None:
    """Run ``definitions`` on the configured runtime until SIGTERM or SIGINT."""
    from memfun_runtime import RuntimeBuilder

    builder = RuntimeBuilder().from_config(config)
    for definition in definitions:
        builder.agent(
            defined_agent(
                definition,
                setup,
                concurrency=concurrency,
                visibility_timeout=visibility_timeout,
            )
        )
    runtime = builder.build()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with runtime:
        log.info(
            "agent worker pid %d on %s serving %s on tier %s",
            os.getpid(),
            socket.gethostname(),
            ", ".join(d.name for d in definitions),
            runtime.tier,
        )
        await stop.wait()
        log.info("stopping: finishing in-flight tasks")


def run_agent_worker(
    config: MemfunConfig,
    argv: Sequence[str],
    *,
    extend: Callable[[AgentSetup], AgentSetup] | None = None,
) -> int:
    """``memfun runtime worker --agents DIR ...``: parse, load, serve; the exit status.

    ``extend`` adds to the configured setup (the CLI's memory recall and learning).
    """
    args = agent_worker_parser().parse_args(list(argv))
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    definitions = load_agents(args.agents, config, args.agent)
    setup = setup_from_config(
        config,
        max_depth=args.max_depth,
        delegate_timeout=args.delegate_timeout,
        audit=run_audit(config),
    )
    if extend is not None:
        setup = extend(setup)
    asyncio.run(
        serve_agents(
            config,
            definitions,
            setup,
            concurrency=args.concurrency,
            visibility_timeout=args.visibility_timeout,
        )
    )
    return 0
