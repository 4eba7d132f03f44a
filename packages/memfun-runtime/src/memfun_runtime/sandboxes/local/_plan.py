"""One run's layout: file-system view, environment, cgroup, and the final argv per mode."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from memfun_core.errors import ValidationError
from memfun_runtime.protocols import FileSystemView, NetworkPolicy, SandboxLimits
from memfun_runtime.sandboxes._blocking import refuse_host_list, workspace_folder
from memfun_runtime.sandboxes._process import make_preexec, rlimits
from memfun_runtime.sandboxes._worker import WORKER_DIR, worker_script
from memfun_runtime.sandboxes.local._bwrap import BwrapSpec, bwrap_argv
from memfun_runtime.sandboxes.local._cgroup import CgroupLimiter

__all__ = ["Mode", "RunPlan", "default_python", "plan_run"]

Mode = Literal["namespaces", "landlock", "host"]

_WORKSPACE = "/workspace"
_WORKER_INSIDE = "/memfun/worker"
_CODE_INSIDE = "/memfun/code"
_LAUNCHER_PYTHON = "/usr/bin/python3"
_READABLE_ROOTS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
_READABLE_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime")
_DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random", "/dev/full")


def default_python() -> str:
    """The interpreter used inside: Debian's ``/usr/bin/python3``, else this one's real path."""
    if Path(_LAUNCHER_PYTHON).exists():
        return _LAUNCHER_PYTHON
    return str(Path(sys.executable).resolve())


def _python_root(python: str) -> str | None:
    """A folder to bind read-only so that ``python`` runs, or ``None`` if /usr covers it."""
    real = Path(python).resolve()
    if real.is_relative_to("/usr"):
        return None
    return str(real.parent.parent)


@dataclass(slots=True)
class RunPlan:
    """The layout of one run (or one REPL session) and what to clean up after it."""

    mode: Mode
    limits: SandboxLimits
    network: NetworkPolicy
    env: dict[str, str]
    python: str
    bwrap: str | None
    workspace: str | None
    workspace_writable: bool
    mounts: list[tuple[str, str, bool]]
    tmp: str
    cgroup: CgroupLimiter | None
    temp_dirs: list[str] = field(default_factory=list[str])

    @property
    def inside_workspace(self) -> str | None:
        """The workspace path as the sandboxed process sees it."""
        if self.workspace is None:
            return None
        return _WORKSPACE if self.mode == "namespaces" else self.workspace

    def worker_path(self, name: str) -> str:
        """Where an in-sandbox script is, as the sandboxed process sees it."""
        if self.mode == "namespaces":
            return f"{_WORKER_INSIDE}/{name}"
        return str(worker_script(name))

    def code_file(self, code: str, suffix: str) -> str:
        """Write ``code`` to a read-only file visible inside; return its inside path."""
        folder = tempfile.mkdtemp(prefix="memfun-code-")
        self.temp_dirs.append(folder)
        (Path(folder) / f"main{suffix}").write_text(code)
        inside = _CODE_INSIDE if self.mode == "namespaces" else folder
        self.mounts.append((folder, inside, False))
        return f"{inside}/main{suffix}"

    def preexec(self) -> Callable[[], None]:
        """The function the child runs before exec."""
        procs = self.cgroup.procs_files() if self.cgroup is not None else ()
        # RLIMIT_NPROC counts per real uid: only a fallback for when no pids cgroup limits the run.
        capped = self.cgroup is not None and self.cgroup.pids is not None
        return make_preexec(rlimits(self.limits, memory=True, processes=not capped), procs)

    def argv(self, command: Sequence[str], cwd: str | None) -> list[str]:
        """The full argv that runs ``command`` in this plan's mode."""
        where = cwd or self.inside_workspace or ("/tmp" if self.mode == "namespaces" else self.tmp)  # noqa: S108
        if self.mode == "namespaces":
            return self._bwrap(command, where)
        if self.mode == "landlock":
            return self._landlock(command, where)
        return list(command)

    def _bwrap(self, command: Sequence[str], cwd: str) -> list[str]:
        assert self.bwrap is not None
        ro: list[tuple[str, str]] = [(str(WORKER_DIR), _WORKER_INSIDE)]
        root = _python_root(self.python)
        if root is not None:
            ro.append((root, root))
        rw: list[tuple[str, str]] = []
        if self.workspace is not None:
            (rw if self.workspace_writable else ro).append((self.workspace, _WORKSPACE))
        for host, inside, writable in self.mounts:
            (rw if writable else ro).append((host, inside))
        spec = BwrapSpec(
            bwrap=self.bwrap,
            ro_binds=tuple(ro),
            rw_binds=tuple(rw),
            network=self.network.allow,
            env={**self.env, "HOME": "/tmp", "TMPDIR": "/tmp"},  # noqa: S108 - the sandbox's own tmpfs
            cwd=cwd,
        )
        return bwrap_argv(spec, command)

    def _landlock(self, command: Sequence[str], cwd: str) -> list[str]:
        read = [*_READABLE_ROOTS, *(f"/etc/{name}" for name in _READABLE_ETC), str(WORKER_DIR)]
        root = _python_root(self.python)
        if root is not None:
            read.append(root)
        write = [self.tmp]
        if self.workspace is not None:
            (write if self.workspace_writable else read).append(self.workspace)
        for host, _inside, writable in self.mounts:
            (write if writable else read).append(host)
        config = {
            "argv": list(command),
            "env": {**self.env, "HOME": self.tmp, "TMPDIR": self.tmp},
            "cwd": cwd,
            "read": read,
            "write": write,
            "devices": list(_DEVICES),
            "network": self.network.allow,
        }
        launcher = str(worker_script("weak_launcher.py"))
        return [_LAUNCHER_PYTHON, "-I", "-S", launcher, json.dumps(config)]

    def cleanup(self) -> None:
        """Kill what is left in the cgroups, delete them and the temporary folders."""
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        for folder in self.temp_dirs:
            shutil.rmtree(folder, ignore_errors=True)
        self.temp_dirs.clear()


