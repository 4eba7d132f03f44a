"""What isolation this machine can give: bubblewrap namespaces, Landlock, seccomp."""

from __future__ import annotations

import ctypes
import functools
import platform
import shutil
import subprocess
from dataclasses import dataclass

from memfun_runtime.sandboxes.local._bwrap import BwrapSpec, bwrap_argv

__all__ = ["LocalCapabilities", "namespace_fix_hint", "probe"]

_LANDLOCK_CREATE_RULESET = 444
_LANDLOCK_CREATE_RULESET_VERSION = 1
_PR_GET_SECCOMP = 21
SECCOMP_ARCHES = frozenset({"x86_64", "aarch64"})


@dataclass(frozen=True, slots=True)
class LocalCapabilities:
    """The result of probing the machine once.

    Attributes:
        bwrap: Path of the ``bwrap`` executable, or ``None`` when it is not installed.
        namespaces: Whether bubblewrap could create user, pid, net, ipc and mount namespaces.
        namespace_error: Why not (bubblewrap's own message), when it could not.
        landlock_abi: The Landlock ABI version (0: unavailable).
        seccomp: Whether seccomp filters can be installed (and we know this architecture).
    """

    bwrap: str | None
    namespaces: bool
    namespace_error: str | None
    landlock_abi: int
    seccomp: bool


def namespace_fix_hint(error: str | None) -> str:
    """How to make namespaces work, given why they did not."""
    if error is None or "not installed" in error:
        return (
            "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; "
            "Fedora: dnf install bubblewrap)"
        )
    if "disable-userns" in error:
        return "upgrade bubblewrap to 0.8 or later (it needs --disable-userns)"
    return (
        "unprivileged user namespaces are blocked on this machine: on Ubuntu 23.10+ AppArmor "
        "restricts them (sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or give bwrap "
        "an AppArmor profile that allows userns); on older Debian set "
        "kernel.unprivileged_userns_clone=1; inside a container, allow unshare/clone in its "
        "seccomp profile (e.g. docker run --security-opt seccomp=unconfined)"
    )


def _landlock_abi() -> int:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        abi = int(libc.syscall(_LANDLOCK_CREATE_RULESET, None, 0, _LANDLOCK_CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(abi, 0)


def _seccomp() -> bool:
    if platform.machine() not in SECCOMP_ARCHES:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_GET_SECCOMP, 0, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _try_namespaces(bwrap: str) -> str | None:
    argv = bwrap_argv(BwrapSpec(bwrap=bwrap), ["/usr/bin/true"])  # the flags of a real run
    try:
        done = subprocess.run(argv, env={}, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{type(exc).__name__}: {exc}"
    if done.returncode == 0:
        return None
    return done.stderr.decode(errors="replace").strip() or f"bwrap exited with {done.returncode}"


@functools.cache
def probe(bwrap: str | None = None) -> LocalCapabilities:
    """Probe the machine (cached per process and ``bwrap`` path)."""
    path = (
        bwrap
        or shutil.which("bwrap")
        or ("/usr/bin/bwrap" if shutil.which("/usr/bin/bwrap") else None)
    )
    error = "bubblewrap (bwrap) is not installed" if path is None else _try_namespaces(path)
    return LocalCapabilities(
        bwrap=path,
        namespaces=path is not None and error is None,
        namespace_error=error,
        landlock_abi=_landlock_abi(),
        seccomp=_seccomp(),
    )
