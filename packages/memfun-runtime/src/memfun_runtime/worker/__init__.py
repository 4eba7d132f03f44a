"""Distributed task workers: ``python -m memfun_runtime.worker --tier redis --capability X``.

Each worker process runs a :class:`TaskWorker` agent that leases tasks from shared queues
(``tasks.<capability>`` by default) and runs a handler on each. Start as many processes as
you like, on one machine or several, on a shared tier (sqlite on one machine; redis or nats
across machines). ``--metrics-port`` serves Prometheus metrics and health
(:class:`WorkerMetrics`, :func:`serve_metrics`).

Example:
    >>> from memfun_runtime.worker import Job
    >>> async def handle(job: Job) -> dict[str, int]:
    ...     return {"doubled": job.payload["n"] * 2}
"""

from __future__ import annotations

from memfun_runtime.worker._agent import (
    Handler,
    Job,
    Outcome,
    TaskWorker,
    WorkerObserver,
    done_key,
    task_worker,
)
from memfun_runtime.worker._cli import main
from memfun_runtime.worker._metrics import WorkerMetrics, serve_metrics

__all__ = [
    "Handler",
    "Job",
    "Outcome",
    "TaskWorker",
    "WorkerMetrics",
    "WorkerObserver",
    "done_key",
    "main",
    "serve_metrics",
    "task_worker",
]
