"""The escape suite: each test tries to break out of the local sandbox and must fail.

Every attempt runs in both modes (bubblewrap namespaces and the weaker Landlock + seccomp
mode) and asserts the specific way it was contained. Several tests also run a positive
control, so that a test cannot pass merely because the attempt's code is broken.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from memfun_runtime.protocols import FileSystemView, NetworkPolicy, SandboxLimits


def test_control_sandboxed_code_runs_and_sees_the_workspace(box) -> None:
    (box.workspace / "hello.txt").write_text("hi from host")
    result = box.code("print(open('hello.txt').read())")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "hi from host"


# --- files -------------------------------------------------------------------------------


def test_cannot_read_a_host_file_outside_the_workspace(box) -> None:
    result = box.code(f"print(open({str(box.secret)!r}).read())")
    assert result.exit_code != 0
    assert box.secret.read_text() not in result.stdout + result.stderr
    assert "FileNotFoundError" in result.stderr or "PermissionError" in result.stderr


def test_cannot_list_or_read_home_ssh_or_root(box) -> None:
    code = (
        "import os\n"
        "for p in ('/root', '/root/.ssh', os.path.expanduser('~/.ssh'), '/home'):\n"
        "    try:\n        print(p, os.listdir(p))\n"
        "    except OSError as e:\n        print(p, 'DENIED', type(e).__name__)\n"
    )
    result = box.code(code)
    assert result.exit_code == 0, result.stderr
    for line in result.stdout.strip().splitlines():
        assert "DENIED" in line or line.endswith("[]"), line


def test_cannot_read_etc_shadow(box) -> None:
    result = box.sandbox.run_command_sync(["/bin/cat", "/etc/shadow"])
    assert result.exit_code != 0
    assert "root:" not in result.stdout
    assert "No such file" in result.stderr or "Permission denied" in result.stderr


def test_cannot_reach_host_root_through_proc(box) -> None:
    result = box.code(
        "import os\n"
        "for p in ('/proc/1/root/etc/shadow', '/proc/self/root/etc/shadow'):\n"
        "    try:\n        print('READ', open(p).read()[:20])\n"
        "    except OSError as e:\n        print('DENIED', type(e).__name__)\n"
    )
    assert "READ" not in result.stdout
    assert result.stdout.count("DENIED") == 2


def test_cannot_write_outside_the_workspace(box) -> None:
    target = box.outside / "planted.txt"
    code = (
        "import sys\n"
        f"for p in ({str(target)!r}, '/etc/planted', '/usr/planted', '/planted'):\n"
        "    try:\n        open(p, 'w').write('x'); print('WROTE', p)\n"
        "    except OSError as e:\n        print('DENIED', p, type(e).__name__)\n"
        "open('inside.txt', 'w').write('ok')\n"
    )
    result = box.code(code)
    assert result.exit_code == 0, result.stderr
    assert "WROTE" not in result.stdout
    assert not target.exists()
    assert not Path("/etc/planted").exists()
    assert (box.workspace / "inside.txt").read_text() == "ok"  # control: the workspace is writable


def test_read_only_workspace_refuses_writes(box) -> None:
    result = box.sandbox.run_code_sync(
        "open('x.txt', 'w').write('x')",
        files=FileSystemView(workspace=str(box.workspace), workspace_writable=False),
    )
    assert result.exit_code != 0
    assert not (box.workspace / "x.txt").exists()


def test_scratch_copy_leaves_the_workspace_untouched(box) -> None:
    (box.workspace / "data.txt").write_text("original")
    result = box.sandbox.run_code_sync(
        "print(open('data.txt').read()); open('data.txt', 'w').write('changed')",
        files=FileSystemView(workspace=str(box.workspace), scratch_copy=True),
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "original"
    assert (box.workspace / "data.txt").read_text() == "original"


@pytest.mark.parametrize("scratch", [False, True])
def test_symlinks_in_the_workspace_do_not_lead_out(box, scratch: bool) -> None:
    (box.workspace / "abs_link").symlink_to(box.secret)
    (box.workspace / "rel_link").symlink_to(Path("..") / "outside" / box.secret.name)
    (box.workspace / "dir_link").symlink_to(box.outside)
    code = (
        "for p in ('abs_link', 'rel_link', 'dir_link/secret.txt'):\n"
        "    try:\n        print('READ', open(p).read())\n"
        "    except OSError as e:\n        print('DENIED', type(e).__name__)\n"
        "import os\n"
        "try:\n    os.symlink('/etc', 'made_link'); print(os.listdir('made_link/ssh'))\n"
        "except OSError as e:\n    print('DENIED', type(e).__name__)\n"
    )
    result = box.sandbox.run_code_sync(
        code, files=FileSystemView(workspace=str(box.workspace), scratch_copy=scratch)
    )
    assert box.secret.read_text() not in result.stdout
    assert "READ" not in result.stdout
    assert result.stdout.count("DENIED") == 4, result.stdout + result.stderr


def test_no_host_file_descriptors_leak_in(box) -> None:
    keep = os.open(box.secret, os.O_RDONLY)  # inheritable if anything leaked
    os.set_inheritable(keep, True)
    try:
        result = box.code(
            "import os\nopen_fds = []\n"
            "for fd in range(3, 256):\n"
            "    try:\n        os.fstat(fd); open_fds.append(fd)\n"
            "    except OSError:\n        pass\n"
            "print(open_fds)\n"
        )
    finally:
        os.close(keep)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_devices_are_not_reachable(box) -> None:
    result = box.code(
        "for p in ('/dev/mem', '/dev/kmem', '/dev/sda', '/dev/vda', '/dev/kmsg', '/dev/port'):\n"
        "    try:\n        open(p, 'rb').read(1); print('READ', p)\n"
        "    except OSError as e:\n        print('DENIED', p)\n"
    )
    assert "READ" not in result.stdout
    assert result.stdout.count("DENIED") == 6


def test_cannot_write_kernel_settings(box) -> None:
    before = Path("/proc/sys/kernel/hostname").read_text()
    code = (
        "for p in ('/proc/sys/kernel/hostname', '/proc/sys/kernel/panic', '/proc/sys/vm/drop_caches', '/proc/sysrq-trigger'):\n"
        "    try:\n        open(p, 'r+'); print('WRITABLE', p)\n"  # opened, never written
        "    except OSError as e:\n        print('DENIED', p, type(e).__name__)\n"
    )
    result = box.code(code)
    assert "WRITABLE" not in result.stdout, result.stdout
    assert result.stdout.count("DENIED") == 4
    assert Path("/proc/sys/kernel/hostname").read_text() == before


# --- environment and privileges ----------------------------------------------------------


def test_host_environment_and_api_keys_are_not_visible(box, canary_key: str) -> None:
    assert os.environ["OPENAI_API_KEY"] == canary_key  # the host has it
    code = (
        "import os, glob\n"
        "print(sorted(os.environ))\n"
        "for p in ['/proc/self/environ', '/proc/1/environ'] + glob.glob('/proc/[0-9]*/environ'):\n"
        "    try:\n        print(open(p, 'rb').read())\n"
        "    except OSError:\n        pass\n"
    )
    result = box.sandbox.run_code_sync(code, env={"GIVEN": "visible"})
    assert result.exit_code == 0, result.stderr
    assert canary_key not in result.stdout
    assert "OPENAI_API_KEY" not in result.stdout
    assert "ANTHROPIC_API_KEY" not in result.stdout
    assert "'GIVEN'" in result.stdout  # control: env passed explicitly is visible


def test_no_capabilities_inside(box) -> None:
    result = box.code("print(open('/proc/self/status').read())")
    if result.exit_code != 0:  # the weaker mode hides /proc entirely
        assert "PermissionError" in result.stderr
        result = box.sandbox.run_command_sync(
            ["/usr/bin/python3", "-c", "import os; print(os.sched_getaffinity(0))"]
        )
        assert result.exit_code == 0
        return
    caps = {
        line.split(":")[0]: line.split(":")[1].strip()
        for line in result.stdout.splitlines()
        if line.startswith("Cap")
    }
    assert caps["CapEff"] == "0000000000000000"
    assert caps["CapPrm"] == "0000000000000000"
    assert caps["CapBnd"] == "0000000000000000" or caps["CapEff"] == "0000000000000000"


def test_cannot_raise_rlimits(box) -> None:
    code = (
        "import resource\n"
        "for r in (resource.RLIMIT_CPU, resource.RLIMIT_AS, resource.RLIMIT_FSIZE):\n"
        "    soft, hard = resource.getrlimit(r)\n"
        "    try:\n"
        "        resource.setrlimit(r, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)); print('RAISED')\n"
        "    except (ValueError, OSError) as e:\n        print('DENIED', hard)\n"
    )
    result = box.code(code, cpu_seconds=5, memory_mb=512, max_file_mb=8)
    assert result.exit_code == 0, result.stderr
    assert "RAISED" not in result.stdout
    assert result.stdout.count("DENIED") == 3


def test_cannot_ptrace_or_kill_host_processes(box, host_canary: subprocess.Popen[bytes]) -> None:
    pid = host_canary.pid
    code = (
        "import ctypes, os, signal\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"print('ptrace', libc.ptrace(16, {pid}, 0, 0))\n"
        "for target in ("
        f"{pid}, -1, os.getppid()):\n"
        "    try:\n        os.kill(target, signal.SIGKILL); print('KILLED', target)\n"
        "    except OSError as e:\n        print('DENIED', target, type(e).__name__)\n"
    )
    result = box.code(code)
    assert "ptrace -1" in result.stdout, result.stdout + result.stderr
    time.sleep(0.2)
    assert host_canary.poll() is None  # the host process is alive
    assert f"KILLED {pid}" not in result.stdout


# --- network -----------------------------------------------------------------------------


def test_cannot_connect_to_a_host_service_on_loopback(box, tcp_listener) -> None:
    port, received = tcp_listener
    with socket.create_connection(("127.0.0.1", port), timeout=2) as control:  # control: it answers
        control.sendall(b"host")
    code = (
        "import socket\n"
        f"for port in ({port}, 6379, 4222):\n"
        "    try:\n"
        "        s = socket.create_connection(('127.0.0.1', port), timeout=2); s.sendall(b'sandbox'); print('CONNECTED', port)\n"
        "    except OSError as e:\n        print('DENIED', port, type(e).__name__)\n"
    )
    result = box.code(code)
    time.sleep(0.3)
    assert "CONNECTED" not in result.stdout, result.stdout
    assert result.stdout.count("DENIED") == 3
    assert b"sandbox" not in received


def test_cannot_reach_a_public_address_or_resolve_names(box) -> None:
    code = (
        "import socket\n"
        "try:\n    socket.create_connection(('1.1.1.1', 53), timeout=3); print('CONNECTED')\n"
        "except OSError as e:\n    print('DENIED', type(e).__name__)\n"
        "try:\n    print('RESOLVED', socket.getaddrinfo('example.com', 80))\n"
        "except OSError as e:\n    print('DENIED', type(e).__name__)\n"
    )
    result = box.code(code)
    assert "CONNECTED" not in result.stdout
    assert "RESOLVED" not in result.stdout
    assert result.stdout.count("DENIED") == 2


def test_udp_does_not_leave_the_sandbox(box) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.5)
    port = receiver.getsockname()[1]
    try:
        code = (
            "import socket\n"
            "try:\n"
            "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"    s.sendto(b'leak', ('127.0.0.1', {port})); print('SENT')\n"
            "except OSError as e:\n    print('DENIED', type(e).__name__)\n"
        )
        box.code(code)
        with pytest.raises(TimeoutError):
            receiver.recv(100)
    finally:
        receiver.close()


def test_cannot_connect_to_a_host_abstract_unix_socket(box) -> None:
    name = "\0memfun-canary-" + uuid.uuid4().hex
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(name)
    server.listen(1)
    try:
        code = (
            "import socket\n"
            "try:\n"
            "    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
            f"    s.connect({name!r}); print('CONNECTED')\n"
            "except OSError as e:\n    print('DENIED', type(e).__name__)\n"
        )
        result = box.code(code)
        assert "DENIED" in result.stdout, result.stdout + result.stderr
    finally:
        server.close()


def test_network_policy_allows_hosts_list_is_refused(box) -> None:
    from memfun_core.errors import ValidationError

    with pytest.raises(ValidationError, match="cannot limit the network"):
        box.sandbox.run_code_sync(
            "pass", network=NetworkPolicy(allow=True, allowed_hosts=("example.com",))
        )


# --- resources ---------------------------------------------------------------------------


def test_fork_bomb_is_contained(box, find_processes, wait_gone) -> None:
    marker = "forkbomb-" + uuid.uuid4().hex
    code = (
        f"# {marker}\nimport os\n"
        "while True:\n"
        "    try:\n        os.fork()\n"
        "    except OSError:\n        pass\n"
    )
    result = box.code(code, wall_seconds=3.0, max_processes=32, cpu_seconds=10.0)
    assert result.timed_out
    assert result.killed_reason == "wall"
    assert wait_gone(marker) == []


def test_memory_bomb_is_contained(box) -> None:
    result = box.code("x = bytearray(4 * 1024**3); print('ALLOCATED')", memory_mb=256)
    assert "ALLOCATED" not in result.stdout
    assert result.exit_code != 0
    assert "MemoryError" in result.stderr or result.killed_reason == "memory"


def test_disk_filler_is_stopped_by_the_file_size_limit(box) -> None:
    code = "with open('big.bin', 'wb') as f:\n    for _ in range(100):\n        f.write(b'x' * 1024 * 1024)\n"
    result = box.code(code, max_file_mb=8)
    assert result.exit_code != 0
    size = (box.workspace / "big.bin").stat().st_size
    assert size <= 8 * 1024 * 1024
    assert result.killed_reason == "file_size" or "File too large" in result.stderr


def test_cpu_spin_is_killed_at_the_cpu_limit(box) -> None:
    result = box.code("while True:\n    pass\n", cpu_seconds=1.0, wall_seconds=20.0)
    assert result.killed_reason == "cpu"
    assert not result.timed_out
    assert result.exit_code < 0


def test_sleep_past_the_timeout_is_killed(box) -> None:
    result = box.sandbox.run_command_sync(
        ["/bin/sleep", "30"], limits=SandboxLimits(wall_seconds=1.0)
    )
    assert result.timed_out
    assert result.killed_reason == "wall"
    assert result.duration < 10


def test_daemonized_grandchild_does_not_survive_the_call(box, find_processes, wait_gone) -> None:
    marker = "daemon-" + uuid.uuid4().hex
    sleeper = f"['/usr/bin/python3', '-c', 'import time; time.sleep(60)', '{marker}']"
    code = (
        "import os, subprocess, time\n"
        "if os.fork() == 0:\n"
        "    try:\n        os.setsid()\n"
        "    except OSError:\n        pass\n"
        "    if os.fork() == 0:\n"
        f"        os.execv('/usr/bin/python3', {sleeper})\n"
        "    os._exit(0)\n"
        f"bg = subprocess.Popen({sleeper})\n"
        "time.sleep(0.5)\n"
        "print('parent done', bg.poll() is None)\n"
    )
    result = box.code(code)
    assert "parent done True" in result.stdout, result.stdout + result.stderr  # control
    time.sleep(0.2)
    assert wait_gone(marker) == []


def test_huge_output_is_capped(box) -> None:
    result = box.code(
        "import sys\nfor _ in range(50):\n    sys.stdout.write('y' * 1024 * 1024)\n",
        max_output_bytes=10_000,
    )
    assert result.exit_code == 0, result.stderr[:500]
    assert len(result.stdout) == 10_000
    assert result.stdout_truncated


def test_cannot_create_namespaces_or_mount(box) -> None:
    code = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "print('mount', libc.mount(b'none', b'/tmp', b'tmpfs', 0, None))\n"
    )
    result = box.code(code)
    assert "mount -1" in result.stdout, result.stdout + result.stderr
