"""Starting a sandboxed process and ending its whole tree, whatever it did."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import resource
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import astuple, dataclass

from memfun_runtime.protocols import SandboxLimits, SandboxResult
from memfun_runtime.sandboxes._output import CappedReader

__all__ = [
    "ProcessOutcome",
    "end_process",
    "kill_tree",
    "killed_reason",
    "make_preexec",
    "rlimits",
    "run_to_end",
    "sandbox_result",
    "signal_of",
    "spawn",
]

_log = logging.getLogger("memfun.sandbox")
_READER_GRACE = 5.0
_SHELL_SIGNAL_BASE = 128
_MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ProcessOutcome:
    """Raw result of one process run, before an adapter interprets it.

    The fields after ``returncode`` are :class:`SandboxResult`'s, in its order.
    """

    returncode: int
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    duration: float
    timed_out: bool


def rlimits(
    limits: SandboxLimits, *, memory: bool = False, processes: bool = False
) -> dict[str, int]:
    """The ``RLIMIT_<NAME>`` values of a run: no core files, CPU seconds and file size.

    Args:
        limits: The run's limits.
        memory: Also limit the address space (``AS``) to ``memory_mb``.
        processes: Also limit the user's processes (``NPROC``, counted per real uid) to
            ``max_processes``.
    """
    values = {"CORE": 0}
    if limits.cpu_seconds is not None:
        values["CPU"] = max(1, math.ceil(limits.cpu_seconds))
    if memory and limits.memory_mb is not None:
        values["AS"] = limits.memory_mb * _MB
    if limits.max_file_mb is not None:
        values["FSIZE"] = limits.max_file_mb * _MB
    if processes and limits.max_processes is not None:
        values["NPROC"] = limits.max_processes
    return values


def make_preexec(values: Mapping[str, int], cgroup_procs: Sequence[str] = ()) -> Callable[[], None]:
    """What the child runs between fork and exec: join the cgroups, then set the rlimits.

    Args:
        values: The :func:`rlimits` to set (soft and hard; the CPU hard limit one second
            above the soft one: SIGXCPU first, then SIGKILL).
        cgroup_procs: ``cgroup.procs`` files to join.
    """
    pairs = [(int(getattr(resource, f"RLIMIT_{name}")), value) for name, value in values.items()]
    cpu = resource.RLIMIT_CPU

    def preexec() -> None:
        pid = str(os.getpid()).encode()
        for path in cgroup_procs:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)
        for which, value in pairs:
            resource.setrlimit(which, (value, value + 1 if which == cpu else value))

    return preexec


def spawn(
    argv: Sequence[str],
    *,
    preexec: Callable[[], None] | None,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    pass_fds: Sequence[int] = (),
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session with piped stdio and (by default) an empty environment.

    ``pass_fds`` stay open in the child (e.g. bubblewrap's ``--seccomp`` program).
    """
    return subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env if env is not None else {},
        cwd=cwd,
        start_new_session=True,
        preexec_fn=preexec,  # noqa: PLW1509 - sets rlimits and joins cgroups; nothing else
        close_fds=True,
        pass_fds=tuple(pass_fds),
    )


def _wait_exit(process: subprocess.Popen[bytes], timeout: float | None) -> bool:
    """Wait until the process exits WITHOUT reaping it; return False on timeout."""
    fd = os.pidfd_open(process.pid)
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    return bool(readable)


def kill_tree(process: subprocess.Popen[bytes], extra: Callable[[], None] | None = None) -> None:
    """SIGKILL the process's whole group (and ``extra``, e.g. a cgroup), then reap it.

    The group is killed before the leader is reaped, so its id cannot have been reused.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if extra is not None:
        extra()
    with contextlib.suppress(ChildProcessError):
        os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if extra is not None:
        extra()
    process.wait()


def _feed(process: subprocess.Popen[bytes], data: bytes | None) -> None:
    stdin = process.stdin
    if stdin is None:
        return
    with contextlib.suppress(BrokenPipeError, OSError, ValueError):
        if data:
            stdin.write(data)
        stdin.close()


def run_to_end(
    process: subprocess.Popen[bytes],
    *,
    stdin: bytes | None,
    wall_seconds: float | None,
    max_output_bytes: int,
    kill_extra: Callable[[], None] | None = None,
) -> ProcessOutcome:
    """Feed stdin, read capped output, enforce the wall clock and end the whole tree."""
    started = time.monotonic()
    assert process.stdout is not None
    assert process.stderr is not None
    out = CappedReader(process.stdout, max_output_bytes)
    err = CappedReader(process.stderr, max_output_bytes)
    threading.Thread(target=_feed, args=(process, stdin), daemon=True).start()
    exited = _wait_exit(process, wall_seconds)
    kill_tree(process, kill_extra)
    duration = time.monotonic() - started
    stdout, stdout_cut = out.result(_READER_GRACE)
    stderr, stderr_cut = err.result(_READER_GRACE)
    for stream in (process.stdout, process.stderr):
        stream.close()
    return ProcessOutcome(
        returncode=process.returncode,
        stdout=stdout,
        stderr=stderr,
        stdout_truncated=stdout_cut,
        stderr_truncated=stderr_cut,
        duration=duration,
        timed_out=not exited,
    )


def signal_of(returncode: int, *, shell_style: bool) -> int | None:
    """The signal that ended a process, from its return code.

    Args:
        returncode: ``Popen.returncode`` (negative when the process itself was signalled).
        shell_style: Also read ``128 + n`` as signal ``n`` (bubblewrap reports its child
            that way).
    """
    if returncode < 0:
        return -returncode
    if shell_style and _SHELL_SIGNAL_BASE < returncode < _SHELL_SIGNAL_BASE + signal.NSIG:
        return returncode - _SHELL_SIGNAL_BASE
    return None


def killed_reason(timed_out: bool, oom: bool, sig: int | None) -> str | None:
    """Which limit ended a run: ``wall``, ``memory``, ``cpu``, ``file_size`` or none."""
    if timed_out:
        return "wall"
    if oom:
        return "memory"
    if sig == signal.SIGXCPU:
        return "cpu"
    if sig == signal.SIGXFSZ:
        return "file_size"
    return None


def sandbox_result(
    outcome: ProcessOutcome, *, shell_style: bool, oom: bool = False
) -> SandboxResult:
    """The result of a run: a signal as a negative exit code, and the limit that ended it.

    Args:
        outcome: What the run produced.
        shell_style: Also read an exit code ``128 + n`` as signal ``n`` (see :func:`signal_of`).
        oom: The memory limit killed it.
    """
    sig = signal_of(outcome.returncode, shell_style=shell_style)
    _, *shared = astuple(outcome)  # the fields after the exit code, in SandboxResult's order
    code = outcome.returncode if sig is None else -sig
    return SandboxResult(code, *shared, killed_reason=killed_reason(outcome.timed_out, oom, sig))


def end_process(
    process: subprocess.Popen[bytes],
    errors: CappedReader,
    *,
    what: str,
    kill_extra: Callable[[], None] | None = None,
) -> str:
    """Kill a REPL worker's tree, close its pipes and log what it wrote to stderr; return that."""
    kill_tree(process, kill_extra)
    text, _ = errors.result(1.0)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):
                stream.close()
    if text.strip():
        _log.warning("%s wrote to stderr: %s", what, text[-2000:])
    return text
