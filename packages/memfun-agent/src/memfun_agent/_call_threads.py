"""Daemon threads for calls that may be abandoned (model calls), reused from call to call.

A model call runs in a daemon thread so that the run can stop waiting for it (a budget, an
interrupt) while the call itself cannot be stopped. Starting a new thread for every call
cost the agent 0.3-0.7 ms per REPL step on the 2-core CI machine (``benchmarks/
rlm_overhead.py``; DSPy and its model client also set up per-thread state again in each new
thread). :class:`DaemonThreads` keeps finished threads waiting for the next call, ends a
thread that waited ``idle_seconds`` for one, and starts a new thread when none is free (a
thread still blocked in an abandoned call is not free).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable

__all__ = ["DaemonThreads"]


class DaemonThreads:
    """Run each submitted job in a free daemon thread, starting one when none is free.

    Args:
        name: The threads' name.
        idle_seconds: How long a thread waits for a job before it ends.
    """

    def __init__(self, name: str, *, idle_seconds: float = 30.0) -> None:
        self._name = name
        self._idle_seconds = idle_seconds
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # a child has none of the threads

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._free = 0  # threads waiting for a job, less the jobs already promised to them

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job()`` in a daemon thread; it must not raise (it reports its own errors)."""
        with self._lock:
            start = self._free == 0
            if not start:
                self._free -= 1
        self._jobs.put(job)
        if start:
            threading.Thread(target=self._serve, name=self._name, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=self._idle_seconds)
            except queue.Empty:
                with self._lock:
                    if self._free > 0:  # no job is promised to a waiting thread: end this one
                        self._free -= 1
                        return
                continue  # a job was promised to a waiting thread and is on its way
            job()
            with self._lock:
                self._free += 1
