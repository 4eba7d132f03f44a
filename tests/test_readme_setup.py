"""The README's set-up and test commands work in a scratch clone, exactly as written."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_blocks() -> tuple[list[str], str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    setup, tests = (b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S))
    lines = [line.split("#")[0].strip() for line in setup.splitlines()]
    return [line for line in lines if line], tests


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=900
    )


@pytest.mark.slow
def test_the_readme_commands_work_in_a_scratch_clone(tmp_path: Path) -> None:
    if shutil.which("uv") is None or shutil.which("git") is None:
        pytest.skip("uv and git are needed (pip install uv)")
    if not (ROOT / ".git").exists():
        pytest.skip(f"{ROOT} is not a git checkout")
    clone = tmp_path / "clone"
    cloned = subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert cloned.returncode == 0, cloned.stderr
    home = tmp_path / "home"
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH"}
        and not k.startswith(("MEMFUN_", "ANTHROPIC_"))
    }
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    setup, tests = _readme_blocks()
    # Set-up, as written: sync, init, (the key export is the user's), the first task.
    assert setup[0] == "uv sync"
    synced = _run(shlex.split(setup[0]), clone, env)
    assert synced.returncode == 0, synced.stderr
    init = next(line for line in setup if " init " in line)
    initialised = _run(shlex.split(init), clone, env)
    assert initialised.returncode == 0, initialised.stderr
    assert (clone / "memfun.toml").is_file()
    ask = next(line for line in setup if " ask " in line)
    asked = _run(shlex.split(ask), clone, env)  # no key exported here: a clear refusal
    assert asked.returncode == 2, asked.stdout + asked.stderr
    assert "ANTHROPIC_API_KEY" in asked.stderr
    # The test command's environment: every test module imports and the tools they run exist.
    argv = shlex.split(tests)
    assert argv[-3:] == ["pytest", "-n", "auto"]
    collected = _run([*argv[:-2], "--collect-only", "-q", "-p", "no:cacheprovider"], clone, env)
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    assert re.search(r"^\d+ tests collected", collected.stdout, flags=re.M), collected.stdout[-500:]
    contracts = _run([*argv[:-2], "tests/test_import_contracts.py", "-q"], clone, env)
    assert contracts.returncode == 0, contracts.stdout[-3000:] + contracts.stderr[-3000:]
