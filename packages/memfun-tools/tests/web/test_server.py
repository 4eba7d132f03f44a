"""The web MCP server through FastMCP's in-memory Client, mounted under the web namespace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastmcp import Client, FastMCP

from memfun_tools.web import SearxngBackend, StaticResolver, WebConfig, build_web_server


def gateway_with_web(server: Any, **config: Any) -> FastMCP[Any]:
    backend = SearxngBackend(server.url(""), timeout_seconds=5, user_agent="t")
    web = build_web_server(
        WebConfig(**config),
        resolver=StaticResolver({"docs.test": ["127.0.0.1"], "intranet.test": ["10.0.0.3"]}),
        search_backend=backend,
    )
    gateway: FastMCP[Any] = FastMCP("gateway")
    gateway.mount(web, namespace="web")
    return gateway


async def test_tools_list_shows_names_annotations_and_output_schema(server: Any) -> None:
    async with Client(gateway_with_web(server)) as client:
        tools = {tool.name: tool for tool in await client.list_tools()}
    assert set(tools) == {"web_fetch", "web_search"}
    for tool in tools.values():
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is True
        assert tool.annotations.destructive_hint is False
        assert tool.annotations.open_world_hint is True
        assert tool.output_schema is not None
    fetch_schema = tools["web_fetch"].input_schema
    assert fetch_schema["required"] == ["url"]
    assert set(fetch_schema["properties"]) == {"url", "max_chars", "start_index", "selector"}
    assert "next_start_index" in tools["web_fetch"].output_schema["properties"]  # type: ignore[index]
    assert "results" in tools["web_search"].output_schema["properties"]  # type: ignore[index]


async def test_fetch_returns_structured_content(server: Any, fixtures_dir: Path) -> None:
    server.add("/readme", (fixtures_dir / "readme_page.html").read_bytes())
    url = f"http://docs.test:{server.port}/readme"
    async with Client(gateway_with_web(server, allow_loopback=True)) as client:
        result = await client.call_tool("web_fetch", {"url": url, "max_chars": 200})
    assert not result.is_error
    data = result.structured_content
    assert data is not None
    assert data["final_url"] == url
    assert data["content"].startswith("# tinyqueue\n")
    assert len(data["content"]) == 200
    assert data["next_start_index"] == 200


async def test_refused_fetch_is_an_error_result_naming_the_rule(server: Any) -> None:
    async with Client(gateway_with_web(server)) as client:
        metadata = await client.call_tool(
            "web_fetch", {"url": "http://169.254.169.254/latest/meta-data/"}, raise_on_error=False
        )
        intranet = await client.call_tool(
            "web_fetch", {"url": "http://intranet.test/"}, raise_on_error=False
        )
        local = await client.call_tool("web_fetch", {"url": server.url("/")}, raise_on_error=False)
    assert metadata.is_error
    assert "[cloud-metadata]" in metadata.content[0].text  # type: ignore[union-attr]
    assert intranet.is_error
    assert "[private]" in intranet.content[0].text  # type: ignore[union-attr]
    assert local.is_error
    assert "[loopback]" in local.content[0].text  # type: ignore[union-attr]
    assert "allow_loopback" in local.content[0].text  # type: ignore[union-attr]
    assert server.hits == []


async def test_search_returns_structured_results(server: Any, fixtures_dir: Path) -> None:
    server.add(
        "/search",
        (fixtures_dir / "searxng_response.json").read_bytes(),
        content_type="application/json",
    )
    async with Client(gateway_with_web(server)) as client:
        result = await client.call_tool("web_search", {"query": "asyncio", "max_results": 2})
    data = result.structured_content
    assert data is not None
    assert data["backend"] == "searxng"
    assert [hit["url"] for hit in data["results"]] == [
        "https://docs.python.org/3/library/asyncio-task.html",
        "https://superfastpython.com/asyncio-taskgroup/",
    ]
    assert set(data["results"][0]) == {"title", "url", "snippet"}


async def test_out_of_range_arguments_are_error_results(server: Any) -> None:
    async with Client(gateway_with_web(server)) as client:
        result = await client.call_tool(
            "web_search", {"query": "x", "max_results": 500}, raise_on_error=False
        )
    assert result.is_error
