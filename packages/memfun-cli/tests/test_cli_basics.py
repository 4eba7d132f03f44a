from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MEMFUN = Path(sys.executable).parent / "memfun"
PACKAGES = ("core", "runtime", "skills", "tools", "agent", "optimizer", "cli")


def run(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MEMFUN), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_version_lists_all_seven_packages() -> None:
    result = run("--version")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [f"memfun-{p}" for p in PACKAGES]
    assert all(line.split()[1] == "0.1.0" for line in lines)


@pytest.mark.parametrize("argv", [["--help"], ["skill", "list"], ["ask", "--help"]])
def test_start_up_imports_nothing_heavy(argv: list[str]) -> None:
    code = (
        "import sys\n"
        "from memfun_cli.app import app\n"
        f"try:\n    app({argv!r})\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('dspy', 'litellm', 'fastmcp', 'mcp', 'redis', 'nats', 'aiosqlite')"
        " if m in sys.modules)\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "HEAVY=\n" in result.stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    (tmp_path / "proj").mkdir()
    return tmp_path


def test_config_show_reports_sources_and_values(project: Path) -> None:
    (project / "proj" / "memfun.toml").write_text('[runtime]\ntier = "memory"\n', encoding="utf-8")
    result = run(
        "config",
        "show",
        "--json",
        cwd=project / "proj",
        env={"HOME": str(project / "home"), "MEMFUN_LLM__MODEL": "openai/gpt-4.1"},
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["runtime"]["tier"] == "memory"
    assert data["llm"]["model"] == "openai/gpt-4.1"
    assert data["sources"] == [str(project / "proj" / "memfun.toml"), "MEMFUN_LLM__MODEL"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[runtime]\ntier = "postgres"\n', "runtime.tier: expected one of"),
        ("[runtime\n", "not valid TOML"),
        ('[llm]\napi_key = "abcdefghijk123"\n', "llm.api_key: looks like a raw API key"),
        ('[llm]\nmodle = "x"\n', "did you mean 'model'"),
    ],
)
def test_config_errors_are_one_message_and_exit_2(project: Path, text: str, fragment: str) -> None:
    (project / "proj" / "memfun.toml").write_text(text, encoding="utf-8")
    result = run("config", "show", cwd=project / "proj", env={"HOME": str(project / "home")})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    assert fragment in result.stderr
    assert result.stdout == ""


def test_debug_shows_the_traceback(project: Path) -> None:
    (project / "proj" / "memfun.toml").write_text("[runtime]\ntier = 3\n", encoding="utf-8")
    env = {"HOME": str(project / "home")}
    plain = run("config", "show", cwd=project / "proj", env=env)
    debug = run("--debug", "config", "show", cwd=project / "proj", env=env)
    assert plain.returncode == debug.returncode == 2
    assert "Traceback" not in plain.stderr
    assert "Traceback" in debug.stderr
    assert "runtime.tier: expected one of" in debug.stderr


def test_config_set_keeps_comments_and_get_reads_back(project: Path) -> None:
    proj = project / "proj"
    (proj / "memfun.toml").write_text(
        '# mine\n[runtime]\ntier = "memory"  # fast\n', encoding="utf-8"
    )
    env = {"HOME": str(project / "home")}
    assert (
        run("config", "set", "llm.budgets.max_iterations", "7", cwd=proj, env=env).returncode == 0
    )
    assert run("config", "set", "skills.paths", "a, b", cwd=proj, env=env).returncode == 0
    text = (proj / "memfun.toml").read_text(encoding="utf-8")
    assert text.startswith('# mine\n[runtime]\ntier = "memory"  # fast\n')
    assert (
        run("config", "get", "llm.budgets.max_iterations", cwd=proj, env=env).stdout.strip() == "7"
    )
    assert json.loads(run("config", "get", "skills.paths", cwd=proj, env=env).stdout) == ["a", "b"]
    assert run("config", "get", "runtime.tier", cwd=proj, env=env).stdout.strip() == "memory"


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("llm.api_key_env", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz", "raw API key"),
        ("runtime.tire", "redis", "no such config key"),
        ("runtime.tier", "postgres", "expected one of"),
        ("sandbox.network", "maybe", "true or false"),
    ],
)
def test_config_set_refuses_bad_values_and_leaves_the_file(
    project: Path, key: str, value: str, fragment: str
) -> None:
    proj = project / "proj"
    (proj / "memfun.toml").write_text('[runtime]\ntier = "memory"\n', encoding="utf-8")
    result = run("config", "set", key, value, cwd=proj, env={"HOME": str(project / "home")})
    assert result.returncode == 2
    assert fragment in result.stderr
    assert value not in result.stderr or fragment != "raw API key"
    assert (proj / "memfun.toml").read_text(encoding="utf-8") == '[runtime]\ntier = "memory"\n'


def test_config_set_user_file(project: Path) -> None:
    env = {"HOME": str(project / "home"), "XDG_CONFIG_HOME": str(project / "xdg")}
    result = run("config", "set", "--user", "logging.level", "INFO", cwd=project / "proj", env=env)
    assert result.returncode == 0, result.stderr
    assert (project / "xdg/memfun/config.toml").read_text(
        encoding="utf-8"
    ).strip() == '[logging]\nlevel = "INFO"'


def test_shell_completion_of_commands_and_skill_names(project: Path) -> None:
    env = {"HOME": str(project / "home"), "_MEMFUN_COMPLETE": "complete_bash"}
    names = run(
        cwd=project / "proj", env={**env, "COMP_WORDS": "memfun skill info rev", "COMP_CWORD": "3"}
    )
    assert names.stdout.split() == ["review-code"]
    commands = run(cwd=project / "proj", env={**env, "COMP_WORDS": "memfun tr", "COMP_CWORD": "1"})
    assert "trace" in commands.stdout.split()
    script = run(
        "--show-completion", "bash", cwd=project / "proj", env={"HOME": str(project / "home")}
    )
    assert "_memfun_completion" in script.stdout
