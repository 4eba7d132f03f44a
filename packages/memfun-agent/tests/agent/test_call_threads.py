"""Daemon threads for model calls: reused, never held up by a blocked call, safe after fork."""

from __future__ import annotations

import os
import threading

from memfun_agent._call_threads import DaemonThreads

_WAIT = 30.0


def _run(threads: DaemonThreads) -> threading.Thread:
    """Submit a job and return the thread that ran it."""
    ran: list[threading.Thread] = []
    done = threading.Event()

    def job() -> None:
        ran.append(threading.current_thread())
        done.set()

    threads.submit(job)
    assert done.wait(_WAIT)
    return ran[0]


def test_a_finished_thread_runs_the_next_call() -> None:
    threads = DaemonThreads("test-call")
    first = _run(threads)
    assert first.daemon
    assert first.name == "test-call"
    assert _run(threads) is first


def test_a_blocked_call_does_not_hold_up_the_next() -> None:
    threads = DaemonThreads("test-call")
    release, started = threading.Event(), threading.Event()

    def blocked() -> None:
        started.set()
        release.wait(_WAIT)

    threads.submit(blocked)
    assert started.wait(_WAIT)
    try:
        other = _run(threads)
        assert other.is_alive()
    finally:
        release.set()


def test_an_idle_thread_ends_and_a_new_one_starts() -> None:
    threads = DaemonThreads("test-call", idle_seconds=0.01)
    first = _run(threads)
    first.join(_WAIT)
    assert not first.is_alive()
    assert _run(threads) is not first


def test_a_forked_child_runs_calls() -> None:
    threads = DaemonThreads("test-call")
    _run(threads)  # the parent now has a thread waiting for a call; a child has none
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if the call ran
        done = threading.Event()
        threads.submit(done.set)
        os._exit(0 if done.wait(5.0) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
