"""Installing an unpacked skill: validate in a staging folder, then one atomic rename.

The caller unpacks into a staging folder on the same file system as the skills folder
(:func:`staging_dir`), :func:`prepare_install` finds and validates the skill there (strictly,
as skills-ref does, after naming its folder after the skill), and :func:`commit_install`
renames it into place. Nothing is written into the skills folder before the skill has passed
validation, and nothing from the skill runs.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from memfun_core.errors import ConflictError, NotFoundError, ValidationError
from memfun_skills._files import find_skill_md
from memfun_skills._loader import load_skill_properties
from memfun_skills._market_lock import content_hash
from memfun_skills._market_unpack import UnpackLimits, copy_folder, member_parts
from memfun_skills._rules import check_name
from memfun_skills._validate import validate_skill

__all__ = [
    "InstallPlan",
    "commit_install",
    "export_skill",
    "prepare_install",
    "remove_installed",
    "staging_dir",
]

_STAGING_PREFIX = ".memfun-install-"


@dataclass(frozen=True, slots=True)
class InstallPlan:
    """A validated skill waiting in the staging folder.

    Attributes:
        name: The skill's name (the folder it will get).
        description: Its description.
        skill_dir: Where it waits (a folder named ``name`` inside the staging folder).
        files: Every file, relative, with its size in bytes.
        scripts: The files under ``scripts/`` (what could run later, in the sandbox).
        allowed_tools: The ``allowed-tools`` entries it asks for.
        content: Its content hash (:func:`~memfun_skills.content_hash`).
        warnings: What the validator noted without refusing.
    """

    name: str
    description: str
    skill_dir: Path
    files: tuple[tuple[str, int], ...]
    scripts: tuple[str, ...]
    allowed_tools: tuple[str, ...]
    content: str
    warnings: tuple[str, ...] = ()


def staging_dir(skills_root: Path) -> Path:
    """A new hidden folder inside ``skills_root`` (same file system, so renames are atomic).

    Discovery skips hidden folders; the caller deletes it (``shutil.rmtree``) when done.
    """
    skills_root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=skills_root))


def _locate(unpacked: Path, subdir: str | None) -> Path:
    if subdir:
        parts = member_parts(subdir, "#subdir", UnpackLimits())
        folder = unpacked.joinpath(*parts)
        if not parts or folder.is_symlink() or not folder.is_dir():
            raise NotFoundError("folder", subdir, hint="check the #subdir= part of the source")
        return folder
    if find_skill_md(unpacked) is not None:
        return unpacked
    children = [c for c in unpacked.iterdir() if c.is_dir() and find_skill_md(c) is not None]
    if len(children) == 1:
        return children[0]  # an archive wrapping the skill in one top folder
    raise NotFoundError(
        "SKILL.md",
        "at the top of the source",
        hint="name the skill's folder with #subdir=PATH"
        + (f" (found {', '.join(sorted(c.name for c in children))})" if children else ""),
    )


def prepare_install(unpacked: Path, staging: Path, *, subdir: str | None = None) -> InstallPlan:
    """Find the skill in ``unpacked`` (inside ``staging``), name its folder, validate it.

    Args:
        unpacked: The folder the source was unpacked or copied into.
        staging: The staging folder holding ``unpacked``.
        subdir: The folder of the source holding the skill (else the top, or its only
            subfolder with a ``SKILL.md``).

    Returns:
        The plan: what would be installed.

    Raises:
        NotFoundError: No ``SKILL.md`` where it should be.
        ValidationError: The skill fails validation (every error is listed).
    """
    folder = _locate(unpacked, subdir)
    properties, _ = load_skill_properties(folder)
    name_errors = check_name(properties.name, str(properties.skill_md))
    if name_errors:
        raise name_errors[0]
    target = staging / "skill" / properties.name
    target.parent.mkdir()
    folder.rename(target)
    report = validate_skill(target)
    if not report.valid or report.properties is None:
        detail = "; ".join(str(error) for error in report.errors)
        raise ValidationError(
            f"the skill does not validate: {detail}",
            field="SKILL.md",
            rule="skill-invalid",
            location=properties.name,
            hint="run `memfun skill validate` on the source and fix it there",
        )
    files: list[tuple[str, int]] = []
    for current, _dirs, names in os.walk(target):
        for name in names:
            path = Path(current, name)
            files.append((path.relative_to(target).as_posix(), path.stat().st_size))
    files.sort()
    return InstallPlan(
        name=report.properties.name,
        description=report.properties.description,
        skill_dir=target,
        files=tuple(files),
        scripts=tuple(path for path, _ in files if path.startswith("scripts/")),
        allowed_tools=report.properties.allowed_tools,
        content=content_hash(target),
        warnings=tuple(str(warning) for warning in report.warnings),
    )


def commit_install(plan: InstallPlan, skills_root: Path, *, replace: bool = False) -> Path:
    """Move the staged skill to ``skills_root / plan.name`` with a rename.

    With ``replace``, an existing folder of that name is first renamed into the staging
    folder (deleted with it), so the skill folder is never half old, half new.

    Returns:
        The installed folder.

    Raises:
        ConflictError: The folder exists and ``replace`` is false.
    """
    destination = skills_root / plan.name
    if os.path.lexists(destination):
        if not replace:
            raise ConflictError(
                f"{destination} already exists",
                hint="`memfun skill update NAME` replaces it; `memfun skill remove NAME` first",
            )
        destination.rename(plan.skill_dir.parent / f"{plan.name}.old")
    plan.skill_dir.rename(destination)
    return destination


def export_skill(skill_dir: Path, to: Path) -> Path:
    """Write the skill as a folder ``to/<name>`` or as an archive (``.zip``, ``.tar.gz``).

    Archives hold one top folder named after the skill, with sorted entries and fixed
    timestamps (the same skill gives the same bytes). The skill is validated first.

    Returns:
        The folder or archive written.

    Raises:
        ValidationError: The skill does not validate or holds a link.
        ConflictError: The destination exists.
    """
    report = validate_skill(skill_dir)
    if not report.valid or report.properties is None:
        raise ValidationError(
            "; ".join(str(error) for error in report.errors),
            field="SKILL.md",
            rule="skill-invalid",
            location=str(skill_dir),
        )
    name = report.properties.name
    content_hash(skill_dir)  # refuses links and special files
    lowered = to.name.lower()
    destination = to if lowered.endswith((".zip", ".tar.gz", ".tgz")) else to / name
    if os.path.lexists(destination):
        raise ConflictError(f"{destination} already exists", hint="choose another --to")
    destination.parent.mkdir(parents=True, exist_ok=True)
    if destination is not to:
        copy_folder(skill_dir, destination)
        return destination
    files = sorted(
        Path(current, file).relative_to(skill_dir).as_posix()
        for current, _dirs, names in os.walk(skill_dir)
        for file in names
    )
    if lowered.endswith(".zip"):
        with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED) as archive:
            for relative in files:
                info = zipfile.ZipInfo(f"{name}/{relative}", date_time=(1980, 1, 1, 0, 0, 0))
                mode = (skill_dir / relative).stat().st_mode & 0o777
                info.external_attr = (0o100000 | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, (skill_dir / relative).read_bytes())
        return destination
    with (
        destination.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed,
        tarfile.open(fileobj=packed, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for relative in files:
            info = archive.gettarinfo(str(skill_dir / relative), arcname=f"{name}/{relative}")
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with (skill_dir / relative).open("rb") as handle:
                archive.addfile(info, handle)
    return destination


def remove_installed(skills_root: Path, name: str) -> None:
    """Delete ``skills_root / name`` (a rename into a hidden folder first, then the delete).

    Raises:
        NotFoundError: The folder does not exist.
    """
    folder = skills_root / name
    if not folder.is_dir() or folder.is_symlink():
        raise NotFoundError("installed skill", str(folder))
    trash = staging_dir(skills_root)
    folder.rename(trash / name)
    shutil.rmtree(trash)
