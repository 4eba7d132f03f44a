"""Trace analysis over real recorded runs: the real agent, sandbox and tools on a T1 SQLite
runtime, only the model scripted; then `memfun trace stats` reads the same runtime."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from memfun_agent import Budgets, RLMAgent, TraceStore
from memfun_agent.testing import ScriptedLM
from memfun_agent.tools import ToolBridge
from memfun_optimizer.stats import analyze
from memfun_runtime import Runtime, RuntimeBuilder
from memfun_runtime.backends.sqlite import project_ownership

MEMFUN = str(Path(sys.executable).parent / "memfun")
HAS_CLI = Path(MEMFUN).exists()  # memfun-cli is not a dependency of this package
LOOK = {"reasoning": "Look.", "code": "print(fs_read('calc.py'))\nprint(git_status())"}
DONE = {"reasoning": "Done.", "code": "SUBMIT(answer='it subtracts', summary='read')"}
MISSING = {"reasoning": "Read it.", "code": "print(fs_read('missing.py'))"}


async def record(
    runtime: Runtime,
    repo: Path,
    bridge: ToolBridge,
    replies: list[Any],
    metadata: dict[str, Any],
    *,
    budgets: Budgets | None = None,
) -> str:
    agent = RLMAgent(
        repo,
        lm=ScriptedLM(replies),
        bridge=bridge,
        verifier=None,
        traces=TraceStore(runtime),
        budgets=budgets,
    )
    result = await agent.run("what does calc.py do?", metadata=metadata)
    return result.outcome


@pytest.mark.usefixtures("sandbox_ok")
async def test_stats_of_recorded_runs(repo: Path, bridges: Callable[[], ToolBridge]) -> None:
    database = repo / ".memfun" / "runtime.db"  # where [runtime] tier = "sqlite" keeps it
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUN_")}
    env.update(HOME=str(repo.parent), COLUMNS="200")
    owner = project_ownership(repo, database, env)  # stamped with the key `memfun` will use
    async with RuntimeBuilder().sqlite(database, ownership=owner).build() as runtime:
        outcomes = [
            await record(runtime, repo, bridges(), [LOOK, DONE], {"skill": "review-code"}),
            await record(runtime, repo, bridges(), [LOOK, DONE], {"skill": "review-code"}),
            await record(runtime, repo, bridges(), [LOOK, DONE], {}),
            await record(runtime, repo, bridges(), [MISSING] * 4, {"agent": "reviewer"}),
            await record(
                runtime, repo, bridges(),
                [LOOK, LOOK, {"reasoning": "x", "answer": "?", "summary": "-"}],
                {"agent": "reviewer"}, budgets=Budgets(max_iterations=2),
            ),
            await record(runtime, repo, bridges(), ["no markers", "still none", "nope"], {}),
            await record(
                runtime, repo, bridges(), [DONE],
                {"task_kind": "question", "eval": {"solved": False, "failure": "wrong_answer"}},
            ),
        ]  # fmt: skip
        traces = await TraceStore(runtime).list(limit=100)
    assert outcomes == [
        "completed", "completed", "completed", "stuck", "max_iterations", "malformed_replies",
        "completed",
    ]  # fmt: skip

    stats = analyze(traces)
    assert (stats.runs, stats.succeeded) == (7, 3)
    assert stats.failures == {
        "tool_error": 1,
        "budget_exhausted": 1,
        "malformed_output": 1,
        "wrong_answer": 1,
    }
    skills = {g.key: g for g in stats.by_skill}
    assert (skills["review-code"].runs, skills["review-code"].success_rate) == (2, 1.0)
    assert skills["review-code"].mean_steps == 2.0
    assert skills["review-code"].tokens > 0
    agents = {g.key: g for g in stats.by_agent}
    assert agents["reviewer"].runs == 2
    assert agents["reviewer"].succeeded == 0
    assert agents["reviewer"].failures == {"tool_error": 1, "budget_exhausted": 1}
    kinds = {g.key: g for g in stats.by_kind}
    assert (kinds["skill"].runs, kinds["agent"].runs, kinds["question"].runs) == (2, 2, 1)
    assert kinds["question"].failures == {"wrong_answer": 1}
    assert kinds["task"].runs == 2
    # fs_read then git_status in each of the three successful runs; never in a failed one.
    assert stats.sequences[0].tools == ("fs_read", "git_status")
    assert stats.sequences[0].runs == 3

    if not HAS_CLI:
        pytest.skip("`memfun` (memfun-cli) is not installed beside this package: the command half")
    (repo / "memfun.toml").write_text('[runtime]\ntier = "sqlite"\n', encoding="utf-8")

    def memfun(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [MEMFUN, *args], cwd=repo, env=env, capture_output=True, text=True, check=True
        )

    shown = await asyncio.to_thread(memfun, "trace", "stats", "--json")
    assert json.loads(shown.stdout) == json.loads(json.dumps(stats.to_json()))
    table = await asyncio.to_thread(memfun, "trace", "stats")
    assert "7 runs, 3 succeeded (43%)" in table.stdout
    assert "fs_read → git_status" in table.stdout
    assert "budget_exhausted" in table.stdout
    assert "review-code" in table.stdout
