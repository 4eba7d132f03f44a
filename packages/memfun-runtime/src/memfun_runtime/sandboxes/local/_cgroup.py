"""Per-run cgroup v1 memory and pids limits, where the hierarchy is writable."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CgroupLimiter"]

_ROOT = Path("/sys/fs/cgroup")
_MB = 1024 * 1024
_CGROUP_FIELDS = 3  # id:controllers:path


def _own_path(controller: str) -> str | None:
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == _CGROUP_FIELDS and controller in parts[1].split(","):
            return parts[2]
    return None


def _make(controller: str, name: str, limit_file: str, value: int | None) -> Path | None:
    """A new cgroup ``name`` with ``limit_file`` set to ``value``; ``None`` if it cannot be."""
    relative = _own_path(controller)
    if not value or relative is None:
        return None
    target = _ROOT / controller / relative.lstrip("/") / name
    try:
        target.mkdir()
    except OSError:
        return None
    if not _write(target / limit_file, str(value)):
        target.rmdir()
        return None
    return target


def _write(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
    except OSError:
        return False
    return True


@dataclass(slots=True)
class CgroupLimiter:
    """A memory and/or pids cgroup (v1) holding the processes of one run or session."""

    memory: Path | None
    pids: Path | None

    @classmethod
    def create(cls, *, memory_mb: int | None, max_processes: int | None) -> CgroupLimiter | None:
        """Create the cgroups and set their limits; ``None`` when none could be made."""
        name = f"memfun-sandbox-{uuid.uuid4().hex[:12]}"
        limit = memory_mb * _MB if memory_mb else None
        memory = _make("memory", name, "memory.limit_in_bytes", limit)
        if memory is not None:
            _write(memory / "memory.memsw.limit_in_bytes", str(limit))
        pids = _make("pids", name, "pids.max", max_processes)
        if memory is None and pids is None:
            return None
        return cls(memory=memory, pids=pids)

    def procs_files(self) -> tuple[str, ...]:
        """The ``cgroup.procs`` files a new process must write its pid to."""
        return tuple(str(p / "cgroup.procs") for p in (self.memory, self.pids) if p is not None)

    def _members(self) -> set[int]:
        members: set[int] = set()
        for group in (self.memory, self.pids):
            if group is None:
                continue
            with contextlib.suppress(OSError, ValueError):
                members.update(int(x) for x in (group / "cgroup.procs").read_text().split())
        return members

    def kill_all(self) -> None:
        """SIGKILL every process in the cgroups until none is left (bounded retries)."""
        for _ in range(50):
            members = self._members()
            if not members:
                return
            for pid in members:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def oom_killed(self) -> bool:
        """Whether the memory limit made the kernel kill a process of the group."""
        if self.memory is None:
            return False
        with contextlib.suppress(OSError):
            for line in (self.memory / "memory.oom_control").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and value.strip() not in ("", "0"):
                    return True
        return False

    def remove(self) -> None:
        """Kill what is left and delete the cgroups."""
        self.kill_all()
        for group in (self.memory, self.pids):
            if group is not None:
                for _ in range(100):
                    try:
                        group.rmdir()
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        self.kill_all()
                        time.sleep(0.01)
