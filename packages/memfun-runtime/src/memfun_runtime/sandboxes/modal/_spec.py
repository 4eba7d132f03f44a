"""Pure argument building for the ``modal`` sandbox (no SDK import, no network)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from memfun_core.errors import ConfigError, ValidationError
from memfun_core.secrets import ENV_NAME_PATTERN
from memfun_runtime.protocols import FileSystemView, NetworkPolicy, SandboxLimits
from memfun_runtime.sandboxes._blocking import refuse_host_list
from memfun_runtime.sandboxes._process import rlimits
from memfun_runtime.sandboxes._worker import worker_script

__all__ = [
    "WORKSPACE_INSIDE",
    "ModalCredentials",
    "exec_env",
    "limited_command",
    "local_uploads",
    "read_credentials",
    "sandbox_args",
    "worker_command",
]

WORKSPACE_INSIDE = "/workspace"
_SESSION_GRACE = 60
_DEFAULT_LIFETIME = 3600
_LIMITER = (
    "import os, resource, sys\n"
    "for name, value in {limits}.items():\n"
    "    resource.setrlimit(getattr(resource, 'RLIMIT_' + name), (value, value))\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)


@dataclass(frozen=True, slots=True)
class ModalCredentials:
    """Where the Modal token is read from: environment variable NAMES, never values."""

    token_id_env: str = "MODAL_TOKEN_ID"  # noqa: S105 - a variable name
    token_secret_env: str = "MODAL_TOKEN_SECRET"  # noqa: S105 - a variable name

    def __post_init__(self) -> None:
        for name in (self.token_id_env, self.token_secret_env):
            if not ENV_NAME_PATTERN.match(name):
                raise ValidationError(
                    f"{name!r} is not an environment variable name",
                    field="credentials",
                    rule="a variable NAME such as MODAL_TOKEN_ID (never the token itself)",
                )


def read_credentials(
    credentials: ModalCredentials, environ: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """Return ``(token_id, token_secret)`` from the named variables.

    Raises:
        ConfigError: A variable is unset or empty (names it, and how to get a token).
    """
    env = os.environ if environ is None else environ
    missing = [
        name
        for name in (credentials.token_id_env, credentials.token_secret_env)
        if not env.get(name)
    ]
    if missing:
        raise ConfigError(
            f"the Modal sandbox needs credentials; unset: {', '.join(missing)}",
            source=missing[0],
            expected="a Modal token id and secret",
            hint="create a token with `modal token new` (or in Modal's dashboard) and export "
            f"it as {credentials.token_id_env} / {credentials.token_secret_env}",
        )
    return env[credentials.token_id_env], env[credentials.token_secret_env]


def sandbox_args(
    *,
    limits: SandboxLimits,
    network: NetworkPolicy,
    cpus: float,
    files: FileSystemView,
    session: bool,
) -> dict[str, Any]:
    """Keyword arguments of ``modal.Sandbox.create`` besides app, image and client (pure).

    Memory and CPU are set as request AND hard limit; the network is blocked unless
    allowed; the sandbox's own lifetime is the run's wall limit plus a grace (a REPL
    session: its CPU budget, or an hour, plus the grace), so a lost host cannot leave it
    running for long.
    """
    refuse_host_list(network, "modal")
    if session:
        budget = limits.cpu_seconds or _DEFAULT_LIFETIME
    else:
        budget = limits.wall_seconds or _DEFAULT_LIFETIME
    args: dict[str, Any] = {
        "timeout": math.ceil(budget) + _SESSION_GRACE,
        "block_network": not network.allow,
        "cpu": (cpus, cpus),
        "workdir": WORKSPACE_INSIDE if files.workspace is not None else "/",
    }
    if limits.memory_mb is not None:
        args["memory"] = (limits.memory_mb, limits.memory_mb)
    return args


def local_uploads(files: FileSystemView) -> list[tuple[str, str]]:
    """``(host path, sandbox path)`` pairs copied into the sandbox's image (pure).

    Modal cannot bind host folders: the sandbox gets a copy, and what the code writes
    stays remote. A writable view is therefore refused unless the caller asked for a
    scratch copy.

    Raises:
        ValidationError: A writable workspace or mount without ``scratch_copy``.
    """
    pairs: list[tuple[str, str]] = []
    if files.workspace is not None:
        if files.workspace_writable and not files.scratch_copy:
            raise ValidationError(
                "the modal sandbox cannot write back to a host workspace",
                field="files.workspace_writable",
                rule="workspace_writable=False or scratch_copy=True",
                hint="pass FileSystemView(..., scratch_copy=True) to give the code a "
                "disposable copy, or workspace_writable=False",
            )
        pairs.append((files.workspace, WORKSPACE_INSIDE))
    for mount in files.mounts:
        if mount.writable:
            raise ValidationError(
                f"mount {mount.sandbox_path!r} cannot be writable in the modal sandbox",
                field="files.mounts",
                rule="read-only mounts (the sandbox gets a copy)",
            )
        if not mount.sandbox_path.startswith("/"):
            raise ValidationError(
                f"mount target {mount.sandbox_path!r} is not absolute",
                field="files.mounts",
                rule="absolute path inside the sandbox",
            )
        pairs.append((mount.host_path, mount.sandbox_path))
    return pairs


def limited_command(python: str, limits: SandboxLimits, argv: Sequence[str]) -> tuple[str, ...]:
    """``argv`` started through a tiny Python launcher that sets rlimits first (pure).

    CPU time, file size, core dumps and process count (``RLIMIT_NPROC`` binds only
    non-root users) are limited this way because Modal has no per-exec limits.
    """
    if not argv:
        raise ValidationError("empty command", field="argv", rule="at least one item")
    source = _LIMITER.format(limits=repr(rlimits(limits, processes=True)))
    return (python, "-I", "-c", source, *argv)


def worker_command(python: str, limits: SandboxLimits) -> tuple[str, ...]:
    """The REPL worker (the shared script's source, passed inline) under the rlimits."""
    source = worker_script("repl_worker.py").read_text(encoding="utf-8")
    config = json.dumps({"max_output_bytes": limits.max_output_bytes})
    return limited_command(python, limits, [python, "-I", "-c", source, config])


def exec_env(env: Mapping[str, str] | None) -> dict[str, str | None]:
    """The environment of an exec: only what the caller passes, ``HOME``/``TMPDIR`` on /tmp."""
    return {"HOME": "/tmp", "TMPDIR": "/tmp", **dict(env or {})}  # noqa: S108 - inside the sandbox
