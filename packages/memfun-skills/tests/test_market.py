"""The marketplace library: sources, indexes, safe unpacking, staging, export and the lock."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from memfun_core.errors import ConfigError, ConflictError, NotFoundError, ValidationError
from memfun_skills.market import (
    LockEntry,
    SkillsLock,
    UnpackLimits,
    commit_install,
    content_hash,
    copy_folder,
    export_skill,
    parse_index,
    parse_source,
    prepare_install,
    search_entries,
    staging_dir,
    unpack_archive,
)
from memfun_skills.testing import many_files_zip, tar_gz_with, write_skill, zip_bomb, zip_with

SKILL_MD = b"---\nname: notes\ndescription: Write release notes.\n---\nDo it.\n"
AGENTSKILLS = str(Path(sys.executable).parent / "agentskills")


def _refused(archive: Path, dest: Path) -> ValidationError:
    dest.mkdir()
    with pytest.raises(ValidationError) as caught:
        unpack_archive(archive, dest)
    return caught.value


def test_folder_to_installed_skill_with_lock_round_trip(tmp_path: Path) -> None:
    source = write_skill(tmp_path / "src", "notes", "Write release notes.")
    (source / "scripts").mkdir()
    (source / "scripts" / "run.py").write_text("print('hi')\n")
    (source / ".git").mkdir()
    (source / ".git" / "config").write_text("[core]\n")
    root = tmp_path / "skills"
    staging = staging_dir(root)
    copy_folder(source, staging / "src")
    plan = prepare_install(staging / "src", staging)
    assert plan.name == "notes"
    assert plan.scripts == ("scripts/run.py",)
    assert [path for path, _ in plan.files] == ["SKILL.md", "scripts/run.py"]  # no .git
    assert [p.name for p in root.iterdir()] == [staging.name]  # nothing installed yet
    installed = commit_install(plan, root)
    shutil.rmtree(staging)
    assert sorted(p.name for p in root.iterdir()) == ["notes"]
    assert content_hash(installed) == plan.content
    with pytest.raises(ConflictError):
        commit_install(plan, root)

    lock = SkillsLock().with_entry(
        LockEntry('no"tes\n', str(source), "folder", plan.content, target="claude")
    )
    lock.write(tmp_path / "skills.lock")
    assert SkillsLock.read(tmp_path / "skills.lock") == lock
    (tmp_path / "bad.lock").write_text("version = 1\n[[skill]]\nname = 3\n")
    with pytest.raises(ConfigError, match="name must be a non-empty string"):
        SkillsLock.read(tmp_path / "bad.lock")


def test_content_hash_covers_paths_and_bytes(tmp_path: Path) -> None:
    one = write_skill(tmp_path / "a" / "notes", "notes", "Write release notes.")
    two = write_skill(tmp_path / "b" / "notes", "notes", "Write release notes.")
    assert content_hash(one) == content_hash(two)
    (two / "x").write_text("1")
    (one / "y").write_text("1")
    assert content_hash(one) != content_hash(two)


def test_zip_slip_and_absolute_paths_are_refused(tmp_path: Path) -> None:
    slip = zip_with(tmp_path / "slip.zip", {"SKILL.md": SKILL_MD, "../evil.txt": b"x"})
    assert _refused(slip, tmp_path / "d1").rule == "archive-path-traversal"
    assert not (tmp_path / "evil.txt").exists()
    deep = tar_gz_with(tmp_path / "deep.tgz", {"a/../../evil.txt": b"x"})
    assert _refused(deep, tmp_path / "d2").rule == "archive-path-traversal"
    absolute = zip_with(tmp_path / "abs.zip", {f"{tmp_path}/abs.txt": b"x"})
    error = _refused(absolute, tmp_path / "d3")
    assert error.rule == "archive-absolute-path"
    assert "absolute path" in str(error)
    assert not (tmp_path / "abs.txt").exists()
    drive = zip_with(tmp_path / "drive.zip", {"C:/x.txt": b"x"})
    assert _refused(drive, tmp_path / "d4").rule == "archive-absolute-path"


def test_links_of_every_kind_are_refused(tmp_path: Path) -> None:
    zipped = zip_with(tmp_path / "l.zip", {"SKILL.md": SKILL_MD}, links={"key": "/etc/passwd"})
    assert _refused(zipped, tmp_path / "d1").rule == "archive-link"
    sym = tar_gz_with(tmp_path / "s.tgz", {"SKILL.md": SKILL_MD}, symlinks={"key": "/etc/passwd"})
    error = _refused(sym, tmp_path / "d2")
    assert error.rule == "archive-link"
    assert "/etc/passwd" in str(error)
    hard = tar_gz_with(tmp_path / "h.tgz", {"SKILL.md": SKILL_MD}, hardlinks={"k": "/etc/passwd"})
    assert _refused(hard, tmp_path / "d3").rule == "archive-link"
    assert not list((tmp_path / "d3").iterdir()) or not (tmp_path / "d3" / "k").exists()
    folder = write_skill(tmp_path / "src" / "notes", "notes", "Write release notes.")
    (folder / "inside").symlink_to(folder / "SKILL.md")
    (tmp_path / "d4").mkdir()
    with pytest.raises(ValidationError, match="links are refused"):
        copy_folder(folder, tmp_path / "d4")


def test_decompression_bombs_stop_at_the_limit(tmp_path: Path) -> None:
    honest = zip_bomb(tmp_path / "bomb.zip", name="SKILL.md", mebibytes=2048)
    assert honest.stat().st_size < 3 * 1024 * 1024
    error = _refused(honest, tmp_path / "d1")
    assert error.rule == "archive-too-large"
    assert "declares 2147483648 bytes" in str(error)
    assert not (tmp_path / "d1" / "SKILL.md").exists()  # refused before writing a byte

    liar = zip_bomb(tmp_path / "liar.zip", name="SKILL.md", mebibytes=2048, declared=1000)
    error = _refused(liar, tmp_path / "d2")
    assert error.rule in {"archive-corrupt", "archive-size-mismatch"}
    written = tmp_path / "d2" / "SKILL.md"
    assert not written.exists() or written.stat().st_size <= 1000

    small = UnpackLimits(max_file_bytes=1024 * 1024, max_total_bytes=2 * 1024 * 1024)
    (tmp_path / "d3").mkdir()
    medium = zip_bomb(tmp_path / "m.zip", name="big.bin", mebibytes=4)
    with pytest.raises(ValidationError, match="declares 4194304 bytes"):
        unpack_archive(medium, tmp_path / "d3", limits=small)


def test_tar_gz_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    path = tmp_path / "bomb.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("big.bin")
        info.size = 2 * 1024**3
        archive.addfile(info)  # the header alone: the data is never read
    assert _refused(path, tmp_path / "d").rule == "archive-too-large"


def test_a_hundred_thousand_files_are_refused(tmp_path: Path) -> None:
    archive = many_files_zip(tmp_path / "many.zip", 100_000, skill_md=SKILL_MD)
    error = _refused(archive, tmp_path / "d")
    assert error.rule == "archive-too-many-files"
    assert "100001 entries" in str(error)
    assert not list((tmp_path / "d").iterdir())


def test_not_an_archive_and_duplicates(tmp_path: Path) -> None:
    text = tmp_path / "x.zip"
    text.write_text("hello")
    assert _refused(text, tmp_path / "d1").rule == "archive-format"
    twice = tmp_path / "twice.tgz"
    with tarfile.open(twice, "w:gz") as archive:
        for _ in range(2):
            info = tarfile.TarInfo("SKILL.md")
            info.size = 1
            archive.addfile(info, __import__("io").BytesIO(b"x"))
    assert _refused(twice, tmp_path / "d2").rule == "archive-duplicate"


def test_invalid_skill_is_refused_in_staging(tmp_path: Path) -> None:
    bad = zip_with(
        tmp_path / "bad.zip", {"Bad_Name/SKILL.md": b"---\nname: Bad_Name\ndescription: d\n---\n"}
    )
    root = tmp_path / "skills"
    staging = staging_dir(root)
    unpack_archive(bad, staging / "src")
    with pytest.raises(ValidationError) as caught:
        prepare_install(staging / "src", staging)
    assert "lowercase" in str(caught.value)
    mismatch = zip_with(
        tmp_path / "m.zip", {"wrapper-1.0/SKILL.md": b"---\nname: notes\ndescription: d\n---\n"}
    )
    staging2 = staging_dir(root)
    unpack_archive(mismatch, staging2 / "src")
    plan = prepare_install(staging2 / "src", staging2)  # the folder is named after the skill
    assert plan.skill_dir.name == "notes"
    with pytest.raises(NotFoundError):
        prepare_install(staging2 / "src", staging2, subdir="missing")


def test_sources_parse(tmp_path: Path) -> None:
    git = parse_source("git+https://example.org/s.git@v1.2#subdir=skills/x", cwd=tmp_path)
    assert (git.kind, git.location, git.ref, git.subdir) == (
        "git", "https://example.org/s.git", "v1.2", "skills/x",
    )  # fmt: skip
    assert git.spec() == "git+https://example.org/s.git@v1.2#subdir=skills/x"
    local = parse_source("git+file:///srv/repo.git", cwd=tmp_path)
    assert (local.location, local.ref) == ("file:///srv/repo.git", None)
    sha = "a" * 64
    archive = parse_source(f"https://h.example/x.tar.gz#sha256={sha}", cwd=tmp_path)
    assert (archive.kind, archive.sha256, archive.remote) == ("archive", sha, True)
    assert parse_source("release-notes", cwd=tmp_path).kind == "registry"
    (tmp_path / "folder").mkdir()
    assert parse_source("folder", cwd=tmp_path).kind == "folder"
    for bad in ("git+ssh://h/r.git", "git+ext::sh -c id", "https://h/page.html", "ftp://h/x.zip"):
        with pytest.raises(ValidationError):
            parse_source(bad, cwd=tmp_path)
    with pytest.raises(ValidationError, match="credentials"):
        parse_source("git+https://user:pw@h.example/r.git", cwd=tmp_path)
    with pytest.raises(NotFoundError):
        parse_source("./no/such/dir", cwd=tmp_path)


def test_index_resolves_sources_and_refuses_local_ones_from_the_network(tmp_path: Path) -> None:
    index = {
        "skills": [
            {"name": "notes", "description": "Release notes from git.", "version": "1.0",
             "source": "archives/notes.tar.gz", "sha256": "B" * 64},
            {"name": "lint", "description": "Lint code.", "version": "2",
             "source": "git+https://example.org/l.git@v2"},
        ]
    }  # fmt: skip
    entries = parse_index(json.dumps(index).encode(), "https://reg.example/skills/index.json")
    assert entries[0].source == "https://reg.example/skills/archives/notes.tar.gz"
    assert entries[0].sha256 == "b" * 64
    local = parse_index(json.dumps(index).encode(), str(tmp_path / "index.json"))
    assert local[0].source == str(tmp_path / "archives" / "notes.tar.gz")
    assert [e.name for e in search_entries(entries, "notes git")] == ["notes"]
    assert [e.name for e in search_entries(entries, "")] == ["lint", "notes"]
    hostile = {"skills": [{"name": "x", "description": "d", "source": "file:///home/me/x.zip"}]}
    with pytest.raises(ValidationError, match="may only name http"):
        parse_index(json.dumps(hostile).encode(), "https://reg.example/index.json")
    hostile["skills"][0]["source"] = "git+file:///home/me/private.git"
    with pytest.raises(ValidationError, match="may only name http"):
        parse_index(json.dumps(hostile).encode(), "https://reg.example/index.json")
    with pytest.raises(ValidationError, match="not JSON"):
        parse_index(b"<html>", "https://reg.example/index.json")


@pytest.mark.parametrize("name", ["notes.zip", "notes.tar.gz", "out"])
def test_export_is_valid_for_skills_ref(tmp_path: Path, name: str) -> None:
    skill = write_skill(tmp_path / "src" / "notes", "notes", "Write release notes.")
    (skill / "scripts").mkdir()
    (skill / "scripts" / "run.sh").write_text("echo hi\n")
    written = export_skill(skill, tmp_path / name)
    if written.is_dir():
        folder = written
    else:
        unpacked = tmp_path / "unpacked"
        unpacked.mkdir()
        unpack_archive(written, unpacked)
        folder = unpacked / "notes"
        again = export_skill(skill, tmp_path / "again" / name)
        assert again.read_bytes() == written.read_bytes()  # reproducible bytes
    assert content_hash(folder) == content_hash(skill)
    done = subprocess.run(
        [AGENTSKILLS, "validate", str(folder)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with pytest.raises(ConflictError):
        export_skill(skill, tmp_path / name)
    if name.endswith(".zip"):
        assert zipfile.ZipFile(written).namelist()[0].startswith("notes/")
