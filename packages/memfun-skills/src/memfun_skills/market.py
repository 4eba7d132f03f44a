"""The skills marketplace library: sources, registry indexes, safe unpacking, staging, the lock.

Nothing here touches the network; ``memfun skill install`` (memfun-cli) downloads and hands
the bytes to these functions. Typical flow::

    source = parse_source("git+https://host/skills.git@v1#subdir=x", cwd=Path.cwd())
    staging = staging_dir(skills_root)  # hidden, same file system
    try:
        unpack_archive(downloaded, staging / "src")  # or copy_folder(...)
        plan = prepare_install(staging / "src", staging, subdir=source.subdir)
        commit_install(plan, skills_root)  # one rename
    finally:
        shutil.rmtree(staging, ignore_errors=True)
"""

from __future__ import annotations

from memfun_skills._market_lock import LOCK_FILE, LockEntry, SkillsLock, Target, content_hash
from memfun_skills._market_source import (
    RegistryEntry,
    SkillSource,
    SourceKind,
    parse_index,
    parse_source,
    search_entries,
)
from memfun_skills._market_stage import (
    InstallPlan,
    commit_install,
    export_skill,
    prepare_install,
    remove_installed,
    staging_dir,
)
from memfun_skills._market_unpack import UnpackLimits, copy_folder, unpack_archive

__all__ = [
    "LOCK_FILE",
    "InstallPlan",
    "LockEntry",
    "RegistryEntry",
    "SkillSource",
    "SkillsLock",
    "SourceKind",
    "Target",
    "UnpackLimits",
    "commit_install",
    "content_hash",
    "copy_folder",
    "export_skill",
    "parse_index",
    "parse_source",
    "prepare_install",
    "remove_installed",
    "search_entries",
    "staging_dir",
    "unpack_archive",
]
