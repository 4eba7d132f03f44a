"""Splitting ``SKILL.md`` into frontmatter and body, strictly (as skills-ref) or leniently."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from memfun_core.errors import ValidationError
from memfun_skills._limits import MAX_FRONTMATTER_BYTES, MAX_FRONTMATTER_LINES
from memfun_skills._model import Rule, SkillWarning

__all__ = ["Split", "split_lenient", "split_strict"]

_BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class Split:
    """A ``SKILL.md`` cut in two.

    Attributes:
        frontmatter: The YAML text between the delimiters.
        body: The Markdown after the closing delimiter, stripped.
        warnings: What a lenient split forgave.
    """

    frontmatter: str
    body: str
    warnings: tuple[SkillWarning, ...] = ()


def _check_bounds(frontmatter: str, location: Path) -> None:
    size = len(frontmatter.encode("utf-8"))
    lines = frontmatter.count("\n")
    if size > MAX_FRONTMATTER_BYTES or lines > MAX_FRONTMATTER_LINES:
        raise ValidationError(
            f"the frontmatter has {size} bytes and {lines} lines; the limits are "
            f"{MAX_FRONTMATTER_BYTES} bytes and {MAX_FRONTMATTER_LINES} lines",
            field="frontmatter",
            rule=Rule.FRONTMATTER_TOO_LARGE,
            location=str(location),
            hint="keep the frontmatter to name, description and a few short fields",
        )


def _missing(location: Path, document: str = "SKILL.md") -> ValidationError:
    return ValidationError(
        f"{document} must start with YAML frontmatter (---)",
        field="frontmatter",
        rule=Rule.FRONTMATTER_MISSING,
        location=str(location),
        hint="begin the file with a line '---', the fields, then a closing '---' line",
    )


def _unclosed(location: Path, document: str = "SKILL.md") -> ValidationError:
    return ValidationError(
        f"{document} frontmatter is not closed with ---",
        field="frontmatter",
        rule=Rule.FRONTMATTER_UNCLOSED,
        location=str(location),
        hint="add a line '---' after the last frontmatter field",
    )


def split_strict(text: str, location: Path) -> Split:
    """Split exactly as skills-ref 0.1.1 does, so verdicts agree.

    The file must start with ``---``; the frontmatter ends at the next ``---`` anywhere
    (even inside a line), which is what the reference validator does.

    Raises:
        ValidationError: ``frontmatter-missing``, ``frontmatter-unclosed`` or
            ``frontmatter-too-large``.
    """
    if not text.startswith("---"):
        raise _missing(location)
    opening, frontmatter, *rest = text.split("---", 2)
    del opening
    if not rest:
        raise _unclosed(location)
    _check_bounds(frontmatter, location)
    return Split(frontmatter, rest[0].strip())


def split_lenient(text: str, location: Path, *, document: str = "SKILL.md") -> Split:
    """Split on delimiter lines as the specification and Claude Code read them.

    Forgives a byte-order mark and trailing spaces on the delimiter lines (with a warning).
    ``document`` names the kind of file in the errors (``AGENT.md`` for an agent file).

    Raises:
        ValidationError: ``frontmatter-missing``, ``frontmatter-unclosed`` or
            ``frontmatter-too-large``.
    """
    warnings: list[SkillWarning] = []
    if text.startswith(_BOM):
        text = text[1:]
        warnings.append(
            SkillWarning(
                "the file starts with a byte-order mark; strict validators refuse it",
                "frontmatter",
                Rule.LENIENT_FRONTMATTER,
                str(location),
            )
        )
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != "---":
        raise _missing(location, document)
    for index in range(1, len(lines)):
        if lines[index].rstrip() == "---":
            frontmatter = "\n".join(lines[1:index]) + "\n"
            _check_bounds(frontmatter, location)
            body = "\n".join(lines[index + 1 :]).strip()
            return Split(frontmatter, body, tuple(warnings))
        if index > MAX_FRONTMATTER_LINES:
            _check_bounds("\n".join(lines[1 : index + 1]), location)
    raise _unclosed(location, document)
