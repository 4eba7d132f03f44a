"""The ``modal`` sandbox: Modal Sandboxes (gVisor containers in Modal's cloud)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from memfun_core._extras import import_extra
from memfun_core.errors import BackendUnavailable, ValidationError
from memfun_runtime.protocols import (
    FileSystemView,
    IsolationLevel,
    NetworkPolicy,
    ReplSession,
    SandboxLimits,
    SandboxResult,
)
from memfun_runtime.sandboxes._blocking import BlockingSandbox, for_language
from memfun_runtime.sandboxes._process import signal_of
from memfun_runtime.sandboxes._repl_client import StreamReplSession, ToolAuthorizer
from memfun_runtime.sandboxes.modal._spec import (
    ModalCredentials,
    exec_env,
    limited_command,
    local_uploads,
    read_credentials,
    sandbox_args,
    worker_command,
)
from memfun_runtime.sandboxes.modal._streams import ProcessStreams

__all__ = ["DEFAULT_APP", "ModalSandbox"]

_log = logging.getLogger("memfun.sandbox")
DEFAULT_APP = "memfun-sandboxes"
"""Modal app the sandboxes are created under (created on first use)."""
_LANGUAGES = {"python": "python", "bash": "/bin/bash", "sh": "/bin/sh"}


def _modal() -> Any:
    return import_extra(
        "modal", package="memfun-runtime", extra="modal", feature="the Modal sandbox"
    )


def _capped(chunks: Iterable[Any], cap: int) -> tuple[str, bool]:
    data = bytearray()
    for chunk in chunks:
        raw = chunk if isinstance(chunk, bytes) else str(chunk).encode()
        room = cap - len(data)
        if len(raw) > room:
            data += raw[: max(room, 0)]
            return data.decode("utf-8", errors="replace"), True
        data += raw
    return data.decode("utf-8", errors="replace"), False


class ModalSandbox(BlockingSandbox):
    """Runs code and commands in Modal Sandboxes, one sandbox per run or REPL session.

    Each sandbox has its network blocked unless the policy allows it, memory and CPU set
    as hard limits, a lifetime bounded by the run's limits, and an environment holding
    only what ``env`` gives. CPU time, file size, core dumps and process count are
    limited by rlimits set in the sandbox before the code starts. The workspace and
    mounts are COPIED in (Modal cannot bind host folders), so a writable view is refused
    unless ``scratch_copy`` is set. The REPL is the shared worker script over the exec's
    stdin/stdout. Credentials come from environment variables named by ``credentials``.

    Args:
        image: Registry image (``None``: Modal's Debian slim with ``python_version``).
        python_version: Python of the default image.
        python: Interpreter inside the image.
        app_name: Modal app to create sandboxes under.
        credentials: Names of the token variables.
        cpus: CPU cores of each sandbox.
        limits: Default limits of each run.
        authorize: Checks every host-tool call made from inside a REPL session.
    """

    def __init__(
        self,
        *,
        image: str | None = None,
        python_version: str = "3.11",
        python: str = "python",
        app_name: str = DEFAULT_APP,
        credentials: ModalCredentials | None = None,
        cpus: float = 1.0,
        limits: SandboxLimits | None = None,
        authorize: ToolAuthorizer | None = None,
    ) -> None:
        if cpus <= 0:
            raise ValidationError(f"cpus must be positive, got {cpus}", field="cpus", rule="> 0")
        self._image_ref = image
        self._python_version = python_version
        self._python = python
        self._app_name = app_name
        self._credentials = credentials or ModalCredentials()
        self._cpus = cpus
        self._limits = limits or SandboxLimits()
        self._authorize = authorize
        self._client: Any = None
        self._app: Any = None
        self._sessions: list[ReplSession] = []

    @property
    def name(self) -> str:
        """``"modal"``."""
        return "modal"

    @property
    def isolation(self) -> IsolationLevel:
        """``strong``: a gVisor container on Modal's machines, not this host."""
        return "strong"

    # --- connection --------------------------------------------------------------------------

    def _connect(self) -> tuple[Any, Any]:
        if self._client is not None:
            return self._client, self._app
        token_id, token_secret = read_credentials(self._credentials)
        modal = _modal()
        try:
            client = modal.Client.from_credentials(token_id, token_secret)
            app = modal.App.lookup(self._app_name, create_if_missing=True, client=client)
        except modal.exception.AuthError as exc:
            raise BackendUnavailable(
                f"Modal refused the token: {exc}",
                backend="modal",
                target="api.modal.com",
                hint=f"check {self._credentials.token_id_env} / "
                f"{self._credentials.token_secret_env} (`modal token new` makes a new one)",
            ) from exc
        except (modal.exception.ConnectionError, OSError) as exc:
            raise BackendUnavailable(
                f"Modal cannot be reached: {exc}",
                backend="modal",
                target="api.modal.com",
                hint="check the network connection, or choose another sandbox (local, wasm)",
            ) from exc
        self._client, self._app = client, app
        return client, app

    def _image(self, files: FileSystemView) -> Any:
        modal = _modal()
        image = (
            modal.Image.from_registry(self._image_ref)
            if self._image_ref
            else modal.Image.debian_slim(python_version=self._python_version)
        )
        for host, inside in local_uploads(files):
            image = image.add_local_dir(host, inside)
        return image

    def _create(
        self, limits: SandboxLimits, files: FileSystemView, network: NetworkPolicy, session: bool
    ) -> Any:
        client, app = self._connect()
        args = sandbox_args(
            limits=limits, network=network, cpus=self._cpus, files=files, session=session
        )
        modal = _modal()
        return modal.Sandbox.create(
            "sleep", "infinity", app=app, image=self._image(files), client=client, **args
        )

    async def start(self) -> None:
        """Read the credentials and connect to Modal (idempotent)."""
        await asyncio.to_thread(self._connect)

    async def stop(self) -> None:
        """Close (terminate) every REPL session this adapter opened (idempotent)."""
        sessions, self._sessions = self._sessions, []
        for session in sessions:
            await asyncio.to_thread(session.close)

    # --- one-shot runs -------------------------------------------------------------------------

    def _run(
        self,
        argv: Sequence[str],
        *,
        limits: SandboxLimits,
        files: FileSystemView,
        network: NetworkPolicy,
        env: Mapping[str, str] | None,
        stdin: str | None,
        cwd: str | None = None,
    ) -> SandboxResult:
        modal = _modal()
        started = time.monotonic()
        sandbox = self._create(limits, files, network, session=False)
        try:
            wall = limits.wall_seconds
            process = sandbox.exec(
                *limited_command(self._python, limits, argv),
                timeout=None if wall is None else max(1, math.ceil(wall)),
                workdir=cwd,
                env=exec_env(env),
                text=False,
            )
            if stdin is not None:
                process.stdin.write(stdin.encode())
            process.stdin.write_eof()
            process.stdin.drain()
            cap = limits.max_output_bytes
            stdout, out_cut = _capped(process.stdout, cap)
            stderr, err_cut = _capped(process.stderr, cap)
            code_ = int(process.wait())
        finally:
            with contextlib.suppress(modal.exception.Error):
                sandbox.terminate()
        duration = time.monotonic() - started
        # Modal ends an exec at its timeout without a distinct status: a failing run that
        # lasted the whole wall limit is reported as timed out.
        timed_out = wall is not None and duration >= wall and code_ != 0
        sig = signal_of(code_, shell_style=True)
        return SandboxResult(
            exit_code=-sig if sig is not None else code_,
            stdout=stdout,
            stderr=stderr,
            stdout_truncated=out_cut,
            stderr_truncated=err_cut,
            duration=duration,
            timed_out=timed_out,
            killed_reason="wall" if timed_out else _signal_reason(sig),
        )

    def run_command_sync(
        self,
        argv: Sequence[str],
        *,
        limits: SandboxLimits | None = None,
        files: FileSystemView | None = None,
        network: NetworkPolicy | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        cwd: str | None = None,
    ) -> SandboxResult:
        """Blocking form of :meth:`run_command`."""
        if not argv:
            raise ValidationError("empty command", field="argv", rule="at least one item")
        return self._run(argv, limits=limits or self._limits, files=files or FileSystemView(),
                         network=network or NetworkPolicy(), env=env, stdin=stdin,
                         cwd=cwd)  # fmt: skip

    def run_code_sync(
        self,
        code: str,
        *,
        language: str = "python",
        limits: SandboxLimits | None = None,
        files: FileSystemView | None = None,
        network: NetworkPolicy | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
    ) -> SandboxResult:
        """Blocking form of :meth:`run_code`."""
        runner = for_language(_LANGUAGES, language)
        if language == "python":
            runner = self._python
        return self._run([runner, "-c", code], limits=limits or self._limits,
                         files=files or FileSystemView(), network=network or NetworkPolicy(),
                         env=env, stdin=stdin)  # fmt: skip

    # --- REPL sessions -------------------------------------------------------------------------

    def open_repl(
        self,
        *,
        limits: SandboxLimits | None = None,
        files: FileSystemView | None = None,
        network: NetworkPolicy | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ReplSession:
        """Start a persistent Python REPL in a fresh Modal sandbox (see :class:`ReplSandbox`)."""
        modal = _modal()
        chosen = limits or self._limits
        view = files or FileSystemView()
        sandbox = self._create(chosen, view, network or NetworkPolicy(), session=True)
        streams: ProcessStreams | None = None

        def terminate() -> str | None:
            with contextlib.suppress(modal.exception.Error):
                sandbox.terminate()
            if streams is not None:
                streams.close()
            return None

        try:
            process = sandbox.exec(
                *worker_command(self._python, chosen), env=exec_env(env), text=False
            )
            streams = ProcessStreams(process)
        except BaseException:
            terminate()
            raise
        session = StreamReplSession(
            backend="modal",
            isolation="strong",
            stdin=streams.stdin,
            stdout=streams.stdout,
            default_timeout=chosen.wall_seconds,
            terminate=terminate,
            authorize=self._authorize,
        )
        self._sessions.append(session)
        return session


def _signal_reason(sig: int | None) -> str | None:
    if sig == signal.SIGXCPU:
        return "cpu"
    if sig == signal.SIGXFSZ:
        return "file_size"
    return None