def _base_env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(extra or {})
    return env


def _check_mounts(mode: Mode, files: FileSystemView) -> None:
    for mount in files.mounts:
        if not Path(mount.host_path).exists():
            raise ValidationError(
                f"{mount.host_path!r} does not exist", field="files.mounts", rule="existing path"
            )
        if mode != "namespaces" and mount.sandbox_path != mount.host_path:
            raise ValidationError(
                "without namespaces a mount cannot appear at another path",
                field="files.mounts",
                rule="sandbox_path == host_path in the weaker mode",
                hint="use the same path inside, or make namespaces work (see docs/sandbox.md)",
            )


def plan_run(
    *,
    mode: Mode,
    bwrap: str | None,
    python: str,
    limits: SandboxLimits,
    files: FileSystemView,
    network: NetworkPolicy,
    env: Mapping[str, str] | None,
) -> RunPlan:
    """Lay out one run: scratch copy, private tmp, cgroup, environment."""
    refuse_host_list(network, "local")
    _check_mounts(mode, files)
    temp_dirs: list[str] = []
    try:
        workspace = workspace_folder(files, temp_dirs)
        tmp = "/tmp"  # noqa: S108 - in namespaces mode, the sandbox's own tmpfs
        if mode != "namespaces":
            tmp = tempfile.mkdtemp(prefix="memfun-tmp-")
            temp_dirs.append(tmp)
    except BaseException:
        for folder in temp_dirs:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    cgroup = CgroupLimiter.create(memory_mb=limits.memory_mb, max_processes=limits.max_processes)
    return RunPlan(
        mode=mode,
        limits=limits,
        network=network,
        env=_base_env(env),
        python=python,
        bwrap=bwrap,
        workspace=workspace,
        workspace_writable=files.workspace_writable,
        mounts=[(m.host_path, m.sandbox_path, m.writable) for m in files.mounts],
        tmp=tmp,
        cgroup=cgroup,
        temp_dirs=temp_dirs,
    )
