"""The bubblewrap command line: what of the host is bound in, and which namespaces are new."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SANDBOX_UID", "BwrapSpec", "bwrap_argv"]

SANDBOX_UID = 65534
"""The uid and gid inside the sandbox (``nobody``): not 0, so bubblewrap drops every capability."""

# Root-level links that merged-/usr systems keep (/bin -> usr/bin, ...).
_ROOT_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
# The few /etc files programs need; never /etc as a whole (shadow, ssh host keys, ...).
_ETC_ALWAYS = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "alternatives",
    "localtime",
    "mime.types",
)
_ETC_NETWORK = ("resolv.conf", "hosts", "nsswitch.conf", "gai.conf", "ssl", "ca-certificates",
                "ca-certificates.conf")  # fmt: skip


@dataclass(frozen=True, slots=True)
class BwrapSpec:
    """Everything that shapes one bubblewrap invocation.

    Attributes:
        bwrap: Path of the ``bwrap`` executable.
        ro_binds: ``(host, sandbox)`` pairs bound read-only (beyond /usr and /etc basics).
        rw_binds: ``(host, sandbox)`` pairs bound writable.
        network: Keep the host network namespace (the policy allows network).
        env: The complete environment inside.
        cwd: Working directory inside.
    """

    bwrap: str
    ro_binds: tuple[tuple[str, str], ...] = ()
    rw_binds: tuple[tuple[str, str], ...] = ()
    network: bool = False
    env: Mapping[str, str] = field(default_factory=dict[str, str])
    cwd: str = "/"


def _root_entries() -> list[str]:
    args: list[str] = ["--ro-bind", "/usr", "/usr"]
    for name in _ROOT_LINKS:
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", str(path.readlink()), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    return args


def _etc_entries(network: bool) -> list[str]:
    args: list[str] = []
    names = _ETC_ALWAYS + (_ETC_NETWORK if network else ())
    for name in names:
        path = Path("/etc") / name
        if path.exists():
            args += ["--ro-bind", str(path), str(path)]
    return args


def bwrap_argv(spec: BwrapSpec, command: Sequence[str]) -> list[str]:
    """Return the full argv that runs ``command`` inside the sandbox ``spec`` describes.

    The process gets new user (mapped to ``nobody``, no capabilities, no nested user
    namespace), pid, ipc, uts, cgroup, mount and (unless ``spec.network``) net namespaces,
    its own /proc, a minimal /dev, a private /tmp, a new session (no terminal injection),
    and dies with its parent.
    """
    args: list[str] = [
        spec.bwrap,
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",  # no nested user namespace: no capabilities regained inside
        "--uid", str(SANDBOX_UID),
        "--gid", str(SANDBOX_UID),
        "--hostname", "sandbox",
        "--die-with-parent",
        "--new-session",
        "--cap-drop", "ALL",
        "--clearenv",
    ]  # fmt: skip
    if spec.network:
        args.append("--share-net")
    args += _root_entries()
    args += _etc_entries(spec.network)
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]  # noqa: S108 - its own tmpfs
    # The sandbox's uid maps to the caller's; for root that makes global sysctls writable
    # through the new /proc. Hide /proc/sys behind an empty read-only tmpfs.
    args += ["--tmpfs", "/proc/sys", "--remount-ro", "/proc/sys"]
    for host, inside in spec.ro_binds:
        args += ["--ro-bind", host, inside]
    for host, inside in spec.rw_binds:
        args += ["--bind", host, inside]
    args += ["--remount-ro", "/"]  # the root tmpfs bwrap builds: read-only once populated
    for key, value in spec.env.items():
        args += ["--setenv", key, value]
    args += ["--chdir", spec.cwd, "--"]
    args += list(command)
    return args
