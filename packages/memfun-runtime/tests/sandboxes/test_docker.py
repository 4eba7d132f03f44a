"""The ``docker`` sandbox: pure argument building and reaper logic here; an engine where one answers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memfun_core.errors import BackendUnavailable, ValidationError
from memfun_runtime.protocols import (
    FileSystemView,
    Mount,
    NetworkPolicy,
    ReplSandbox,
    SandboxLimits,
)
from memfun_runtime.sandboxes import StreamReplSession
from memfun_runtime.sandboxes._worker import worker_script
from memfun_runtime.sandboxes.docker import (
    LABEL_HOST,
    LABEL_PID,
    LABEL_SANDBOX,
    LABEL_SESSION,
    ContainerInfo,
    ContainerRequest,
    DockerSandbox,
    FrameDecoder,
    container_spec,
    pid_alive,
    repl_command,
    stale_containers,
    stdin_command,
)
from memfun_runtime.sandboxes.docker._attach import AttachChannel

docker = pytest.importorskip("docker", reason="the docker extra is not installed")


def _request(**overrides: Any) -> ContainerRequest:
    values: dict[str, Any] = {
        "image": "python:3.11-slim",
        "command": ("python3", "-c", "print(1)"),
        "session_id": "sess-1",
        "owner_pid": 4242,
        "owner_host": "host-a",
        "user": "1000:1000",
    }
    values.update(overrides)
    return ContainerRequest(**values)


def _spec(
    request: ContainerRequest | None = None,
    *,
    limits: SandboxLimits | None = None,
    files: FileSystemView | None = None,
    network: NetworkPolicy | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    return container_spec(
        request or _request(),
        limits=limits or SandboxLimits(),
        files=files or FileSystemView(),
        network=network or NetworkPolicy(),
        env=env,
    )


def _engine_args(spec: dict[str, Any]) -> dict[str, Any]:
    """What the SDK itself turns the spec into (its own validation, no engine needed)."""
    import docker.models.containers as models

    convert = getattr(models, "_create_container_args")  # noqa: B009 - private SDK helper
    return convert({**spec, "version": "1.45"})


# --- container_spec ---------------------------------------------------------------------------


def test_defaults_have_no_network_read_only_root_and_no_capabilities() -> None:
    host = _engine_args(_spec())["host_config"]
    assert host["NetworkMode"] == "none"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["Tmpfs"] == {"/tmp": "rw,nosuid,nodev,size=64m"}
    assert host["Init"] is True


def test_limits_map_to_memory_without_swap_pids_cpu_and_ulimits() -> None:
    limits = SandboxLimits(cpu_seconds=7.2, memory_mb=300, max_processes=17, max_file_mb=5)
    spec = _spec(_request(cpus=0.5), limits=limits)
    host = _engine_args(spec)["host_config"]
    assert host["Memory"] == 300 * 1024 * 1024
    assert host["MemorySwap"] == host["Memory"]
    assert host["PidsLimit"] == 17
    assert host["NanoCpus"] == 500_000_000
    ulimits = {u["Name"]: (u["Soft"], u["Hard"]) for u in host["Ulimits"]}
    assert ulimits == {"core": (0, 0), "cpu": (8, 8), "fsize": (5 * 1024 * 1024,) * 2}


def test_unset_limits_are_left_to_the_engine() -> None:
    limits = SandboxLimits(cpu_seconds=None, memory_mb=None, max_processes=None, max_file_mb=None)
    host = _engine_args(_spec(limits=limits))["host_config"]
    assert "Memory" not in host
    assert "PidsLimit" not in host
    assert [u["Name"] for u in host["Ulimits"]] == ["core"]


def test_environment_holds_only_what_is_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    spec = _spec(env={"FOO": "bar"})
    assert spec["environment"] == {"HOME": "/tmp", "TMPDIR": "/tmp", "FOO": "bar"}


def test_labels_name_the_owner_for_the_reaper() -> None:
    args = _engine_args(_spec())
    assert args["labels"] == {
        LABEL_SANDBOX: "1",
        LABEL_SESSION: "sess-1",
        LABEL_PID: "4242",
        LABEL_HOST: "host-a",
    }
    assert args["user"] == "1000:1000"


@pytest.mark.parametrize(
    ("writable", "scratch", "mode"),
    [(True, False, "rw"), (False, False, "ro"), (False, True, "rw")],
)
def test_workspace_bind_follows_the_file_system_view(
    writable: bool, scratch: bool, mode: str
) -> None:
    files = FileSystemView(workspace="/src/ws", workspace_writable=writable, scratch_copy=scratch)
    args = _engine_args(_spec(_request(workspace="/host/ws"), files=files))
    assert args["host_config"]["Binds"] == [f"/host/ws:/workspace:{mode}"]
    assert args["working_dir"] == "/workspace"


def test_worker_code_and_extra_mounts_are_bound() -> None:
    files = FileSystemView(mounts=(Mount("/data", "/mnt/data"), Mount("/out", "/mnt/out", True)))
    request = _request(worker_dir="/pkg/_worker", code_dir="/tmp/code")
    binds = _engine_args(_spec(request, files=files))["host_config"]["Binds"]
    assert sorted(binds) == sorted(
        [
            "/pkg/_worker:/memfun/worker:ro",
            "/tmp/code:/memfun/code:ro",
            "/data:/mnt/data:ro",
            "/out:/mnt/out:rw",
        ]
    )


def test_bad_mounts_are_refused() -> None:
    with pytest.raises(ValidationError, match="not absolute"):
        _spec(files=FileSystemView(mounts=(Mount("/data", "relative"),)))
    twice = FileSystemView(mounts=(Mount("/data", "/a"), Mount("/data", "/b")))
    with pytest.raises(ValidationError, match="mounted twice"):
        _spec(files=twice)


def test_network_allow_uses_bridge_and_host_lists_are_refused() -> None:
    assert _spec(network=NetworkPolicy(allow=True))["network_mode"] == "bridge"
    with pytest.raises(ValidationError, match="host list"):
        _spec(network=NetworkPolicy(allow=True, allowed_hosts=("example.com",)))


def test_repl_container_keeps_stdin_open_and_runs_the_shared_worker() -> None:
    command = repl_command("python3", 1234)
    assert command[:3] == ("python3", "-I", "/memfun/worker/repl_worker.py")
    assert '"max_output_bytes": 1234' in command[3]
    spec = _spec(_request(command=command, interactive=True, worker_dir=str(worker_script(""))))
    assert spec["stdin_open"] is True
    assert spec["tty"] is False


def test_stdin_wrapper_feeds_the_file_without_shell_parsing(tmp_path: Path) -> None:
    feed = tmp_path / "stdin"
    feed.write_text("hello from stdin\n")
    argv = [sys.executable, "-c", "import sys; print(sys.argv[1:], sys.stdin.read())", "$(x)", "*"]
    wrapped = stdin_command(argv, str(feed))
    done = subprocess.run(wrapped, capture_output=True, text=True, check=True)
    assert done.stdout == "['$(x)', '*'] hello from stdin\n\n"
    assert stdin_command(["true"], None) == ("true",)
    with pytest.raises(ValidationError):
        stdin_command([], None)


# --- attach stream ----------------------------------------------------------------------------


def _frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(payload)) + payload


def test_frame_decoder_reassembles_frames_cut_anywhere() -> None:
    data = _frame(1, b"out-1\n") + _frame(2, b"err") + _frame(1, b"") + _frame(1, b"x" * 300)
    decoder = FrameDecoder()
    frames: list[tuple[int, bytes]] = []
    for i in range(0, len(data), 5):
        frames += decoder.feed(data[i : i + 5])
    assert frames == [(1, b"out-1\n"), (2, b"err"), (1, b""), (1, b"x" * 300)]
    assert decoder.pending == 0


def _fake_engine(engine_end: socket.socket) -> subprocess.Popen[bytes]:
    """The real REPL worker, its output framed the way the engine's attach stream frames it."""
    worker = subprocess.Popen(
        [sys.executable, "-I", str(worker_script("repl_worker.py")), "{}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={},
    )
    assert worker.stdin is not None
    assert worker.stdout is not None
    stdin, stdout = worker.stdin, worker.stdout

    def upstream() -> None:
        with contextlib.suppress(OSError, ValueError):
            while data := engine_end.recv(65536):
                stdin.write(data)
                stdin.flush()
            stdin.close()

    def downstream() -> None:
        with contextlib.suppress(OSError, ValueError):
            while line := stdout.readline():
                engine_end.sendall(_frame(2, b"noise on stderr\n") + _frame(1, line))
            engine_end.shutdown(socket.SHUT_WR)

    threading.Thread(target=upstream, daemon=True).start()
    threading.Thread(target=downstream, daemon=True).start()
    return worker


@pytest.fixture
def attached() -> Iterator[tuple[StreamReplSession, AttachChannel, subprocess.Popen[bytes]]]:
    ours, engine_end = socket.socketpair()
    worker = _fake_engine(engine_end)
    channel = AttachChannel(ours)

    def terminate() -> str | None:
        worker.kill()
        worker.wait()
        channel.close()
        engine_end.close()
        for stream in (worker.stdin, worker.stdout, worker.stderr):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.close()
        return None

    session = StreamReplSession(
        backend="docker",
        isolation="strong",
        stdin=channel.stdin,
        stdout=channel.stdout,
        default_timeout=20.0,
        terminate=terminate,
    )
    yield session, channel, worker
    session.close()


def test_repl_protocol_runs_over_a_framed_attach_stream(
    attached: tuple[StreamReplSession, AttachChannel, subprocess.Popen[bytes]],
) -> None:
    session, channel, _ = attached
    assert session.execute("x = 21").kind == "result"
    outcome = session.execute("print('hi'); x * 2")
    assert outcome.output == "hi\n42"
    final = session.execute("SUBMIT(answer=y + 1)", {"y": 1}, output_fields=["answer"])
    assert final.kind == "final"
    assert final.value == {"answer": 2}
    called = session.execute("shout('a')", tools={"shout": lambda s: s.upper()})  # pyright: ignore[reportUnknownLambdaType, reportUnknownMemberType]
    assert called.output == "'A'"
    assert "noise on stderr" in channel.stderr_text


def test_worker_death_ends_the_attached_session(
    attached: tuple[StreamReplSession, AttachChannel, subprocess.Popen[bytes]],
) -> None:
    from memfun_runtime.sandboxes import SandboxTerminated

    session, _, worker = attached
    worker.kill()
    with pytest.raises(SandboxTerminated):
        session.execute("1")
    assert not session.alive


# --- reaper -----------------------------------------------------------------------------------


def _info(cid: str, **labels: str) -> ContainerInfo:
    base = {LABEL_SANDBOX: "1", LABEL_HOST: "host-a", LABEL_PID: "100"}
    return ContainerInfo(id=cid, labels={**base, **labels})


def test_reaper_selects_only_this_hosts_containers_of_dead_owners() -> None:
    alive = {100, 300}
    containers = [
        _info("alive-owner"),
        _info("dead-owner", **{LABEL_PID: "200"}),
        _info("other-host", **{LABEL_PID: "200", LABEL_HOST: "host-b"}),
        _info("not-ours", **{LABEL_SANDBOX: "0", LABEL_PID: "200"}),
        ContainerInfo(id="unlabelled", labels={}),
        _info("bad-pid", **{LABEL_PID: "abc"}),
        _info("zero-pid", **{LABEL_PID: "0"}),
        _info("me", **{LABEL_PID: "999"}),
        _info("dead-too", **{LABEL_PID: "201"}),
    ]
    stale = stale_containers(containers, host="host-a", is_alive=alive.__contains__, keep_pid=999)
    assert stale == ["dead-owner", "dead-too"]


def test_pid_alive_sees_a_reaped_child_as_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert pid_alive(os.getpid())
    assert not pid_alive(child.pid)
    assert not pid_alive(0)


# --- adapter without an engine ----------------------------------------------------------------


def test_adapter_is_a_repl_sandbox_with_strong_isolation() -> None:
    sandbox = DockerSandbox()
    assert isinstance(sandbox, ReplSandbox)
    assert sandbox.name == "docker"
    assert sandbox.isolation == "strong"
    with pytest.raises(ValidationError):
        DockerSandbox(cpus=0)


def test_no_engine_is_a_backend_unavailable_that_says_what_to_do(tmp_path: Path) -> None:
    sandbox = DockerSandbox(base_url=f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(BackendUnavailable, match="no Docker engine answers") as caught:
        sandbox.run_code_sync("print(1)")
    assert "DOCKER_HOST" in str(caught.value.hint)


def test_unknown_language_is_refused_before_contacting_the_engine(tmp_path: Path) -> None:
    sandbox = DockerSandbox(base_url=f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(ValidationError, match="unsupported language"):
        sandbox.run_code_sync("x", language="ruby")


# --- integration: a real engine ---------------------------------------------------------------


def _engine_reason() -> str | None:
    host = os.environ.get("DOCKER_HOST")
    if not host and not Path("/var/run/docker.sock").exists():
        return (
            "no Docker engine: DOCKER_HOST is unset and /var/run/docker.sock is absent "
            "(the engine is not a service of this machine, so this skips even under "
            "MEMFUN_REQUIRE_SERVICES=1)"
        )
    try:
        docker.from_env().ping()
    except docker.errors.DockerException as exc:
        return (
            f"no Docker engine answers at {host or '/var/run/docker.sock'}: {exc} (the engine "
            "is not a service of this machine, so this skips even under MEMFUN_REQUIRE_SERVICES=1)"
        )
    return None


@pytest.fixture
def engine_sandbox() -> Iterator[DockerSandbox]:
    reason = _engine_reason()
    if reason is not None:
        pytest.skip(reason)
    image = os.environ.get("MEMFUN_DOCKER_IMAGE", "python:3.11-slim")
    sandbox = DockerSandbox(image=image)
    yield sandbox
    asyncio.run(sandbox.stop())


def _limits() -> SandboxLimits:
    return SandboxLimits(wall_seconds=30.0, cpu_seconds=30.0, memory_mb=256)


def test_engine_runs_code_without_network_or_host_env(
    engine_sandbox: DockerSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary")
    (tmp_path / "in.txt").write_text("data")
    code = (
        "import os, socket\n"
        "print(open('in.txt').read(), 'OPENAI_API_KEY' in os.environ)\n"
        "try:\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\n"
        "except OSError as e:\n    print('blocked')\n"
        "print('ro-root' if os.statvfs('/').f_flag & os.ST_RDONLY else 'rw-root')\n"
    )
    files = FileSystemView(workspace=str(tmp_path), workspace_writable=False)
    result = engine_sandbox.run_code_sync(code, limits=_limits(), files=files)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split() == ["data", "False", "blocked", "ro-root"]


def test_engine_wall_limit_kills_the_container(engine_sandbox: DockerSandbox) -> None:
    limits = SandboxLimits(wall_seconds=2.0, cpu_seconds=30.0, memory_mb=256)
    result = engine_sandbox.run_command_sync(["sleep", "60"], limits=limits)
    assert result.timed_out
    assert result.killed_reason == "wall"


def test_engine_repl_keeps_state(engine_sandbox: DockerSandbox) -> None:
    session = engine_sandbox.open_repl(limits=_limits())
    try:
        assert session.execute("n = 41").kind == "result"
        assert session.execute("n + 1").output == "42"
    finally:
        session.close()
    assert not session.alive


def test_engine_reaper_removes_a_dead_owners_container(engine_sandbox: DockerSandbox) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    client = docker.from_env()
    request = _request(
        image=os.environ.get("MEMFUN_DOCKER_IMAGE", "python:3.11-slim"),
        command=("sleep", "60"),
        session_id=uuid.uuid4().hex,
        owner_pid=child.pid,
        owner_host=socket.gethostname(),
    )
    container = client.containers.create(**_spec(request))
    assert container.id in engine_sandbox.reap()
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(container.id)


# --- host-side layout -------------------------------------------------------------------------


def test_scratch_copy_is_bound_instead_of_the_workspace_and_removed_after(tmp_path: Path) -> None:
    from memfun_runtime.sandboxes.docker import _sandbox as impl

    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "f.txt").write_text("original")
    layout = impl._layout(FileSystemView(workspace=str(workspace), scratch_copy=True))  # pyright: ignore[reportPrivateUsage]
    assert layout.workspace is not None
    copy = Path(layout.workspace)
    assert copy != workspace
    assert (copy / "f.txt").read_text() == "original"
    inside = layout.write("stdin", "feed")
    assert inside == "/memfun/code/stdin"
    assert layout.code_dir is not None
    assert (Path(layout.code_dir) / "stdin").stat().st_mode & 0o777 == 0o644
    layout.cleanup()
    assert not copy.exists()
    assert not Path(layout.code_dir).exists()
    assert (workspace / "f.txt").read_text() == "original"
    with pytest.raises(ValidationError, match="not a folder"):
        impl._layout(FileSystemView(workspace=str(tmp_path / "missing")))  # pyright: ignore[reportPrivateUsage]


def test_log_output_is_capped_with_truncation_flag() -> None:
    from memfun_runtime.sandboxes._output import capped_text

    assert capped_text([b"ab", b"cd"], 4) == ("abcd", False)
    assert capped_text([b"ab", b"cde", b"f"], 4) == ("abcd", True)
    assert capped_text(["ab", "cde"], 4) == ("abcd", True)  # Modal may stream text
