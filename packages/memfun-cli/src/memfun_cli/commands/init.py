"""``memfun init``: write a ``memfun.toml`` for this project, by wizard or by flags."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from memfun_core.config import PROJECT_FILE, load_config
from memfun_core.errors import ConfigError, UserError
from memfun_core.secrets import ENV_NAME_PATTERN, looks_like_secret

__all__ = ["PROVIDERS", "Provider", "render_config"]


@dataclass(frozen=True, slots=True)
class Provider:
    """Defaults for one model provider."""

    name: str
    model: str
    api_key_env: str | None
    api_base: str | None = None
    sub_model: str | None = None


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            "anthropic",
            "anthropic/claude-sonnet-4-5",
            "ANTHROPIC_API_KEY",
            sub_model="anthropic/claude-haiku-4-5",
        ),
        Provider("openai", "openai/gpt-4.1", "OPENAI_API_KEY", sub_model="openai/gpt-4.1-mini"),
        Provider(
            "gemini", "gemini/gemini-2.5-pro", "GEMINI_API_KEY", sub_model="gemini/gemini-2.5-flash"
        ),
        Provider("ollama", "ollama_chat/qwen2.5-coder", None, api_base="http://127.0.0.1:11434"),
        Provider(
            "openai-compatible", "openai/MODEL-NAME", None, api_base="http://127.0.0.1:8000/v1"
        ),
    )
}
TIERS = ("sqlite", "memory", "redis", "nats")
SANDBOXES = ("local", "wasm", "docker", "modal")


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def render_config(
    *,
    model: str,
    api_key_env: str | None,
    api_base: str | None,
    sub_model: str | None,
    tier: str,
    sandbox: str,
) -> str:
    """Render the text of a ``memfun.toml``."""
    lines = [
        "# Memfun configuration; every key is described in docs/configuration.md.",
        "# Keys never go here: api_key_env names the environment variable that holds the key.",
        "",
        "[llm]",
        f"model = {_toml_str(model)}",
    ]
    lines.append(
        f"api_key_env = {_toml_str(api_key_env)}"
        if api_key_env
        else '# api_key_env = "MY_PROVIDER_API_KEY"  # no key needed for this provider'
    )
    if api_base:
        lines.append(f"api_base = {_toml_str(api_base)}")
    if sub_model:
        lines.append(f"sub_model = {_toml_str(sub_model)}")
    lines += [
        "",
        "[llm.budgets]",
        "max_iterations = 20",
        "max_llm_calls = 50",
        "max_wall_seconds = 900",
        "",
        "[runtime]",
        f"tier = {_toml_str(tier)}",
        'data_dir = ".memfun"',
        "",
        "[sandbox]",
        f"backend = {_toml_str(sandbox)}",
        "",
    ]
    return "\n".join(lines)


def _check_env_name(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if looks_like_secret(value) or not ENV_NAME_PATTERN.match(value):
        raise ConfigError(
            "expected the NAME of an environment variable, not a key",
            source="--api-key-env",
            hint="pass e.g. --api-key-env ANTHROPIC_API_KEY and export the key in your shell",
        )
    return value


def _choose(prompt: str, choices: tuple[str, ...], default: str) -> str:
    while True:
        answer = typer.prompt(f"{prompt} [{'/'.join(choices)}]", default=default).strip()
        if answer in choices:
            return answer
        typer.echo(f"  choose one of: {', '.join(choices)}", err=True)


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".memfun-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        load_config(files=[Path(tmp)], environ={})  # never leave an invalid file behind
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def init(
    path: Annotated[
        Path, typer.Argument(help="Project folder to write memfun.toml into.", show_default=False)
    ] = Path(),
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask: take the flags and the defaults.")
    ] = False,
    provider: Annotated[
        str | None,
        typer.Option(help="anthropic, openai, gemini, ollama or openai-compatible."),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="LiteLLM model string, e.g. anthropic/claude-sonnet-4-5.")
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(help="NAME of the environment variable holding the key (never the key)."),
    ] = None,
    api_base: Annotated[
        str | None, typer.Option(help="Base URL of an OpenAI-compatible or Ollama server.")
    ] = None,
    tier: Annotated[
        str, typer.Option(help="Runtime tier: sqlite, memory, redis or nats.")
    ] = "sqlite",
    sandbox: Annotated[
        str, typer.Option(help="Sandbox for model-written code: local, wasm, docker or modal.")
    ] = "local",
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing memfun.toml.")
    ] = False,
) -> None:
    """Create memfun.toml: the model, the NAME of its key's variable, the runtime tier, the sandbox.

    Interactive by default; with --yes it takes the flags and sensible defaults
    (e.g. memfun init --yes --provider anthropic). It never writes a key.
    """
    target = path / PROJECT_FILE
    if target.exists() and not force:
        raise UserError(f"{target} already exists", hint="pass --force to overwrite it")
    if not path.is_dir():
        raise UserError(f"{path} is not a folder", hint="create it first or pass another path")
    if not yes and not sys.stdin.isatty() and provider is None:
        raise UserError(
            "no terminal to ask questions on", hint="pass --yes with --provider and friends"
        )
    chosen = provider or (
        "anthropic" if yes else _choose("Provider", tuple(PROVIDERS), "anthropic")
    )
    if chosen not in PROVIDERS:
        raise UserError(
            f"unknown provider {chosen!r}", hint="choose one of: " + ", ".join(PROVIDERS)
        )
    defaults = PROVIDERS[chosen]
    if not yes:
        model = model or typer.prompt("Model (LiteLLM string)", default=defaults.model)
        if defaults.api_key_env or api_key_env:
            api_key_env = api_key_env or typer.prompt(
                "Environment variable holding the key (its NAME)", default=defaults.api_key_env
            )
        if defaults.api_base:
            api_base = api_base or typer.prompt("Server URL", default=defaults.api_base)
        tier = _choose("Runtime tier", TIERS, tier)
        sandbox = _choose("Sandbox", SANDBOXES, sandbox)
    if tier not in TIERS or sandbox not in SANDBOXES:
        raise UserError(
            f"unknown tier {tier!r} or sandbox {sandbox!r}",
            hint=f"tiers: {', '.join(TIERS)}; sandboxes: {', '.join(SANDBOXES)}",
        )
    env_name = _check_env_name(api_key_env or defaults.api_key_env)
    text = render_config(
        model=model or defaults.model,
        api_key_env=env_name,
        api_base=api_base or defaults.api_base,
        sub_model=defaults.sub_model if model is None else None,
        tier=tier,
        sandbox=sandbox,
    )
    from memfun_core.config import project_loosened_settings
    from memfun_core.trust import inactive_reason, trust_folder

    was_trusted = inactive_reason(path) is None
    _write_atomically(target, text)
    typer.echo(f"wrote {target}")
    if was_trusted:  # the user's own edit of a folder they trust keeps it trusted
        trust_folder(path)
    elif project_loosened_settings(target):
        typer.echo(
            f"this folder is not trusted yet and memfun.toml points the model off this machine: "
            f"run `memfun trust {path.resolve()}` once you have checked the folder",
            err=True,
        )
    if env_name and env_name not in os.environ:
        typer.echo(f"next: export {env_name}=...  (the key stays in your shell, not in the file)")
