"""SandboxInterpreter honours DSPy's CodeInterpreter contract, and dspy.RLM runs on it."""

from __future__ import annotations

import os

import dspy
import pytest
from dspy.primitives.code_interpreter import (
    CodeExecutionError,
    CodeInterpreter,
    CodeInterpreterError,
    FinalOutput,
)
from dspy.utils import DummyLM

from memfun_agent.interpreter import SandboxInterpreter, sandbox_interpreter_factory
from memfun_runtime.protocols import SandboxLimits
from memfun_runtime.sandboxes import LocalSandbox


def _sandbox(mode: str) -> LocalSandbox:
    return LocalSandbox(mode="landlock" if mode == "landlock" else "auto")


@pytest.fixture
def interpreter(sandbox_mode: str):
    interp = SandboxInterpreter(_sandbox(sandbox_mode), limits=SandboxLimits(wall_seconds=10.0))
    yield interp
    interp.shutdown()


def test_is_a_code_interpreter(interpreter: SandboxInterpreter) -> None:
    assert isinstance(interpreter, CodeInterpreter)


def test_start_is_idempotent_and_state_persists(interpreter: SandboxInterpreter) -> None:
    interpreter.start()
    interpreter.start()
    assert interpreter.execute("x = 2") is None
    assert interpreter.execute("print(x * 21)") == "42"


def test_submit_gives_final_output(interpreter: SandboxInterpreter) -> None:
    interpreter.output_fields = [{"name": "answer", "type": "str"}]
    result = interpreter.execute("SUBMIT(answer='done')")
    assert result == FinalOutput({"answer": "done"})


def test_errors_follow_the_contract(interpreter: SandboxInterpreter) -> None:
    with pytest.raises(CodeExecutionError, match="ZeroDivisionError"):
        interpreter.execute("print('before')\n1/0")
    with pytest.raises(SyntaxError):
        interpreter.execute("def (")
    assert interpreter.execute("print('still alive')") == "still alive"
    with pytest.raises(CodeInterpreterError) as info:
        interpreter.execute("import os\nos._exit(1)")
    assert not isinstance(info.value, CodeExecutionError)
    with pytest.raises(CodeInterpreterError):
        interpreter.execute("1")


def test_tools_dict_is_mutable_and_reached_by_rpc(interpreter: SandboxInterpreter) -> None:
    host_pid = os.getpid()
    interpreter.start()
    interpreter.tools["host_pid"] = os.getpid
    assert interpreter.execute("import os\nprint(host_pid() != os.getpid(), host_pid())") == (
        f"True {host_pid}"
    )


def test_reserved_variable_names_are_refused(interpreter: SandboxInterpreter) -> None:
    interpreter.tools["t"] = lambda: 1
    with pytest.raises(CodeInterpreterError, match="invalid"):
        interpreter.execute("1", {"t": 2})
    with pytest.raises(CodeInterpreterError, match="invalid"):
        interpreter.execute("1", {"SUBMIT": 2})


def test_rlm_runs_its_code_inside_the_sandbox(sandbox_mode: str) -> None:
    steps = [
        {
            "reasoning": "Look at the data and where I run.",
            "code": "```python\nimport os\nprint(len(context), os.getuid(), sorted(os.environ).count('OPENAI_API_KEY'))\n```",
        },
        {
            "reasoning": "Ask the sub-model.",
            "code": "```python\nreply = llm_query('say pong')\nprint('sub:', reply)\n```",
        },
        {
            "reasoning": "Done.",
            "code": "```python\nSUBMIT(answer=str(len(context)))\n```",
        },
    ]
    lm = DummyLM(steps)
    sub_lm = DummyLM([{"response": "pong"}])
    rlm = dspy.RLM(
        "context -> answer",
        max_iters=5,
        sub_lm=sub_lm,  # pyright: ignore[reportArgumentType]
        interpreter_factory=sandbox_interpreter_factory(
            lambda: _sandbox(sandbox_mode), limits=SandboxLimits(wall_seconds=20.0)
        ),
    )
    os.environ["OPENAI_API_KEY"] = "sk-memfun-canary"
    try:
        with dspy.context(lm=lm):
            prediction = rlm(context="x" * 5000)
    finally:
        del os.environ["OPENAI_API_KEY"]
    assert prediction.answer == "5000"
    outputs = [step["output"] for step in prediction.trajectory]
    uid = "65534" if sandbox_mode == "namespaces" else "0"
    assert outputs[0].strip() == f"5000 {uid} 0"  # ran inside: no key in its environment
    assert "sub:" in outputs[1]
    assert "pong" in outputs[1]
