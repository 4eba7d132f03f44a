"""What runs in the child between fork and exec: rlimits and joining the cgroups."""

from __future__ import annotations

import math
import os
import resource
from collections.abc import Callable

from memfun_runtime.protocols import SandboxLimits

__all__ = ["make_preexec"]

_MB = 1024 * 1024


def _rlimits(limits: SandboxLimits, *, cap_processes: bool) -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = [(resource.RLIMIT_CORE, 0)]
    if limits.cpu_seconds is not None:
        pairs.append((resource.RLIMIT_CPU, max(1, math.ceil(limits.cpu_seconds))))
    if limits.memory_mb is not None:
        pairs.append((resource.RLIMIT_AS, limits.memory_mb * _MB))
    if limits.max_file_mb is not None:
        pairs.append((resource.RLIMIT_FSIZE, limits.max_file_mb * _MB))
    if cap_processes and limits.max_processes is not None:
        # Per real uid, so only a fallback for when no pids cgroup could be made.
        pairs.append((resource.RLIMIT_NPROC, limits.max_processes))
    return pairs


def make_preexec(
    limits: SandboxLimits, *, cgroup_procs: tuple[str, ...], cap_processes: bool
) -> Callable[[], None]:
    """Build the function the child runs before exec (no allocation-heavy work inside).

    Args:
        limits: The run's limits.
        cgroup_procs: ``cgroup.procs`` files to join.
        cap_processes: Also set ``RLIMIT_NPROC`` (when no pids cgroup limits the run).
    """
    pairs = _rlimits(limits, cap_processes=cap_processes)
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
            # The CPU hard limit sits one second above the soft one: SIGXCPU first, then SIGKILL.
            hard = value + 1 if which == cpu else value
            resource.setrlimit(which, (value, hard))

    return preexec
