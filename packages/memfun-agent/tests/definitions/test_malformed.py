"""Malformed and hostile agent files: each gives its own error (file, line, field, rule),
and one bad file never hides the good ones in discovery."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from memfun_agent.definitions import (
    AgentDefinitionError,
    discover_agents,
    load_agent_file,
    validate_agent_file,
)

GOOD = "---\nname: good\ndescription: A good agent.\n---\nDo good work.\n"
BOMB = (
    "---\nname: bomb\ndescription: d\n"
    'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n---\n"
)
CASES = [
    ("no-frontmatter", "# Just Markdown\n", "frontmatter", "frontmatter-missing", 1),
    ("unclosed", "---\nname: unclosed\ndescription: d\n", "frontmatter", "frontmatter-unclosed", 1),
    ("no-name", "---\ndescription: d\n---\n", "name", "required", 1),
    ("no-description", "---\nname: no-description\n---\n", "description", "required", 1),
    (
        "bad-yaml",
        "---\nname: bad-yaml\ndescription: [oops\n---\n",
        "frontmatter",
        "yaml-invalid",
        None,
    ),
    ("colon", "---\nname: colon\ndescription: x: y\n---\n", "frontmatter", "yaml-invalid", 3),
    (
        "tools-map",
        "---\nname: tools-map\ndescription: d\ntools:\n  Read: yes\n---\n",
        "tools",
        "tools-type",
        4,
    ),
    (
        "tools-nested",
        "---\nname: tools-nested\ndescription: d\ntools: [[Read]]\n---\n",
        "tools",
        "tools-type",
        4,
    ),
    ("slash", "---\nname: ../../etc/x\ndescription: d\n---\n", "name", "name-path-separator", 2),
    ("upper", "---\nname: Upper\ndescription: d\n---\n", "name", "name-lowercase", 2),
    ("not-mapping", "---\n- a\n- b\n---\n", "frontmatter", "frontmatter-not-mapping", 2),
    ("bomb", BOMB, "frontmatter", "yaml-too-complex", None),
    (
        "turns",
        "---\nname: turns\ndescription: d\nmaxTurns: lots\n---\n",
        "maxTurns",
        "field-type",
        4,
    ),
    (
        "budget",
        "---\nname: budget\ndescription: d\nbudgets:\n  max-gold: 3\n---\n",
        "budgets",
        "field-value",
        4,
    ),
    (
        "sandbox",
        "---\nname: sandbox\ndescription: d\nsandbox: none\n---\n",
        "sandbox",
        "field-value",
        4,
    ),
    (
        "ro",
        "---\nname: ro\ndescription: d\nread-only: true\ntools: Read, Edit\n---\n",
        "tools",
        "read-only-conflict",
        5,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_each_malformed_file_gives_its_own_error(
    tmp_path: Path, case: tuple[str, str, str, str, int | None]
) -> None:
    stem, text, field, rule, line = case
    path = tmp_path / f"{stem}.md"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AgentDefinitionError) as caught:
        load_agent_file(path)
    error = caught.value
    assert (error.field, str(error.rule), error.file) == (field, rule, str(path))
    if line is not None:
        assert error.line == line
    assert str(error).startswith(f"{path}:{error.line}: {field}: " if error.line else f"{path}: ")
    assert error.hint
    report = validate_agent_file(path)
    assert not report.valid
    assert report.to_dict()["errors"][0]["rule"] == rule  # type: ignore[index]


def test_binary_oversized_and_linked_files(tmp_path: Path) -> None:
    binary = tmp_path / "binary.md"
    binary.write_bytes(b"---\nname: binary\n\xff\xfe\x00\x00---\n")
    huge = tmp_path / "huge.md"
    huge.write_text(GOOD.replace("good", "huge") + "x" * (1024 * 1024 + 1))
    fifo = tmp_path / "fifo.md"
    os.mkfifo(fifo)
    for path, rule in (
        (binary, "not-utf8"),
        (huge, "file-too-large"),
        (fifo, "not-a-regular-file"),
    ):
        with pytest.raises(AgentDefinitionError) as caught:
            load_agent_file(path)
        assert str(caught.value.rule) == rule
    with pytest.raises(AgentDefinitionError) as caught:
        load_agent_file(tmp_path / "missing.md")
    assert str(caught.value.rule) == "path-missing"
    (tmp_path / "notes.txt").write_text(GOOD)
    with pytest.raises(AgentDefinitionError) as caught:
        load_agent_file(tmp_path / "notes.txt")
    assert str(caught.value.rule) == "not-markdown"


def test_a_hostile_project_cannot_hide_good_agents_or_read_files_outside(tmp_path: Path) -> None:
    """A cloned repository ships broken, huge, binary and linking agent files next to good ones."""
    secret = tmp_path / "secret.md"
    secret.write_text("---\nname: secret\ndescription: SECRET-TOKEN-123\n---\nSECRET\n")
    agents = tmp_path / "proj" / ".claude" / "agents"
    agents.mkdir(parents=True)
    (agents / "good.md").write_text(GOOD)
    (agents / "bomb.md").write_text(BOMB)
    (agents / "nofront.md").write_text("no frontmatter\n")
    (agents / "binary.md").write_bytes(b"\x00\x01\x02\xff" * 100)
    (agents / "huge.md").write_text("---\nname: huge\ndescription: d\n---\n" + "y" * 2_000_000)
    (agents / "leak.md").symlink_to(secret)
    (agents / "loop.md").symlink_to(agents / "loop.md")
    (agents / "dangling.md").symlink_to(tmp_path / "nowhere.md")
    folder = agents / "folder-agent"
    folder.mkdir()
    (folder / "AGENT.md").write_text(GOOD.replace("good", "folder-agent"))
    catalog = discover_agents(tmp_path / "proj", home=tmp_path / "home", include_builtins=False)
    assert catalog.names == ("folder-agent", "good")
    skipped = {path.name: str(s.error.rule) for s in catalog.skipped for path in [s.path]}
    assert skipped["bomb.md"] == "yaml-too-complex"
    assert skipped["nofront.md"] == "frontmatter-missing"
    assert skipped["binary.md"] == "not-utf8"
    assert skipped["huge.md"] == "file-too-large"
    assert skipped["leak.md"] == "symlink-escape"
    assert {"loop.md", "dangling.md"} <= set(skipped)
    everything = repr(catalog) + "".join(catalog.diagnostics)
    assert "SECRET-TOKEN-123" not in everything


def test_a_flood_of_files_is_bounded_and_reported(tmp_path: Path) -> None:
    agents = tmp_path / "proj" / ".memfun" / "agents"
    agents.mkdir(parents=True)
    for index in range(1_005):
        (agents / f"a{index:04d}.txt").write_text("")
    (agents / "zzz.md").write_text(GOOD.replace("good", "zzz"))
    catalog = discover_agents(tmp_path / "proj", home=tmp_path / "home", include_builtins=False)
    assert any(str(s.error.rule) == "too-many-entries" for s in catalog.skipped)
