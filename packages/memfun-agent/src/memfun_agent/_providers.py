"""Real model providers: a ``dspy.LM`` from ``[llm]`` (LiteLLM model strings)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from memfun_core.config import LLMConfig
from memfun_core.errors import ConfigError

__all__ = ["NO_KEY", "build_lm"]

NO_KEY = "memfun-no-key"
"""The key sent to an ``api_base`` server when ``api_key_env`` is not set."""


def build_lm(
    config: LLMConfig,
    *,
    sub: bool = False,
    environ: Mapping[str, str] | None = None,
    num_retries: int = 3,
    timeout: float | None = 600.0,
    max_tokens: int | None = None,
    temperature: float | None = None,
) -> Any:
    """Build the ``dspy.LM`` for ``[llm] model`` (or ``sub_model`` with ``sub=True``).

    ``model`` is a LiteLLM-style string: ``anthropic/...``, ``openai/...``, ``gemini/...``,
    ``ollama/...``, or ``openai/<model>`` with ``api_base`` for any OpenAI-compatible server
    (llama.cpp, vLLM, LM Studio). The key is read from the environment variable NAMED by
    ``api_key_env``; it never enters config, traces or logs. Transient failures (429, 5xx,
    connection errors) are retried ``num_retries`` times with exponential backoff, honouring
    ``Retry-After``. DSPy's response cache is off: an agent must not replay stale answers.
    With ``api_base`` and no ``api_key_env``, the placeholder :data:`NO_KEY` is sent (local
    servers ignore keys).

    Raises:
        ConfigError: No model is configured, or ``api_key_env`` names an unset variable.
    """
    import dspy  # pyright: ignore[reportMissingTypeStubs]

    env = os.environ if environ is None else environ
    model = (config.sub_model or config.model) if sub else config.model
    if not model:
        raise ConfigError(
            "no model is configured",
            key="llm.model",
            hint='set [llm] model = "anthropic/claude-sonnet-4-5" in memfun.toml '
            "(or run memfun init)",
        )
    kwargs: dict[str, Any] = {}
    if config.api_key_env:
        key = env.get(config.api_key_env)
        if not key:
            raise ConfigError(
                f"the environment variable {config.api_key_env} is not set",
                key="llm.api_key_env",
                hint=f"export {config.api_key_env}=<your key> (never put the key in a file)",
            )
        kwargs["api_key"] = key
    if config.api_base:
        kwargs["api_base"] = config.api_base
        # Local OpenAI-compatible servers (llama.cpp, vLLM, LM Studio, Ollama) take no key,
        # but the client refuses to send a request without one: send a visible placeholder.
        kwargs.setdefault("api_key", NO_KEY)
    if timeout is not None:
        kwargs["timeout"] = timeout
    return dspy.LM(
        model,
        cache=False,
        num_retries=num_retries,
        max_tokens=max_tokens,
        temperature=temperature,
        **kwargs,
    )
