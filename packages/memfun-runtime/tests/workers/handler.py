"""The application run by the worker processes of ``test_workers.py`` (loaded by file path).

It squares numbers. Its one side effect, ``app.effect.<task id>``, is written with
compare-and-set keyed by the task id, so it is observed once however often the task runs, and
a later run returns the recorded effect (an idempotent handler: whichever run's result the
worker records, it is the effect the application saw). ``app.runs.<task id>`` counts the runs
(at-least-once delivery shows there). A worker started with ``MEMFUN_TEST_STALL=1`` stalls
inside every task, so the test can kill it mid-task.

``app.current.<pid>`` names the task a worker process is running. It is written *after* the
run was counted, so when the test sees it, the killed worker's run is already in
``app.runs`` (the test SIGKILLs the worker as soon as it sees the key).
"""

from __future__ import annotations

import asyncio
import os

from memfun_core.errors import ConflictError
from memfun_runtime.protocols import JSONValue
from memfun_runtime.worker import Job


async def handle(job: Job) -> JSONValue:
    """Square ``payload["n"]`` after a short pause; record the effect once."""
    state = job.worker.state
    pid = os.getpid()
    await state.increment(f"app.runs.{job.task_id}")
    await state.set(f"app.current.{pid}", job.task_id)
    stall = os.environ.get("MEMFUN_TEST_STALL") == "1"
    await asyncio.sleep(3600 if stall else 0.05)
    n = int(job.payload["n"])
    result = {"n": n, "square": n * n, "by": pid}
    key = f"app.effect.{job.task_id}"
    try:
        await state.compare_and_set(key, result, expected_version=None)
    except ConflictError:  # an earlier run of this task already did it: report that effect
        earlier = await state.get(key)
        if earlier is not None:
            return earlier.value
    return result
