"""The checks behind ``memfun doctor``: each returns what works and how to fix what does not.

No check imports a heavy library: services are probed over plain sockets, binaries are run
with ``--version``, and the model endpoint with one HTTP request (httpx, imported lazily).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast
from urllib.parse import urlsplit

from memfun_core.config import MemfunConfig

__all__ = ["Check", "Status", "run_checks"]

Status = Literal["ok", "warn", "fail"]
_TIMEOUT = 3.0

#: Where each hosted provider answers, to test reachability without sending a key.
_PROVIDER_URLS = {
    "anthropic": "https://api.anthropic.com/v1/models",
    "openai": "https://api.openai.com/v1/models",
    "gemini": "https://generativelanguage.googleapis.com/v1beta/models",
}


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of one check."""

    name: str
    status: Status
    detail: str
    fix: str = ""


def _venv_binary(name: str) -> Path | None:
    candidate = Path(sys.executable).parent / name
    if candidate.is_file():
        return candidate
    found = shutil.which(name)
    return Path(found) if found else None


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT * 3,
            check=False,
            env={"PATH": os.defpath},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def check_model(config: MemfunConfig, environ: dict[str, str]) -> list[Check]:
    """Check that a model is configured and that its key variable is set (never its value)."""
    llm = config.llm
    if llm.model is None:
        return [
            Check("model", "fail", "no model configured", "run `memfun init` (or set [llm] model)")
        ]
    checks = [Check("model", "ok", llm.model)]
    if llm.api_key_env:
        if environ.get(llm.api_key_env):
            checks.append(Check("api key", "ok", f"${llm.api_key_env} is set"))
        else:
            checks.append(
                Check(
                    "api key",
                    "fail",
                    f"${llm.api_key_env} is not set",
                    f"export {llm.api_key_env}=<your key> in the shell that runs memfun",
                )
            )
    elif llm.api_base is None:
        checks.append(
            Check(
                "api key",
                "warn",
                "no api_key_env configured",
                "set [llm] api_key_env to the key's variable NAME",
            )
        )
    return checks


def model_endpoint(config: MemfunConfig) -> str | None:
    """Return the URL probed for reachability, or ``None`` when there is nothing to probe."""
    llm = config.llm
    if llm.model is None:
        return None
    if llm.api_base:
        base = llm.api_base.rstrip("/")
        return f"{base}/api/tags" if llm.model.startswith("ollama") else f"{base}/models"
    return _PROVIDER_URLS.get(llm.model.split("/", 1)[0])


def check_reachability(config: MemfunConfig) -> Check:
    """Send one unauthenticated GET to the model's endpoint: any HTTP answer means reachable."""
    url = model_endpoint(config)
    if url is None:
        return Check(
            "model reachable", "warn", "unknown provider: not probed", "set [llm] api_base"
        )
    import httpx

    try:
        response = httpx.get(url, timeout=_TIMEOUT, follow_redirects=False)
    except httpx.HTTPError as exc:
        return Check(
            "model reachable",
            "fail",
            f"{url}: {type(exc).__name__}: {exc}",
            "check the network, a proxy (HTTPS_PROXY) or [llm] api_base",
        )
    return Check("model reachable", "ok", f"{url} answered HTTP {response.status_code}")


def _tcp_probe(host: str, port: int, send: bytes | None) -> bytes:
    with socket.create_connection((host, port), timeout=_TIMEOUT) as sock:
        sock.settimeout(_TIMEOUT)
        if send:
            sock.sendall(send)
        return sock.recv(4096)


def check_backend(config: MemfunConfig) -> Check:
    """Check that the configured runtime tier's storage or server is usable."""
    runtime = config.runtime
    if runtime.tier == "memory":
        return Check("runtime", "ok", "memory (in-process, volatile)")
    if runtime.tier == "sqlite":
        data_dir = Path(config.project_root, runtime.data_dir).expanduser()
        probe = data_dir if data_dir.exists() else next(p for p in data_dir.parents if p.exists())
        if os.access(probe, os.W_OK):
            return Check("runtime", "ok", f"sqlite under {data_dir}")
        return Check(
            "runtime",
            "fail",
            f"{probe} is not writable",
            "set [runtime] data_dir to a writable folder",
        )
    from memfun_runtime import configured_namespace

    check = _check_server(
        runtime.tier, runtime.redis_url if runtime.tier == "redis" else runtime.nats_url
    )
    if check.status != "ok":
        return check
    return Check("runtime", "ok", f"{check.detail}; namespace {configured_namespace(config)}")


