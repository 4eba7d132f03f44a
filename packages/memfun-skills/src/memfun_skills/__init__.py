"""memfun-skills: the Agent Skills (agentskills.io) runtime.

Validate skills as the reference validator does (:func:`validate_skill`), load them
leniently for use (:func:`load_skill_properties`, :func:`load_skill`).
"""

from __future__ import annotations

from importlib.metadata import version as _version

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
from memfun_skills._executor import SkillExecutor, SkillInvoker, SkillResult, SkillRun
from memfun_skills._loader import LoadedSkill, load_skill, load_skill_properties
from memfun_skills._model import Rule, SkillProperties, SkillWarning, ValidationReport
from memfun_skills._prompt import to_prompt
from memfun_skills._router import (
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
    "LoadedSkill",
    "ResourceKind",
    "RouteDecision",
    "RouteMatch",
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
    "parse_frontmatter_document",
    "parse_slash_command",
    "read_frontmatter_document",
    "run_validate",
    "split_tool_entries",
    "to_prompt",
    "validate_skill",
]

__version__ = _version("memfun-skills")
