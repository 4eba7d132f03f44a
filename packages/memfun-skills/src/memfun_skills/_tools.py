"""Mapping ``allowed-tools`` entries (Claude Code names) to Memfun tool names."""

from __future__ import annotations

import fnmatch
import posixpath
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["SHELL_TOOL", "ToolGrant", "command_words", "map_allowed_tools", "normal_path"]

SHELL_TOOL = "shell"
"""Memfun's shell tool: every command runs in the sandbox, never on the host."""

_SIMPLE = {
    "Read": "fs_read",
    "Write": "fs_write",
    "Edit": "fs_edit",
    "MultiEdit": "fs_multi_edit",
    "NotebookEdit": "fs_edit",
    "Grep": "search_text",
    "Glob": "fs_glob",
    "LS": "fs_list",
    "WebFetch": "web_fetch",
    "WebSearch": "web_search",
    "Bash": SHELL_TOOL,
}
# A command may run through ``sh -c``: anything that could start a second command, feed it
# from or to a file, or substitute one is refused (inside quotes too: a false refusal is
# cheap, a chained command is not).
_SHELL_OPERATOR_CHARS = frozenset("();<>|&")
_SHELL_SUBSTITUTIONS = ("`", "$(")
_DRIVE = re.compile(r"^[A-Za-z]:")
_CALL = re.compile(r"^(?P<tool>[A-Za-z][A-Za-z0-9_]*)\((?P<spec>.*)\)$", re.DOTALL)
_MCP = re.compile(r"^mcp__(?P<server>[^_].*?)__(?P<tool>.+)$")


@dataclass(frozen=True, slots=True)
class ToolGrant:
    """One allowed tool, as Memfun names it.

    Attributes:
        source: The ``allowed-tools`` entry it came from (``"Bash(git diff:*)"``).
        tool: The Memfun tool name (``"git_diff"``), or a pattern ending in ``*``
            (``"git_*"`` grants every git tool).
        command_prefix: For the sandboxed shell, the command prefix it is limited to
            (``"python3"``), or ``None`` for any command.
        path_pattern: For file tools, the glob the path must match (``"src/**"``), or
            ``None`` for any path inside the workspace.
    """

    source: str
    tool: str
    command_prefix: str | None = None
    path_pattern: str | None = None

    def allows(self, tool: str, *, command: str | None = None, path: str | None = None) -> bool:
        """Whether this grant covers calling ``tool`` with that shell command or path.

        A constrained grant allows a call only when the constrained argument is given and
        matches: a command must be one simple command whose first words are the prefix's
        (:func:`command_words`); a path must be a plain relative path (:func:`normal_path`)
        whose normalised form matches the pattern. The path is matched as text: a caller
        that can resolve symbolic links checks the resolved path too.
        """
        if self.tool.endswith("*"):
            if not tool.startswith(self.tool[:-1]):
                return False
        elif tool != self.tool:
            return False
        if self.command_prefix is not None:
            words = None if command is None else command_words(command)
            prefix = command_words(self.command_prefix)
            if words is None or not prefix or words[: len(prefix)] != prefix:
                return False
        if self.path_pattern is None:
            return True
        normal = None if path is None else normal_path(path)
        return normal is not None and fnmatch.fnmatchcase(normal, self.path_pattern)


def normal_path(path: str) -> str | None:
    """``path`` as a normalised workspace-relative POSIX path, or ``None`` to refuse it.

    Refused: empty paths, NUL or other control characters, backslashes, absolute paths
    (``/x``, ``C:x``) and any ``..`` component. A ``..`` is refused even when it stays
    inside lexically (``src/../x``): after a symbolic link it means another folder, which a
    pattern matched on the text cannot know. ``.`` parts and repeated slashes are removed.
    """
    if not path or any(ord(char) < 0x20 for char in path) or "\\" in path:  # noqa: PLR2004
        return None
    if path.startswith("/") or _DRIVE.match(path) is not None:
        return None
    if ".." in path.split("/"):
        return None
    return posixpath.normpath(path)


def command_words(command: str) -> list[str] | None:
    """The words of a shell command that is one simple command, or ``None`` to refuse it.

    The command is split as ``sh`` would split it (quotes removed). Refused: a line break
    or other control character, a command or arithmetic substitution (backticks, ``$(``),
    any control operator or redirection (``;``, ``&``, ``&&``, ``|``, ``||``, ``<``, ``>``,
    ``>>``, ``<<``, ``(``, ``)``, ...), and unbalanced quotes.
    """
    if any(ord(char) < 0x20 and char != "\t" for char in command):  # noqa: PLR2004
        return None
    if any(text in command for text in _SHELL_SUBSTITUTIONS):
        return None
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        words = list(lexer)
    except ValueError:  # no closing quotation
        return None
    if any(word and set(word) <= _SHELL_OPERATOR_CHARS for word in words):
        return None
    return words


def _bash_grant(entry: str, spec: str) -> ToolGrant:
    """Map one ``Bash(...)`` entry.

    ``Bash(git diff:*)`` gives ``git_diff``, ``Bash(git:*)`` gives ``git_*``, anything else
    the sandboxed shell limited to the command prefix.
    """
    prefix = spec.removesuffix(":*").removesuffix("*").strip()
    words = prefix.split()
    if words and words[0] == "git":
        if len(words) == 1:
            return ToolGrant(entry, "git_*")
        if len(words) == 2 and re.fullmatch(r"[a-z][a-z-]*", words[1]):  # noqa: PLR2004
            return ToolGrant(entry, f"git_{words[1].replace('-', '_')}")
    return ToolGrant(entry, SHELL_TOOL, prefix or None)


def map_allowed_tools(entries: Iterable[str]) -> tuple[tuple[ToolGrant, ...], tuple[str, ...]]:
    """Map ``allowed-tools`` entries to Memfun grants.

    Returns:
        The grants, and the entries Memfun has no equivalent for (reported, not dropped
        silently: the caller shows them).
    """
    grants: list[ToolGrant] = []
    unmapped: list[str] = []
    for entry in entries:
        if entry in _SIMPLE:
            grants.append(ToolGrant(entry, _SIMPLE[entry]))
            continue
        call = _CALL.match(entry)
        if call is not None and call.group("tool") == "Bash":
            grants.append(_bash_grant(entry, call.group("spec")))
            continue
        if call is not None and call.group("tool") in _SIMPLE:
            # Read(src/**), WebFetch(domain:x): the tool, limited to matching arguments.
            spec = call.group("spec").strip()
            grants.append(ToolGrant(entry, _SIMPLE[call.group("tool")], path_pattern=spec))
            continue
        mcp = _MCP.match(entry)
        if mcp is not None:
            grants.append(ToolGrant(entry, f"{mcp.group('server')}_{mcp.group('tool')}"))
            continue
        unmapped.append(entry)
    return tuple(grants), tuple(unmapped)
