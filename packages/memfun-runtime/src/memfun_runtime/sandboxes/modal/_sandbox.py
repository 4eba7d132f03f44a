"""The ``modal`` sandbox: Modal Sandboxes (gVisor containers in Modal's cloud)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Sequence
from typing import Any

from memfun_core._extras import import_extra
from memfun_core.errors import BackendUnavailable
from memfun_runtime.protocols import FileSystemView, NetworkPolicy, SandboxLimits, SandboxResult
from memfun_runtime.sandboxes._blocking import BlockingSandbox, Run, positive_cpus
from memfun_runtime.sandboxes._output import capped_text
from memfun_runtime.sandboxes._process import ProcessOutcome, sandbox_result
from memfun_runtime.sandboxes._repl_client import StreamReplSession, ToolAuthorizer
from memfun_runtime.sandboxes.modal import _spec
from memfun_runtime.sandboxes.modal._spec import ModalCredentials
from memfun_runtime.sandboxes.modal._streams import ProcessStreams

__all__ = ["DEFAULT_APP", "ModalSandbox"]

DEFAULT_APP = "memfun-sandboxes"
"""Modal app the sandboxes are created under (created on first use)."""


def _modal() -> Any:
    return import_extra(
        "modal", package="memfun-runtime", extra="modal", feature="the Modal sandbox"
    )


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

    backend = "modal"

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
        super().__init__(limits, authorize)
        self._image_ref = image
        self._python_version = python_version
        self._python = python
        self._app_name = app_name
        self._credentials = credentials or ModalCredentials()
        self._cpus = positive_cpus(cpus)
        self._client: Any = None
        self._app: Any = None

    # --- connection --------------------------------------------------------------------------

    def _connect(self) -> tuple[Any, Any]:
        if self._client is not None:
            return self._client, self._app
        token_id, token_secret = _spec.read_credentials(self._credentials)
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
        for host, inside in _spec.local_uploads(files):
            image = image.add_local_dir(host, inside)
        return image

    def _create(
        self, limits: SandboxLimits, files: FileSystemView, network: NetworkPolicy, session: bool
    ) -> Any:
        client, app = self._connect()
        args = _spec.sandbox_args(
            limits=limits, network=network, cpus=self._cpus, files=files, session=session
        )
        modal = _modal()
        return modal.Sandbox.create(
            "sleep", "infinity", app=app, image=self._image(files), client=client, **args
        )

    async def start(self) -> None:
        """Read the credentials and connect to Modal (idempotent)."""
        await asyncio.to_thread(self._connect)

    # --- one-shot runs -------------------------------------------------------------------------

    def _command(self, argv: Sequence[str], run: Run, cwd: str | None) -> SandboxResult:
        modal = _modal()
        started = time.monotonic()
        sandbox = self._create(run.limits, run.files, run.network, session=False)
        try:
            wall = run.limits.wall_seconds
            process = sandbox.exec(
                *_spec.limited_command(self._python, run.limits, argv),
                timeout=None if wall is None else max(1, math.ceil(wall)),
                workdir=cwd,
                env=_spec.exec_env(run.env),
                text=False,
            )
            if run.stdin is not None:
                process.stdin.write(run.stdin.encode())
            process.stdin.write_eof()
            process.stdin.drain()
            stdout, out_cut = capped_text(process.stdout, run.limits.max_output_bytes)
            stderr, err_cut = capped_text(process.stderr, run.limits.max_output_bytes)
            code = int(process.wait())
        finally:
            with contextlib.suppress(modal.exception.Error):
                sandbox.terminate()
        duration = time.monotonic() - started
        # Modal ends an exec at its timeout without a distinct status: a failing run that
        # lasted the whole wall limit is reported as timed out.
        timed_out = wall is not None and duration >= wall and code != 0
        outcome = ProcessOutcome(code, stdout, stderr, out_cut, err_cut, duration, timed_out)
        return sandbox_result(outcome, shell_style=True)

    def _code(self, code: str, language: str, suffix: str, run: Run) -> SandboxResult:
        del suffix
        runner = self._python if language == "python" else f"/bin/{language}"
        return self._command([runner, "-c", code], run, None)

    # --- REPL sessions -------------------------------------------------------------------------

    def _open(self, run: Run) -> StreamReplSession:
        """Start a persistent Python REPL in a fresh Modal sandbox (see :class:`ReplSandbox`)."""
        modal = _modal()
        sandbox = self._create(run.limits, run.files, run.network, session=True)
        streams: ProcessStreams | None = None

        def terminate() -> str | None:
            with contextlib.suppress(modal.exception.Error):
                sandbox.terminate()
            if streams is not None:
                streams.close()
            return None

        try:
            command = _spec.worker_command(self._python, run.limits)
            streams = ProcessStreams(
                sandbox.exec(*command, env=_spec.exec_env(run.env), text=False)
            )
        except BaseException:
            terminate()
            raise
        return self._session(stdin=streams.stdin, stdout=streams.stdout, limits=run.limits,
                             terminate=terminate)  # fmt: skip
