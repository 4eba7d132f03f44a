"""Release Memfun's seven packages: check, build, prove each installs alone, bump versions.

Every step but the upload runs here and in CI, so a tag never meets a surprise:

    uv run python scripts/release.py check                # sibling ranges and changelogs
    uv run python scripts/release.py dry-run [PACKAGE...] # build, metadata, install alone, tests
    uv run python scripts/release.py bump memfun-core 0.2.0     # version, ranges, changelog
    uv run python scripts/release.py notes memfun-core 0.2.0    # that version's release notes
    uv run python scripts/release.py tag-packages memfun-v0.2.0 # the packages a tag releases

The upload itself is the release workflow's (`.github/workflows/release.yml`, PyPI trusted
publishing): this script never talks to an index except to install third-party dependencies.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.metadata import Metadata
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("core", "runtime", "skills", "tools", "agent", "optimizer", "cli")
_TEST_TOOLS = ("pytest", "pytest-asyncio", "pytest-xdist", "hypothesis", "skills-ref")
_UNRELEASED = "## [Unreleased]"

#: What each package's smoke check runs in its own environment, beyond importing every name
#: of its public API. ``{readme_example}`` is the package README's marked example.
SMOKE: dict[str, str] = {
    "memfun-core": (
        "import tempfile, pathlib\n"
        "from memfun_core.config import load_config\n"
        "config = load_config(cwd=pathlib.Path(tempfile.mkdtemp()), environ={})\n"
        "assert config.runtime.tier == 'sqlite', config.runtime.tier\n"
    ),
    "memfun-runtime": "{readme_example}",
    "memfun-skills": (
        "import tempfile, pathlib, memfun_skills\n"
        "from memfun_skills import builtin_skills_dir, default_roots, discover_skills\n"
        "here = pathlib.Path(memfun_skills.__file__).parent\n"
        "assert builtin_skills_dir() == here / 'builtin_skills', builtin_skills_dir()\n"
        "empty = pathlib.Path(tempfile.mkdtemp())\n"
        "found = discover_skills(default_roots(empty, home=empty))\n"
        "names = {s.name for s in found.skills}\n"
        "assert 'review-code' in names, names  # the built-ins ship inside the wheel\n"
    ),
    "memfun-tools": (
        "import asyncio, tempfile, pathlib\n"
        "from memfun_tools import Workspace\n"
        "from memfun_tools.fs import read_file\n"
        "root = pathlib.Path(tempfile.mkdtemp()); (root / 'a.txt').write_text('hello')\n"
        "assert asyncio.run(read_file(Workspace(root), 'a.txt')).content == 'hello'\n"
    ),
    "memfun-agent": (
        "from memfun_agent import RLMAgent, Budgets\n"
        "from memfun_agent.testing import ScriptedLM\n"
        "assert Budgets().max_iterations >= 1\n"
    ),
    "memfun-optimizer": "import memfun_optimizer\nassert memfun_optimizer.__version__\n",
    "memfun-cli": (
        "import subprocess, sys, pathlib\n"
        "exe = pathlib.Path(sys.executable).with_name('memfun')\n"
        "out = subprocess.run([str(exe), '--version'], capture_output=True, text=True)\n"
        "assert out.returncode == 0, out.stderr\n"
        "assert 'memfun-cli' in out.stdout, out.stdout\n"
        "subprocess.run([str(exe), '--help'], capture_output=True, check=True)\n"
    ),
}


#: What a smoke check must print, where it prints something.
SMOKE_OUTPUT: dict[str, str] = {"memfun-runtime": "hello\n"}


class ReleaseError(Exception):
    """A release step found something wrong; the message says what and where."""


@dataclass(frozen=True, slots=True)
class Package:
    """One workspace member as its ``pyproject.toml`` declares it."""

    name: str
    folder: Path
    version: Version
    siblings: dict[str, Requirement]
    extras: tuple[str, ...]

    @property
    def module(self) -> str:
        """The import name (``memfun_core``)."""
        return self.name.replace("-", "_")

    @property
    def changelog(self) -> Path:
        """The package's ``CHANGELOG.md``."""
        return self.folder / "CHANGELOG.md"


def load_workspace(root: Path = ROOT) -> dict[str, Package]:
    """Every member, in dependency order (a package after the siblings it needs)."""
    found: dict[str, Package] = {}
    for short in NAMES:
        folder = root / "packages" / f"memfun-{short}"
        project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        siblings: dict[str, Requirement] = {}
        for dep in project.get("dependencies", []):
            requirement = Requirement(dep)
            if requirement.name.startswith("memfun-"):
                siblings[requirement.name] = requirement
        found[project["name"]] = Package(
            name=project["name"],
            folder=folder,
            version=Version(project["version"]),
            siblings=siblings,
            extras=tuple(project.get("optional-dependencies", {})),
        )
    return found


