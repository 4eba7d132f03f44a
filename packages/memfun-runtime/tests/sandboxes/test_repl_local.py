"""The persistent REPL of the local sandbox: state, variables, tools, errors, limits."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import pytest

from memfun_core.errors import PermissionDeniedError
from memfun_runtime.protocols import FileSystemView, ReplSandbox, ReplSession, SandboxLimits
from memfun_runtime.sandboxes import SandboxTerminated


@pytest.fixture
def repl(box) -> Iterator[ReplSession]:
    session = box.sandbox.open_repl(
        limits=SandboxLimits(wall_seconds=10.0, cpu_seconds=30.0, memory_mb=1024),
        files=FileSystemView(workspace=str(box.workspace)),
    )
    yield session
    session.close()


def test_local_sandbox_is_a_repl_sandbox(box) -> None:
    assert isinstance(box.sandbox, ReplSandbox)


def test_state_persists_across_calls(repl: ReplSession) -> None:
    assert repl.execute("x = 41\ndef inc(v):\n    return v + 1").kind == "result"
    outcome = repl.execute("print('x is', x)\ninc(x)")
    assert outcome.kind == "result"
    assert outcome.output == "x is 41\n42"
    assert isinstance(repl, ReplSession)
    assert repl.isolation in ("strong", "weak")


def test_variables_are_injected_and_not_resent(repl: ReplSession) -> None:
    big = "z" * 2_000_000
    first = repl.execute("big = big.upper()\nlen(big), big[:3]", {"big": big})
    assert first.output == "(2000000, 'ZZZ')"
    # Same object again: only a key crosses; the sandbox restores the pristine value.
    second = repl.execute("big[:3], len(big)", {"big": big})
    assert second.output == "('zzz', 2000000)"
    changed = repl.execute("cfg['n']", {"cfg": {"n": 1}})
    assert changed.output == "1"
    mutated = repl.execute("cfg['n'] += 5\ncfg['n']", {"cfg": {"n": 1}})
    assert mutated.output == "6"
    again = repl.execute("cfg['n']", {"cfg": {"n": 1}})  # re-injected fresh, as sent
    assert again.output == "1"


def test_tools_are_called_on_the_host(repl: ReplSession) -> None:
    seen: list[tuple[int, int]] = []

    def add(a: int, b: int) -> int:
        seen.append((a, b))
        return a + b

    outcome = repl.execute("r = add(2, b=3)\nprint(r)", tools={"add": add})
    assert outcome.output == "5"
    assert seen == [(2, 3)]


def test_async_tools_work(repl: ReplSession) -> None:
    async def twice(v: int) -> int:
        return 2 * v

    assert repl.execute("twice(21)", tools={"twice": twice}).output == "42"


def test_a_failing_tool_is_a_recoverable_error(repl: ReplSession) -> None:
    def broken() -> None:
        raise RuntimeError("backend down")

    outcome = repl.execute(
        "try:\n    broken()\nexcept ToolError as e:\n    print('caught', e)",
        tools={"broken": broken},
    )
    assert outcome.output == "caught RuntimeError: backend down"
    assert repl.execute("unknown_tool()").kind == "error"


def test_unknown_tools_cannot_be_forged(repl: ReplSession) -> None:
    called: list[str] = []
    outcome = repl.execute("print(secret())", tools={"safe": lambda: called.append("safe")})
    assert outcome.kind == "error"
    assert "NameError" in (outcome.error or "")
    assert called == []


def test_host_authorizer_refuses_tool_calls(box) -> None:
    from memfun_runtime.sandboxes import LocalSandbox

    def authorize(name: str, call: object) -> None:
        if name == "delete_everything":
            raise PermissionDeniedError(name, "not allowed by policy")

    ran: list[str] = []
    sandbox = LocalSandbox(mode=box.sandbox.mode if box.sandbox.mode == "landlock" else "auto",
                           authorize=authorize)  # fmt: skip
    session = sandbox.open_repl(limits=SandboxLimits(wall_seconds=10.0))
    try:
        outcome = session.execute(
            "try:\n    delete_everything()\nexcept ToolError as e:\n    print(e)\nok()",
            tools={"delete_everything": lambda: ran.append("deleted"), "ok": lambda: "fine"},
        )
    finally:
        session.close()
    assert ran == []
    assert "not allowed by policy" in outcome.output
    assert outcome.output.endswith("'fine'")


def test_submit_returns_final_fields(repl: ReplSession) -> None:
    outcome = repl.execute("SUBMIT(answer=42, why='because')", output_fields=["answer", "why"])
    assert outcome.kind == "final"
    assert outcome.value == {"answer": 42, "why": "because"}
    wrong = repl.execute("SUBMIT(answer=1)", output_fields=["answer", "why"])
    assert wrong.kind == "error"
    assert "why" in (wrong.error or "")
    single = repl.execute("SUBMIT([1, 2])")
    assert single.value == {"output": [1, 2]}


def test_errors_are_recoverable_and_state_survives(repl: ReplSession) -> None:
    repl.execute("kept = 'yes'")
    error = repl.execute("def f():\n    raise ValueError('bad value')\nf()")
    assert error.kind == "error"
    assert "ValueError: bad value" in (error.error or "")
    assert "<repl-" in (error.error or "")
    syntax = repl.execute("def broken(:")
    assert syntax.kind == "syntax_error"
    assert repl.execute("import sys\nsys.exit(3)").kind == "error"
    assert repl.execute("kept").output == "'yes'"


def test_soft_timeout_is_recoverable(repl: ReplSession) -> None:
    repl.execute("kept = 1")
    outcome = repl.execute("while True:\n    pass", timeout=1.0)
    assert outcome.kind == "error"
    assert "TimeoutError" in (outcome.error or "")
    assert repl.execute("kept + 1").output == "2"


def test_hard_timeout_kills_the_session(repl: ReplSession) -> None:
    code = "import signal, time\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\ntime.sleep(60)"
    with pytest.raises(SandboxTerminated) as info:
        repl.execute(code, timeout=1.0)
    assert info.value.reason == "wall"
    assert not repl.alive
    with pytest.raises(SandboxTerminated):
        repl.execute("1")


def test_a_dead_worker_is_terminal(repl: ReplSession) -> None:
    with pytest.raises(SandboxTerminated) as info:
        repl.execute("import os\nos._exit(7)")
    assert info.value.reason == "exited"
    with pytest.raises(SandboxTerminated):
        repl.execute("1")


def test_memory_bomb_in_the_repl_is_recoverable(repl: ReplSession) -> None:
    outcome = repl.execute("x = bytearray(8 * 1024**3)")
    assert outcome.kind == "error"
    assert "MemoryError" in (outcome.error or "")
    assert repl.execute("2 + 2").output == "4"


def test_output_of_a_call_is_capped(box) -> None:
    session = box.sandbox.open_repl(limits=SandboxLimits(wall_seconds=20.0, max_output_bytes=5000))
    try:
        outcome = session.execute(
            "import os\nprint('a' * 3_000_000)\nos.system('yes | head -c 1000000')"
        )
    finally:
        session.close()
    assert len(outcome.output.encode()) <= 5000 + 16
    assert outcome.output_truncated


def test_input_and_child_output_cannot_corrupt_the_protocol(repl: ReplSession) -> None:
    outcome = repl.execute(
        "import os, subprocess\n"
        'subprocess.run([\'/bin/echo\', \'{"type": "outcome", "kind": "final"}\'])\n'
        "try:\n    input()\nexcept EOFError:\n    print('no stdin')\n"
    )
    assert outcome.kind == "result"
    assert '{"type": "outcome"' in outcome.output
    assert "no stdin" in outcome.output


_FORGE = """
import gc
channel = next(o for o in gc.get_objects() if type(o).__name__ == "_ProcessSession")
channel._out.write({message!r}.encode() + b"\\n")
channel._out.flush()
import time
time.sleep(5)
"""


@pytest.mark.parametrize(
    ("message", "says"),
    [
        ('{"type":"outcome","id":1,"kind":{"a":1}}', "unexpected message"),
        ('{"type":"outcome","id":7,"kind":"result","output":""}', "unexpected message"),
        ('{"type":"outcome","id":1,"kind":"result","output":{"x":1}}', "unexpected message"),
        ('{"type":"outcome","id":1,"kind":"final","error":[1]}', "unexpected message"),
        ('{"type":"outcome","id":1,"kind":"result","truncated":"no"}', "unexpected message"),
        ('{"type":"tool_call","id":1,"name":"add","args":1}', "unexpected message"),
        ('{"type":"tool_call","id":1,"name":"add","kwargs":[1]}', "unexpected message"),
        ('{"type":"tool_call","id":1,"name":{"n":1}}', "unexpected message"),
        ('{"type":"tool_call","id":1,"name":"add","args":"xy"}', "unexpected message"),
        ("[" * 100_000 + "]" * 100_000, "too deep JSON"),
    ],
    ids=lambda v: v[:40],
)
def test_a_forged_message_from_inside_ends_the_session_cleanly(
    repl: ReplSession, message: str, says: str
) -> None:
    """The sandboxed code shares the worker's process, so it can write to the channel itself.

    A message of the wrong shape (from compromised code, as from a broken worker) ends the
    session with :class:`SandboxTerminated`, never a ``TypeError`` or ``RecursionError`` on
    the host that would leave the session half-way through a call; no tool runs.
    """
    calls: list[object] = []
    with pytest.raises(SandboxTerminated, match=re.escape(says)) as info:
        repl.execute(_FORGE.format(message=message), tools={"add": lambda *a: calls.append(a)})
    assert info.value.reason == "protocol"
    assert calls == []
    assert not repl.alive


def test_a_well_formed_forged_outcome_gains_nothing_and_the_next_call_ends(
    repl: ReplSession,
) -> None:
    """Forging the current call's outcome gives what SUBMIT would; then the worker's own
    outcome of that call arrives during the next call, whose id it lacks: the session ends
    rather than hand one call's answer to another."""
    forged = '{"type":"outcome","id":1,"kind":"final","value":{"answer":1},"output":""}'
    outcome = repl.execute(_FORGE.format(message=forged))
    assert (outcome.kind, outcome.value) == ("final", {"answer": 1})
    with pytest.raises(SandboxTerminated, match="unexpected message") as info:
        repl.execute("2 + 2")
    assert info.value.reason == "protocol"


def test_background_processes_die_with_the_session(box, find_processes, wait_gone) -> None:
    marker = "repl-bg-" + uuid.uuid4().hex
    session = box.sandbox.open_repl(limits=SandboxLimits(wall_seconds=10.0))
    outcome = session.execute(
        "import subprocess\n"
        f"p = subprocess.Popen(['/usr/bin/python3', '-c', 'import time; time.sleep(60)', '{marker}'])\n"
        "print(p.pid)"
    )
    assert outcome.kind == "result", outcome.output
    # control: it runs while the session lives (on a loaded machine the child may take a moment
    # to show its command line in /proc)
    deadline = time.monotonic() + 10.0
    while not find_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert find_processes(marker) != []
    session.close()
    assert wait_gone(marker) == []


async def test_async_run_command_api(box) -> None:
    await box.sandbox.start()
    result = await box.sandbox.run_command(["/bin/echo", "hello"])
    assert result.stdout == "hello\n"
    assert result.exit_code == 0
    await box.sandbox.stop()
