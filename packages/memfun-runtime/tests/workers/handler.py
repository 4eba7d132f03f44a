"""The application run by the worker processes of ``test_workers.py`` (loaded by file path).

It squares numbers. Its one side effect, ``app.effect.<task id>``, is written with
compare-and-set keyed by the task id, so it is observed once however often the task runs;
``app.runs.<task id>`` counts the runs (at-least-once delivery shows there). A worker started
with ``MEMFUN_TEST_STALL=1`` stalls inside every task, so the test can kill it mid-task.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

from memfun_core.errors import ConflictError
from memfun_runtime.protocols import JSONValue
from memfun_runtime.worker import Job


async def handle(job: Job) -> JSONValue:
    """Square ``payload["n"]`` after a short pause; record the effect once."""
    state = job.worker.state
    pid = os.getpid()
    await state.set(f"app.current.{pid}", job.task_id)
    await state.increment(f"app.runs.{job.task_id}")
    stall = os.environ.get("MEMFUN_TEST_STALL") == "1"
    await asyncio.sleep(3600 if stall else 0.05)
    n = int(job.payload["n"])
    result = {"n": n, "square": n * n, "by": pid}
    with contextlib.suppress(ConflictError):  # an earlier run of this task already did it
        await state.compare_and_set(f"app.effect.{job.task_id}", result, expected_version=None)
    return result
