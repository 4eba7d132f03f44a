"""``MEMORY.md``: one learning per Markdown list item, human-editable.

An item is one line (indented lines below it continue it)::

    - [fact] The tests run with `make test`. <!-- id:3f2a9c1b sig:5d0c...(32 hex) -->

``[kind]`` is ``worked``, ``fact`` or ``preference`` (missing: ``fact``). The id comment is
written by Memfun; an item typed by hand without one gets the id of its normalised text, so
it is stable until the text changes. ``sig`` signs the id, kind and text with this user's
``memory`` key (:mod:`memfun_core.signing`): a learning of the project's file that does not
carry a valid one came from elsewhere (a cloned repository, a hand edit) and is not recalled
into a run until the user signs it (``memfun memory sign``). Everything that is not a list
item (headings, prose) is kept as it is; Memfun only appends items, signs them and removes
the lines of a forgotten one.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from memfun_core.errors import ValidationError

__all__ = [
    "KINDS",
    "MAX_TEXT_CHARS",
    "Kind",
    "ParsedItem",
    "clean_text",
    "learning_id",
    "normalise",
    "parse_memory",
    "render_item",
    "signed_text",
    "template",
]

Kind = Literal["worked", "fact", "preference"]
"""``worked``: what worked on a task; ``fact``: a fact about the project; ``preference``: how
the user likes things done."""
KINDS: tuple[Kind, ...] = ("worked", "fact", "preference")
MAX_TEXT_CHARS = 500
"""The longest learning kept (longer text is refused when added, cut when extracted)."""

_ITEM = re.compile(r"^(?P<indent>[ \t]*)[-*+][ \t]+(?P<body>.*)$")
_KIND = re.compile(r"^\[(?P<kind>[A-Za-z]+)\][ \t]*")
_ID = re.compile(
    r"[ \t]*<!--[ \t]*id:(?P<id>[0-9a-f]{8,32})(?:[ \t]+sig:(?P<sig>[0-9a-f]{32,64}))?"
    r"[ \t]*-->[ \t]*$"
)
_COMMENT = re.compile(r"<!--|-->")
_SPACE = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s]")


@dataclass(frozen=True, slots=True)
class ParsedItem:
    """One list item of a ``MEMORY.md`` and the lines it spans.

    Attributes:
        id: Its id (from the comment, else :func:`learning_id` of its text).
        kind: Its kind.
        text: Its text, continuation lines joined by spaces.
        start: Index of its first line.
        end: Index after its last line.
        signature: The ``sig`` of its id comment (unchecked), if any.
    """

    id: str
    kind: Kind
    text: str
    start: int
    end: int
    signature: str | None = None


def normalise(text: str) -> str:
    """The text two learnings are compared by: NFKC, case-folded, no punctuation, one space."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", _PUNCT.sub(" ", folded)).strip()


def learning_id(text: str) -> str:
    """The id of a learning: 8 hex digits of the SHA-256 of its normalised text."""
    return hashlib.sha256(normalise(text).encode()).hexdigest()[:8]


def clean_text(text: str) -> str:
    """One line of plain text: whitespace collapsed, HTML comment markers removed.

    A learning can then neither start another list item nor forge an id comment.
    """
    return _SPACE.sub(" ", _COMMENT.sub(" ", text)).strip()


def _kind(value: str) -> Kind | None:
    return next((kind for kind in KINDS if kind == value.lower()), None)


def _items(lines: list[str]) -> Iterator[tuple[int, int, str]]:
    """``(start, end, body)`` of each list item; indented lines continue an item."""
    index = 0
    while index < len(lines):
        match = _ITEM.match(lines[index])
        if match is None or match.group("indent"):
            index += 1
            continue
        start, body = index, match.group("body")
        index += 1
        while index < len(lines) and lines[index][:1] in (" ", "\t") and lines[index].strip():
            if _ITEM.match(lines[index]) is not None:
                break  # a nested list item is its own thing, not this learning
            body += " " + lines[index].strip()
            index += 1
        yield start, index, body


def parse_memory(text: str) -> list[ParsedItem]:
    """The learnings of a ``MEMORY.md``, in file order (empty items skipped)."""
    lines = text.splitlines()
    parsed: list[ParsedItem] = []
    for start, end, raw in _items(lines):
        body = raw.strip()
        ident_match = _ID.search(body)
        ident = ident_match.group("id") if ident_match else None
        signature = ident_match.group("sig") if ident_match else None
        if ident_match:
            body = body[: ident_match.start()].rstrip()
        kind: Kind = "fact"
        kind_match = _KIND.match(body)
        named = _kind(kind_match.group("kind")) if kind_match else None
        if kind_match and named is not None:
            kind = named
            body = body[kind_match.end() :]
        body = clean_text(body)
        if not body:
            continue
        parsed.append(ParsedItem(ident or learning_id(body), kind, body, start, end, signature))
    return parsed


def signed_text(ident: str, kind: Kind, text: str) -> bytes:
    """What a learning's signature covers: its id, kind and (cleaned) text."""
    return f"memfun-memory/1\n{ident}\n{kind}\n{clean_text(text)}".encode()


def render_item(ident: str, kind: Kind, text: str, signature: str | None = None) -> str:
    """The list item of a learning (one line, with its id comment and signature)."""
    if kind not in KINDS:
        raise ValidationError(f"unknown kind {kind!r}", field="kind", rule=" | ".join(KINDS))
    sig = f" sig:{signature}" if signature else ""
    return f"- [{kind}] {clean_text(text)} <!-- id:{ident}{sig} -->"


def template(scope: str) -> str:
    """The head of a new ``MEMORY.md``."""
    return (
        f"# Memfun memory ({scope})\n\n"
        "One learning per list item: `- [kind] text`, kind `worked`, `fact` or `preference`.\n"
        "Edit freely: Memfun re-indexes this file when its content changes. The id comments\n"
        "name each item for `memfun memory forget ID`.\n\n"
    )
