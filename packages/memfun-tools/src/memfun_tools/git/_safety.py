"""What makes running git over an untrusted workspace safe: which repository, which config.

Two doors are closed here, by construction rather than by filtering git's output:

* **Which repository.** git is always given ``--git-dir=<root>/.git --work-tree=<root>``; it never
  discovers a repository. ``<root>/.git`` must be a real folder: a missing one, a symlink, a
  ``gitdir:`` file (linked worktree, submodule) or a folder with a ``commondir`` file (which
  borrows another repository's data) is refused. A bare-repository layout planted at the root
  (``HEAD``, ``config``, ``objects/``, ``refs/``) is therefore never used, and ``core.worktree``
  cannot move the work tree outside the workspace.
* **Which commands.** Every configuration key whose value git would run as a command is
  overridden with a harmless value through ``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n`` (command
  scope, which beats the repository's config). Fixed keys (hooks, fsmonitor, pager, askpass,
  credential helpers, external diff, signing, transports) are always overridden; keys named by
  the repository (``filter.<name>.clean``, ``diff.<name>.textconv``, ``merge.<name>.driver``,
  ``credential.<url>.helper``, ``protocol.<name>.allow`` ...) are found by listing its config
  first (``git config --list`` runs nothing) and overridden one by one. A repository config
  that includes another file (``include.path``, ``includeIf.*.path``) is refused: the included
  file may be one the model just wrote.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from memfun_core.errors import NotFoundError, PermissionDeniedError
from memfun_tools._workspace import Workspace

__all__ = ["STATIC_OVERRIDES", "command_overrides", "repository_dir"]

STATIC_OVERRIDES: tuple[tuple[str, str], ...] = (
    ("core.hooksPath", "/dev/null"),
    ("core.fsmonitor", "false"),
    ("core.pager", "cat"),
    ("core.askPass", ""),
    ("core.sshCommand", ""),
    ("core.gitProxy", ""),
    ("core.alternateRefsCommand", ""),
    ("core.attributesFile", "/dev/null"),
    ("credential.helper", ""),
    ("diff.external", ""),
    ("interactive.diffFilter", ""),
    ("uploadpack.packObjectsHook", ""),
    ("gpg.program", ""),
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
    ("push.gpgSign", "false"),
    ("log.showSignature", "false"),
    ("merge.verifySignatures", "false"),
    ("commit.template", ""),
    ("submodule.recurse", "false"),
    ("status.submoduleSummary", "false"),
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    ("protocol.allow", "never"),
    *(
        (f"protocol.{name}.allow", "never")
        for name in ("file", "git", "ssh", "http", "https", "ext")
    ),
    ("safe.bareRepository", "explicit"),
    ("color.ui", "false"),
    ("core.quotepath", "false"),
    ("advice.detachedHead", "false"),
)
"""Overrides given to every git command, after (so above) the per-repository ones."""

# Variable names (the part after the last dot) whose value is a command, in any section.
_COMMAND_NAMES = frozenset(
    {
        "alternaterefscommand",
        "askpass",
        "clean",
        "cmd",
        "command",
        "defaultkeycommand",
        "difffilter",
        "driver",
        "fsmonitor",
        "helper",
        "hookspath",
        "packobjectshook",
        "process",
        "program",
        "receivepack",
        "smudge",
        "sshcommand",
        "textconv",
        "tunnel",
        "uploadpack",
        "vcs",
    }
)
# Per section: a value that turns the key off, whatever the variable is called.
_SECTION_VALUES = {"pager": "false"}
# Per (section, variable) where a subsection names the thing: the value that turns it off.
_SUBSECTION_VALUES = {
    ("filter", "required"): "false",
    ("protocol", "allow"): "never",
    ("submodule", "update"): "none",
}
# Keys naming a file git reads, which may lie outside the workspace (its lines can surface in
# error messages or output): the repository's value is replaced by an empty file.
_FILE_KEYS = {
    "core.excludesfile": os.devnull,
    "diff.orderfile": os.devnull,
    "mailmap.file": os.devnull,
    "mailmap.blob": "",
}
_INCLUDE_SECTIONS = frozenset({"include", "includeif"})


def repository_dir(ws: Workspace) -> Path:
    """The workspace's ``.git`` folder, after checking that git may use it.

    Raises:
        NotFoundError: When ``<root>/.git`` is missing, a symlink, a ``gitdir:`` file, or a
            folder borrowing another repository's data (``commondir``).
    """
    git_dir = ws.root / ".git"
    where = str(ws.root)
    try:
        info = os.lstat(git_dir)
    except FileNotFoundError:
        raise NotFoundError(
            "git repository at",
            where,
            hint="run `git init` there, or start the tools at the repository's top folder",
        ) from None
    if stat.S_ISLNK(info.st_mode):
        raise NotFoundError(
            "git repository at",
            where,
            hint=".git is a symlink; the git tools use only a real .git folder in the workspace",
        )
    if not stat.S_ISDIR(info.st_mode):
        raise NotFoundError(
            "git repository at",
            where,
            hint=".git is a file (a linked worktree or submodule, whose data lies outside the "
            "workspace); start the tools at the main checkout",
        )
    if os.path.lexists(git_dir / "commondir"):
        raise NotFoundError(
            "git repository at",
            where,
            hint=".git has a commondir file (it borrows another repository's data); start "
            "the tools at the main checkout",
        )
    return git_dir


def command_overrides(listing: str, ws: Workspace) -> list[tuple[str, str]]:
    r"""Overrides for every command-valued key in ``git config --list -z --no-includes`` output.

    Args:
        listing: The NUL-separated ``key\nvalue`` records of the repository's config.
        ws: The workspace (for messages).

    Returns:
        ``(key, value)`` pairs that neutralise each command-valued key found.

    Raises:
        PermissionDeniedError: When the config includes another file.
    """
    overrides: dict[str, str] = {}
    for record in listing.split("\0"):
        key = record.partition("\n")[0]
        if not key:
            continue
        section, _, rest = key.partition(".")
        section = section.lower()
        subsection, _, name = rest.rpartition(".")
        name = name.lower()
        if section in _INCLUDE_SECTIONS:
            raise PermissionDeniedError(
                f"run git in {ws.root}",
                f"the repository's config includes another file ({key})",
                hint="copy the included settings into .git/config and remove the include",
            )
        value: str | None = _FILE_KEYS.get(key.lower())
        if name in _COMMAND_NAMES:
            value = ""
        elif section in _SECTION_VALUES:
            value = _SECTION_VALUES[section]
        elif subsection:
            value = _SUBSECTION_VALUES.get((section, name))
        if value is not None:
            overrides[key] = value
    return list(overrides.items())
