"""Per-iteration overhead of the RLM agent, model time excluded (scripted LM).

Each row runs a task of N steps (`x = x + 1; print(x)`), then SUBMIT, with a scripted LM
that answers instantly, so the time is DSPy's loop, the interpreter, and (for the agent)
budgets, tracing, the tool bridge and the bigger prompt. The per-iteration figure is
(time of an 82-step run - time of a 2-step run) / 80, median of several runs, so start-up
(sandbox, tool gateway) is excluded. Rows, measured in the same run:

* bare `dspy.RLM` on `dspy.LocalInterpreter` (a plain subprocess, not a sandbox): the baseline;
* bare `dspy.RLM` on Memfun's SandboxInterpreter, for each local sandbox mode;
* bare `dspy.RLM` on the same interpreter with the agent's signature inputs and tools (the
  same prompt size: DSPy formats the tool list and input previews every iteration);
* `RLMAgent` on the same sandbox modes (with Memfun's tool gateway and budgets).

The target is the agent within 1.1x of bare `dspy.RLM` on the same interpreter; the last
column separates the agent's own work from the cost of a longer prompt.

Run: uv run python benchmarks/rlm_overhead.py
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import dspy

from memfun_agent import Budgets, PermissionPolicy, RLMAgent, ToolBridge
from memfun_agent.interpreter import sandbox_interpreter_factory
from memfun_agent.testing import ScriptedLM
from memfun_agent.tools import gateway_client
from memfun_runtime.protocols import SandboxLimits
from memfun_runtime.sandboxes import LocalSandbox
from memfun_runtime.sandboxes.local import probe

SHORT, LONG, RUNS = 2, 82, 15
STEP = {"reasoning": "Next.", "code": "x = globals().get('x', 0) + 1\nprint(x)"}
DONE = {"reasoning": "Done.", "code": "SUBMIT(answer=str(x), summary='none')"}

logging.getLogger("dspy").setLevel(logging.ERROR)


def script(steps: int) -> ScriptedLM:
    return ScriptedLM([STEP] * steps + [DONE])


def bare(factory: Callable[[], Any]) -> Callable[[int], None]:
    def run(steps: int) -> None:
        rlm = dspy.RLM("task -> answer, summary", max_iters=steps + 2, interpreter_factory=factory)
        with dspy.context(lm=script(steps)):
            result = rlm(task="count")
        assert result.answer == str(steps), result

    return run


def bare_same_prompt(factory: Callable[[], Any], tools: list[Any]) -> Callable[[int], None]:
    def run(steps: int) -> None:
        rlm = dspy.RLM(
            "task, workspace, repo_map, skill_instructions -> answer, summary",
            max_iters=steps + 2,
            tools=tools,
            interpreter_factory=factory,
        )
        with dspy.context(lm=script(steps)):
            result = rlm(task="count", workspace="w" * 300, repo_map="", skill_instructions="")
        assert result.answer == str(steps), result

    return run


def agent(workspace: Path, bridge: ToolBridge, sandbox: Callable[[], Any]) -> Callable[[int], None]:
    def run(steps: int) -> None:
        lm = script(steps)
        rlm_agent = RLMAgent(
            workspace,
            lm=lm,
            bridge=bridge,
            sandbox=sandbox,
            verifier=None,
            budgets=Budgets(max_iterations=steps + 2),
        )
        result = asyncio.run(rlm_agent.run("count", repo_map=""))
        assert result.completed, result.error
        assert result.answer == str(steps)

    return run


def sample_ms(run: Callable[[int], None]) -> float:
    start = time.perf_counter()
    run(SHORT)
    short = time.perf_counter() - start
    start = time.perf_counter()
    run(LONG)
    long = time.perf_counter() - start
    return (long - short) / (LONG - SHORT) * 1000


def measure(runners: list[Callable[[int], None]]) -> list[float]:
    """Median per-iteration ms of each runner, sampled in interleaved rounds (fair to noise)."""
    for run in runners:
        run(SHORT)  # warm up imports and caches
    samples: list[list[float]] = [[] for _ in runners]
    for _ in range(RUNS):
        for index, run in enumerate(runners):
            samples[index].append(sample_ms(run))
    return [statistics.median(values) for values in samples]


def main() -> None:
    caps = probe()
    modes: list[tuple[str, Callable[[], Any]]] = []
    if caps.namespaces:
        modes.append(("local (bubblewrap)", LocalSandbox))
    if caps.landlock_abi and caps.seccomp:
        modes.append(("local (landlock)", lambda: LocalSandbox(mode="landlock")))
    limits = SandboxLimits(wall_seconds=60.0)
    names: list[str] = ["dspy.RLM + dspy.LocalInterpreter (baseline)"]
    runners: list[Callable[[int], None]] = [bare(dspy.LocalInterpreter)]
    with tempfile.TemporaryDirectory() as folder:
        workspace = Path(folder)
        (workspace / "main.py").write_text("print('hello')\n")
        bridge = ToolBridge(policy=PermissionPolicy(destructive_default="deny"))
        bridge.add_mcp(gateway_client(workspace), prefix="", source="memfun")
        try:
            tools = bridge.dspy_tools()
            for name, make in modes:
                factory = sandbox_interpreter_factory(make, limits=limits)
                names += [
                    f"dspy.RLM + SandboxInterpreter, {name}",
                    "  same, with the agent's inputs and tools",
                    f"RLMAgent, {name}",
                ]
                runners += [
                    bare(factory),
                    bare_same_prompt(factory, tools),
                    agent(workspace, bridge, make),
                ]
            times = measure(runners)
        finally:
            bridge.close()
    rows: list[tuple[str, float, float | None, float | None]] = []
    for index, (name, ms) in enumerate(zip(names, times, strict=True)):
        if name.startswith("RLMAgent"):
            rows.append((name, ms, ms / times[index - 2], ms / times[index - 1]))
        else:
            rows.append((name, ms, None, None))
    print(f"per-iteration time, model excluded (median of {RUNS}; {LONG - SHORT} steps apart)")
    print(f"{'configuration':<52} {'ms/iter':>8} {'vs bare RLM':>12} {'vs same prompt':>15}")
    for name, ms, ratio, same_ratio in rows:
        first = "" if ratio is None else f"{ratio:.2f}x"
        second = "" if same_ratio is None else f"{same_ratio:.2f}x"
        print(f"{name:<52} {ms:>8.2f} {first:>12} {second:>15}")


if __name__ == "__main__":
    main()
