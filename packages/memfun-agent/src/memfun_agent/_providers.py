"""Real model providers: a ``dspy.LM`` from ``[llm]`` (LiteLLM model strings)."""

from __future__ import annotations

import ipaddress
import json
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from memfun_core.config import LLMConfig
from memfun_core.errors import ConfigError

__all__ = [
    "CLOUD_REPLY_TOKENS",
    "LOCAL_REPLY_TOKENS",
    "NO_KEY",
    "ModelLimits",
    "build_lm",
    "check_llm",
    "is_local",
    "model_limits",
]

CLOUD_REPLY_TOKENS = 4096
"""Default cap on one reply of a hosted model (``[llm] max_reply_tokens``)."""
LOCAL_REPLY_TOKENS = 1024
"""Default cap on one reply of a local model: ~4 minutes at 4-5 tokens/s on a CPU."""
_OLLAMA_BASE = "http://localhost:11434"
_OLLAMA_PREFIXES = ("ollama/", "ollama_chat/")

_NO_WINDOW_ROUTE: set[tuple[str, str]] = set()
"""(server root, model) pairs whose server answered the window question with an HTTP error.

Such a server (llama-cpp-python's, vLLM, the scripted one) has no such route: it is not
asked again in this process. A timeout or a refused connection is not remembered.
"""

NO_KEY = "memfun-no-key"
"""The key sent to an ``api_base`` server when ``api_key_env`` is not set."""


def check_llm(
    config: LLMConfig, *, sub: bool = False, environ: Mapping[str, str] | None = None
) -> tuple[str, str | None]:
    """Check ``[llm]`` before anything heavy loads: a model is set, and its key's variable.

    Commands call this first, so a missing key fails in a fraction of a second instead of
    after DSPy has been imported. :func:`build_lm` calls it too.

    Returns:
        The model string (``sub_model`` with ``sub=True``, when set) and the key (``None``
        when ``api_key_env`` is not configured).

    Raises:
        ConfigError: No model is configured, or ``api_key_env`` names an unset variable.
    """
    env = os.environ if environ is None else environ
    model = (config.sub_model or config.model) if sub else config.model
    if not model:
        raise ConfigError(
            "no model is configured",
            key="llm.model",
            hint='set [llm] model = "anthropic/claude-sonnet-4-5" in memfun.toml '
            "(or run memfun init)",
        )
    if not config.api_key_env:
        return model, None
    key = env.get(config.api_key_env)
    if not key:
        raise ConfigError(
            f"the environment variable {config.api_key_env} is not set",
            key="llm.api_key_env",
            hint=f"export {config.api_key_env}=<your key> (never put the key in a file)",
        )
    return model, key


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
    model, key = check_llm(config, sub=sub, environ=environ)
    import dspy  # pyright: ignore[reportMissingTypeStubs]

    kwargs: dict[str, Any] = {}
    if key is not None:
        kwargs["api_key"] = key
    if config.api_base:
        kwargs["api_base"] = config.api_base
        # Local OpenAI-compatible servers (llama.cpp, vLLM, LM Studio, Ollama) take no key,
        # but the client refuses to send a request without one: send a visible placeholder.
        kwargs.setdefault("api_key", NO_KEY)
    if timeout is not None:
        kwargs["timeout"] = timeout
    if max_tokens is None:
        max_tokens = config.max_reply_tokens or (
            LOCAL_REPLY_TOKENS if is_local(config) else CLOUD_REPLY_TOKENS
        )
    return dspy.LM(
        model,
        cache=False,
        num_retries=num_retries,
        max_tokens=max_tokens,
        temperature=temperature,
        **kwargs,
    )


def _server_root(config: LLMConfig) -> str | None:
    model = config.model or ""
    base = config.api_base or (_OLLAMA_BASE if model.startswith(_OLLAMA_PREFIXES) else None)
    if base is None:
        return None
    base = base.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def is_local(config: LLMConfig) -> bool:
    """Whether the model runs on this machine or the local network (loopback, private).

    Decided from the configured address as written (no DNS lookup): ``localhost``, a
    loopback or private IP, or an ``ollama/`` model without ``api_base``.
    """
    root = _server_root(config)
    if root is None:
        return False
    host = urllib.parse.urlsplit(root).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


@dataclass(frozen=True, slots=True)
class ModelLimits:
    """What the agent knows about the model's size limits.

    Attributes:
        local: The model runs on a local server (local budgets apply).
        context_window: Its context window in tokens (``None``: unknown).
        source: Where the window came from (``[llm] context_window``, the server's URL).
        reply_tokens: The cap on each reply.
    """

    local: bool
    context_window: int | None
    source: str
    reply_tokens: int


def _fetch(url: str, body: Mapping[str, Any] | None, timeout: float) -> Any:
    import urllib.request  # only when a local server is asked (it imports http.client)

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - an http(s) URL of the configured server
        url, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return json.loads(response.read(1_000_000))


def _positive(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _ask_window(config: LLMConfig, root: str, timeout: float) -> tuple[int | None, str]:
    model = config.model or ""
    if model.startswith(_OLLAMA_PREFIXES):
        url = f"{root}/api/show"
        name = model.split("/", 1)[1]
        shown: object = _fetch(url, {"model": name}, timeout)
        parameters = (
            str(cast("dict[str, Any]", shown).get("parameters", ""))
            if isinstance(shown, dict)
            else ""
        )
        for line in parameters.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "num_ctx" and parts[1].isdigit():  # noqa: PLR2004
                return int(parts[1]), url
        return None, url
    url = f"{root}/props"  # llama.cpp's llama-server
    props = _fetch(url, None, timeout)
    if not isinstance(props, dict):
        return None, url
    found = cast("dict[str, Any]", props)
    settings: object = found.get("default_generation_settings")
    nested: object = (
        cast("dict[str, Any]", settings).get("n_ctx") if isinstance(settings, dict) else None
    )
    return _positive(nested) or _positive(found.get("n_ctx")), url


def model_limits(config: LLMConfig, *, timeout: float = 1.0) -> ModelLimits:
    """The model's context window and reply cap, asking a local server where it says.

    ``[llm] context_window`` wins. Otherwise, for a local server only, llama.cpp's
    ``/props`` (``n_ctx``) or Ollama's ``/api/show`` (``num_ctx``) is asked with a short
    timeout; a server that does not say (llama-cpp-python's, vLLM) leaves it unknown, and
    one that answers with an HTTP error (no such route) is not asked again in this process.
    The reply cap is ``[llm] max_reply_tokens``, else 4,096 (1,024 for a local model),
    and never more than a quarter of a known window.
    """
    local = is_local(config)
    window, source = config.context_window, "[llm] context_window"
    root = _server_root(config)
    asked = (root or "", config.model or "")
    if window is None and local and root is not None and asked not in _NO_WINDOW_ROUTE:
        import urllib.error  # loaded with urllib.request by _fetch

        try:
            window, source = _ask_window(config, root, timeout)
        except urllib.error.HTTPError:  # no such route: unknown, and not asked again
            _NO_WINDOW_ROUTE.add(asked)
            window, source = None, "unknown"
        except (OSError, ValueError):  # no answer in time, not JSON: unknown
            window, source = None, "unknown"
    reply = config.max_reply_tokens or (LOCAL_REPLY_TOKENS if local else CLOUD_REPLY_TOKENS)
    if window is not None and config.max_reply_tokens is None:
        reply = max(64, min(reply, window // 4))
    return ModelLimits(local, window, source if window is not None else "unknown", reply)
