"""The Brave Search backend: the Brave Web Search API, keyed by an environment variable."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final, cast

import httpx

from memfun_core.errors import BackendError, BackendUnavailable, ConfigError, OperationTimeout
from memfun_tools.web._search import (
    SearchBackend,
    SearchResult,
    json_objects,
    normalize_results,
)

__all__ = ["BraveBackend"]

_MAX_COUNT: Final = 20


class BraveBackend(SearchBackend):
    """Searches with the Brave Web Search API (``GET /res/v1/web/search``).

    Args:
        api_key_env: NAME of the environment variable holding the subscription token; it
            is read at each search, never stored in configuration or logs.
        endpoint: The API endpoint.
        timeout_seconds: Limit for one request.
        environ: Where to read the variable (``os.environ`` by default).
    """

    def __init__(
        self,
        *,
        api_key_env: str,
        endpoint: str,
        timeout_seconds: float,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._env_name = api_key_env
        self._endpoint = endpoint
        self._timeout = timeout_seconds
        self._environ = environ

    @property
    def name(self) -> str:
        return "brave"

    def _key(self) -> str:
        env = os.environ if self._environ is None else self._environ
        key = env.get(self._env_name, "").strip()
        if not key:
            raise ConfigError(
                f"the environment variable {self._env_name} holding the Brave Search API key "
                "is not set",
                key="web.brave_api_key_env",
                hint=f"export {self._env_name}=<your key> (https://brave.com/search/api/)",
            )
        return key

    async def search(self, query: str, max_results: int) -> list[SearchResult]:
        headers = {
            "Accept": "application/json",
            "X-Subscription-Token": self._key(),
        }
        params = {"q": query, "count": str(min(max_results, _MAX_COUNT))}
        try:
            async with httpx.AsyncClient(timeout=self._timeout, headers=headers) as client:
                response = await client.get(self._endpoint, params=params)
        except httpx.TimeoutException as exc:
            raise OperationTimeout("Brave search", self._timeout, backend="brave") from exc
        except httpx.HTTPError as exc:
            raise BackendUnavailable(
                f"cannot reach the Brave Search API ({type(exc).__name__})",
                backend="brave",
                target=self._endpoint,
            ) from exc
        payload = self._payload(response)
        web: object = payload.get("web")
        if not isinstance(web, dict):
            return []
        hits = json_objects(cast("dict[str, Any]", web).get("results"))
        return normalize_results(hits, max_results, snippet_key="description")

    def _payload(self, response: httpx.Response) -> dict[str, Any]:
        try:
            payload: Any = response.json()
        except ValueError:
            payload = None
        if response.status_code != 200:  # noqa: PLR2004
            detail = ""
            error: object = (
                cast("dict[str, Any]", payload).get("error") if isinstance(payload, dict) else None
            )
            if isinstance(error, dict):
                fields = cast("dict[str, Any]", error)
                detail = f": {fields.get('detail') or fields.get('code') or ''}"
            hint = {
                401: f"check the key in {self._env_name}",
                422: f"check the key in {self._env_name}",
                429: "the plan's rate limit was hit; wait and retry",
            }.get(response.status_code)
            raise BackendError(f"HTTP {response.status_code}{detail}", backend="brave", hint=hint)
        if not isinstance(payload, dict):
            raise BackendError("the answer is not a JSON object", backend="brave")
        return cast("dict[str, Any]", payload)
