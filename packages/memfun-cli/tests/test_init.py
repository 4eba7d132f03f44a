from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memfun_core.config import load_config

MEMFUN = str(Path(sys.executable).parent / "memfun")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return subprocess.run(
        [MEMFUN, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("provider", "model", "key_env"),
    [
        ("anthropic", "anthropic/claude-sonnet-4-5", "ANTHROPIC_API_KEY"),
        ("openai", "openai/gpt-4.1", "OPENAI_API_KEY"),
        ("gemini", "gemini/gemini-2.5-pro", "GEMINI_API_KEY"),
        ("ollama", "ollama_chat/qwen2.5-coder", None),
    ],
)
def test_non_interactive_init_writes_a_valid_config(
    tmp_path: Path, provider: str, model: str, key_env: str | None
) -> None:
    result = run("init", "--yes", "--provider", provider, "--tier", "memory", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config = load_config(files=[tmp_path / "memfun.toml"], environ={})
    assert config.llm.model == model
    assert config.llm.api_key_env == key_env
    assert config.runtime.tier == "memory"
    if key_env:
        assert f"export {key_env}=" in result.stdout


def test_openai_compatible_with_flags(tmp_path: Path) -> None:
    result = run(
        "init",
        "--yes",
        "--provider",
        "openai-compatible",
        "--model",
        "openai/local-coder",
        "--api-base",
        "http://127.0.0.1:9999/v1",
        "--api-key-env",
        "LOCAL_KEY",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    llm = load_config(files=[tmp_path / "memfun.toml"], environ={}).llm
    assert (llm.model, llm.api_base, llm.api_key_env) == (
        "openai/local-coder",
        "http://127.0.0.1:9999/v1",
        "LOCAL_KEY",
    )


def test_never_writes_a_key(tmp_path: Path) -> None:
    key = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz"
    result = run("init", "--yes", "--api-key-env", key, cwd=tmp_path)
    assert result.returncode == 2
    assert "NAME of an environment variable" in result.stderr
    assert key not in result.stderr
    assert not (tmp_path / "memfun.toml").exists()


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    (tmp_path / "memfun.toml").write_text("# mine\n", encoding="utf-8")
    result = run("init", "--yes", cwd=tmp_path)
    assert result.returncode == 2
    assert "--force" in result.stderr
    assert (tmp_path / "memfun.toml").read_text(encoding="utf-8") == "# mine\n"
    assert run("init", "--yes", "--force", cwd=tmp_path).returncode == 0
    assert "[llm]" in (tmp_path / "memfun.toml").read_text(encoding="utf-8")


def test_without_a_terminal_it_asks_for_flags(tmp_path: Path) -> None:
    result = run("init", cwd=tmp_path)
    assert result.returncode == 2
    assert "--yes" in result.stderr


def test_unknown_provider(tmp_path: Path) -> None:
    result = run("init", "--yes", "--provider", "acme", cwd=tmp_path)
    assert result.returncode == 2
    assert "anthropic, openai" in result.stderr


def test_wizard_in_a_terminal(tmp_path: Path) -> None:
    """Answer the wizard's questions on a real pseudo-terminal."""
    answers = iter(["nope", "ollama", "", "", "redis", "wasm"])
    pid, fd = pty.fork()
    if pid == 0:  # child
        os.chdir(tmp_path)
        os.execv(MEMFUN, [MEMFUN, "init"])
    transcript = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        transcript += chunk
        if chunk.rstrip().endswith((b":", b"]")):
            os.write(fd, next(answers, "").encode() + b"\n")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, transcript.decode(errors="replace")
    assert b"choose one of" in transcript  # "nope" was refused and asked again
    config = load_config(files=[tmp_path / "memfun.toml"], environ={})
    assert config.llm.model == "ollama_chat/qwen2.5-coder"
    assert config.llm.api_base == "http://127.0.0.1:11434"
    assert (config.runtime.tier, config.sandbox.backend) == ("redis", "wasm")