def closure(packages: dict[str, Package], name: str) -> list[str]:
    """``name`` and every sibling it needs, directly or not, in dependency order."""
    ordered: list[str] = []

    def visit(current: str) -> None:
        if current in ordered:
            return
        for sibling in packages[current].siblings:
            visit(sibling)
        ordered.append(current)

    visit(name)
    return ordered


# --- checks ---------------------------------------------------------------------------------


def check_ranges(packages: dict[str, Package]) -> list[str]:
    """Problems with sibling requirements: unknown siblings or ranges the workspace misses."""
    problems: list[str] = []
    for package in packages.values():
        for name, requirement in package.siblings.items():
            if name not in packages:
                problems.append(f"{package.name} requires {name}, which is not in the workspace")
            elif not requirement.specifier.contains(packages[name].version, prereleases=True):
                problems.append(
                    f"{package.name} requires {requirement}, but the workspace has "
                    f"{name} {packages[name].version}: run `release.py bump {name} ...` "
                    "or widen the range"
                )
            elif "==" in str(requirement.specifier):
                problems.append(f"{package.name} pins {requirement}: depend on siblings by range")
    return problems


def changelog_section(package: Package, version: Version | str) -> str:
    """The body of the ``## [version]`` section of the package's changelog.

    Raises:
        ReleaseError: No changelog, or no section for that version.
    """
    if not package.changelog.is_file():
        raise ReleaseError(f"{package.changelog} is missing (Keep a Changelog format)")
    text = package.changelog.read_text(encoding="utf-8")
    pattern = re.compile(
        rf"^## \[{re.escape(str(version))}\][^\n]*\n(?P<body>.*?)(?=^## \[|\Z)",
        re.MULTILINE | re.DOTALL,
    )
    match = pattern.search(text)
    if match is None:
        raise ReleaseError(f"{package.changelog} has no '## [{version}]' section")
    return match.group("body").strip()


def check_changelogs(packages: dict[str, Package]) -> list[str]:
    """Problems with changelogs: missing, or without the current version and Unreleased."""
    problems: list[str] = []
    for package in packages.values():
        try:
            changelog_section(package, package.version)
        except ReleaseError as exc:
            problems.append(str(exc))
            continue
        if _UNRELEASED not in package.changelog.read_text(encoding="utf-8"):
            problems.append(f"{package.changelog} has no '{_UNRELEASED}' section")
    return problems


def check(packages: dict[str, Package]) -> None:
    """Raise with every problem the sibling ranges and changelogs have."""
    problems = check_ranges(packages) + check_changelogs(packages)
    if problems:
        raise ReleaseError("\n".join(problems))


# --- build and metadata -------------------------------------------------------------------------


def build(names: Iterable[str], out: Path) -> None:
    """Build the sdist and wheel of each package into ``out`` (no workspace sources)."""
    for name in names:
        _run(["uv", "build", "--package", name, "--no-sources", "--out-dir", str(out), "--quiet"])


def _dist_files(out: Path, package: Package) -> tuple[Path, Path]:
    stem = f"{package.module}-{package.version}"
    wheels = sorted(out.glob(f"{stem}-*.whl"))
    sdist = out / f"{stem}.tar.gz"
    if len(wheels) != 1 or not sdist.is_file():
        raise ReleaseError(f"expected one wheel and {sdist.name} for {package.name} in {out}")
    return wheels[0], sdist


def check_metadata(out: Path, package: Package) -> None:
    """Validate the core metadata of the package's wheel and sdist (what ``twine check`` reads).

    Raises:
        ReleaseError: Metadata that an index would refuse or render badly.
    """
    wheel, sdist = _dist_files(out, package)
    with zipfile.ZipFile(wheel) as archive:
        wheel_meta = archive.read(f"{package.module}-{package.version}.dist-info/METADATA")
    with tarfile.open(sdist) as archive:
        member = archive.extractfile(f"{package.module}-{package.version}/PKG-INFO")
        if member is None:
            raise ReleaseError(f"{sdist.name} has no PKG-INFO")
        sdist_meta = member.read()
    for label, raw in ((wheel.name, wheel_meta), (sdist.name, sdist_meta)):
        try:
            meta = Metadata.from_email(raw, validate=True)
        except Exception as exc:  # packaging raises an ExceptionGroup of every problem
            raise ReleaseError(f"{label}: invalid metadata: {exc}") from exc
        if meta.name != package.name or meta.version != package.version:
            raise ReleaseError(f"{label}: metadata names {meta.name} {meta.version}")
        if not meta.description or meta.description_content_type != "text/markdown":
            raise ReleaseError(f"{label}: no Markdown long description (README.md)")
        if not meta.requires_python:
            raise ReleaseError(f"{label}: no Requires-Python")


