"""The ``docker`` sandbox: one container per run or REPL session, through the Docker Engine API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memfun_core._extras import import_extra
from memfun_core.errors import BackendUnavailable
from memfun_runtime.protocols import FileSystemView, SandboxLimits, SandboxResult
from memfun_runtime.sandboxes._blocking import BlockingSandbox, Run, positive_cpus, workspace_folder
from memfun_runtime.sandboxes._output import capped_text
from memfun_runtime.sandboxes._process import ProcessOutcome, sandbox_result
from memfun_runtime.sandboxes._repl_client import StreamReplSession, ToolAuthorizer
from memfun_runtime.sandboxes._worker import WORKER_DIR
from memfun_runtime.sandboxes.docker._attach import AttachChannel
from memfun_runtime.sandboxes.docker._reaper import reap
from memfun_runtime.sandboxes.docker._spec import (
    CODE_INSIDE,
    ContainerRequest,
    container_spec,
    repl_command,
    stdin_command,
)

__all__ = ["DEFAULT_IMAGE", "DockerSandbox", "default_user"]

_log = logging.getLogger("memfun.sandbox")
DEFAULT_IMAGE = "python:3.11-slim"
"""Image used when none is configured (must be present or pullable by the engine)."""
_NOBODY = "65534:65534"
_HINT = (
    "start a Docker engine and make it reachable (DOCKER_HOST, or /var/run/docker.sock "
    "readable by this user), or choose another sandbox (local, wasm)"
)


def _docker() -> Any:
    return import_extra(
        "docker", package="memfun-runtime", extra="docker", feature="the Docker sandbox"
    )


def default_user() -> str:
    """``uid:gid`` of this process (so workspace files keep their owner), or nobody for root."""
    uid, gid = os.getuid(), os.getgid()
    return _NOBODY if uid == 0 else f"{uid}:{gid}"


@dataclass(slots=True)
class _Layout:
    """Host-side temporary folders of one run: scratch workspace, code and stdin files."""

    workspace: str | None = None
    code_dir: str | None = None
    temp_dirs: list[str] = field(default_factory=list[str])

    def code(self) -> Path:
        if self.code_dir is None:
            self.code_dir = tempfile.mkdtemp(prefix="memfun-docker-code-")
            self.temp_dirs.append(self.code_dir)
            Path(self.code_dir).chmod(0o755)  # readable by the container's user
        return Path(self.code_dir)

    def write(self, name: str, text: str) -> str:
        path = self.code() / name
        path.write_text(text, encoding="utf-8")
        path.chmod(0o644)
        return f"{CODE_INSIDE}/{name}"

    def cleanup(self) -> None:
        for folder in self.temp_dirs:
            shutil.rmtree(folder, ignore_errors=True)
        self.temp_dirs.clear()


def _layout(files: FileSystemView) -> _Layout:
    layout = _Layout()
    layout.workspace = workspace_folder(files, layout.temp_dirs)
    return layout


class DockerSandbox(BlockingSandbox):
    """Runs code and commands in containers through the Docker Engine API.

    One container per one-shot run and per REPL session, from ``image``: no network unless
    the policy allows it, memory (no swap) / CPU / pids / CPU-time / file-size limits, a
    read-only root with a private ``/tmp`` tmpfs, all capabilities dropped and
    ``no-new-privileges``, the workspace bind-mounted at ``/workspace`` (read-only or
    writable as the view says), only ``env`` passed in, and labels naming the owner so that
    :meth:`reap` (run by :meth:`start`) removes containers left by a crashed owner. The REPL
    is the shared worker script, talking over the container's attach stream.

    Bind mounts name host paths, so the engine must run on this machine (a remote
    ``DOCKER_HOST`` sees its own file system).

    Args:
        image: Image to run; it needs ``python`` (for REPLs and ``run_code``) and ``/bin/sh``.
        python: Interpreter name or path inside the image.
        base_url: Engine address (default: ``DOCKER_HOST`` or the local socket).
        user: ``uid:gid`` inside (default: this process's, or nobody when root).
        cpus: CPU share of each container.
        tmp_mb: Size of each container's ``/tmp``.
        limits: Default limits of each run.
        authorize: Checks every host-tool call made from inside a REPL session.
    """

    backend = "docker"

    def __init__(
        self,
        *,
        image: str = DEFAULT_IMAGE,
        python: str = "python3",
        base_url: str | None = None,
        user: str | None = None,
        cpus: float = 1.0,
        tmp_mb: int = 64,
        limits: SandboxLimits | None = None,
        authorize: ToolAuthorizer | None = None,
    ) -> None:
        super().__init__(limits, authorize)
        self._image = image
        self._python = python
        self._base_url = base_url
        self._user = user or default_user()
        self._cpus = positive_cpus(cpus)
        self._tmp_mb = tmp_mb
        self._client: Any = None

    # --- engine ----------------------------------------------------------------------------

    def _engine(self) -> Any:
        if self._client is not None:
            return self._client
        docker = _docker()
        target = self._base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        if target.startswith("unix://") and not Path(target.removeprefix("unix://")).exists():
            raise BackendUnavailable(
                f"no Docker engine answers: the socket {target} does not exist",
                backend="docker",
                target=target,
                hint=_HINT,
            )
        client = None
        try:
            client = (
                docker.DockerClient(base_url=self._base_url)
                if self._base_url
                else docker.from_env()
            )
            client.ping()
        except docker.errors.DockerException as exc:
            if client is not None:
                client.close()
            raise BackendUnavailable(
                f"no Docker engine answers: {exc}", backend="docker", target=target, hint=_HINT
            ) from exc
        self._client = client
        return client

    def reap(self) -> list[str]:
        """Remove this host's sandbox containers whose owning process died; return their ids."""
        docker = _docker()
        removed = reap(self._engine(), gone=(docker.errors.NotFound,))
        if removed:
            _log.info("docker sandbox: removed %d container(s) of dead owners", len(removed))
        return removed

    async def start(self) -> None:
        """Connect to the engine and reap containers left by crashed owners (idempotent)."""
        await asyncio.to_thread(self.reap)

    async def stop(self) -> None:
        """Close every REPL session this adapter opened and the engine connection (idempotent)."""
        await super().stop()
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _create_container(self, client: Any, spec: dict[str, Any]) -> Any:
        docker = _docker()
        try:
            return client.containers.create(**spec)
        except docker.errors.ImageNotFound as exc:
            raise BackendUnavailable(
                f"the sandbox image {self._image!r} is not on the engine",
                backend="docker",
                target=self._image,
                hint=f"run `docker pull {self._image}` once (runs never pull: no network "
                "at run time), or configure another image",
            ) from exc

    def _request(
        self, command: Sequence[str], layout: _Layout, *, interactive: bool, worker: bool
    ) -> ContainerRequest:
        return ContainerRequest(
            image=self._image,
            command=tuple(command),
            session_id=uuid.uuid4().hex,
            owner_pid=os.getpid(),
            owner_host=socket.gethostname(),
            user=self._user,
            cpus=self._cpus,
            tmp_mb=self._tmp_mb,
            workspace=layout.workspace,
            worker_dir=str(WORKER_DIR) if worker else None,
            code_dir=layout.code_dir,
            interactive=interactive,
        )

    # --- one-shot runs ---------------------------------------------------------------------

    def _run(
        self, command: Sequence[str], layout: _Layout, run: Run, cwd: str | None
    ) -> SandboxResult:
        client = self._engine()
        docker = _docker()
        requests = import_extra(
            "requests", package="memfun-runtime", extra="docker", feature="the Docker sandbox"
        )
        request = self._request(command, layout, interactive=False, worker=False)
        spec = container_spec(request, limits=run.limits, files=run.files, network=run.network,
                              env=run.env)  # fmt: skip
        if cwd is not None:
            spec["working_dir"] = cwd
        container = self._create_container(client, spec)
        started = time.monotonic()
        try:
            container.start()
            timed_out = False
            try:
                status = container.wait(timeout=run.limits.wall_seconds)
                code = int(status.get("StatusCode", -1))
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                timed_out = True
                with contextlib.suppress(docker.errors.APIError):
                    container.kill()
                code = int(container.wait().get("StatusCode", -1))
            container.reload()
            oom = bool(container.attrs.get("State", {}).get("OOMKilled"))
            cap = run.limits.max_output_bytes
            stdout, out_cut = capped_text(
                container.logs(stdout=True, stderr=False, stream=True), cap
            )
            stderr, err_cut = capped_text(
                container.logs(stdout=False, stderr=True, stream=True), cap
            )
        finally:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
        duration = time.monotonic() - started
        outcome = ProcessOutcome(code, stdout, stderr, out_cut, err_cut, duration, timed_out)
        return sandbox_result(outcome, shell_style=True, oom=oom)

    def _command(self, argv: Sequence[str], run: Run, cwd: str | None) -> SandboxResult:
        layout = _layout(run.files)
        try:
            inside = None if run.stdin is None else layout.write("stdin", run.stdin)
            return self._run(stdin_command(argv, inside), layout, run, cwd)
        finally:
            layout.cleanup()

    def _code(self, code: str, language: str, suffix: str, run: Run) -> SandboxResult:
        layout = _layout(run.files)
        try:
            program = layout.write(f"main{suffix}", code)
            runner = self._python if language == "python" else f"/bin/{language}"
            inside = None if run.stdin is None else layout.write("stdin", run.stdin)
            return self._run(stdin_command([runner, program], inside), layout, run, None)
        finally:
            layout.cleanup()

    # --- REPL sessions ---------------------------------------------------------------------

    def _open(self, run: Run) -> StreamReplSession:
        """Start a persistent Python REPL in a fresh container (see :class:`ReplSandbox`)."""
        client = self._engine()
        docker = _docker()
        layout = _layout(run.files)
        command = repl_command(self._python, run.limits.max_output_bytes)
        request = self._request(command, layout, interactive=True, worker=True)
        spec = container_spec(request, limits=run.limits, files=run.files, network=run.network,
                              env=run.env)  # fmt: skip
        try:
            container = self._create_container(client, spec)
        except BaseException:
            layout.cleanup()
            raise
        channel: AttachChannel | None = None

        def terminate() -> str | None:
            oom = False
            with contextlib.suppress(docker.errors.APIError):
                container.kill()
            with contextlib.suppress(docker.errors.APIError):
                container.reload()
                oom = bool(container.attrs.get("State", {}).get("OOMKilled"))
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
            if channel is not None:
                channel.close()
                if channel.stderr_text.strip():
                    _log.warning("sandboxed REPL wrote to stderr: %s", channel.stderr_text[-2000:])
            layout.cleanup()
            return "memory" if oom else None

        try:
            sock = client.api.attach_socket(
                container.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
            )
            channel = AttachChannel(sock)
            container.start()
        except BaseException:
            terminate()
            raise
        return self._session(stdin=channel.stdin, stdout=channel.stdout, limits=run.limits,
                             terminate=terminate)  # fmt: skip
