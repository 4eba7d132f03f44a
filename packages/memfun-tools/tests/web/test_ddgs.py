"""The ddgs backend end to end: DDGS -> primp -> an intercepting proxy serving a recorded
DuckDuckGo HTML answer -> ddgs's parser and ranker -> our normalization.

There is no internet here: the proxy (a real HTTP CONNECT proxy with a test CA on
127.0.0.1) plays html.duckduckgo.com, the way a TLS-inspecting corporate proxy relays it;
the backend's ``proxy`` and ``ca_bundle`` options are the ones such networks need.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from memfun_core.errors import BackendError
from memfun_tools.web import DdgsBackend, SearchResult, WebConfig, WebSearcher, build_search_backend


def backend_through(proxy: Any) -> DdgsBackend:
    config = WebConfig(
        ddgs_engines="duckduckgo",
        ddgs_proxy=proxy.url,
        ddgs_ca_bundle=str(proxy.ca_path),
        search_timeout_seconds=10,
    )
    backend = build_search_backend(config)
    assert isinstance(backend, DdgsBackend)
    return backend


async def test_ddgs_parses_a_recorded_duckduckgo_answer(
    intercepting_proxy: Any, fixtures_dir: Path
) -> None:
    body = (fixtures_dir / "ddg_html_response.html").read_bytes()
    intercepting_proxy.responses[("html.duckduckgo.com", "/html/")] = (200, "text/html", body)
    response = await WebSearcher(backend_through(intercepting_proxy)).search(
        "python asyncio taskgroup", 10
    )
    assert response.backend == "ddgs"
    by_url = {r.url: r for r in response.results}
    assert set(by_url) == {
        "https://docs.python.org/3/library/asyncio-task.html",
        "https://superfastpython.com/asyncio-taskgroup/",
        "https://stackoverflow.com/questions/76142431/how-to-use-asyncio-taskgroup",
    }
    assert by_url["https://docs.python.org/3/library/asyncio-task.html"] == SearchResult(
        title="Coroutines and Tasks — Python 3.13.1 documentation",
        url="https://docs.python.org/3/library/asyncio-task.html",
        snippet=(
            "This section outlines high-level asyncio APIs to work with coroutines and Tasks. "
            "Task Groups combine a task creation API with a convenient and reliable way to "
            "wait for all tasks in the group to finish."
        ),
    )
    so = by_url["https://stackoverflow.com/questions/76142431/how-to-use-asyncio-taskgroup"]
    assert so.title == "How to use asyncio.TaskGroup? - Stack Overflow"
    assert "&" in so.snippet
    assert not any("y.js" in url for url in by_url)
    sent = intercepting_proxy.requests[0]
    assert (sent.method, sent.path) == ("POST", "/html/")
    assert parse_qs(sent.body.decode())["q"] == ["python asyncio taskgroup"]


async def test_ddgs_page_without_results_is_an_empty_list(intercepting_proxy: Any) -> None:
    empty = b"<html><body><div id='links' class='results'><div class='no-results'>No results.</div></div></body></html>"
    intercepting_proxy.responses[("html.duckduckgo.com", "/html/")] = (200, "text/html", empty)
    assert await backend_through(intercepting_proxy).search("zzzz", 5) == []


async def test_ddgs_untrusted_certificate_is_a_backend_error(
    intercepting_proxy: Any, fixtures_dir: Path
) -> None:
    intercepting_proxy.responses[("html.duckduckgo.com", "/html/")] = (200, "text/html", b"x")
    backend = DdgsBackend(engines="duckduckgo", proxy=intercepting_proxy.url, timeout_seconds=5)
    with pytest.raises(BackendError):
        await backend.search("python", 5)