# --- installing alone ---------------------------------------------------------------------------


def readme_example(package: Package) -> str:
    """The Python block after ``<!-- example: smoke -->`` in the package's README."""
    text = (package.folder / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- example: smoke -->\s*```python\n(.*?)```", text, re.DOTALL)
    if match is None:
        raise ReleaseError(f"{package.folder / 'README.md'} has no '<!-- example: smoke -->' block")
    return match.group(1)


def _smoke_script(package: Package) -> str:
    api = (
        f"import {package.module} as module\n"
        "missing = [n for n in module.__all__ if not hasattr(module, n)]\n"
        "assert not missing, f'public names that do not resolve: {missing}'\n"
    )
    body = SMOKE[package.name]
    if "{readme_example}" in body:
        body = body.replace("{readme_example}", readme_example(package))
    return api + body


def install_alone(
    packages: dict[str, Package], name: str, out: Path, venv: Path, *, tests: bool
) -> Path:
    """A fresh venv holding ``name`` (all its extras) and only the siblings it declares.

    Returns:
        The venv's Python.
    """
    package = packages[name]
    _run(["uv", "venv", "--quiet", "--python", sys.executable, str(venv)])
    python = venv / "bin" / "python"
    wheel = _dist_files(out, package)[0]
    spec = f"{wheel}[{','.join(package.extras)}]" if package.extras else str(wheel)
    siblings = [str(_dist_files(out, packages[s])[0]) for s in closure(packages, name)[:-1]]
    extra_tools = list(_TEST_TOOLS) if tests else []
    _run(
        ["uv", "pip", "install", "--quiet", "--python", str(python), spec, *siblings, *extra_tools]
    )
    listed = _run(["uv", "pip", "list", "--python", str(python), "--format", "freeze"])
    memfun = {line.split("==")[0] for line in listed.splitlines() if line.startswith("memfun-")}
    expected = set(closure(packages, name))
    if memfun != expected:
        raise ReleaseError(f"{name}'s venv holds {sorted(memfun)}, expected {sorted(expected)}")
    return python


def smoke(package: Package, python: Path, workdir: Path) -> None:
    """Import the package's public API and run its smoke check in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    script = workdir / "smoke.py"
    script.write_text(_smoke_script(package), encoding="utf-8")
    printed = _run([str(python), str(script)], cwd=workdir)
    expected = SMOKE_OUTPUT.get(package.name)
    if expected is not None and printed != expected:
        raise ReleaseError(f"{package.name}'s smoke check printed {printed!r}, not {expected!r}")


def run_tests(package: Package, python: Path) -> None:
    """Run the package's own tests against the installed wheel (not the source tree)."""
    tests = package.folder / "tests"
    if not tests.is_dir():
        raise ReleaseError(f"{package.name} has no tests/ folder")
    _run(
        [
            str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
            "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), str(tests),
        ],
        cwd=ROOT,
        stream=True,
    )  # fmt: skip


# --- bumping ------------------------------------------------------------------------------------


def _range_for(version: Version) -> str:
    if version.major == 0:
        return f">={version.major}.{version.minor},<{version.major}.{version.minor + 1}"
    return f">={version.major}.{version.minor},<{version.major + 1}.0"


def bump(packages: dict[str, Package], name: str, new: str, *, today: str | None = None) -> None:
    """Set ``name``'s version, widen dependents' ranges to it, and date its changelog section.

    Raises:
        ReleaseError: Unknown package, a version not above the current one, or no
            Unreleased section to release.
    """
    if name not in packages:
        raise ReleaseError(f"no package {name!r}; one of {', '.join(packages)}")
    package = packages[name]
    version = Version(new)
    if version <= package.version:
        raise ReleaseError(f"{new} is not above {name}'s current {package.version}")
    pyproject = package.folder / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    text = re.sub(r'(?m)^version = "[^"]+"$', f'version = "{version}"', text, count=1)
    pyproject.write_text(text, encoding="utf-8")
    for other in packages.values():
        if name in other.siblings and not other.siblings[name].specifier.contains(version):
            path = other.folder / "pyproject.toml"
            body = path.read_text(encoding="utf-8")
            body = re.sub(rf'"{re.escape(name)}[^"]*"', f'"{name}{_range_for(version)}"', body)
            path.write_text(body, encoding="utf-8")
    changelog = package.changelog.read_text(encoding="utf-8")
    if _UNRELEASED not in changelog:
        raise ReleaseError(f"{package.changelog} has no '{_UNRELEASED}' section to release")
    date = today or datetime.date.today().isoformat()
    changelog = changelog.replace(_UNRELEASED, f"{_UNRELEASED}\n\n## [{version}] - {date}", 1)
    package.changelog.write_text(changelog, encoding="utf-8")


def tag_packages(packages: dict[str, Package], tag: str) -> list[str]:
    """The packages a tag releases: ``memfun-NAME-vX.Y.Z`` one, ``memfun-vX.Y.Z`` all seven.

    Raises:
        ReleaseError: A tag of neither shape, or a version that differs from the package's.
    """
    match = re.fullmatch(r"(?P<name>memfun(?:-[a-z]+)?)-v(?P<version>\d+\.\d+\.\d+\S*)", tag)
    if match is None:
        raise ReleaseError(f"tag {tag!r} is neither memfun-NAME-vX.Y.Z nor memfun-vX.Y.Z")
    names = list(packages) if match["name"] == "memfun" else [match["name"]]
    for name in names:
        if name not in packages:
            raise ReleaseError(f"tag {tag!r} names no package ({', '.join(packages)})")
        if packages[name].version != Version(match["version"]):
            raise ReleaseError(
                f"tag {tag!r} says {match['version']} but {name} is {packages[name].version}"
            )
    return names


# --- plumbing -----------------------------------------------------------------------------------


def _run(argv: Sequence[str], *, cwd: Path | None = None, stream: bool = False) -> str:
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "UV_PROJECT"}}
    if stream:
        done = subprocess.run(argv, cwd=cwd, env=env, check=False)
        if done.returncode != 0:
            raise ReleaseError(f"`{' '.join(argv[:6])} ...` failed (exit {done.returncode})")
        return ""
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()[-4000:]
        raise ReleaseError(f"`{' '.join(argv[:6])} ...` failed (exit {done.returncode}):\n{detail}")
    return done.stdout


