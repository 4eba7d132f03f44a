"""Reading one revision of a remote repository as a tar archive, running nothing it ships.

:func:`export_git_tree` clones the repository bare into a folder of the caller's (no work tree, so
no checkout, no smudge filter, no hook), resolves the revision to a commit and writes the tree
(or one folder of it) with ``git archive``. The environment is the one every git tool gets (no
system or global config, every command-valued key overridden, see
:mod:`memfun_tools.git._safety`); transports stay closed except the single one the URL names:
``https`` and ``http`` (the host checked by the web policy, its vetted addresses pinned with
``http.curloptResolve``, no redirects) or ``file``. ``ext::``, ``ssh`` and ``git://`` are refused.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from memfun_core.config import WebConfig
from memfun_core.errors import (
    BackendError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from memfun_tools.git._runner import (  # pyright: ignore[reportPrivateUsage]
    GitOutput,
    _base_env,  # pyright: ignore[reportPrivateUsage]
    _exec,  # pyright: ignore[reportPrivateUsage]
    _git_path,  # pyright: ignore[reportPrivateUsage]
    check_ref,
)
from memfun_tools.git._safety import STATIC_OVERRIDES
from memfun_tools.web._address import parse_ip

if TYPE_CHECKING:
    from memfun_tools.web._resolve import Resolver

__all__ = ["GitTree", "export_git_tree"]

_SCHEMES = ("https", "http", "file")
_HEX = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_MAX_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class GitTree:
    """One revision of a remote repository, exported.

    Attributes:
        commit: The full commit id the revision resolved to.
        archive: The tar file holding the tree (or the folder asked for) at that commit.
        files: How many files the tree holds.
        size: The sum of their sizes in bytes.
    """

    commit: str
    archive: Path
    files: int
    size: int


def _check_subdir(subdir: str) -> str:
    path = PurePosixPath(subdir.strip("/"))
    if (
        not subdir.strip("/")
        or subdir.startswith(("/", "-"))
        or "\\" in subdir
        or any(part in ("..", ".") for part in path.parts)
        or any(ord(ch) < 0x20 for ch in subdir)  # noqa: PLR2004
    ):
        raise ValidationError(
            f"is {subdir!r}",
            field="subdir",
            rule="a relative folder inside the repository, without '..'",
        )
    return str(path)


async def _transport_overrides(
    url: str, config: WebConfig, resolver: Resolver
) -> list[tuple[str, str]]:
    """The config that opens exactly the URL's transport (and pins its vetted addresses)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in _SCHEMES:
        raise PermissionDeniedError(
            f"clone {url}",
            f"the transport {scheme or '(none)'!r} is not allowed",
            hint="use a git+https:// (or git+file://) URL",
        )
    opened = [(f"protocol.{scheme}.allow", "always")]
    if scheme == "file":
        return opened
    from memfun_tools.web._policy import UrlPolicy  # loads httpx: only for a remote URL

    policy = UrlPolicy(config)
    checked = policy.check(url)
    addresses = [str(checked.ip)] if checked.ip is not None else []
    if not addresses:
        addresses = list(await resolver.resolve(checked.host, checked.port))
        for address in addresses:
            ip = parse_ip(address)
            if ip is None:
                raise BackendError(
                    f"the resolver returned {address!r} for {checked.host}", backend="dns"
                )
            policy.check_address(ip, url, checked.host, resolved=True)
    if not addresses:
        raise BackendError(f"the host {checked.host} does not resolve", backend="dns")
    pinned = ",".join(f"[{a}]" if ":" in a else a for a in addresses)
    return [
        *opened,
        ("http.followRedirects", "false"),
        ("http.curloptResolve", f"{checked.host}:{checked.port}:{pinned}"),
    ]


def _env(overrides: list[tuple[str, str]]) -> dict[str, str]:
    env = _base_env()
    # STATIC_OVERRIDES closes every transport; the URL's own one is opened after (later wins).
    entries = [*STATIC_OVERRIDES, ("transfer.fsckObjects", "true"), *overrides]
    env["GIT_CONFIG_COUNT"] = str(len(entries))
    for index, (key, value) in enumerate(entries):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


