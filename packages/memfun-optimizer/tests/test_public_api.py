from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import memfun_optimizer
import memfun_optimizer.evals
import memfun_optimizer.stats
import memfun_optimizer.viewer


def test_the_version_is_the_distributions() -> None:
    assert memfun_optimizer.__version__ == version("memfun-optimizer")


def test_the_public_api_is_frozen() -> None:
    assert sorted(memfun_optimizer.__all__) == [
        "FAILURE_KINDS",
        "FailureKind",
        "__version__",
        "failure_of_outcome",
        "failure_of_trace",
    ]
    assert sorted(memfun_optimizer.evals.__all__) == sorted([
        "SUITE_SCHEMA", "Attempt", "AttemptRunner", "CheckContext", "Checker", "EvalReport",
        "EvalResult", "EvalSuite", "EvalTask", "Verdict", "agent_attempts", "judge",
        "load_suite", "run_suite",
    ])  # fmt: skip
    assert sorted(memfun_optimizer.stats.__all__) == [
        "GroupStats", "ToolSequence", "TraceStats", "analyze", "task_kind", "tool_sequence",
    ]  # fmt: skip
    assert sorted(memfun_optimizer.viewer.__all__) == ["child_runs", "render_trace_html"]
    modules = (
        memfun_optimizer,
        memfun_optimizer.evals,
        memfun_optimizer.stats,
        memfun_optimizer.viewer,
    )
    for module in modules:
        for name in module.__all__:
            assert getattr(module, name) is not None


def test_it_depends_only_on_what_the_architecture_allows() -> None:
    manifest = Path(memfun_optimizer.__file__).resolve().parents[2] / "pyproject.toml"
    if not manifest.is_file():  # installed from a wheel: the metadata says the same
        from importlib.metadata import requires

        declared = {
            r.split(">")[0].split("<")[0].strip() for r in requires("memfun-optimizer") or []
        }
    else:
        project = tomllib.loads(manifest.read_text(encoding="utf-8"))["project"]
        declared = {d.split(">")[0].split("<")[0].strip() for d in project["dependencies"]}
    assert {d for d in declared if d.startswith("memfun-")} == {
        "memfun-core",
        "memfun-runtime",
        "memfun-skills",
        "memfun-agent",
    }


def test_the_memory_api_is_frozen_and_loads_no_dspy_until_asked() -> None:
    import subprocess
    import sys

    import memfun_optimizer.memory

    assert sorted(memfun_optimizer.memory.__all__) == sorted([
        "KINDS", "MAX_TEXT_CHARS", "SCOPES", "ExtractLearnings", "Kind", "Learning",
        "LearningNote", "MemoryHit", "MemoryStore", "Scope", "extract_learnings", "normalise",
        "parse_memory", "user_memory_file",
    ])  # fmt: skip
    for name in memfun_optimizer.memory.__all__:
        assert getattr(memfun_optimizer.memory, name) is not None
    code = "import sys, memfun_optimizer.memory; print('dspy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_optimize_api_is_frozen() -> None:
    import memfun_optimizer.optimize

    assert sorted(memfun_optimizer.optimize.__all__) == sorted([
        "OPTIMIZERS", "AgentModule", "Comparison", "OptimizeResult", "Optimizer",
        "ProgramRunner", "ProgramStore", "ProgramVersion", "TaskRun", "answer_of_trace",
        "bootstrap_interval", "compare_programs", "examples_from_suite", "feedback_metric",
        "labels_from_traces", "optimize_program", "program_of", "score_metric",
        "score_program", "split_tasks", "suite_runner",
    ])  # fmt: skip
    for name in memfun_optimizer.optimize.__all__:
        assert getattr(memfun_optimizer.optimize, name) is not None


def test_the_synthesis_api_is_frozen() -> None:
    import memfun_optimizer.synthesis

    assert sorted(memfun_optimizer.synthesis.__all__) == sorted([
        "AGENT_READ_TOOLS", "DRAFTS_DIR", "AgentDraft", "RunCluster", "SkillDraft",
        "accept_agent", "accept_skill", "agent_tools", "cluster_runs", "draft_agent",
        "draft_skill", "reference_validator",
    ])  # fmt: skip
    for name in memfun_optimizer.synthesis.__all__:
        assert getattr(memfun_optimizer.synthesis, name) is not None
