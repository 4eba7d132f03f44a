"""SandboxInterpreter over the wasm sandbox: DSPy's contract, and dspy.RLM's code in Pyodide.

Skips when Deno or the Pyodide cache is missing; fails under MEMFUN_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

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
from memfun_core.errors import BackendUnavailable, MissingExtraError
from memfun_runtime.protocols import SandboxLimits
from memfun_runtime.sandboxes import WasmSandbox

LIMITS = SandboxLimits(wall_seconds=10.0, memory_mb=512)


@pytest.fixture(scope="module")
def wasm_ready() -> None:
    try:
        WasmSandbox()._requirements()  # pyright: ignore[reportPrivateUsage]
    except (MissingExtraError, BackendUnavailable) as exc:
        if os.environ.get("MEMFUN_REQUIRE_SERVICES") == "1":
            pytest.fail(f"MEMFUN_REQUIRE_SERVICES=1 but the wasm sandbox is unavailable: {exc}")
        pytest.skip(f"the wasm sandbox is unavailable: {exc}")


@pytest.fixture(scope="module")
def interpreter(wasm_ready: None) -> Iterator[SandboxInterpreter]:
    interp = SandboxInterpreter(WasmSandbox(), limits=LIMITS)
    yield interp
    interp.shutdown()


def test_contract_over_pyodide(interpreter: SandboxInterpreter) -> None:
    assert isinstance(interpreter, CodeInterpreter)
    assert interpreter.isolation == "strong"
    interpreter.start()
    interpreter.start()
    assert interpreter.execute("x = 2") is None
    assert interpreter.execute("import sys\nprint(x * 21, sys.platform)") == "42 emscripten"
    interpreter.tools["host_pid"] = os.getpid
    assert interpreter.execute("print(host_pid())") == str(os.getpid())
    interpreter.output_fields = [{"name": "answer", "type": "str"}]
    assert interpreter.execute("SUBMIT(answer='done')") == FinalOutput({"answer": "done"})
    with pytest.raises(CodeExecutionError, match="ZeroDivisionError"):
        interpreter.execute("print('before')\n1/0")
    with pytest.raises(SyntaxError):
        interpreter.execute("def (")
    assert interpreter.execute("print('still alive', x)") == "still alive 2"


def test_a_dead_runtime_is_terminal(wasm_ready: None) -> None:
    interp = SandboxInterpreter(WasmSandbox(), limits=LIMITS)
    try:
        with pytest.raises(CodeInterpreterError) as info:
            interp.execute("import js\njs.Deno.exit(1)")
        assert not isinstance(info.value, CodeExecutionError)
        with pytest.raises(CodeInterpreterError):
            interp.execute("1")
    finally:
        interp.shutdown()


def test_rlm_runs_its_code_in_pyodide(wasm_ready: None) -> None:
    steps = [
        {
            "reasoning": "Look at the data and where I run.",
            "code": "```python\nimport os, sys\n"
            "print(len(context), sys.platform, sorted(os.environ).count('OPENAI_API_KEY'))\n```",
        },
        {
            "reasoning": "Ask the sub-model.",
            "code": "```python\nreply = llm_query('say pong')\nprint('sub:', reply)\n```",
        },
        {"reasoning": "Done.", "code": "```python\nSUBMIT(answer=str(len(context)))\n```"},
    ]
    rlm = dspy.RLM(
        "context -> answer",
        max_iters=5,
        sub_lm=DummyLM([{"response": "pong"}]),  # pyright: ignore[reportArgumentType]
        interpreter_factory=sandbox_interpreter_factory(WasmSandbox, limits=LIMITS),
    )
    os.environ["OPENAI_API_KEY"] = "sk-memfun-canary"
    try:
        with dspy.context(lm=DummyLM(steps)):
            prediction = rlm(context="x" * 5000)
    finally:
        del os.environ["OPENAI_API_KEY"]
    assert prediction.answer == "5000"
    outputs = [step["output"] for step in prediction.trajectory]
    assert outputs[0].strip() == "5000 emscripten 0"  # ran in Pyodide, no key visible
    assert "sub:" in outputs[1]
    assert "pong" in outputs[1]
