"""The weaker local sandbox: confine this process with Landlock and seccomp, then exec.

Used only where no namespace can be made. Standard library only (ctypes). Run as
``python3 -I -S weak_launcher.py CONFIG_JSON``, with ``CONFIG_JSON`` holding ``argv``,
``env``, ``cwd``, ``read`` (paths readable and executable), ``write`` (paths fully
writable), ``devices`` (files readable and writable, e.g. /dev/null) and ``network``.

What it does, in order: drop every capability from the bounding set (a root caller keeps
no privilege across exec), set ``no_new_privs``, restrict the file system (and TCP, and
signals/abstract sockets to outside the domain where the kernel's Landlock ABI allows)
with Landlock, install a seccomp filter (no ptrace, mount, namespaces, new sessions or
process groups, kernel keyring, bpf, io_uring; no Unix sockets (``socketpair`` only), and no
other socket unless the network is allowed), and exec the command with exactly the given
environment.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import struct
import sys
from pathlib import Path
from typing import Any

_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_RULE_PATH_BENEATH = 1

_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1, 2, 4, 8
_FS_FILE_ONLY = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | (1 << 14) | (1 << 15)
_NET_BIND_TCP, _NET_CONNECT_TCP = 1, 2
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1, 2

# (x86_64, aarch64) syscall numbers; None where the call does not exist.
_DENIED: dict[str, tuple[int | None, int | None]] = {
    "ptrace": (101, 117), "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41), "chroot": (161, 51),
    "unshare": (272, 97), "setns": (308, 268), "setsid": (112, 157), "setpgid": (109, 154),
    "kexec_load": (246, 104), "init_module": (175, 105), "finit_module": (313, 273),
    "delete_module": (176, 106), "bpf": (321, 280), "perf_event_open": (298, 241),
    "keyctl": (250, 219), "add_key": (248, 217), "request_key": (249, 218),
    "userfaultfd": (323, 282), "io_uring_setup": (425, 425), "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427), "open_by_handle_at": (304, 265),
    "name_to_handle_at": (303, 264), "reboot": (169, 142), "swapon": (167, 224),
    "swapoff": (168, 225), "acct": (163, 89), "settimeofday": (164, 170),
    "clock_settime": (227, 112), "personality": (135, 92), "syslog": (103, 116),
    "iopl": (172, None), "ioperm": (173, None),
}  # fmt: skip
_ARCH = {"x86_64": (0, 0xC000003E), "aarch64": (1, 0xC00000B7)}
_SOCKET = (41, 198)
_AF_UNIX = 1
_CLONE = (56, 220)
_CLONE3 = (435, 435)
_CLONE_NAMESPACES = 0x7E020000  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
_X32_BIT = 0x40000000
_EPERM, _EACCES, _EINVAL, _ENOSYS = 1, 13, 22, 38
_ABI_REFER, _ABI_TRUNCATE, _ABI_NET, _ABI_IOCTL, _ABI_SCOPE = 2, 3, 4, 5, 6
_RET_ALLOW, _RET_ERRNO, _RET_KILL = 0x7FFF0000, 0x00050000, 0x80000000
_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06


class _ConfinementError(RuntimeError):
    """The kernel refused a confinement step; the command must not run."""


_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> int:
    if result < 0:
        raise _ConfinementError(f"{what} failed: {os.strerror(ctypes.get_errno())}")
    return result


def _drop_capabilities() -> None:
    for cap in range(64):
        if _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) < 0:
            # EINVAL: past the last capability; EPERM: not privileged, nothing to drop.
            if ctypes.get_errno() in (_EINVAL, _EPERM):
                return
            _check(-1, "dropping capabilities")


def _fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1  # EXECUTE .. MAKE_SYM
    if abi >= _ABI_REFER:
        rights |= 1 << 13  # REFER
    if abi >= _ABI_TRUNCATE:
        rights |= 1 << 14  # TRUNCATE
    if abi >= _ABI_IOCTL:
        rights |= 1 << 15  # IOCTL_DEV
    return rights


def _add_path(ruleset: int, path: str, access: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not Path(path).is_dir():
            access &= _FS_FILE_ONLY
        attr = struct.pack("=Qi", access, fd)
        _check(
            _libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, attr, 0),
            f"landlock rule for {path}",
        )
    finally:
        os.close(fd)


def _landlock(config: dict[str, Any]) -> None:
    abi = _check(_libc.syscall(_SYS_CREATE_RULESET, None, 0, 1), "landlock (ABI query)")
    handled = _fs_rights(abi)
    net = 0 if config["network"] or abi < _ABI_NET else _NET_BIND_TCP | _NET_CONNECT_TCP
    scoped = _SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL if abi >= _ABI_SCOPE else 0
    if abi >= _ABI_SCOPE:
        attr = struct.pack("=QQQ", handled, net, scoped)
    elif abi >= _ABI_NET:
        attr = struct.pack("=QQ", handled, net)
    else:
        attr = struct.pack("=Q", handled)
    ruleset = _check(_libc.syscall(_SYS_CREATE_RULESET, attr, len(attr), 0), "landlock ruleset")
    read = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
    try:
        for path in config["read"]:
            _add_path(ruleset, path, read)
        for path in config["devices"]:
            _add_path(ruleset, path, _FS_READ_FILE | _FS_WRITE_FILE)
        for path in config["write"]:
            _add_path(ruleset, path, handled)
        _check(_libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0), "landlock restrict_self")
    finally:
        os.close(ruleset)


def _instruction(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def _prologue(column: int, audit_arch: int) -> list[bytes]:
    """Kill a foreign architecture, load the call number, refuse x32 calls on x86_64."""
    program = [
        _instruction(_LD_W_ABS, 4),
        _instruction(_JEQ_K, audit_arch, 1, 0),
        _instruction(_RET_K, _RET_KILL),
        _instruction(_LD_W_ABS, 0),
    ]
    if column == 0:  # x32 system calls on x86_64
        program += [_instruction(_JGE_K, _X32_BIT, 0, 1), _instruction(_RET_K, _RET_ERRNO | _EPERM)]
    return program


def _no_unix_sockets(column: int) -> list[bytes]:
    """``socket(AF_UNIX, ...)`` fails with EACCES (expects the call number loaded)."""
    return [
        _instruction(_JEQ_K, _SOCKET[column], 0, 3),
        _instruction(_LD_W_ABS, 16),
        _instruction(_JEQ_K, _AF_UNIX, 0, 1),
        _instruction(_RET_K, _RET_ERRNO | _EACCES),
    ]


def unix_socket_filter() -> bytes:
    """The seccomp program of bubblewrap mode (``bwrap --seccomp FD``): no AF_UNIX socket.

    Bubblewrap's namespaces isolate the network, but a Unix socket file in a bound folder
    (the workspace) still connects to whatever listens on the host. socketpair() stays.
    """
    column, audit_arch = _ARCH[platform.machine()]
    program = [
        *_prologue(column, audit_arch),
        *_no_unix_sockets(column),
        _instruction(_RET_K, _RET_ALLOW),
    ]
    return b"".join(program)


def _seccomp_program(network: bool) -> bytes:
    column, audit_arch = _ARCH[platform.machine()]
    deny = _RET_ERRNO | _EPERM
    program = _prologue(column, audit_arch)
    for numbers in _DENIED.values():
        number = numbers[column]
        if number is not None:
            program += [_instruction(_JEQ_K, number, 0, 1), _instruction(_RET_K, deny)]
    # clone3 cannot be inspected: make libc fall back to clone, whose flags can.
    program += [
        _instruction(_JEQ_K, _CLONE3[column], 0, 1),
        _instruction(_RET_K, _RET_ERRNO | _ENOSYS),
    ]
    program += [
        _instruction(_JEQ_K, _CLONE[column], 0, 4),
        _instruction(_LD_W_ABS, 16),
        _instruction(_JSET_K, _CLONE_NAMESPACES, 0, 1),
        _instruction(_RET_K, deny),
        _instruction(_RET_K, _RET_ALLOW),
    ]
    # Landlock does not govern connect() by path, so a Unix socket anywhere on the host
    # (Docker's, the D-Bus bus, an ssh-agent) would be reachable: no AF_UNIX socket, ever.
    # socketpair() is a separate call and stays allowed (asyncio's self-pipe needs it).
    if network:
        program += _no_unix_sockets(column)
    else:
        program += [
            _instruction(_JEQ_K, _SOCKET[column], 0, 1),
            _instruction(_RET_K, _RET_ERRNO | _EACCES),
        ]
    program.append(_instruction(_RET_K, _RET_ALLOW))
    return b"".join(program)


def _seccomp(network: bool) -> None:
    program = _seccomp_program(network)
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("=HxxxxxxQ", len(program) // 8, ctypes.addressof(buffer))
    _check(_libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, fprog, 0, 0), "seccomp filter")


def main() -> None:
    """Confine this process as the JSON configuration in ``argv[1]`` says, then exec."""
    config: dict[str, Any] = json.loads(sys.argv[1])
    try:
        _drop_capabilities()
        _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        os.chdir(config["cwd"])
        _landlock(config)
        _seccomp(bool(config["network"]))
    except (_ConfinementError, OSError) as exc:
        sys.stderr.write(f"memfun weak sandbox: refusing to run: {exc}\n")
        sys.stderr.flush()
        os._exit(125)
    argv: list[str] = config["argv"]
    os.execve(argv[0], argv, config["env"])  # noqa: S606 - the confined command itself


if __name__ == "__main__":
    main()
