"""The ``modal`` sandbox: pure argument building here; the contract only with credentials.

Nothing in this file contacts Modal's servers unless MODAL_TOKEN_ID / MODAL_TOKEN_SECRET
are set AND MEMFUN_MODAL_CONTRACT=1 asks for the (billed, networked) contract tests.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from memfun_core.errors import ConfigError, ValidationError
from memfun_runtime.protocols import (
    FileSystemView,
    Mount,
    NetworkPolicy,
    ReplSandbox,
    SandboxLimits,
)
from memfun_runtime.sandboxes import SandboxTerminated, StreamReplSession
from memfun_runtime.sandboxes.modal import (
    ModalCredentials,
    ModalSandbox,
    exec_env,
    limited_command,
    local_uploads,
    read_credentials,
    sandbox_args,
    worker_command,
)
from memfun_runtime.sandboxes.modal._streams import ProcessStreams

pytest.importorskip("modal", reason="the modal extra is not installed")


# --- credentials ------------------------------------------------------------------------------


def test_credentials_are_read_from_the_named_variables() -> None:
    names = ModalCredentials(token_id_env="MY_ID", token_secret_env="MY_SECRET")
    assert read_credentials(names, {"MY_ID": "ak-1", "MY_SECRET": "as-2"}) == ("ak-1", "as-2")


def test_missing_credentials_name_the_variables_and_how_to_get_a_token() -> None:
    with pytest.raises(ConfigError) as caught:
        read_credentials(ModalCredentials(), {"MODAL_TOKEN_ID": "ak-1"})
    assert "MODAL_TOKEN_SECRET" in str(caught.value)
    assert "modal token new" in str(caught.value.hint)


def test_a_token_value_is_refused_where_a_name_belongs() -> None:
    with pytest.raises(ValidationError, match="not an environment variable name"):
        ModalCredentials(token_id_env="ak-123:secret")


def test_adapter_without_credentials_fails_before_any_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NOPE_ID", raising=False)
    monkeypatch.delenv("NOPE_SECRET", raising=False)
    sandbox = ModalSandbox(credentials=ModalCredentials("NOPE_ID", "NOPE_SECRET"))
    assert isinstance(sandbox, ReplSandbox)
    assert (sandbox.name, sandbox.isolation) == ("modal", "strong")
    with pytest.raises(ConfigError, match="NOPE_ID"):
        sandbox.run_code_sync("print(1)")
    with pytest.raises(ConfigError, match="NOPE_ID"):
        sandbox.open_repl()


# --- sandbox arguments ------------------------------------------------------------------------


def test_defaults_block_the_network_and_set_hard_memory_and_cpu() -> None:
    limits = SandboxLimits(wall_seconds=10.5, memory_mb=512)
    args = sandbox_args(
        limits=limits, network=NetworkPolicy(), cpus=0.5, files=FileSystemView(), session=False
    )
    assert args == {
        "timeout": 11 + 60,
        "block_network": True,
        "cpu": (0.5, 0.5),
        "memory": (512, 512),
        "workdir": "/",
    }


def test_session_lifetime_follows_the_cpu_budget_and_network_can_be_allowed() -> None:
    args = sandbox_args(
        limits=SandboxLimits(cpu_seconds=300, memory_mb=None),
        network=NetworkPolicy(allow=True),
        cpus=1.0,
        files=FileSystemView(workspace="/w", workspace_writable=False),
        session=True,
    )
    assert args["timeout"] == 360
    assert args["block_network"] is False
    assert "memory" not in args
    assert args["workdir"] == "/workspace"


def test_host_lists_are_refused() -> None:
    with pytest.raises(ValidationError, match="host list"):
        sandbox_args(
            limits=SandboxLimits(),
            network=NetworkPolicy(allow=True, allowed_hosts=("pypi.org",)),
            cpus=1.0,
            files=FileSystemView(),
            session=False,
        )


def test_uploads_are_read_only_copies() -> None:
    view = FileSystemView(workspace="/w", workspace_writable=False, mounts=(Mount("/d", "/mnt"),))
    assert local_uploads(view) == [("/w", "/workspace"), ("/d", "/mnt")]
    assert local_uploads(FileSystemView(workspace="/w", scratch_copy=True)) == [
        ("/w", "/workspace")
    ]
    with pytest.raises(ValidationError, match="write back"):
        local_uploads(FileSystemView(workspace="/w"))
    with pytest.raises(ValidationError, match="writable"):
        local_uploads(FileSystemView(mounts=(Mount("/d", "/mnt", writable=True),)))
    with pytest.raises(ValidationError, match="not absolute"):
        local_uploads(FileSystemView(mounts=(Mount("/d", "mnt"),)))


def test_exec_environment_is_only_what_is_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    assert exec_env({"A": "1"}) == {"HOME": "/tmp", "TMPDIR": "/tmp", "A": "1"}


# --- the in-sandbox launcher and worker, run locally ------------------------------------------


def test_limited_command_sets_rlimits_then_runs_the_argv() -> None:
    limits = SandboxLimits(cpu_seconds=7, max_file_mb=3, max_processes=50)
    probe = (
        "import resource as r; print(r.getrlimit(r.RLIMIT_CPU)[0], r.getrlimit(r.RLIMIT_FSIZE)[0],"
        " r.getrlimit(r.RLIMIT_CORE)[0], r.getrlimit(r.RLIMIT_NPROC)[0])"
    )
    argv = limited_command(sys.executable, limits, [sys.executable, "-c", probe])
    done = subprocess.run(argv, capture_output=True, text=True, check=True, env={})
    assert done.stdout.split() == ["7", str(3 * 1024 * 1024), "0", "50"]
    with pytest.raises(ValidationError):
        limited_command(sys.executable, limits, [])


class _LocalProcess:
    """Modal's ContainerProcess interface (stdin write/drain/write_eof, iterable stdout) over
    a local subprocess: Modal's SDK is third-party and its servers are off limits here."""

    class _Stdin:
        def __init__(self, pipe: IO[bytes]) -> None:
            self._pipe = pipe

        def write(self, data: bytes) -> None:
            self._pipe.write(data)

        def drain(self) -> None:
            self._pipe.flush()

        def write_eof(self) -> None:
            self._pipe.close()

    def __init__(self, argv: tuple[str, ...]) -> None:
        self.popen = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={}
        )
        assert self.popen.stdin is not None
        assert self.popen.stdout is not None
        self.stdin = self._Stdin(self.popen.stdin)
        out = self.popen.stdout
        self.stdout = iter(lambda: os.read(out.fileno(), 65536), b"")


