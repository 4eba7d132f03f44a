"""Reading any Markdown file with YAML frontmatter under the bounds skills use.

Agent definitions (``AGENT.md``, Claude Code subagent files) share the skills' hostile-input
defences through this one function: bounded, confined reading; UTF-8 only; a lenient
frontmatter split; safe YAML with a node budget (alias bombs refused).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from memfun_core.errors import ValidationError
from memfun_skills._files import decode_text, read_bounded
from memfun_skills._frontmatter import split_lenient
from memfun_skills._limits import MAX_SKILL_MD_BYTES
from memfun_skills._model import Rule
from memfun_skills._properties import split_allowed_tools
from memfun_skills._yaml import YamlValue, compose_lenient

__all__ = [
    "FrontmatterDocument",
    "parse_frontmatter_document",
    "read_frontmatter_document",
    "split_tool_entries",
]


@dataclass(frozen=True, slots=True)
class FrontmatterDocument:
    """A Markdown file cut into parsed frontmatter and body.

    Attributes:
        data: The frontmatter as plain data (every scalar a string), ``None`` when empty.
        frontmatter: The frontmatter text (its first line is line 2 of the file).
        body: The Markdown after the closing ``---`` line, stripped.
        notes: What a lenient read forgave, in words (``"a byte-order mark"``,
            ``"anchors and aliases"``, ``"duplicate key 'x' (the last one wins)"``...).
    """

    data: YamlValue | None
    frontmatter: str
    body: str
    notes: tuple[str, ...] = ()


def read_frontmatter_document(
    path: Path, root: Path, *, document: str, limit: int = MAX_SKILL_MD_BYTES
) -> FrontmatterDocument:
    """Read ``path`` (inside ``root``) as frontmatter plus Markdown, refusing hostile input.

    Args:
        path: The file.
        root: The folder it must stay inside (a symlink leading out is refused).
        document: What the file is called in errors (``"AGENT.md"``).
        limit: The most bytes the file may have.

    Raises:
        ValidationError: With the skills' rule ids: ``symlink-escape``,
            ``not-a-regular-file``, ``file-too-large``, ``not-utf8``, ``frontmatter-missing``,
            ``frontmatter-unclosed``, ``frontmatter-too-large``, ``yaml-invalid`` (its
            ``__cause__`` carries PyYAML's position) or ``yaml-too-complex``.
    """
    text = decode_text(read_bounded(path, root, field=document, limit=limit), path, field=document)
    return parse_frontmatter_document(text, path, document=document, limit=limit)


def parse_frontmatter_document(
    text: str, location: Path, *, document: str, limit: int = MAX_SKILL_MD_BYTES
) -> FrontmatterDocument:
    """:func:`read_frontmatter_document` for text not yet saved (``location`` names it).

    Raises:
        ValidationError: As :func:`read_frontmatter_document` (``file-too-large`` when the
            text's UTF-8 form is over ``limit`` bytes).
    """
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > limit:
        raise ValidationError(
            f"{document} has {size} bytes; the limit is {limit}",
            field=document,
            rule=Rule.FILE_TOO_LARGE,
            location=str(location),
            hint="keep the instructions short; move long material elsewhere",
        )
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    split = split_lenient(text, location, document=document)
    data, notes = compose_lenient(split.frontmatter, location)
    forgiven = ("a byte-order mark",) if split.warnings else ()
    return FrontmatterDocument(data, split.frontmatter, split.body, (*forgiven, *notes))


def split_tool_entries(text: str) -> tuple[str, ...]:
    """Split a tool list written as one string (Claude Code's ``tools: Read, Bash(git:*)``).

    Entries are separated by commas or spaces; spaces inside parentheses belong to the
    entry.
    """
    return split_allowed_tools(text)
