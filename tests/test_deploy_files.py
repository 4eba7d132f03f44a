"""The deployment files as shipped: docker/ and .github/workflows/.

The compose file and the workflows are validated against the schemas check-jsonschema
bundles (the Compose specification's, SchemaStore's GitHub workflow schema: offline), as
.ci/run does; every path the compose file mounts or builds from exists; the command the
worker service runs is one `memfun` accepts. No Docker engine is needed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "docker-compose.yml"
BIN = Path(sys.executable).parent
_INSTRUCTION = re.compile(r"^(FROM|COPY|ENTRYPOINT|CMD|USER|HEALTHCHECK|ARG)\s+(.*)$", re.M)


def _check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def _dockerfile(path: Path) -> list[tuple[str, str]]:
    """The instructions of a Dockerfile (continuation lines joined)."""
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    return [(m.group(1), m.group(2).strip()) for m in _INSTRUCTION.finditer(text)]


def _copies(path: Path) -> list[tuple[list[str], str]]:
    """``(sources, destination)`` of each COPY from the build context (not ``--from``)."""
    copies: list[tuple[list[str], str]] = []
    for name, rest in _dockerfile(path):
        words = rest.split()
        if name != "COPY" or any(w.startswith("--from") for w in words):
            continue
        paths = [w for w in words if not w.startswith("--")]
        copies.append((paths[:-1], paths[-1]))
    return copies


def test_the_compose_file_matches_the_compose_specification() -> None:
    result = _check_jsonschema("vendor.compose-spec", COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflows_match_the_github_workflow_schema() -> None:
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows
    result = _check_jsonschema("vendor.github-workflows", *workflows)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_refuses_a_broken_compose_file(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        "services:\n  worker:\n    image: x\n    comand: [run]\n    ports: '6379'\n",
        encoding="utf-8",
    )  # a misspelt key and ports not a list
    result = _check_jsonschema("vendor.compose-spec", broken)
    assert result.returncode != 0
    assert "comand" in result.stdout + result.stderr


def test_every_path_the_compose_file_mounts_or_builds_from_exists() -> None:
    compose = _compose()
    named = set(compose.get("volumes") or {})
    built = 0
    for name, service in compose["services"].items():
        build = service.get("build")
        if build is not None:
            context = (DOCKER / build["context"]).resolve()
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"
            ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
            sent = {
                line[1:].strip("/")
                for line in ignore.read_text(encoding="utf-8").splitlines()
                if line.startswith("!")
            }  # the ignore file excludes everything ("*") but these
            for sources, _ in _copies(dockerfile):
                for source in sources:
                    assert (context / source).exists(), f"{name}: COPY {source}: not in {context}"
                    assert source.strip("./").split("/")[0] in sent, f"{source} is not sent"
            built += 1
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume["source"]
            if source.startswith((".", "/", "~")):
                assert (DOCKER / source).exists(), f"{name} mounts {source}, which does not exist"
            else:
                assert source in named, f"{name} mounts the undeclared volume {source!r}"
        for env_file in service.get("env_file") or []:
            path = env_file if isinstance(env_file, str) else env_file["path"]
            assert (DOCKER / path).is_file(), f"{name}: env_file {path} does not exist"
    assert built == 1


def _worker_argv() -> list[str]:
    compose = _compose()
    worker = compose["services"]["worker"]
    build = worker["build"]
    dockerfile = (DOCKER / build["context"]).resolve() / build["dockerfile"]
    instructions = dict(_dockerfile(dockerfile))  # the last of each kind: the final stage
    entrypoint: list[str] = json.loads(instructions["ENTRYPOINT"])
    return [*entrypoint, *worker["command"]]


@pytest.mark.parametrize("source", ["compose", "image"])
def test_the_worker_command_parses(tmp_path: Path, source: str) -> None:
    if source == "compose":
        argv = _worker_argv()
    else:  # the image's own default command (docker run memfun-worker)
        instructions = dict(_dockerfile(DOCKER / "Dockerfile"))
        argv = [*json.loads(instructions["ENTRYPOINT"]), *json.loads(instructions["CMD"])]
    assert argv[:3] == ["memfun", "runtime", "worker"]
    # argparse reads the options in order, converting each value, before --help stops it.
    result = subprocess.run(
        [str(BIN / "memfun"), *argv[1:], "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "--agents AGENTS" in result.stdout  # the agent worker's options, not the plain one
    for option in (arg.split("=", 1)[0] for arg in argv[1:] if arg.startswith("--")):
        assert option in result.stdout, f"{option} is not an option of the agent worker"
    agents_dir = argv[argv.index("--agents") + 1]
    copied = {dest: sources for sources, dest in _copies(DOCKER / "Dockerfile")}
    assert copied[agents_dir] == ["agents"]  # the image carries the built-in agents there
    assert sorted(p.name for p in (ROOT / "agents").glob("*.md") if p.name != "README.md")


def test_the_image_is_pinned_and_runs_as_a_user() -> None:
    instructions = _dockerfile(DOCKER / "Dockerfile")
    base = next(rest for name, rest in instructions if name == "ARG" and "PYTHON_IMAGE" in rest)
    assert re.fullmatch(r"PYTHON_IMAGE=python:\d+\.\d+\.\d+-slim-\w+", base)
    users = [rest for name, rest in instructions if name == "USER"]
    assert users
    assert users[-1] not in ("root", "0")
    assert any(name == "HEALTHCHECK" for name, _ in instructions)
    text = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
    assert "uv sync --frozen --no-dev" in text
    assert "bubblewrap" in text
