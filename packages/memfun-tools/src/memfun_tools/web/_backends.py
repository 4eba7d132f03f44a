"""Build the configured search backend."""

from __future__ import annotations

from memfun_core.errors import ConfigError
from memfun_tools.web._config import WebConfig
from memfun_tools.web._search import SearchBackend

__all__ = ["build_search_backend"]


def build_search_backend(config: WebConfig) -> SearchBackend:
    """Return the backend ``config.search_backend`` names, configured from ``config``.

    Raises:
        ConfigError: The backend lacks a required setting.
    """
    if config.search_backend == "searxng":
        if not config.searxng_url:
            raise ConfigError("the searxng backend needs web.searxng_url", key="web.searxng_url")
        from memfun_tools.web._searxng import SearxngBackend  # the backends import httpx

        return SearxngBackend(
            config.searxng_url,
            timeout_seconds=config.search_timeout_seconds,
            user_agent=config.user_agent,
        )
    if config.search_backend == "brave":
        from memfun_tools.web._brave import BraveBackend

        return BraveBackend(
            api_key_env=config.brave_api_key_env,
            endpoint=config.brave_url,
            timeout_seconds=config.search_timeout_seconds,
        )
    from memfun_tools.web._ddgs import DdgsBackend

    return DdgsBackend(
        engines=config.ddgs_engines,
        region=config.ddgs_region,
        safesearch=config.ddgs_safesearch,
        timeout_seconds=config.search_timeout_seconds,
        proxy=config.ddgs_proxy,
        ca_bundle=config.ddgs_ca_bundle,
    )
