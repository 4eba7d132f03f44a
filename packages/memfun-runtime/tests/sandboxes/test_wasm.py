"""The wasm sandbox (Pyodide on Deno): the REPL contract, mounts, and escape attempts.

Most tests share one module-scoped session (a cold start costs about a second); tests
that end a session open their own. Skips when Deno or the Pyodide cache is missing, but
fails under MEMFUN_REQUIRE_SERVICES=1 (CI installs both).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from memfun_core.errors import (
    BackendUnavailable,
    MissingExtraError,
    PermissionDeniedError,
    ValidationError,
)
from memfun_runtime.protocols import (
    FileSystemView,
    Mount,
    NetworkPolicy,
    ReplSandbox,
    ReplSession,
    SandboxAdapter,
    SandboxLimits,
)
from memfun_runtime.sandboxes import SandboxTerminated, WasmSandbox
from memfun_runtime.sandboxes.wasm import (
    SETUP_COMMAND,
    WasmReplSession,
    install_pyodide,
    locate_pyodide,
)
from memfun_runtime.sandboxes.wasm.setup import main as setup_main

CANARY = "sk-memfun-wasm-canary-" + uuid.uuid4().hex
LIMITS = SandboxLimits(wall_seconds=3.0, cpu_seconds=300.0, memory_mb=512, max_output_bytes=100_000)


def _wasm_unavailable() -> str | None:
    try:
        WasmSandbox()._requirements()  # pyright: ignore[reportPrivateUsage]
    except (MissingExtraError, BackendUnavailable) as exc:
        return str(exc)
    return None


@pytest.fixture(scope="module")
def wasm() -> WasmSandbox:
    reason = _wasm_unavailable()
    if reason is not None:
        if os.environ.get("MEMFUN_REQUIRE_SERVICES") == "1":
            pytest.fail(f"MEMFUN_REQUIRE_SERVICES=1 but the wasm sandbox is unavailable: {reason}")
        pytest.skip(f"the wasm sandbox is unavailable: {reason}")
    return WasmSandbox(limits=LIMITS)


class Shared:
    def __init__(self, root: Path) -> None:
        self.workspace = root / "workspace"
        self.readonly = root / "readonly"
        self.outside = root / "outside"
        for folder in (self.workspace, self.readonly, self.outside):
            folder.mkdir()
        self.secret = self.outside / "secret.txt"
        self.secret.write_text("TOP-SECRET-" + uuid.uuid4().hex)
        (self.workspace / "hello.txt").write_text("hi from host")
        (self.workspace / "sub").mkdir()
        (self.workspace / "sub" / "deep.txt").write_text("deep")
        (self.workspace / "abs_link").symlink_to(self.secret)
        (self.workspace / "dir_link").symlink_to(self.outside)
        (self.readonly / "ro.txt").write_text("read only")


@pytest.fixture(scope="module")
def shared(wasm: WasmSandbox, tmp_path_factory: pytest.TempPathFactory) -> Shared:
    return Shared(tmp_path_factory.mktemp("wasm"))


@pytest.fixture(scope="module")
def repl(wasm: WasmSandbox, shared: Shared) -> Iterator[WasmReplSession]:
    previous = os.environ.get("OPENAI_API_KEY")
    os.environ["OPENAI_API_KEY"] = CANARY
    try:
        session = wasm.open_repl(
            files=FileSystemView(
                workspace=str(shared.workspace),
                mounts=(Mount(str(shared.readonly), "/data", writable=False),),
            ),
            env={"GREETING": "hello"},
        )
    finally:
        if previous is None:
            del os.environ["OPENAI_API_KEY"]
        else:
            os.environ["OPENAI_API_KEY"] = previous
    yield session
    session.close()


# --- the contract --------------------------------------------------------------------------


def test_is_a_strong_repl_sandbox(wasm: WasmSandbox, repl: WasmReplSession) -> None:
    assert isinstance(wasm, ReplSandbox)
    assert isinstance(wasm, SandboxAdapter)
    assert isinstance(repl, ReplSession)
    assert wasm.name == "wasm"
    assert repl.isolation == "strong"
    assert repl.python_version.startswith("3.")
    assert repl.execute("import sys\nsys.platform").output == "'emscripten'"


def test_state_persists_across_calls(repl: ReplSession) -> None:
    assert repl.execute("st_x = 41\ndef st_inc(v):\n    return v + 1").kind == "result"
    outcome = repl.execute("print('x is', st_x)\nst_inc(st_x)")
    assert outcome.kind == "result"
    assert outcome.output == "x is 41\n42"


def test_variables_are_injected_and_not_resent(repl: ReplSession) -> None:
    big = "z" * 2_000_000
    first = repl.execute("big = big.upper()\nlen(big), big[:3]", {"big": big})
    assert first.output == "(2000000, 'ZZZ')"
    second = repl.execute("big[:3], len(big)", {"big": big})  # only the key crossed
    assert second.output == "('zzz', 2000000)"
    mutated = repl.execute("cfg['n'] += 5\ncfg['n']", {"cfg": {"n": 1}})
    assert mutated.output == "6"
    assert repl.execute("cfg['n']", {"cfg": {"n": 1}}).output == "1"


def test_tools_are_called_on_the_host(repl: ReplSession) -> None:
    seen: list[tuple[int, int]] = []

    def add(a: int, b: int) -> int:
        seen.append((a, b))
        return a + b

    async def twice(v: int) -> int:
        return 2 * v

    outcome = repl.execute(
        "import os\nprint(add(2, b=3), twice(21), host_pid() != os.getpid())",
        tools={"add": add, "twice": twice, "host_pid": os.getpid},
    )
    assert outcome.output == "5 42 True"
    assert seen == [(2, 3)]


def test_tool_errors_are_recoverable_and_tools_cannot_be_forged(repl: ReplSession) -> None:
    def broken() -> None:
        raise RuntimeError("backend down")

    outcome = repl.execute(
        "try:\n    broken()\nexcept ToolError as e:\n    print('caught', e)",
        tools={"broken": broken},
    )
    assert outcome.output == "caught RuntimeError: backend down"
    forged = repl.execute("secret_tool()", tools={"safe": lambda: None})
    assert forged.kind == "error"
    assert "NameError" in (forged.error or "")
    with pytest.raises(ValidationError):
        repl.execute("1", tools={"__memfun_sync__": lambda changes: {}})


def test_submit_returns_final_fields(repl: ReplSession) -> None:
    outcome = repl.execute("SUBMIT(answer=42, why='because')", output_fields=["answer", "why"])
    assert outcome.kind == "final"
    assert outcome.value == {"answer": 42, "why": "because"}
    wrong = repl.execute("SUBMIT(answer=1)", output_fields=["answer", "why"])
    assert wrong.kind == "error"
    assert "why" in (wrong.error or "")
    assert repl.execute("SUBMIT([1, 2])").value == {"output": [1, 2]}


def test_errors_are_recoverable_and_state_survives(repl: ReplSession) -> None:
    repl.execute("kept = 'yes'")
    error = repl.execute("def f():\n    raise ValueError('bad value')\nf()")
    assert error.kind == "error"
    assert "ValueError: bad value" in (error.error or "")
    assert "<repl-" in (error.error or "")
    assert repl.execute("def broken(:").kind == "syntax_error"
    assert repl.execute("import sys\nsys.exit(3)").kind == "error"
    assert repl.execute("input()").kind == "error"  # no stdin: EOFError
    assert repl.execute("kept").output == "'yes'"


@pytest.mark.parametrize(
    "code", ["while True:\n    pass", "import time\ntime.sleep(60)"], ids=["spin", "sleep"]
)
def test_soft_timeout_is_recoverable(repl: ReplSession, code: str) -> None:
    repl.execute("timeout_kept = 1")
    outcome = repl.execute(code, timeout=1.0)
    assert outcome.kind == "error"
    assert "TimeoutError: execution exceeded its time limit" in (outcome.error or "")
    assert repl.execute("timeout_kept + 1").output == "2"


def test_time_spent_in_host_tools_is_not_charged(repl: ReplSession) -> None:
    import time

    def slow() -> str:
        time.sleep(1.5)
        return "done"

    assert repl.execute("slow()", tools={"slow": slow}, timeout=1.0).output == "'done'"


# --- resource limits -------------------------------------------------------------------------


def test_memory_bomb_is_a_recoverable_memory_error(repl: ReplSession) -> None:
    outcome = repl.execute("x = bytearray(1536 * 1024**2)")
    assert outcome.kind == "error"
    assert "MemoryError" in (outcome.error or "")
    grow = repl.execute(
        "hog = []\nwhile True:\n    hog.append(bytearray(16 * 1024**2))", timeout=30
    )
    assert "MemoryError" in (grow.error or "")
    assert repl.execute("del hog\n2 + 2").output == "4"


def test_huge_output_is_capped(repl: ReplSession) -> None:
    outcome = repl.execute("import js\nprint('a' * 3_000_000)\njs.console.log('b' * 500_000)")
    assert outcome.kind == "result"
    assert len(outcome.output.encode()) <= 100_000
    assert outcome.output_truncated
    assert repl.execute("print('small')").output == "small"


# --- escape attempts -------------------------------------------------------------------------


def test_host_environment_is_not_visible(repl: ReplSession) -> None:
    outcome = repl.execute(
        "import os, js\n"
        "print(sorted(os.environ).count('OPENAI_API_KEY'), os.environ.get('GREETING'))\n"
        "for attempt in (lambda: js.Deno.env.get('OPENAI_API_KEY'),\n"
        "                lambda: js.Deno.env.toObject(),\n"
        "                lambda: js.Deno.readTextFileSync('/proc/self/environ'),\n"
        "                lambda: open('/proc/self/environ').read()):\n"
        "    try:\n        print('LEAK', attempt())\n"
        "    except Exception as e:\n        print('DENIED', type(e).__name__)\n"
    )
    assert CANARY not in outcome.output
    lines = outcome.output.splitlines()
    assert lines[0] == "0 hello"
    assert lines[1:] == ["DENIED JsException"] * 3 + ["DENIED FileNotFoundError"]


def test_host_files_outside_mounts_are_invisible(repl: ReplSession, shared: Shared) -> None:
    outcome = repl.execute(
        "import os, js\n"
        f"paths = ({str(shared.secret)!r}, '/etc/shadow', '/etc/passwd', '/root/.ssh/id_rsa')\n"
        "for p in paths:\n"
        "    try:\n        print('READ', open(p).read()[:30])\n"
        "    except OSError as e:\n        print('DENIED', type(e).__name__)\n"
        "    try:\n        print('READ', js.Deno.readTextFileSync(p)[:30])\n"
        "    except Exception as e:\n        print('DENIED', 'Deno' if 'NotCapable' in str(e) else str(e))\n"
    )
    assert "READ" not in outcome.output
    assert shared.secret.read_text() not in outcome.output
    assert outcome.output.count("DENIED Deno") == 4


def test_symlinks_in_the_workspace_do_not_lead_out(repl: ReplSession, shared: Shared) -> None:
    outcome = repl.execute(
        "import os\n"
        "print(sorted(os.listdir('.')))\n"
        "for p in ('abs_link', 'dir_link/secret.txt'):\n"
        "    try:\n        print('READ', open(p).read())\n"
        "    except OSError as e:\n        print('DENIED', type(e).__name__)\n"
    )
    assert shared.secret.read_text() not in outcome.output
    assert "abs_link" not in outcome.output.splitlines()[0]
    assert outcome.output.count("DENIED FileNotFoundError") == 2


def test_writes_outside_the_mounts_never_reach_the_host(
    repl: ReplSession, shared: Shared, tmp_path: Path
) -> None:
    target = tmp_path / "planted.txt"
    outside = shared.outside / "planted.txt"
    outcome = repl.execute(
        "import os, js\n"
        f"for p in ({str(target)!r}, {str(outside)!r}, '/tmp/planted', '/etc/planted'):\n"
        "    os.makedirs(os.path.dirname(p), exist_ok=True)\n"
        "    open(p, 'w').write('x')\n"
        "    try:\n        js.Deno.writeTextFileSync(p, 'x'); print('WROTE', p)\n"
        "    except Exception as e:\n        print('DENIED', 'NotCapable' in str(e))\n"
    )
    assert outcome.output.splitlines() == ["DENIED True"] * 4
    assert not target.exists()
    assert not outside.exists()
    assert not Path("/etc/planted").exists()


def test_no_network_even_to_localhost(repl: ReplSession, tcp_listener) -> None:
    port, received = tcp_listener
    outcome = repl.execute(
        "import socket, js\n"
        "for host in ('127.0.0.1', '1.1.1.1'):\n"
        "    try:\n"
        f"        s = socket.create_connection((host, {port}), timeout=2); print('CONNECTED')\n"
        "    except OSError as e:\n        print('DENIED', type(e).__name__)\n"
        "print(socket.gethostbyname('example.com'))\n"
        "def state(kind, **extra):\n"
        "    query = js.Object.fromEntries([['name', kind], *extra.items()])\n"
        "    return js.Deno.permissions.querySync(query).state\n"
        "print(state('net'), state('net', host='127.0.0.1'), state('env'), state('run'),\n"
        "      state('write', path='/tmp'), state('read', path='/etc/passwd'), state('sys'), state('ffi'))\n"
    )
    lines = outcome.output.splitlines()
    assert lines[:2] == ["DENIED OSError", "DENIED OSError"]
    assert lines[2].startswith("172.29.")  # Emscripten's placeholder address: no real lookup
    states = lines[3].split()
    assert len(states) == 8
    assert "granted" not in states  # "prompt" for reads: not granted, and never asked
    assert states[:5] == ["denied"] * 5
    assert received == []


def test_no_processes_can_be_started(repl: ReplSession) -> None:
    outcome = repl.execute(
        "import os, subprocess, js\n"
        "try:\n    subprocess.run(['/bin/sh', '-c', 'id'])\n"
        "except OSError as e:\n    print('DENIED', type(e).__name__)\n"
        "try:\n    os.fork()\nexcept OSError as e:\n    print('DENIED', type(e).__name__)\n"
        "try:\n    js.Deno.Command.new('/bin/sh').outputSync()\n"
        "except Exception as e:\n    print('DENIED', 'NotCapable' in str(e) or type(e).__name__)\n"
    )
    assert outcome.output.splitlines()[0] == "DENIED OSError"
    assert outcome.output.splitlines()[1] == "DENIED OSError"
    assert outcome.output.splitlines()[2].startswith("DENIED")


# --- mounts ----------------------------------------------------------------------------------


def test_workspace_is_synced_both_ways(repl: ReplSession, shared: Shared) -> None:
    ws = shared.workspace
    outcome = repl.execute(
        "import os\nprint(os.getcwd(), open('hello.txt').read(), open('sub/deep.txt').read())\n"
        "open('made_inside.txt', 'w').write('from sandbox')\nos.makedirs('new/dir')\n"
        "_ = open('new/dir/f.txt', 'w').write('nested')"
    )
    assert outcome.output == "/workspace hi from host deep"
    assert (ws / "made_inside.txt").read_text() == "from sandbox"
    assert (ws / "new" / "dir" / "f.txt").read_text() == "nested"
    (ws / "hello.txt").write_text("changed on host, longer")
    (ws / "sub" / "deep.txt").unlink()
    seen = repl.execute(
        "import os\nprint(open('hello.txt').read(), os.path.exists('sub/deep.txt'))"
    )
    assert seen.output == "changed on host, longer False"
    repl.execute("os.remove('made_inside.txt')")
    assert not (ws / "made_inside.txt").exists()


def test_host_tools_see_sandbox_writes_during_the_call(repl: ReplSession, shared: Shared) -> None:
    def read_host(name: str) -> str:
        return (shared.workspace / name).read_text()

    def write_host(name: str) -> None:
        (shared.workspace / name).write_text("written by a host tool")

    outcome = repl.execute(
        "open('during.txt', 'w').write('mid-call')\nprint(read_host('during.txt'))\n"
        "write_host('from_tool.txt')\nprint(open('from_tool.txt').read())",
        tools={"read_host": read_host, "write_host": write_host},
    )
    assert outcome.output == "mid-call\nwritten by a host tool"


def test_read_only_mount_refuses_writes(repl: ReplSession, shared: Shared) -> None:
    outcome = repl.execute(
        "print(open('/data/ro.txt').read())\n"
        "for p in ('/data/ro.txt', '/data/new.txt'):\n"
        "    try:\n        open(p, 'w').write('x'); print('WROTE')\n"
        "    except OSError as e:\n        print('DENIED', type(e).__name__)\n"
    )
    assert outcome.output.splitlines() == [
        "read only",
        "DENIED PermissionError",
        "DENIED PermissionError",
    ]
    assert (shared.readonly / "ro.txt").read_text() == "read only"
    assert not (shared.readonly / "new.txt").exists()


def test_scratch_copy_leaves_the_workspace_untouched(wasm: WasmSandbox, tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("original")
    result = wasm.run_code_sync(
        "print(open('data.txt').read()); open('data.txt', 'w').write('changed')",
        files=FileSystemView(workspace=str(tmp_path), scratch_copy=True),
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "original"
    assert (tmp_path / "data.txt").read_text() == "original"


# --- sessions that end -------------------------------------------------------------------------


def test_hard_timeout_kills_the_session(wasm: WasmSandbox) -> None:
    session = wasm.open_repl(limits=SandboxLimits(wall_seconds=1.0, memory_mb=512))
    code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    with pytest.raises(SandboxTerminated) as info:
        session.execute(code)
    assert info.value.reason == "wall"
    assert not session.alive
    with pytest.raises(SandboxTerminated):
        session.execute("1")


def test_session_cpu_budget_kills_a_spin(wasm: WasmSandbox) -> None:
    session = wasm.open_repl(limits=SandboxLimits(cpu_seconds=3, wall_seconds=60, memory_mb=512))
    with pytest.raises(SandboxTerminated) as info:
        session.execute("while True:\n    pass")
    assert info.value.reason == "cpu"
    session.close()


def test_authorizer_refuses_and_a_dead_runtime_is_terminal(wasm: WasmSandbox) -> None:
    def authorize(name: str, call: object) -> None:
        if name == "delete_everything":
            raise PermissionDeniedError(name, "not allowed by policy")

    ran: list[str] = []
    sandbox = WasmSandbox(limits=LIMITS, authorize=authorize)
    session = sandbox.open_repl()
    try:
        outcome = session.execute(
            "try:\n    delete_everything()\nexcept ToolError as e:\n    print(e)\nok()",
            tools={"delete_everything": lambda: ran.append("deleted"), "ok": lambda: "fine"},
        )
        assert ran == []
        assert "not allowed by policy" in outcome.output
        assert outcome.output.endswith("'fine'")
        with pytest.raises(SandboxTerminated) as info:
            session.execute("import js\njs.Deno.exit(3)")
        assert info.value.reason == "exited"
        with pytest.raises(SandboxTerminated):
            session.execute("1")
    finally:
        session.close()


# --- one-shot runs ---------------------------------------------------------------------------


async def test_run_code_separates_streams_and_reports_exit_status(wasm: WasmSandbox) -> None:
    await wasm.start()
    result = await wasm.run_code(
        "import os, sys\nprint('out', input(), os.environ.get('ONLY'))\n"
        "print('err', file=sys.stderr)\nsys.exit(3)",
        stdin="line from stdin\n",
        env={"ONLY": "this"},
    )
    assert result.stdout == "out line from stdin this\n"
    assert result.stderr == "err\n"
    assert result.exit_code == 3
    assert not result.timed_out
    with pytest.raises(ValidationError):
        await wasm.run_code("echo hi", language="bash")
    with pytest.raises(ValidationError):
        await wasm.run_command(["/bin/echo", "hi"])
    await wasm.stop()


def test_run_code_timeout_is_reported(wasm: WasmSandbox) -> None:
    result = wasm.run_code_sync(
        "print('started')\nwhile True:\n    pass", limits=SandboxLimits(wall_seconds=1.0)
    )
    assert result.timed_out
    assert result.killed_reason == "wall"
    assert result.exit_code == -9
    assert result.stdout == "started\n"


# --- installation ----------------------------------------------------------------------------


def test_network_policy_is_refused(wasm: WasmSandbox) -> None:
    with pytest.raises(ValidationError, match="no network"):
        wasm.open_repl(network=NetworkPolicy(allow=True))


def test_setup_is_idempotent_on_a_complete_cache(wasm: WasmSandbox, capsys) -> None:
    cache = locate_pyodide()
    assert install_pyodide() == cache  # complete: returns at once, nothing is fetched
    assert setup_main(["--check"]) == 0
    assert "complete" in capsys.readouterr().out


def test_missing_pyodide_names_the_setup_command(tmp_path: Path, capsys) -> None:
    with pytest.raises(BackendUnavailable) as info:
        locate_pyodide(tmp_path)
    assert SETUP_COMMAND in str(info.value)
    assert setup_main(["--check", "--dir", str(tmp_path)]) == 1
    assert "missing or incomplete" in capsys.readouterr().out


def test_missing_deno_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "deno", None)  # as if the wheel were not installed
    with pytest.raises(MissingExtraError) as info:
        WasmSandbox().open_repl()
    assert "memfun-runtime[wasm]" in str(info.value)