def _check_server(tier: str, url: str) -> Check:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or (6379 if tier == "redis" else 4222)
    where = f"{tier} at {host}:{port}"
    fix = f"start the server or set [runtime] {tier}_url"
    try:
        answer = _tcp_probe(host, port, b"PING\r\n" if tier == "redis" else None)
    except OSError as exc:
        return Check("runtime", "fail", f"{where}: {exc.strerror or exc}", fix)
    if tier == "redis":
        if answer.startswith((b"+PONG", b"-NOAUTH")):
            return Check("runtime", "ok", f"{where} answers PING")
        return Check("runtime", "fail", f"{where}: unexpected answer {answer[:40]!r}", fix)
    decoded: object = (
        json.loads(answer[5:].split(b"\r\n", 1)[0]) if answer.startswith(b"INFO ") else None
    )
    if not isinstance(decoded, dict):
        return Check("runtime", "fail", f"{where}: not a NATS server", fix)
    info = cast("dict[str, object]", decoded)
    if not info.get("jetstream"):
        return Check("runtime", "fail", f"{where}: JetStream is off", "start nats-server with -js")
    return Check("runtime", "ok", f"{where}, JetStream on (server {info.get('version', '?')})")


def check_sandboxes(config: MemfunConfig) -> list[Check]:
    """Check bubblewrap, deno and docker; only the configured backend's absence is a failure."""
    chosen = config.sandbox.backend
    checks: list[Check] = []
    bwrap = _venv_binary("bwrap")
    if bwrap is None:
        checks.append(
            Check(
                "sandbox: bubblewrap",
                "fail" if chosen == "local" else "warn",
                "bwrap not found",
                "apt-get install bubblewrap (or your distribution's package)",
            )
        )
    else:
        ran = _run(
            [str(bwrap), "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"]
        )
        if ran is not None and ran.returncode == 0:
            checks.append(Check("sandbox: bubblewrap", "ok", f"{bwrap}: namespaces work"))
        else:
            err = (ran.stderr.strip() if ran else "did not finish") or "failed"
            checks.append(
                Check(
                    "sandbox: bubblewrap",
                    "fail" if chosen == "local" else "warn",
                    err,
                    "allow unprivileged user namespaces (Ubuntu: sysctl "
                    "kernel.apparmor_restrict_unprivileged_userns=0)",
                )
            )
    deno = _venv_binary("deno")
    checks.append(
        Check("sandbox: deno", "ok", str(deno))
        if deno
        else Check(
            "sandbox: deno",
            "fail" if chosen == "wasm" else "warn",
            "deno not found",
            "pip install deno (the wasm sandbox runs Pyodide on it)",
        )
    )
    docker = _venv_binary("docker")
    info = _run([str(docker), "info", "--format", "{{.ServerVersion}}"]) if docker else None
    if info is not None and info.returncode == 0:
        checks.append(Check("sandbox: docker", "ok", f"engine {info.stdout.strip()}"))
    else:
        detail = "no docker client" if docker is None else "client only: no engine answers"
        checks.append(
            Check(
                "sandbox: docker",
                "fail" if chosen == "docker" else "warn",
                detail,
                "start the Docker engine, or use the local sandbox",
            )
        )
    return checks


def check_search_binaries() -> list[Check]:
    """Check the ripgrep and ast-grep binaries that memfun-tools installs."""
    checks: list[Check] = []
    for name, package in (("rg", "ripgrep==14.1.0"), ("ast-grep", "ast-grep-cli")):
        binary = _venv_binary(name)
        ran = _run([str(binary), "--version"]) if binary else None
        if ran is not None and ran.returncode == 0:
            checks.append(Check(name, "ok", ran.stdout.splitlines()[0]))
        else:
            checks.append(
                Check(name, "fail", "not found in this environment", f"pip install {package}")
            )
    return checks


def run_checks(config: MemfunConfig, environ: dict[str, str], *, offline: bool) -> list[Check]:
    """Run every check, in the order they are shown."""
    checks = check_model(config, environ)
    key_failed = any(c.status == "fail" for c in checks)
    if config.llm.model is not None:
        if offline:
            checks.append(Check("model reachable", "warn", "skipped (--offline)"))
        elif key_failed:  # no request that could only fail or mislead
            checks.append(
                Check("model reachable", "warn", "skipped: the key check failed", "fix the key")
            )
        else:
            checks.append(check_reachability(config))
    checks.append(check_backend(config))
    checks += check_sandboxes(config)
    checks += check_search_binaries()
    return checks