@pytest.fixture
def inline_worker() -> Iterator[tuple[StreamReplSession, _LocalProcess]]:
    limits = SandboxLimits(cpu_seconds=60, max_output_bytes=5000)
    process = _LocalProcess(worker_command(sys.executable, limits))
    streams = ProcessStreams(process)

    def terminate() -> str | None:
        process.popen.kill()
        process.popen.wait()
        streams.close()
        for pipe in (process.popen.stdin, process.popen.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError, ValueError):
                    pipe.close()
        return None

    session = StreamReplSession(
        backend="modal",
        isolation="strong",
        stdin=streams.stdin,
        stdout=streams.stdout,
        default_timeout=20.0,
        terminate=terminate,
    )
    yield session, process
    session.close()


def test_the_inline_worker_speaks_the_repl_protocol(
    inline_worker: tuple[StreamReplSession, _LocalProcess],
) -> None:
    session, _ = inline_worker
    assert session.execute("total = 40").kind == "result"
    assert session.execute("total + n", {"n": 2}).output == "42"
    outcome = session.execute("print('x' * 9000)")
    assert outcome.output_truncated
    final = session.execute("SUBMIT(ask('q'))", tools={"ask": str.upper})
    assert (final.kind, final.value) == ("final", {"output": "Q"})


def test_the_inline_worker_dying_ends_the_session(
    inline_worker: tuple[StreamReplSession, _LocalProcess],
) -> None:
    session, process = inline_worker
    process.popen.kill()
    with pytest.raises(SandboxTerminated):
        session.execute("1")


# --- contract: Modal itself (never here) ------------------------------------------------------


def _contract_reason() -> str | None:
    missing = [n for n in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET") if not os.environ.get(n)]
    if missing:
        return f"no Modal credentials: {', '.join(missing)} unset (Modal is not a service of this machine)"
    if os.environ.get("MEMFUN_MODAL_CONTRACT") != "1":
        return (
            "Modal contract tests are networked and billed: set MEMFUN_MODAL_CONTRACT=1 to run them"
        )
    return None


@pytest.fixture
def modal_sandbox() -> ModalSandbox:
    reason = _contract_reason()
    if reason is not None:
        pytest.skip(reason)
    return ModalSandbox()


def test_contract_runs_code_without_network_or_host_env(
    modal_sandbox: ModalSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary")
    (tmp_path / "in.txt").write_text("data")
    code = (
        "import os, socket\n"
        "print(open('in.txt').read(), 'OPENAI_API_KEY' in os.environ)\n"
        "try:\n    socket.create_connection(('1.1.1.1', 53), timeout=3)\n"
        "except OSError:\n    print('blocked')\n"
    )
    files = FileSystemView(workspace=str(tmp_path), workspace_writable=False)
    result = modal_sandbox.run_code_sync(code, files=files, limits=SandboxLimits(wall_seconds=60))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split() == ["data", "False", "blocked"]


def test_contract_repl_keeps_state(modal_sandbox: ModalSandbox) -> None:
    session = modal_sandbox.open_repl(limits=SandboxLimits(wall_seconds=60, cpu_seconds=120))
    try:
        assert session.execute("n = 41").kind == "result"
        assert session.execute("n + 1").output == "42"
    finally:
        session.close()
    assert not session.alive


def test_images_are_described_lazily_without_contacting_modal(tmp_path: Path) -> None:
    import modal

    sandbox = ModalSandbox(image="python:3.11-slim")
    view = FileSystemView(workspace=str(tmp_path), workspace_writable=False)
    image = sandbox._image(view)  # pyright: ignore[reportPrivateUsage]
    assert isinstance(image, modal.Image)
    with pytest.raises(ValidationError, match="write back"):
        sandbox._image(FileSystemView(workspace=str(tmp_path)))  # pyright: ignore[reportPrivateUsage]
