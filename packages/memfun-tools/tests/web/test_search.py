"""web_search backends against local servers speaking their JSON APIs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from memfun_core.errors import BackendError, BackendUnavailable, ConfigError, ValidationError
from memfun_tools.web import (
    BraveBackend,
    DdgsBackend,
    SearchBackend,
    SearchResult,
    SearxngBackend,
    WebConfig,
    WebSearcher,
    build_search_backend,
    normalize_results,
)


def query_of(hit: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(hit.path).query)


async def test_searxng_results_are_normalized(server: Any, fixtures_dir: Path) -> None:
    body = (fixtures_dir / "searxng_response.json").read_bytes()
    server.add("/search", body, content_type="application/json")
    backend = SearxngBackend(server.url(""), timeout_seconds=5, user_agent="t")
    response = await WebSearcher(backend).search("  python   asyncio taskgroup ", 10)
    assert response.backend == "searxng"
    assert response.query == "python asyncio taskgroup"
    assert response.results == [
        SearchResult(
            title="Coroutines and Tasks — Python 3.13.1 documentation",
            url="https://docs.python.org/3/library/asyncio-task.html",
            snippet=(
                "This section outlines high-level asyncio APIs to work with coroutines and "
                "Tasks. … Task Groups. Task groups combine a task creation API with a "
                "convenient and reliable way to wait for all tasks in the group to finish."
            ),
        ),
        SearchResult(
            title="Asyncio TaskGroup in Python",
            url="https://superfastpython.com/asyncio-taskgroup/",
            snippet=(
                "You can create a TaskGroup and use it to create and wait on tasks. "
                "It was added in Python 3.11."
            ),
        ),
        SearchResult(
            title="How to use asyncio.TaskGroup? - Stack Overflow",
            url="https://stackoverflow.com/questions/76142431/how-to-use-taskgroup",
            snippet="",
        ),
    ]
    params = query_of(server.hits[0])
    assert params["q"] == ["python asyncio taskgroup"]
    assert params["format"] == ["json"]


async def test_searxng_max_results_cuts_the_list(server: Any, fixtures_dir: Path) -> None:
    server.add(
        "/search",
        (fixtures_dir / "searxng_response.json").read_bytes(),
        content_type="application/json",
    )
    backend = SearxngBackend(server.url("/"), timeout_seconds=5, user_agent="t")
    results = await backend.search("q", 1)
    assert [r.url for r in results] == ["https://docs.python.org/3/library/asyncio-task.html"]


async def test_searxng_without_json_format_says_how_to_enable_it(server: Any) -> None:
    server.add("/search", "Forbidden", status=403, content_type="text/html")
    backend = SearxngBackend(server.url(""), timeout_seconds=5, user_agent="t")
    with pytest.raises(BackendError) as caught:
        await backend.search("q", 5)
    assert "search.formats" in str(caught.value)


async def test_searxng_html_answer_is_an_error(server: Any) -> None:
    server.add("/search", "<html>not json</html>")
    backend = SearxngBackend(server.url(""), timeout_seconds=5, user_agent="t")
    with pytest.raises(BackendError, match="not SearXNG JSON"):
        await backend.search("q", 5)


async def test_searxng_down_is_backend_unavailable(server: Any) -> None:
    url = server.url("")
    server.close()
    backend = SearxngBackend(url, timeout_seconds=5, user_agent="t")
    with pytest.raises(BackendUnavailable):
        await backend.search("q", 5)


async def test_brave_results_are_normalized_and_the_key_is_sent(
    server: Any, fixtures_dir: Path
) -> None:
    server.add(
        "/res/v1/web/search",
        (fixtures_dir / "brave_response.json").read_bytes(),
        content_type="application/json",
    )
    backend = BraveBackend(
        api_key_env="TEST_BRAVE_KEY",
        endpoint=server.url("/res/v1/web/search"),
        timeout_seconds=5,
        environ={"TEST_BRAVE_KEY": "BSAtestkey123456"},
    )
    response = await WebSearcher(backend).search("python asyncio taskgroup", 5)
    assert response.backend == "brave"
    assert response.results == [
        SearchResult(
            title="Coroutines and Tasks — Python 3.13.1 documentation",
            url="https://docs.python.org/3/library/asyncio-task.html",
            snippet=(
                "Task groups combine a task creation API with a convenient and reliable way "
                "to wait for all tasks in the group to finish. class asyncio.TaskGroup"
            ),
        ),
        SearchResult(
            title="Python 3.11 TaskGroups explained",
            url="https://example.dev/blog/taskgroups",
            snippet="A walk through TaskGroup, exception groups and cancellation.",
        ),
    ]
    hit = server.hits[0]
    assert hit.headers["x-subscription-token"] == "BSAtestkey123456"
    assert query_of(hit) == {"q": ["python asyncio taskgroup"], "count": ["5"]}


async def test_brave_count_is_capped_at_the_api_limit(server: Any) -> None:
    server.add("/s", json.dumps({"web": {"results": []}}), content_type="application/json")
    backend = BraveBackend(
        api_key_env="K", endpoint=server.url("/s"), timeout_seconds=5, environ={"K": "key-123456"}
    )
    assert await backend.search("q", 50) == []
    assert query_of(server.hits[0])["count"] == ["20"]


async def test_brave_missing_key_names_the_variable() -> None:
    backend = BraveBackend(
        api_key_env="MY_BRAVE_KEY", endpoint="http://127.0.0.1:9/", timeout_seconds=5, environ={}
    )
    with pytest.raises(ConfigError) as caught:
        await backend.search("q", 5)
    assert "MY_BRAVE_KEY" in str(caught.value)


async def test_brave_rejected_key_is_reported_without_the_key(server: Any) -> None:
    error = {
        "type": "ErrorResponse",
        "error": {
            "id": "x",
            "status": 422,
            "code": "SUBSCRIPTION_TOKEN_INVALID",
            "detail": "The provided subscription token is invalid.",
        },
        "time": 1735800000,
    }
    server.add("/s", json.dumps(error), status=422, content_type="application/json")
    backend = BraveBackend(
        api_key_env="K",
        endpoint=server.url("/s"),
        timeout_seconds=5,
        environ={"K": "BSAsecretvalue99"},
    )
    with pytest.raises(BackendError) as caught:
        await backend.search("q", 5)
    text = str(caught.value)
    assert "422" in text
    assert "subscription token is invalid" in text
    assert "BSAsecretvalue99" not in text


def test_normalize_strips_markup_dedupes_and_drops_non_web_urls() -> None:
    raw = [
        {"title": "<b>A</b> &amp; B", "url": "https://a.example/", "snippet": "x\n\n  y"},
        {"title": "dup", "url": "https://a.example/", "snippet": ""},
        {"title": "ftp", "url": "ftp://files.example/", "snippet": ""},
        {"title": "", "url": "http://b.example/p", "snippet": "<i>word</i> " * 400},
        {"url": None},
    ]
    results = normalize_results(raw, 10)
    assert [r.url for r in results] == ["https://a.example/", "http://b.example/p"]
    assert results[0].title == "A & B"
    assert results[0].snippet == "x y"
    assert results[1].title == "http://b.example/p"
    assert len(results[1].snippet) == 600
    assert results[1].snippet.endswith("…")


async def test_searcher_validates_arguments() -> None:
    searcher = WebSearcher(DdgsBackend())
    for query, count in [("", 5), ("   ", 5), ("x" * 501, 5), ("ok", 0), ("ok", 51)]:
        with pytest.raises(ValidationError):
            await searcher.search(query, count)


def test_backends_satisfy_the_protocol_and_are_chosen_by_config() -> None:
    assert isinstance(build_search_backend(WebConfig()), DdgsBackend)
    searx = build_search_backend(
        WebConfig(search_backend="searxng", searxng_url="http://127.0.0.1:8888")
    )
    assert isinstance(searx, SearxngBackend)
    brave = build_search_backend(WebConfig(search_backend="brave"))
    assert isinstance(brave, BraveBackend)
    for backend in (searx, brave, DdgsBackend()):
        assert isinstance(backend, SearchBackend)


def test_searxng_backend_requires_a_url() -> None:
    with pytest.raises(ConfigError) as caught:
        WebConfig(search_backend="searxng")
    assert "web.searxng_url" in str(caught.value)
