"""Every task and chat turn is a checkpoint: run the agent with a recorder, store the result.

``memfun undo`` and chat's ``/undo`` restore them (see ``memfun_agent.tools.CheckpointStore``).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from memfun_core.config import MemfunConfig

if TYPE_CHECKING:
    from memfun_agent import AgentResult
    from memfun_agent.tools import CheckpointStore

__all__ = ["checkpoint_store", "run_checkpointed"]


def checkpoint_store(config: MemfunConfig) -> CheckpointStore:
    """The project's checkpoints (``<data_dir>/checkpoints``)."""
    from memfun_agent.tools import CheckpointStore
    from memfun_cli._compose import data_dir

    return CheckpointStore(data_dir(config) / "checkpoints")


async def run_checkpointed(
    config: MemfunConfig, task: str, run: Callable[[], Awaitable[AgentResult]]
) -> AgentResult:
    """Await ``run()`` (an agent run) and store the files it changed as a checkpoint.

    A run that raises still stores what it changed, under a fresh id, so it can be undone.
    """
    from memfun_agent.tools import recording

    with recording(Path(config.project_root)) as recorder:
        try:
            result = await run()
        except BaseException:
            checkpoint_store(config).save(recorder.finish(f"failed-{uuid.uuid4().hex}", task))
            raise
    checkpoint_store(config).save(recorder.finish(result.run_id, task))
    return result
