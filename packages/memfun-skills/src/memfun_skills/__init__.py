"""memfun-skills: the Agent Skills (agentskills.io) runtime.

Validate skills as the reference validator does (:func:`validate_skill`), load them
leniently for use (:func:`load_skill_properties`, :func:`load_skill`).

Importing the package loads none of its modules: each name is imported on first use (the CLI's
``memfun skill list`` needs discovery only, not routing, activation or the executor).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    __version__: str
    from memfun_skills._activation import (
        ActivatedSkill,
        ResourceKind,
        SkillResource,
        activate_skill,
    )
    from memfun_skills._command import (
        EXIT_INVALID,
        EXIT_USAGE,
        EXIT_VALID,
        CommandOutput,
        run_validate,
    )
    from memfun_skills._discovery import (
        PROJECT_SKILL_DIRS,
        USER_SKILL_DIRS,
        DiscoveredSkill,
        InactiveSkill,
        Scope,
        ShadowedSkill,
        SkillCatalog,
        SkillRoot,
        SkippedSkill,
        builtin_skills_dir,
        default_roots,
        discover_from_config,
        discover_skills,
    )
    from memfun_skills._document import (
        FrontmatterDocument,
        parse_frontmatter_document,
        read_frontmatter_document,
        split_tool_entries,
    )
    from memfun_skills._effectiveness import RoutePenalty, outcome_penalty, route_penalties
    from memfun_skills._executor import SkillExecutor, SkillInvoker, SkillResult, SkillRun
    from memfun_skills._loader import LoadedSkill, load_skill, load_skill_properties
    from memfun_skills._model import Rule, SkillProperties, SkillWarning, ValidationReport
    from memfun_skills._precedence import Named, RootSearch, search_roots
    from memfun_skills._prompt import to_prompt
    from memfun_skills._router import (
        DEFAULT_MIN_SCORE,
        RouteDecision,
        RouteMatch,
        SkillRouter,
        TieBreak,
        parse_slash_command,
    )
    from memfun_skills._rules import check_name
    from memfun_skills._scripts import INTERPRETERS, ScriptRunner
    from memfun_skills._tools import SHELL_TOOL, ToolGrant, map_allowed_tools
    from memfun_skills._validate import validate_skill

__all__ = [
    "DEFAULT_MIN_SCORE",
    "EXIT_INVALID",
    "EXIT_USAGE",
    "EXIT_VALID",
    "INTERPRETERS",
    "PROJECT_SKILL_DIRS",
    "SHELL_TOOL",
    "USER_SKILL_DIRS",
    "ActivatedSkill",
    "CommandOutput",
    "DiscoveredSkill",
    "FrontmatterDocument",
    "InactiveSkill",
    "LoadedSkill",
    "Named",
    "ResourceKind",
    "RootSearch",
    "RouteDecision",
    "RouteMatch",
    "RoutePenalty",
    "Rule",
    "Scope",
    "ScriptRunner",
    "ShadowedSkill",
    "SkillCatalog",
    "SkillExecutor",
    "SkillInvoker",
    "SkillProperties",
    "SkillResource",
    "SkillResult",
    "SkillRoot",
    "SkillRouter",
    "SkillRun",
    "SkillWarning",
    "SkippedSkill",
    "TieBreak",
    "ToolGrant",
    "ValidationReport",
    "__version__",
    "activate_skill",
    "builtin_skills_dir",
    "check_name",
    "default_roots",
    "discover_from_config",
    "discover_skills",
    "load_skill",
    "load_skill_properties",
    "map_allowed_tools",
    "outcome_penalty",
    "parse_frontmatter_document",
    "parse_slash_command",
    "read_frontmatter_document",
    "route_penalties",
    "run_validate",
    "search_roots",
    "split_tool_entries",
    "to_prompt",
    "validate_skill",
]

_LAZY: dict[str, str] = {
    "ActivatedSkill": "memfun_skills._activation",
    "ResourceKind": "memfun_skills._activation",
    "SkillResource": "memfun_skills._activation",
    "activate_skill": "memfun_skills._activation",
    "CommandOutput": "memfun_skills._command",
    "EXIT_INVALID": "memfun_skills._command",
    "EXIT_USAGE": "memfun_skills._command",
    "EXIT_VALID": "memfun_skills._command",
    "run_validate": "memfun_skills._command",
    "DiscoveredSkill": "memfun_skills._discovery",
    "InactiveSkill": "memfun_skills._discovery",
    "PROJECT_SKILL_DIRS": "memfun_skills._discovery",
    "Scope": "memfun_skills._discovery",
    "ShadowedSkill": "memfun_skills._discovery",
    "SkillCatalog": "memfun_skills._discovery",
    "SkillRoot": "memfun_skills._discovery",
    "SkippedSkill": "memfun_skills._discovery",
    "USER_SKILL_DIRS": "memfun_skills._discovery",
    "builtin_skills_dir": "memfun_skills._discovery",
    "default_roots": "memfun_skills._discovery",
    "discover_from_config": "memfun_skills._discovery",
    "discover_skills": "memfun_skills._discovery",
    "FrontmatterDocument": "memfun_skills._document",
    "parse_frontmatter_document": "memfun_skills._document",
    "read_frontmatter_document": "memfun_skills._document",
    "split_tool_entries": "memfun_skills._document",
    "RoutePenalty": "memfun_skills._effectiveness",
    "outcome_penalty": "memfun_skills._effectiveness",
    "route_penalties": "memfun_skills._effectiveness",
    "SkillExecutor": "memfun_skills._executor",
    "SkillInvoker": "memfun_skills._executor",
    "SkillResult": "memfun_skills._executor",
    "SkillRun": "memfun_skills._executor",
    "LoadedSkill": "memfun_skills._loader",
    "load_skill": "memfun_skills._loader",
    "load_skill_properties": "memfun_skills._loader",
    "Rule": "memfun_skills._model",
    "SkillProperties": "memfun_skills._model",
    "SkillWarning": "memfun_skills._model",
    "ValidationReport": "memfun_skills._model",
    "Named": "memfun_skills._precedence",
    "RootSearch": "memfun_skills._precedence",
    "search_roots": "memfun_skills._precedence",
    "to_prompt": "memfun_skills._prompt",
    "DEFAULT_MIN_SCORE": "memfun_skills._router",
    "RouteDecision": "memfun_skills._router",
    "RouteMatch": "memfun_skills._router",
    "SkillRouter": "memfun_skills._router",
    "TieBreak": "memfun_skills._router",
    "parse_slash_command": "memfun_skills._router",
    "check_name": "memfun_skills._rules",
    "INTERPRETERS": "memfun_skills._scripts",
    "ScriptRunner": "memfun_skills._scripts",
    "SHELL_TOOL": "memfun_skills._tools",
    "ToolGrant": "memfun_skills._tools",
    "map_allowed_tools": "memfun_skills._tools",
    "validate_skill": "memfun_skills._validate",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        value: Any = version("memfun-skills")
    else:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'memfun_skills' has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
