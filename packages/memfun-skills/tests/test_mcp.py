"""Skills over MCP with FastMCP's in-memory client: the tool route and the Skills extension."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastmcp import Client, FastMCP
from fastmcp.skills import SkillsClientExtension

from memfun_skills import Scope, SkillCatalog, SkillRoot, discover_skills
from memfun_skills.mcp import MemfunSkillsProvider, create_skills_server
from memfun_skills.testing import write_skill


@pytest.fixture
def catalog(builtins_dir: Path) -> SkillCatalog:
    return discover_skills([SkillRoot(builtins_dir, Scope.BUILTIN)])


@pytest.fixture
def gateway(catalog: SkillCatalog) -> FastMCP:
    gateway = FastMCP("gateway")
    gateway.mount(create_skills_server(catalog))
    return gateway


async def test_tool_route_through_the_gateway(gateway: FastMCP, catalog: SkillCatalog) -> None:
    async with Client(gateway) as client:
        tools = {tool.name: tool for tool in await client.list_tools()}
        assert {f"skills_{name}" for name in catalog.names} <= set(tools)
        assert "Review code changes" in (tools["skills_review-code"].description or "")
        result = await client.call_tool("skills_review-code", {"arguments": "src/"})
        data = result.structured_content
        assert data is not None
        assert data["name"] == "review-code"
        assert data["arguments"] == "src/"
        assert data["instructions"].startswith("# Review code")
        uris = [resource["uri"] for resource in data["resources"]]
        assert uris == ["skill://review-code/references/checklist.md"]
        # The files are resources the same client can read.
        contents = await client.read_resource(uris[0])
        assert "Code review checklist" in contents[0].text  # type: ignore[union-attr]
        listed = {str(resource.uri) for resource in await client.list_resources()}
        assert "skill://analyze-code/scripts/repo_stats.py" in listed
        assert "skill://ask/SKILL.md" in listed


async def test_skills_extension_through_the_gateway(gateway: FastMCP) -> None:
    async with Client(gateway, extensions=[SkillsClientExtension()]) as client:
        entries = {entry.frontmatter.name: entry for entry in await client.list_skills()}
        assert set(entries) >= {"review-code", "security-audit", "ask"}
        entry = await client.get_skill("skill://security-audit/SKILL.md")
        assert isinstance(entry.resources, list)  # not "dynamic": every file is listed
        resources = {str(resource.uri) for resource in entry.resources}
        assert "skill://security-audit/scripts/find_secrets.py" in resources
        skill = await client.read_skill("skill://security-audit/SKILL.md")
        assert skill.name == "security-audit"
        assert "scripts/find_secrets.py" in skill.files
        manifest = await client.read_resource("skill://fix-bugs/_manifest")
        paths = [f["path"] for f in json.loads(manifest[0].text)["files"]]  # type: ignore[union-attr]
        assert sorted(paths) == ["SKILL.md", "references/debugging.md"]


async def test_files_are_read_on_demand_and_confined(tmp_path: Path) -> None:
    root = tmp_path / "skills"
    folder = write_skill(root, "notes", "Take notes.", files={"references/a.md": "first"})
    catalog = discover_skills([SkillRoot(root, Scope.PROJECT)])
    server = create_skills_server(catalog)
    async with Client(server) as client:
        (folder / "references" / "a.md").write_text("edited!", encoding="utf-8")
        contents = await client.read_resource("skill://notes/references/a.md")
        assert contents[0].text == "edited!"  # type: ignore[union-attr]


async def test_unservable_skills_are_reported(tmp_path: Path) -> None:
    root = tmp_path / "skills"
    write_skill(root, "café", "A Unicode name: valid per spec, refused by FastMCP's grammar.")
    write_skill(root, "plain", "Fine.")
    catalog = discover_skills([SkillRoot(root, Scope.PROJECT)])
    assert set(catalog.names) == {"café", "plain"}
    server = create_skills_server(catalog)
    async with Client(server) as client:
        names = {tool.name for tool in await client.list_tools()}
    assert names == {"skills_plain"}
    provider = next(p for p in server.providers if isinstance(p, MemfunSkillsProvider))
    assert [excluded.name for excluded in provider.excluded] == ["café"]


async def test_mounted_under_a_namespace_like_the_gateway(catalog: SkillCatalog) -> None:
    # memfun-tools' build_gateway mounts extra servers with a namespace.
    gateway = FastMCP("gateway")
    gateway.mount(create_skills_server(catalog, tool_prefix=""), namespace="skills")
    async with Client(gateway, extensions=[SkillsClientExtension()]) as client:
        names = {tool.name for tool in await client.list_tools()}
        assert "skills_review-code" in names
        result = await client.call_tool("skills_ask", {"arguments": "where is X?"})
        assert result.structured_content is not None
        assert result.structured_content["instructions"].startswith("# Ask")
        entries = {entry.frontmatter.name: entry for entry in await client.list_skills()}
        skill = await client.read_skill(str(entries["ask"].uri))
        assert skill.name == "ask"
        assert skill.files["SKILL.md"].startswith(b"---\nname: ask\n")
