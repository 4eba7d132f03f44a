"""Hostile input gets a clear refusal from both strict validation and lenient loading."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from memfun_core.errors import ValidationError
from memfun_skills import Rule, load_skill, load_skill_properties, validate_skill
from memfun_skills.testing import write_skill, write_skill_md

ALIAS_BOMB = (
    "name: s\ndescription: d\nmetadata:\n"
    "  a: &a [x, x, x, x, x, x, x, x, x]\n"
    "  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
    "  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
    "  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
)


def _rules(folder: Path) -> set[str]:
    return {str(error.rule) for error in validate_skill(folder).errors}


def _lenient_rule(folder: Path) -> str:
    with pytest.raises(ValidationError) as caught:
        load_skill_properties(folder)
    assert caught.value.location
    return caught.value.rule


def test_alias_bomb_refused(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    write_skill_md(folder, f"---\n{ALIAS_BOMB}---\nbody\n")
    assert _rules(folder) == {Rule.YAML_INVALID}
    assert _lenient_rule(folder) == Rule.YAML_TOO_COMPLEX


def test_huge_file_refused(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "s", "d", body="x" * (2 * 1024 * 1024))
    assert _rules(folder) == {Rule.FILE_TOO_LARGE}
    with pytest.raises(ValidationError) as caught:
        load_skill(folder)
    assert caught.value.rule == Rule.FILE_TOO_LARGE


def test_huge_frontmatter_refused(tmp_path: Path) -> None:
    keys = "".join(f"  k{i}: v\n" for i in range(2000))
    folder = tmp_path / "s"
    write_skill_md(folder, f"---\nname: s\ndescription: d\nmetadata:\n{keys}---\n")
    assert _rules(folder) == {Rule.FRONTMATTER_TOO_LARGE}
    assert _lenient_rule(folder) == Rule.FRONTMATTER_TOO_LARGE


def test_endless_frontmatter_reads_bounded(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    write_skill_md(folder, "---\nname: s\n" + "description: d\n" * 50_000)
    assert _lenient_rule(folder) == Rule.FRONTMATTER_TOO_LARGE


def test_binary_refused(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    write_skill_md(folder, b"---\nname: s\ndescription: \xff\xfe\x00\x01\n---\n")
    assert _rules(folder) == {Rule.NOT_UTF8}
    assert _lenient_rule(folder) == Rule.NOT_UTF8


def test_no_frontmatter_refused(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    write_skill_md(folder, "# Just markdown\n")
    assert _rules(folder) == {Rule.FRONTMATTER_MISSING}
    assert _lenient_rule(folder) == Rule.FRONTMATTER_MISSING


def test_deep_nesting_refused(tmp_path: Path) -> None:
    deep = "[" * 300 + "x" + "]" * 300
    folder = tmp_path / "s"
    write_skill_md(folder, f"---\nname: s\ndescription: d\nmetadata: {deep}\n---\n")
    assert _lenient_rule(folder) == Rule.YAML_TOO_COMPLEX
    assert not validate_skill(folder).valid


def test_symlinked_skill_md_outside_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.md"
    outside.write_text("---\nname: s\ndescription: d\n---\n", encoding="utf-8")
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "SKILL.md").symlink_to(outside)
    assert _rules(folder) == {Rule.SYMLINK_ESCAPE}
    assert _lenient_rule(folder) == Rule.SYMLINK_ESCAPE


def test_symlinked_resource_outside_refused(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "s", "d")
    (folder / "references").mkdir()
    (folder / "references" / "passwd").symlink_to("/etc/passwd")
    report = validate_skill(folder)
    assert [error.rule for error in report.errors] == [Rule.SYMLINK_ESCAPE]
    assert report.errors[0].field == "references/passwd"


def test_symlink_inside_folder_allowed(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "s", "d", files={"references/a.md": "A"})
    (folder / "references" / "b.md").symlink_to(folder / "references" / "a.md")
    assert validate_skill(folder).valid


def test_fifo_does_not_hang(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    os.mkfifo(folder / "SKILL.md")
    assert _rules(folder) == {Rule.NOT_A_REGULAR_FILE}
    assert _lenient_rule(folder) == Rule.NOT_A_REGULAR_FILE


def test_lenient_forgives_with_warnings(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    write_skill_md(
        folder,
        "---\nname: s\ndescription: d\nallowed-tools: [Read, Grep]\nversion: 2\n---\nbody\n",
    )
    assert not validate_skill(folder).valid
    properties, warnings = load_skill_properties(folder)
    assert properties.allowed_tools == ("Read", "Grep")
    rules = {warning.rule for warning in warnings}
    assert Rule.LENIENT_YAML in rules
    assert Rule.UNEXPECTED_FIELDS in rules


def test_yaml_list_in_allowed_tools_warns(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    write_skill_md(
        folder, "---\nname: s\ndescription: d\nallowed-tools:\n  - Read\n  - Bash(git:*)\n---\n"
    )
    report = validate_skill(folder)
    assert report.valid  # skills-ref does not check the field's type
    assert [warning.rule for warning in report.warnings] == [Rule.FIELD_TYPE]
    properties, warnings = load_skill_properties(folder)
    assert properties.allowed_tools == ("Read", "Bash(git:*)")
    assert any("space-separated" in warning.message for warning in warnings)


def test_metadata_shape_is_a_warning(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    write_skill_md(folder, "---\nname: s\ndescription: d\nmetadata:\n  a:\n    b: c\n---\n")
    report = validate_skill(folder)
    assert report.valid
    assert [warning.rule for warning in report.warnings] == [Rule.METADATA_SHAPE]


def test_missing_description_is_fatal_even_leniently(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    write_skill_md(folder, "---\nname: s\n---\n")
    assert _lenient_rule(folder) == Rule.REQUIRED


def test_discovery_reads_only_the_frontmatter(tmp_path: Path) -> None:
    # A body that is not UTF-8 is not read when only the frontmatter is needed.
    folder = tmp_path / "s"
    write_skill_md(folder, b"---\nname: s\ndescription: d\n---\n" + b"\xff" * 100_000)
    properties, _ = load_skill_properties(folder)
    assert properties.description == "d"
    with pytest.raises(ValidationError) as caught:
        load_skill(folder)
    assert caught.value.rule == Rule.NOT_UTF8


def test_lenient_warning_text_is_the_rule_message(tmp_path: Path) -> None:
    folder = tmp_path / "folder-a"
    write_skill_md(folder, "---\nname: other-name\ndescription: d\n---\n")
    _, warnings = load_skill_properties(folder)
    (warning,) = warnings
    assert warning.rule == Rule.NAME_FOLDER_MISMATCH
    assert warning.message == (
        "the folder name 'folder-a' must equal the skill name 'other-name' (loaded anyway)"
    )
