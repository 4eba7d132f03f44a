"""Pure argument building for the ``docker`` sandbox (no engine, no SDK import)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from memfun_core.errors import ValidationError
from memfun_runtime.protocols import FileSystemView, NetworkPolicy, SandboxLimits
from memfun_runtime.sandboxes._blocking import refuse_host_list
from memfun_runtime.sandboxes._process import rlimits

__all__ = [
    "CODE_INSIDE",
    "LABEL_HOST",
    "LABEL_PID",
    "LABEL_SANDBOX",
    "LABEL_SESSION",
    "WORKER_INSIDE",
    "WORKSPACE_INSIDE",
    "ContainerRequest",
    "container_spec",
    "repl_command",
    "stdin_command",
]

LABEL_SANDBOX = "memfun.sandbox"
LABEL_SESSION = "memfun.session"
LABEL_PID = "memfun.owner.pid"
LABEL_HOST = "memfun.owner.host"
WORKSPACE_INSIDE = "/workspace"
WORKER_INSIDE = "/memfun/worker"
CODE_INSIDE = "/memfun/code"
_TMP_INSIDE = "/tmp"  # noqa: S108 - a private tmpfs inside the container
_TMPFS_OPTIONS = "rw,nosuid,nodev,size={mb}m"
_NANO = 1_000_000_000


@dataclass(frozen=True, slots=True)
class ContainerRequest:
    """Everything one container is made from, host-side paths already resolved.

    Attributes:
        image: Image reference (must hold ``python`` for REPL sessions and ``/bin/sh``).
        command: The container's main process.
        session_id: Unique id, written to a label.
        owner_pid: Pid of the host process that owns the container (for the reaper).
        owner_host: Host name of the owner (the reaper only judges its own host's pids).
        user: ``uid:gid`` the code runs as.
        cpus: CPU share (``1.0`` = one core).
        tmp_mb: Size of the tmpfs at ``/tmp``.
        workspace: Host folder bound at ``/workspace`` (already the scratch copy if asked).
        worker_dir: Host folder of the REPL worker, bound read-only.
        code_dir: Host folder holding a one-shot program, bound read-only.
        interactive: Keep stdin open (REPL sessions and one-shot stdin).
    """

    image: str
    command: tuple[str, ...]
    session_id: str
    owner_pid: int
    owner_host: str
    user: str
    cpus: float = 1.0
    tmp_mb: int = 64
    workspace: str | None = None
    worker_dir: str | None = None
    code_dir: str | None = None
    interactive: bool = False


def _volumes(request: ContainerRequest, files: FileSystemView) -> dict[str, dict[str, str]]:
    volumes: dict[str, dict[str, str]] = {}

    def bind(host: str, inside: str, writable: bool) -> None:
        if not inside.startswith("/"):
            raise ValidationError(
                f"mount target {inside!r} is not absolute",
                field="files.mounts",
                rule="absolute path inside the container",
            )
        if host in volumes:
            raise ValidationError(
                f"host path {host!r} is mounted twice",
                field="files.mounts",
                rule="each host path once (the Docker API keys binds by host path)",
            )
        volumes[host] = {"bind": inside, "mode": "rw" if writable else "ro"}

    if request.workspace is not None:
        bind(request.workspace, WORKSPACE_INSIDE, files.workspace_writable or files.scratch_copy)
    if request.worker_dir is not None:
        bind(request.worker_dir, WORKER_INSIDE, False)
    if request.code_dir is not None:
        bind(request.code_dir, CODE_INSIDE, False)
    for mount in files.mounts:
        bind(mount.host_path, mount.sandbox_path, mount.writable)
    return volumes


def _network_mode(network: NetworkPolicy) -> str:
    refuse_host_list(network, "docker")
    return "bridge" if network.allow else "none"


def container_spec(
    request: ContainerRequest,
    *,
    limits: SandboxLimits,
    files: FileSystemView,
    network: NetworkPolicy,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``docker.DockerClient.containers.create`` (a pure function).

    The container gets no network unless ``network.allow``; memory (without swap), CPU,
    pids, CPU-time, file-size and core-dump limits; a read-only root with a private
    ``/tmp`` tmpfs; every capability dropped and ``no-new-privileges``; only ``env`` as
    its environment on top of the image's own ``ENV`` (``HOME`` and ``TMPDIR`` point at
    ``/tmp``); and the labels the reaper uses.
    """
    variables = {"HOME": _TMP_INSIDE, "TMPDIR": _TMP_INSIDE, **dict(env or {})}
    spec: dict[str, Any] = {
        "image": request.image,
        "command": list(request.command),
        "detach": True,
        "stdin_open": request.interactive,
        "tty": False,
        "user": request.user,
        "environment": variables,
        "working_dir": WORKSPACE_INSIDE if request.workspace is not None else _TMP_INSIDE,
        "network_mode": _network_mode(network),
        "read_only": True,
        "tmpfs": {_TMP_INSIDE: _TMPFS_OPTIONS.format(mb=request.tmp_mb)},
        "volumes": _volumes(request, files),
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "init": True,
        "ipc_mode": "private",
        "nano_cpus": int(request.cpus * _NANO),
        "ulimits": [
            {"name": name.lower(), "soft": value, "hard": value}
            for name, value in rlimits(limits).items()
        ],
        "labels": {
            LABEL_SANDBOX: "1",
            LABEL_SESSION: request.session_id,
            LABEL_PID: str(request.owner_pid),
            LABEL_HOST: request.owner_host,
        },
    }
    if limits.memory_mb is not None:
        spec["mem_limit"] = f"{limits.memory_mb}m"
        spec["memswap_limit"] = f"{limits.memory_mb}m"
    if limits.max_processes is not None:
        spec["pids_limit"] = limits.max_processes
    return spec


def repl_command(python: str, max_output_bytes: int) -> tuple[str, ...]:
    """The container command of a REPL session: the shared worker script, isolated mode."""
    config = json.dumps({"max_output_bytes": max_output_bytes})
    return (python, "-I", f"{WORKER_INSIDE}/repl_worker.py", config)


def stdin_command(argv: Sequence[str], stdin_file: str | None) -> tuple[str, ...]:
    """``argv`` as given, or wrapped to read ``stdin_file`` (inside path) as its stdin.

    The wrapper passes ``argv`` as positional parameters, so nothing in it is parsed by
    the shell.
    """
    if not argv:
        raise ValidationError("empty command", field="argv", rule="at least one item")
    if stdin_file is None:
        return tuple(argv)
    return ("/bin/sh", "-c", 'exec "$@" < "$0"', stdin_file, *argv)
