"""A worker process running the test agents (DefinedAgents on scripted models) on one tier.

``python agent_worker.py TIER NAMESPACE WORKSPACE FOLDER [--stall]``; runs until SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from _agents import agent_classes, backend_for  # pyright: ignore[reportMissingImports]

from memfun_runtime import RuntimeBuilder


async def main(argv: list[str]) -> None:
    tier, namespace, workspace, folder = argv[:4]
    builder = RuntimeBuilder().backend(backend_for(tier, namespace, Path(folder)))
    for cls in agent_classes(
        Path(workspace), Path(folder), stall="--stall" in argv, visibility_timeout=2.0
    ):
        builder = builder.agent(cls)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with builder.build():
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