def dry_run(packages: dict[str, Package], names: Sequence[str], out: Path, *, tests: bool) -> None:
    """Everything a release does except the upload, for ``names``."""
    step = lambda text: print(f"--> {text}", flush=True)  # noqa: E731
    step("sibling ranges and changelogs")
    check(packages)
    step(f"build {len(names)} sdists and wheels into {out}")
    build(names, out)
    needed = {s for n in names for s in closure(packages, n)} - set(names)
    if needed:  # siblings a package installs with come from this build too
        build(sorted(needed, key=list(packages).index), out)
    for name in names:
        check_metadata(out, packages[name])
    step("metadata valid: " + ", ".join(names))
    with tempfile.TemporaryDirectory(prefix="memfun-release-") as scratch:
        for name in names:
            step(f"{name}: install alone, smoke check" + (", tests" if tests else ""))
            python = install_alone(packages, name, out, Path(scratch) / name, tests=tests)
            smoke(packages[name], python, Path(scratch) / f"{name}-work")
            if tests:
                run_tests(packages[name], python)
    wheels = len(list(out.glob("*.whl")))
    sdists = len(list(out.glob("*.tar.gz")))
    print(f"dry run passed: {sdists} sdists, {wheels} wheels, nothing uploaded")


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="sibling ranges and changelogs")
    dry = commands.add_parser("dry-run", help="everything but the upload")
    dry.add_argument("packages", nargs="*", help="default: all seven")
    dry.add_argument("--out", type=Path, help="where the dists go (default: a temp folder)")
    dry.add_argument("--no-tests", action="store_true", help="only the smoke checks")
    bumping = commands.add_parser("bump", help="set a version, ranges and changelog")
    bumping.add_argument("package")
    bumping.add_argument("version")
    notes = commands.add_parser("notes", help="print a version's changelog section")
    notes.add_argument("package")
    notes.add_argument("version")
    tag = commands.add_parser("tag-packages", help="the packages a tag releases")
    tag.add_argument("tag")
    args = parser.parse_args(argv)
    packages = load_workspace()
    try:
        if args.command == "check":
            check(packages)
            print("sibling ranges and changelogs: ok")
        elif args.command == "dry-run":
            names = args.packages or list(packages)
            unknown = [n for n in names if n not in packages]
            if unknown:
                raise ReleaseError(f"unknown packages {unknown}; one of {', '.join(packages)}")
            out = args.out or Path(tempfile.mkdtemp(prefix="memfun-dist-"))
            if out.exists() and any(out.iterdir()):
                shutil.rmtree(out)
            out.mkdir(parents=True, exist_ok=True)
            dry_run(packages, names, out, tests=not args.no_tests)
        elif args.command == "bump":
            bump(packages, args.package, args.version)
            _run(["uv", "lock", "--quiet"], cwd=ROOT)
            print(f"{args.package} is {args.version}; ranges, changelog and uv.lock updated")
        elif args.command == "notes":
            print(changelog_section(packages[args.package], args.version))
        else:
            print(" ".join(tag_packages(packages, args.tag)))
    except ReleaseError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
