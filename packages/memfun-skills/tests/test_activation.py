"""Activation: instructions, mapped tools, confined resources, sandboxed scripts, records."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from memfun_core.errors import NotFoundError, PermissionDeniedError
from memfun_runtime.protocols import SandboxAdapter, SkillRegistry
from memfun_runtime.testing import memory_runtime
from memfun_skills import (
    ActivatedSkill,
    Scope,
    ScriptRunner,
    SkillExecutor,
    SkillInvoker,
    SkillResult,
    SkillRoot,
    ToolGrant,
    activate_skill,
    discover_skills,
    map_allowed_tools,
)
from memfun_skills.testing import write_skill


def test_claude_code_tool_names_map_to_memfun() -> None:
    grants, unmapped = map_allowed_tools(
        [
            "Read",
            "Write",
            "Edit",
            "Grep",
            "Glob",
            "Bash",
            "Bash(git:*)",
            "Bash(git diff:*)",
            "Bash(npm run test:*)",
            "WebFetch",
            "WebSearch",
            "Read(src/**)",
            "mcp__github__create_issue",
            "TodoWrite",
        ]
    )
    assert [(g.tool, g.command_prefix, g.path_pattern) for g in grants] == [
        ("fs_read", None, None),
        ("fs_write", None, None),
        ("fs_edit", None, None),
        ("search_text", None, None),
        ("fs_glob", None, None),
        ("shell", None, None),
        ("git_*", None, None),
        ("git_diff", None, None),
        ("shell", "npm run test", None),
        ("web_fetch", None, None),
        ("web_search", None, None),
        ("fs_read", None, "src/**"),
        ("github_create_issue", None, None),
    ]
    assert unmapped == ("TodoWrite",)


def test_grants_check_arguments() -> None:
    assert ToolGrant("Bash(git:*)", "git_*").allows("git_log")
    assert not ToolGrant("Bash(git:*)", "git_*").allows("fs_write")
    prefixed = ToolGrant("Bash(python3:*)", "shell", command_prefix="python3")
    assert prefixed.allows("shell", command="python3 x.py")
    assert not prefixed.allows("shell", command="python3x")
    assert not prefixed.allows("shell", command="rm -rf /")
    assert not prefixed.allows("shell")
    scoped = ToolGrant("Read(src/**)", "fs_read", path_pattern="src/**")
    assert scoped.allows("fs_read", path="src/a/b.py")
    assert not scoped.allows("fs_read", path="secrets/key")


def test_activate_builtin(builtins_dir: Path) -> None:
    skill = activate_skill(builtins_dir / "analyze-code", arguments="src/")
    assert skill.name == "analyze-code"
    assert skill.arguments == "src/"
    assert "# Analyze code" in skill.instructions
    assert "---" not in skill.instructions.splitlines()[0]
    assert skill.allows("fs_read")
    assert skill.allows("git_log")
    assert skill.allows("shell", command="python3 scripts/repo_stats.py .")
    assert not skill.allows("shell", command="curl http://x")
    assert not skill.allows("fs_write")
    assert [s.path for s in skill.scripts] == ["scripts/repo_stats.py"]
    assert skill.version.startswith("1.0-")
    assert "standard library only" in skill.read_resource("scripts/repo_stats.py").lower()


def test_resources_are_confined(tmp_path: Path) -> None:
    folder = write_skill(
        tmp_path, "s", "d", files={"references/guide.md": "G", "assets/logo.txt": "L"}
    )
    (folder / "references" / "leak.md").symlink_to("/etc/hostname")
    skill = activate_skill(folder)
    assert {(r.path, r.kind) for r in skill.resources} == {
        ("references/guide.md", "reference"),
        ("assets/logo.txt", "asset"),
    }
    assert any(w.field == "references/leak.md" for w in skill.warnings)
    assert skill.read_resource("references/guide.md") == "G"
    for bad in ("references/leak.md", "../s/SKILL.md", "/etc/passwd", "SKILL.md"):
        with pytest.raises(PermissionDeniedError):
            skill.read_resource(bad)


async def test_scripts_run_only_through_the_sandbox(
    builtins_dir: Path, tmp_path: Path, sandbox: SandboxAdapter
) -> None:
    assert isinstance(sandbox, SandboxAdapter)
    skill = activate_skill(builtins_dir / "analyze-code")
    (tmp_path / "a.py").write_text("print(1)\n", encoding="utf-8")
    runner = ScriptRunner(sandbox)
    result = await runner.run(skill, "scripts/repo_stats.py", [str(tmp_path)], workspace=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "Python             1         1" in result.stdout
    (call,) = sandbox.calls  # type: ignore[attr-defined]
    mount = call["files"].mounts[0]
    assert mount.writable is False
    assert mount.host_path == str((builtins_dir / "analyze-code").resolve())
    assert call["files"].workspace_writable is False
    assert call["network"].allow is False
    with pytest.raises(PermissionDeniedError):
        await runner.run(skill, "SKILL.md")
    with pytest.raises(PermissionDeniedError):
        runner.command(skill, "../review-code/SKILL.md")


class ScriptedExecutor:
    """Stands in for the LLM-driven agent: returns a fixed result, records what it got."""

    def __init__(self, result: SkillResult | Exception) -> None:
        self.result = result
        self.seen: list[tuple[ActivatedSkill, str, ScriptRunner | None]] = []

    async def execute(
        self, skill: ActivatedSkill, task: str, *, scripts: ScriptRunner | None
    ) -> SkillResult:
        self.seen.append((skill, task, scripts))
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


async def test_invocations_are_recorded(builtins_dir: Path, sandbox: SandboxAdapter) -> None:
    catalog = discover_skills([SkillRoot(builtins_dir, Scope.BUILTIN)])
    executor = ScriptedExecutor(SkillResult("looks good", tokens=1234, cost=0.01))
    assert isinstance(executor, SkillExecutor)
    async with memory_runtime() as runtime:
        registry = runtime.skills
        assert isinstance(registry, SkillRegistry)
        invoker = SkillInvoker(catalog, registry, executor, sandbox=sandbox)
        run = await invoker.invoke("/review-code src/")
        assert run.decision.method == "slash"
        assert run.record is not None
        assert (run.record.skill, run.record.outcome, run.record.tokens) == (
            "review-code",
            "success",
            1234,
        )
        skill, task, scripts = executor.seen[0]
        assert (skill.name, task) == ("review-code", "src/")
        assert scripts is not None
        routed = await invoker.invoke("write unit tests for the parser")
        assert routed.decision.method == "lexical"
        assert routed.skill is not None
        assert routed.skill.name == "generate-tests"
        published = await registry.get("review-code")
        assert published is not None
        assert published.version == run.skill.version if run.skill else False
        stats = await registry.stats("review-code")
        assert (stats.invocations, stats.successes, stats.total_tokens) == (1, 1, 1234)
        assert stats.total_cost == pytest.approx(0.01)

        failing = SkillInvoker(catalog, registry, ScriptedExecutor(RuntimeError("model down")))
        with pytest.raises(RuntimeError):
            await failing.invoke("/ask why?")
        (record,) = await registry.invocations("ask")
        assert record.outcome == "error"
        assert "model down" in str(record.metadata["error"])
        with pytest.raises(NotFoundError):
            await failing.invoke("/no-such-skill")
        nothing = await failing.invoke("zzzz qqqq")
        assert nothing.skill is None
        assert nothing.record is None


def test_python_is_the_script_interpreter(builtins_dir: Path, sandbox: SandboxAdapter) -> None:
    skill = activate_skill(builtins_dir / "security-audit")
    argv = ScriptRunner(sandbox).command(skill, "scripts/find_secrets.py", ["."])
    assert argv[0] == "python3"
    assert argv[1].endswith("security-audit/scripts/find_secrets.py")
    assert sys.executable  # the host interpreter is never used implicitly
