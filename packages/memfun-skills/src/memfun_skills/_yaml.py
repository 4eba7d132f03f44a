"""YAML for frontmatter: strictyaml for strict validation, PyYAML's safe parser for use.

Both return plain data in which every scalar is a string (``1.0`` stays ``"1.0"``), so the
two agree on every input both accept.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, cast

import yaml

from memfun_core.errors import ValidationError
from memfun_skills._limits import MAX_YAML_NODES
from memfun_skills._model import Rule, SkillWarning

__all__ = ["YamlValue", "compose_lenient", "load_lenient", "load_strict"]

YamlValue = str | list["YamlValue"] | dict[str, "YamlValue"]

_MAX_DEPTH = 256


def _composer_class() -> Any:
    """PyYAML's parser and composer without implicit type resolution.

    It builds nodes and never constructs an object (as safe as ``yaml.safe_load``, and
    faster because no scalar is matched against the int/float/bool/date patterns).
    """
    pieces: list[Any] = []
    try:  # libyaml, when PyYAML was built with it
        pieces.append(importlib.import_module("yaml.cyaml").CParser)
    except (ImportError, AttributeError):
        pieces += [
            importlib.import_module(f"yaml.{module}").__dict__[name]
            for module, name in (
                ("reader", "Reader"),
                ("scanner", "Scanner"),
                ("parser", "Parser"),
                ("composer", "Composer"),
            )
        ]
    pieces.append(importlib.import_module("yaml.resolver").BaseResolver)

    def __init__(self: Any, stream: str) -> None:
        for piece in pieces:
            if piece.__name__ in {"CParser", "Reader"}:
                piece.__init__(self, stream)
            else:
                piece.__init__(self)

    return type("SafeComposer", tuple(pieces), {"__init__": __init__})


_Composer: Any = _composer_class()


def _invalid(problem: str, location: Path) -> ValidationError:
    return ValidationError(
        f"invalid YAML in frontmatter: {problem}",
        field="frontmatter",
        rule=Rule.YAML_INVALID,
        location=str(location),
        hint="use plain 'key: value' lines; quote values that contain ': ' or start with '['",
    )


def _too_complex(location: Path) -> ValidationError:
    return ValidationError(
        f"the frontmatter nests deeper than {_MAX_DEPTH} levels or has more than "
        f"{MAX_YAML_NODES} values",
        field="frontmatter",
        rule=Rule.YAML_TOO_COMPLEX,
        location=str(location),
        hint="keep the frontmatter flat: name, description and a few short fields",
    )


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return "; ".join(lines[:3]) or type(error).__name__


def load_strict(text: str, location: Path) -> object:
    """Parse frontmatter with strictyaml, as skills-ref does.

    Flow style, anchors, tags and duplicate keys are refused; every scalar is a string.

    Returns:
        A ``dict``, ``list`` or ``str`` (the caller checks that it is a mapping).

    Raises:
        ValidationError: ``yaml-invalid`` or ``yaml-too-complex``.
    """
    # 160 ms of imports, so only when strict validation runs; strictyaml ships no types.
    strictyaml: Any = importlib.import_module("strictyaml")
    try:
        document = strictyaml.load(text)
    except RecursionError as exc:
        raise _too_complex(location) from exc
    except strictyaml.YAMLError as exc:
        raise _invalid(_first_line(exc), location) from exc
    except Exception as exc:
        raise _invalid(_first_line(exc), location) from exc
    return cast("object", document.data)


class _Converter:
    """Turns a composed PyYAML node graph into plain data under a node budget."""

    def __init__(self, location: Path) -> None:
        self.location = location
        self.budget = MAX_YAML_NODES
        self.seen: set[int] = set()
        self.notes: list[str] = []

    def _note(self, note: str) -> None:
        if note not in self.notes:
            self.notes.append(note)

    def convert(self, node: yaml.Node, depth: int = 0) -> YamlValue:
        self.budget -= 1
        if self.budget < 0 or depth > _MAX_DEPTH:
            raise _too_complex(self.location)
        if id(node) in self.seen:
            self._note("anchors and aliases")
        self.seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            return cast("str", node.value)
        if getattr(node, "flow_style", False):
            self._note("flow-style collections ([...] or {...})")
        if isinstance(node, yaml.SequenceNode):
            items = cast("list[yaml.Node]", node.value)
            return [self.convert(item, depth + 1) for item in items]
        mapping: dict[str, YamlValue] = {}
        pairs = cast("list[tuple[yaml.Node, yaml.Node]]", node.value)
        for key_node, value_node in pairs:
            key = self.convert(key_node, depth + 1)
            if not isinstance(key, str):
                raise _invalid("a mapping key must be a plain value", self.location)
            if key in mapping:
                self._note(f"duplicate key {key!r} (the last one wins)")
            mapping[key] = self.convert(value_node, depth + 1)
        return mapping


def compose_lenient(text: str, location: Path) -> tuple[YamlValue | None, tuple[str, ...]]:
    """Parse frontmatter with PyYAML's safe composer (no object is ever constructed).

    Accepts flow-style collections, anchors and duplicate keys, and names each in the notes;
    expands aliases only within a node budget, so alias bombs are refused.

    Returns:
        The data (``None`` for an empty document; every scalar a string) and the notes
        (``"anchors and aliases"``, ``"duplicate key 'x' (the last one wins)"``...).

    Raises:
        ValidationError: ``yaml-invalid`` (its ``__cause__`` is PyYAML's error, with the
            position) or ``yaml-too-complex``.
    """
    try:
        composer = _Composer(text)
        try:
            node = composer.get_single_node()
        finally:
            composer.dispose()
    except RecursionError as exc:
        raise _too_complex(location) from exc
    except yaml.YAMLError as exc:
        raise _invalid(_first_line(exc), location) from exc
    if node is None:
        return None, ()
    converter = _Converter(location)
    try:
        data = converter.convert(cast("yaml.Node", node))
    except RecursionError as exc:
        raise _too_complex(location) from exc
    return data, tuple(converter.notes)


def load_lenient(text: str, location: Path) -> tuple[YamlValue | None, tuple[SkillWarning, ...]]:
    """Parse frontmatter as :func:`compose_lenient` does, for a skill.

    Accepts what Claude Code accepts (flow-style lists, anchors, duplicate keys) and says so
    in warnings; expands aliases only within a node budget, so alias bombs are refused.

    Returns:
        The data (``None`` for an empty document) and the warnings.

    Raises:
        ValidationError: ``yaml-invalid`` or ``yaml-too-complex``.
    """
    data, notes = compose_lenient(text, location)
    warnings = tuple(
        SkillWarning(
            f"the frontmatter uses {note}; strict validators (skills-ref) refuse it",
            "frontmatter",
            Rule.LENIENT_YAML,
            str(location),
        )
        for note in notes
    )
    return data, warnings
