"""How every adapter turns a finished process into a SandboxResult (shared by all four)."""

from __future__ import annotations

import signal

import pytest

from memfun_core.errors import ValidationError
from memfun_runtime.protocols import NetworkPolicy, SandboxResult
from memfun_runtime.sandboxes._blocking import refuse_host_list
from memfun_runtime.sandboxes._process import ProcessOutcome, sandbox_result


def _outcome(returncode: int, *, timed_out: bool = False) -> ProcessOutcome:
    return ProcessOutcome(returncode, "out", "err", True, False, 1.5, timed_out)


def test_every_field_lands_in_its_place() -> None:
    assert sandbox_result(_outcome(3), shell_style=True) == SandboxResult(
        exit_code=3,
        stdout="out",
        stderr="err",
        stdout_truncated=True,
        stderr_truncated=False,
        duration=1.5,
        timed_out=False,
        killed_reason=None,
    )


@pytest.mark.parametrize(
    ("returncode", "shell_style", "exit_code", "reason"),
    [
        (-signal.SIGXCPU, False, -signal.SIGXCPU, "cpu"),
        (128 + signal.SIGXFSZ, True, -signal.SIGXFSZ, "file_size"),
        (128 + signal.SIGXFSZ, False, 128 + signal.SIGXFSZ, None),
        (-signal.SIGKILL, False, -signal.SIGKILL, None),
    ],
)
def test_signals_become_negative_exit_codes_and_name_the_limit(
    returncode: int, shell_style: bool, exit_code: int, reason: str | None
) -> None:
    result = sandbox_result(_outcome(returncode), shell_style=shell_style)
    assert (result.exit_code, result.killed_reason) == (exit_code, reason)


def test_wall_clock_and_memory_come_before_the_signal() -> None:
    killed = _outcome(-signal.SIGKILL, timed_out=True)
    assert sandbox_result(killed, shell_style=False, oom=True).killed_reason == "wall"
    assert sandbox_result(_outcome(137), shell_style=True, oom=True).killed_reason == "memory"


@pytest.mark.parametrize("sandbox", ["local", "docker", "modal"])
def test_host_lists_are_refused_naming_the_sandbox(sandbox: str) -> None:
    refuse_host_list(NetworkPolicy(allow=True), sandbox)
    refuse_host_list(NetworkPolicy(allowed_hosts=("example.com",)), sandbox)  # network off
    with pytest.raises(ValidationError, match=f"the {sandbox} sandbox cannot limit the network"):
        refuse_host_list(NetworkPolicy(allow=True, allowed_hosts=("example.com",)), sandbox)
