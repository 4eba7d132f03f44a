"""The application of ``test_metrics.py``'s worker process (loaded by file path).

A task with ``{"fail": true}`` raises; one with ``{"hold": true}`` waits until the state key
``app.release`` exists (so the test can look at a worker holding a lease); any other returns
its payload's ``n`` doubled.
"""

from __future__ import annotations

import asyncio

from memfun_runtime.protocols import JSONValue
from memfun_runtime.worker import Job


async def handle(job: Job) -> JSONValue:
    """Fail, hold or double as the payload says."""
    payload = job.payload
    assert isinstance(payload, dict)
    if payload.get("fail"):
        raise RuntimeError(f"task {job.task_id} fails on purpose")
    # the release comes from the test's process, through the shared state: poll it
    while payload.get("hold") and await job.worker.state.get("app.release") is None:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    n = payload.get("n", 0)
    assert isinstance(n, int)
    return {"doubled": 2 * n}