async def export_git_tree(
    url: str,
    ref: str | None,
    work_dir: Path,
    *,
    subdir: str | None = None,
    config: WebConfig | None = None,
    resolver: Resolver | None = None,
    max_files: int = _MAX_ENTRIES,
    max_bytes: int | None = None,
    time_limit: float = 300.0,
) -> GitTree:
    """Clone ``url`` bare into ``work_dir`` and export ``ref`` (or ``HEAD``) as a tar file.

    Args:
        url: An ``https://``, ``http://`` or ``file://`` repository URL.
        ref: A branch, tag or commit; ``None`` for the remote's default branch.
        work_dir: An empty folder of the caller's; the clone and the archive go there.
        subdir: Export only this folder of the tree (its content becomes the archive's root).
        config: The web policy the host must pass (loopback needs ``allow_loopback``).
        resolver: How host names become addresses (the operating system by default).
        max_files: Refuse a tree with more files than this (checked before exporting).
        max_bytes: Refuse a tree whose files add up to more than this.
        time_limit: Seconds each git command may take.

    Returns:
        The commit and the archive.

    Raises:
        PermissionDeniedError: A transport other than https/http/file, or a host the web
            policy refuses.
        ValidationError: A malformed ref or subdir, or a tree over the limits.
        NotFoundError: The ref or the subdir does not exist.
        BackendError: git failed (the repository cannot be read).
    """
    if ref is not None:
        check_ref(ref)
    folder = _check_subdir(subdir) if subdir is not None else None
    if resolver is None:
        from memfun_tools.web._resolve import SystemResolver

        resolver = SystemResolver()
    overrides = await _transport_overrides(url, config or WebConfig(), resolver)
    env = _env(overrides)
    git = _git_path()
    bare = work_dir / "repo.git"
    cloned = await _exec(
        (git, "clone", "--bare", "--quiet", "--no-recurse-submodules", "--template=", "--", url,
         str(bare)),
        env, work_dir, time_limit,
    )  # fmt: skip
    if cloned.code != 0:
        raise BackendError(
            f"git clone {url} failed: {cloned.stderr.strip() or cloned.code}", backend="git"
        )
    run = _Git((git, f"--git-dir={bare}"), env, work_dir, time_limit)
    wanted = f"{ref or 'HEAD'}^{{commit}}"
    parsed = await run("rev-parse", "--verify", "--quiet", "--end-of-options", wanted)
    commit = parsed.stdout.strip()
    if parsed.code != 0 or not _HEX.match(commit):
        raise NotFoundError(
            "revision", f"{ref or 'HEAD'} in {url}", hint="name a branch, tag or commit it has"
        )
    tree = f"{commit}:{folder}" if folder else commit
    files, size = await _tree_size(run, tree, url)
    if files > max_files:
        raise ValidationError(
            f"{files} files; the limit is {max_files}", field="tree", rule="too-many-files"
        )
    if max_bytes is not None and size > max_bytes:
        raise ValidationError(
            f"{size} bytes; the limit is {max_bytes}", field="tree", rule="too-large"
        )
    archive = work_dir / "tree.tar"
    exported = await run("archive", "--format=tar", f"--output={archive}", "--end-of-options", tree)
    if exported.code != 0:
        raise BackendError(f"git archive failed: {exported.stderr.strip()}", backend="git")
    os.chmod(archive, 0o600)  # noqa: PTH101
    return GitTree(commit=commit, archive=archive, files=files, size=size)


@dataclass(frozen=True, slots=True)
class _Git:
    """git on the bare clone, in the closed environment."""

    prefix: tuple[str, ...]
    env: dict[str, str]
    cwd: Path
    time_limit: float

    async def __call__(self, *args: str) -> GitOutput:
        return await _exec((*self.prefix, *args), self.env, self.cwd, self.time_limit)


async def _tree_size(run: _Git, tree: str, url: str) -> tuple[int, int]:
    """Count the files of ``tree`` and add up their sizes without writing any of them."""
    listed = await run("ls-tree", "-r", "-l", "-z", "--end-of-options", tree)
    if listed.code != 0:
        raise NotFoundError(
            "folder", f"{tree} in {url}", hint="check the #subdir= part of the source"
        )
    files = 0
    size = 0
    for record in listed.stdout.split("\0"):
        if not record:
            continue
        fields = record.split("\t", 1)[0].split()
        files += 1
        if len(fields) == 4 and fields[3].isdigit():  # noqa: PLR2004 - mode type id size
            size += int(fields[3])
    return files, size
