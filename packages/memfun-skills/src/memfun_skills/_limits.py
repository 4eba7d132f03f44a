"""Limits of the Agent Skills format and the bounds Memfun puts on hostile input."""

from __future__ import annotations

__all__ = [
    "ALLOWED_FIELDS",
    "MAX_COMPATIBILITY_LENGTH",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_FRONTMATTER_BYTES",
    "MAX_FRONTMATTER_LINES",
    "MAX_NAME_LENGTH",
    "MAX_RESOURCE_BYTES",
    "MAX_SKILL_MD_BYTES",
    "MAX_YAML_NODES",
    "SKILL_MD_NAMES",
]

# The specification (and skills-ref 0.1.1).
MAX_NAME_LENGTH = 64
MAX_DESCRIPTION_LENGTH = 1024
MAX_COMPATIBILITY_LENGTH = 500
ALLOWED_FIELDS = frozenset(
    {"name", "description", "license", "allowed-tools", "metadata", "compatibility"}
)
# skills-ref prefers SKILL.md and accepts skill.md.
SKILL_MD_NAMES = ("SKILL.md", "skill.md")

# Memfun's bounds on hostile input (skills-ref has none). A real SKILL.md is a few KiB with a
# frontmatter of a dozen lines; strictyaml is quadratic in the number of keys, so the
# frontmatter is bounded in bytes and lines before it reaches the parser.
MAX_SKILL_MD_BYTES = 1024 * 1024
MAX_FRONTMATTER_BYTES = 32 * 1024
MAX_FRONTMATTER_LINES = 500
MAX_YAML_NODES = 2_000
MAX_RESOURCE_BYTES = 8 * 1024 * 1024
