"""Finding agents: search roots in precedence order, shadowing, and files that fail to load.

The rules are those of skills, applied by the same code (``memfun_skills.search_roots``): the
first agent of a name wins, later ones are reported as shadowed, and a file that cannot be
loaded is reported as skipped, never silently dropped and never hiding the others.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from memfun_agent.definitions._errors import AgentDefinitionError
from memfun_agent.definitions._loader import AGENT_MD_NAMES, agents_config, load_agent_at
from memfun_agent.definitions._model import AgentDefinition, AgentScope
from memfun_core.config import AgentsConfig, MemfunConfig
from memfun_core.errors import NotFoundError, PermissionDeniedError
from memfun_skills import search_roots

__all__ = [
    "MAX_AGENT_FILES",
    "PROJECT_AGENT_DIRS",
    "USER_AGENT_DIRS",
    "AgentCatalog",
    "AgentRoot",
    "InactiveAgent",
    "ShadowedAgent",
    "SkippedAgent",
    "agent_roots",
    "builtin_agents_dir",
    "discover_agents",
]

PROJECT_AGENT_DIRS = (".memfun/agents", ".agents/agents", ".claude/agents")
"""Agent folders of a project, relative to its root, highest precedence first."""
USER_AGENT_DIRS = (".memfun/agents", ".claude/agents")
"""Agent folders of the user, relative to the home folder, highest precedence first."""
MAX_AGENT_FILES = 1_000
"""Entries read per root; more are reported, not read (a hostile repository's flood)."""
_IGNORED = frozenset({"readme.md", "changelog.md", "license.md"})


@dataclass(frozen=True, slots=True)
class AgentRoot:
    """A folder holding agent files (``NAME.md``) and agent folders (``NAME/AGENT.md``)."""

    path: Path
    scope: AgentScope


@dataclass(frozen=True, slots=True)
class ShadowedAgent:
    """An agent hidden by one of the same name found earlier in precedence."""

    agent: AgentDefinition
    by: AgentDefinition


@dataclass(frozen=True, slots=True)
class SkippedAgent:
    """An agent file that could not be loaded, and why."""

    path: Path
    scope: AgentScope
    error: AgentDefinitionError


@dataclass(frozen=True, slots=True)
class InactiveAgent:
    """A project agent left inactive until the user trusts the folder (``memfun trust``).

    Attributes:
        agent: The agent.
        reason: Why it is inactive.
        hint: What the user can do about it.
    """

    agent: AgentDefinition
    reason: str
    hint: str


@dataclass(frozen=True, slots=True)
class AgentCatalog:
    """The outcome of discovery.

    Attributes:
        agents: The usable agents, one per name, in precedence order.
        shadowed: Agents hidden by a higher-precedence agent of the same name.
        skipped: Agent files that could not be loaded.
        roots: The roots searched, in precedence order.
        inactive: Project agents of a folder the user has not trusted (see
            :mod:`memfun_core.trust`); :meth:`require` refuses them with the reason.
    """

    agents: tuple[AgentDefinition, ...]
    shadowed: tuple[ShadowedAgent, ...] = ()
    skipped: tuple[SkippedAgent, ...] = ()
    roots: tuple[AgentRoot, ...] = ()
    inactive: tuple[InactiveAgent, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The usable agents' names, in precedence order."""
        return tuple(agent.name for agent in self.agents)

    def all(self) -> tuple[AgentDefinition, ...]:
        """Every usable agent, in precedence order."""
        return self.agents

    def get(self, name: str) -> AgentDefinition | None:
        """The agent called ``name`` (a leading ``@`` is ignored), or ``None``."""
        wanted = name.removeprefix("@")
        return next((agent for agent in self.agents if agent.name == wanted), None)

    def require(self, name: str) -> AgentDefinition:
        """The agent called ``name`` (``@name`` accepted).

        Raises:
            NotFoundError: No such agent; the error suggests close names, or says why a
                file of that name was skipped.
            PermissionDeniedError: The agent is a project agent of an untrusted folder.
        """
        agent = self.get(name)
        if agent is not None:
            return agent
        wanted = name.removeprefix("@")
        waiting = next((i for i in self.inactive if i.agent.name == wanted), None)
        if waiting is not None:
            raise PermissionDeniedError(
                f"run the project agent @{wanted}", waiting.reason, hint=waiting.hint
            )
        close = difflib.get_close_matches(wanted, self.names, n=3, cutoff=0.5)
        broken = [s for s in self.skipped if _file_name(s.path) == wanted]
        hint = f"{broken[0].path} could not be loaded: {broken[0].error}" if broken else None
        raise NotFoundError("agent", wanted, suggestions=tuple(close), hint=hint)

    @property
    def diagnostics(self) -> tuple[str, ...]:
        """One line per problem: skipped files, shadowed agents, warnings of loaded ones."""
        lines = [f"skipped {s.path}: {s.error.message}" for s in self.skipped]
        lines += [
            f"shadowed {s.agent.name} ({s.agent.scope}, {s.agent.path}) by {s.by.path}"
            for s in self.shadowed
        ]
        lines += [f"warning {warning}" for agent in self.agents for warning in agent.warnings]
        return tuple(lines)


def _file_name(path: Path) -> str:
    return path.parent.name if path.name in AGENT_MD_NAMES else path.stem


def builtin_agents_dir() -> Path | None:
    """The folder of Memfun's built-in agents.

    Inside the installed package (``memfun_agent/builtin_agents``, put there by the wheel
    build), else the ``agents/`` folder of a source checkout; ``None`` when neither exists.
    """
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "builtin_agents", package.parents[3] / "agents"):
        if candidate.is_dir():
            return candidate
    return None


def agent_roots(
    project_root: str | os.PathLike[str] | None = None,
    *,
    home: str | os.PathLike[str] | None = None,
    include_builtins: bool = True,
) -> tuple[AgentRoot, ...]:
    """The search roots in precedence order: project, user, then the built-ins."""
    project = Path(project_root) if project_root is not None else Path.cwd()
    user_home = Path(home) if home is not None else Path.home()
    roots = [AgentRoot(project / rel, "project") for rel in PROJECT_AGENT_DIRS]
    roots += [AgentRoot(user_home / rel, "user") for rel in USER_AGENT_DIRS]
    builtins = builtin_agents_dir() if include_builtins else None
    if builtins is not None:
        roots.append(AgentRoot(builtins, "builtin"))
    unique: dict[Path, AgentRoot] = {}
    for root in roots:
        unique.setdefault(Path(os.path.abspath(root.path)), root)  # noqa: PTH100 - keep links
    return tuple(AgentRoot(path, root.scope) for path, root in unique.items())


def _agent_files(root: AgentRoot) -> tuple[list[Path], SkippedAgent | None]:
    try:
        entries = sorted(os.scandir(root.path), key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return [], None
    files: list[Path] = []
    for entry in entries[:MAX_AGENT_FILES]:
        if entry.name.startswith("."):
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:  # a link loop: reported when the file is read
            is_dir = False
        if is_dir:
            found = [name for name in AGENT_MD_NAMES if os.path.lexists(Path(entry.path, name))]
            if found:
                files.append(Path(entry.path, found[0]))
        elif entry.name.lower().endswith(".md") and entry.name.lower() not in _IGNORED:
            files.append(Path(entry.path))
    flood = None
    if len(entries) > MAX_AGENT_FILES:
        flood = SkippedAgent(
            root.path,
            root.scope,
            AgentDefinitionError(
                f"holds {len(entries)} entries; only the first {MAX_AGENT_FILES} were read",
                field="folder",
                rule="too-many-entries",
                file=str(root.path),
                hint="keep agent folders to agent files",
            ),
        )
    return files, flood


def _confinement(file: Path, root: AgentRoot) -> Path:
    """The folder a file must stay inside: the root for a project (untrusted until trusted).

    The user's own folders and the built-ins may link elsewhere (dotfile repositories).
    """
    folder = file.parent if file.name in AGENT_MD_NAMES else root.path
    if root.scope == "project":
        return folder
    return file.resolve().parent


def discover_agents(
    project_root: str | os.PathLike[str] | None = None,
    *,
    home: str | os.PathLike[str] | None = None,
    include_builtins: bool = True,
    config: MemfunConfig | AgentsConfig | None = None,
    roots: Iterable[AgentRoot] | None = None,
) -> AgentCatalog:
    """Find every agent of a project, the user and the built-ins.

    Precedence: project ``.memfun/agents``, ``.agents/agents``, ``.claude/agents``; user
    ``~/.memfun/agents``, ``~/.claude/agents``; then the built-ins. In each folder an agent
    is a ``NAME.md`` file or a ``NAME/AGENT.md`` folder (``README.md`` is not an agent).

    Args:
        project_root: The project folder (default: the working directory).
        home: The user's home folder (default: ``Path.home()``).
        include_builtins: Whether to search Memfun's built-in agents.
        config: The configuration (``[agents.models]`` resolves model aliases).
        roots: Search these roots instead of the default ones.
    """
    searched = (
        tuple(roots)
        if roots is not None
        else agent_roots(project_root, home=home, include_builtins=include_builtins)
    )
    settings = agents_config(config)
    search = search_roots(searched, lambda root: _load_root(root, settings))
    return AgentCatalog(
        agents=search.found,
        shadowed=tuple(ShadowedAgent(agent, by) for agent, by in search.shadowed),
        skipped=search.skipped,
        roots=searched,
    )


def _load_root(
    root: AgentRoot, settings: AgentsConfig
) -> tuple[list[AgentDefinition], list[SkippedAgent]]:
    files, flood = _agent_files(root)
    agents: list[AgentDefinition] = []
    skipped = [flood] if flood is not None else []
    for file in files:
        try:
            confine = _confinement(file, root)
            agent = load_agent_at(file, confine, config=settings, scope=root.scope)
        except AgentDefinitionError as error:
            skipped.append(SkippedAgent(file, root.scope, error))
        except (OSError, RuntimeError) as error:  # resolving a link loop or a lost file
            skipped.append(SkippedAgent(file, root.scope, _unreadable(file, error)))
        else:
            agents.append(agent)
    return agents, skipped


def _unreadable(file: Path, error: OSError | RuntimeError) -> AgentDefinitionError:
    return AgentDefinitionError(
        f"cannot be read: {getattr(error, 'strerror', None) or error}",
        field="path",
        rule="unreadable",
        file=str(file),
        hint="check the file's permissions",
    )
