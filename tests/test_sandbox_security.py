"""Security suite for `sandbox/`: every attack is contained, and gets one exact, named verdict.

Each test runs an attacking program through the `box` fixture, so every attack is tried on both
isolating backends (bubblewrap and docker), and asserts the verdict (and usually the detail) the
sandbox must give it.

Attacks covered: network (TCP, UDP, DNS, the host's loopback, abstract unix sockets), reading host
files, writing outside scratch, state persisting between runs, fork bombs and orphans, memory, CPU
and wall-time bombs, output floods and big pipes, killing the worker, fatal signals, ctypes escapes
around a reliability_guard, hunting for the expected answer, and forging an assert test's completion.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from sandbox import AssertCase, CallCase, Sandbox, StdioCase, Verdict
from tests.sandbox_helpers import (
    assert_healthy,
    assert_verdict,
    explain,
    new_marker,
    processes_with,
    run1,
    wait_until_gone,
    with_limits,
)

TESTS_DIR = Path(__file__).resolve().parent


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def solo_box(box: Sandbox):
    """One worker on `box`'s backend: consecutive runs are guaranteed to hit the same worker."""
    with Sandbox(backend=box.backend, workers=1, limits=box.limits) as solo:
        yield solo


# ---------------------------------------------------------------- network


@pytest.fixture
def host_listeners():
    """A TCP listener on the host's 127.0.0.1 and an abstract unix socket listener, both non-blocking."""
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    tcp.setblocking(False)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract = f"\0coder-rl-security-{uuid.uuid4().hex}"
    unix.bind(abstract)
    unix.listen(8)
    unix.setblocking(False)
    yield {"port": tcp.getsockname()[1], "abstract": abstract, "sockets": (tcp, unix)}
    tcp.close()
    unix.close()


NETWORK_ATTACKS = {
    # id: (program printing "connected" on success, what the detail must contain)
    "tcp-outside-ip": (
        "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)\nprint('connected')",
        "Network is unreachable",
    ),
    "udp-outside-ip": (
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "s.sendto(b'x', ('8.8.8.8', 53))\nprint('connected')",
        "Network is unreachable",
    ),
    "dns-resolution": (
        "import socket\nsocket.getaddrinfo('example.com', 80)\nprint('connected')",
        "socket.gaierror",
    ),
    "host-loopback-tcp": (
        "import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('connected')",
        "ConnectionRefusedError",
    ),
    "host-abstract-unix-socket": (
        "import socket\ns = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "s.connect({abstract!r})\nprint('connected')",
        "ConnectionRefusedError",
    ),
}


@pytest.mark.parametrize("attack", list(NETWORK_ATTACKS), ids=list(NETWORK_ATTACKS))
def test_no_network(box, host_listeners, attack):
    """Every way out to a network fails inside, so a program that needs one errors out."""
    template, error = NETWORK_ATTACKS[attack]
    program = template.format(port=host_listeners["port"], abstract=host_listeners["abstract"])
    result = run1(box, program, StdioCase("", "connected\n"))
    assert_verdict(result, Verdict.RUNTIME_ERROR, error)
    assert "connected" not in result.stdout
    for listener in host_listeners["sockets"]:  # nothing reached the host's listeners
        with pytest.raises(BlockingIOError):
            listener.accept()


# ---------------------------------------------------------------- the host's files


@pytest.fixture
def host_secret_files(tmp_path):
    """Two files on the host holding a random secret: one in pytest's tmp_path, one in the repository."""
    secret = f"secret-{uuid.uuid4().hex}"
    in_tmp = tmp_path / "secret.txt"
    in_tmp.write_text(secret + "\n")
    with tempfile.NamedTemporaryFile(
        "w", dir=TESTS_DIR, prefix=".security-", suffix=".txt", delete=False
    ) as f:
        f.write(secret + "\n")
    in_repo = Path(f.name)
    try:
        yield secret, {"pytest-tmp-path": in_tmp, "repository": in_repo}
    finally:
        in_repo.unlink(missing_ok=True)


@pytest.mark.parametrize("where", ["pytest-tmp-path", "repository"])
def test_host_files_are_invisible(box, host_secret_files, where):
    """A file the test creates on the host cannot be read from inside: FileNotFoundError."""
    secret, paths = host_secret_files
    path = paths[where]
    result = run1(box, f"print(open({str(path)!r}).read())", StdioCase("", secret + "\n"))
    assert_verdict(result, Verdict.RUNTIME_ERROR, "FileNotFoundError")
    assert secret not in result.stdout + result.stderr


# ---------------------------------------------------------------- writing outside scratch

WRITE_TARGETS = {
    # id: path expression evaluated inside the sandbox
    "usr": "'/usr/pwned-' + TAG",
    "usr-lib": "'/usr/lib/pwned-' + TAG",
    "python-install": "sys.prefix + '/pwned-' + TAG",
    "python-stdlib": "os.path.dirname(os.__file__) + '/pwned-' + TAG",
    "etc": "'/etc/pwned-' + TAG",
    "root-dir": "'/pwned-' + TAG",
    "dev": "'/dev/pwned-' + TAG",
}


@pytest.mark.parametrize("target", list(WRITE_TARGETS), ids=list(WRITE_TARGETS))
def test_cannot_write_outside_scratch(box, target):
    """Creating a file outside /tmp fails with a read-only (or permission) error."""
    tag = uuid.uuid4().hex
    program = f"import os, sys\nTAG = {tag!r}\npath = {WRITE_TARGETS[target]}\nopen(path, 'w').write('x')\nprint(path)"
    result = run1(box, program, StdioCase("", "written\n"))
    for host_dir in ("/usr", "/usr/lib", "/etc", "/", sys.prefix):  # the host is untouched, whatever happened
        assert not Path(host_dir, f"pwned-{tag}").exists()
    assert result.verdict is Verdict.RUNTIME_ERROR, explain(result)
    assert "Read-only file system" in result.detail or "PermissionError" in result.detail, explain(result)


def test_disk_bomb_outside_scratch_is_refused(box):
    """75 MB written to / (more than the 64 MB scratch) fails at once: only the capped scratch is writable."""
    program = (
        "import os\nnames = []\ntry:\n"
        "    for i in range(5):\n"
        "        names.append(f'/bomb-{i}')\n"
        "        with open(names[-1], 'wb') as f:\n"
        "            f.write(b'x' * (15 << 20))\n"
        "    print('wrote 75 MB')\n"
        "finally:\n"
        "    for name in names:\n"
        "        try:\n            os.unlink(name)\n        except OSError:\n            pass\n"
    )
    result = run1(box, program, StdioCase("", "wrote 75 MB\n"))
    assert_verdict(result, Verdict.RUNTIME_ERROR, "Read-only file system: '/bomb-0'")


def test_scratch_is_writable(box):
    """Control: a program may write files in /tmp and in its working directory and read them back."""
    program = (
        "import os\nopen('/tmp/mine.txt', 'w').write('abc')\nopen('rel.txt', 'w').write('def')\n"
        "print(open('/tmp/mine.txt').read() + open(os.path.join(os.getcwd(), 'rel.txt')).read())"
    )
    assert_verdict(run1(box, program, StdioCase("", "abcdef\n")), Verdict.PASSED)


def test_scratch_file_bomb_is_capped(box):
    """Scratch itself is capped: one file over file_size_mb is output_limit (Python ignores SIGXFSZ: EFBIG)."""
    result = run1(box, "open('/tmp/big', 'wb').write(b'x' * (20 << 20))", StdioCase("", ""))
    assert_verdict(result, Verdict.OUTPUT_LIMIT, "wrote a file over 16 MB")
    program = "for i in range(8):\n    open(f'/tmp/big{i}', 'wb').write(b'x' * (15 << 20))"
    result = run1(box, program, StdioCase("", ""))
    assert_verdict(result, Verdict.RUNTIME_ERROR, "No space left on device")
    assert_healthy(box)


# ---------------------------------------------------------------- state persisting between runs

PERSIST_TARGETS = {
    # id: path the first program tries to write (relative paths are in its working directory, /tmp)
    "tmp": "/tmp/flag-{tag}",
    "cwd": "flag-{tag}",
    "cwd-subdir": "sub-{tag}/deeper/flag",
    "hidden-in-tmp": "/tmp/.flag-{tag}",
    "dev-shm": "/dev/shm/flag-{tag}",
    "root-dir": "/flag-{tag}",
    "etc": "/etc/flag-{tag}",
    "dev": "/dev/flag-{tag}",
}


@pytest.mark.parametrize("target", list(PERSIST_TARGETS), ids=list(PERSIST_TARGETS))
def test_no_state_survives_into_the_next_run(solo_box, target):
    """Whatever one run manages to write is gone in the next run on the same worker."""
    path = PERSIST_TARGETS[target].format(tag=uuid.uuid4().hex)
    writer = (
        "import os, sys\n"
        f"path = os.path.abspath({path!r})\n"
        "try:\n    os.makedirs(os.path.dirname(path), exist_ok=True)\n"
        "    open(path, 'w').write('flag')\n    print('wrote', path, file=sys.stderr)\n"
        "except OSError as exc:\n    print(exc, file=sys.stderr)\nprint('done')"
    )
    checker = f"import os\nprint('present' if os.path.exists(os.path.join('/tmp', {path!r})) else 'absent')"
    assert_verdict(run1(solo_box, writer, StdioCase("", "done\n")), Verdict.PASSED)
    assert_verdict(run1(solo_box, checker, StdioCase("", "absent\n")), Verdict.PASSED)


def test_no_state_survives_between_tests_of_one_program(box):
    """Within one program, each test starts from an empty scratch too (fail-fast keeps them on one worker)."""
    program = (
        "import os\n"
        "print('absent' if not os.path.exists('/tmp/flag') and not os.path.exists('/dev/shm/flag') else 'present')\n"
        "open('/tmp/flag', 'w').write('1')\n"
        "if os.path.isdir('/dev/shm'):\n    open('/dev/shm/flag', 'w').write('1')\n"
    )
    result = box.run(program, [StdioCase("", "absent\n")] * 3, fail_fast=True)
    assert [t.verdict for t in result.tests] == [Verdict.PASSED] * 3, result.to_dict()


KERNEL_STATE = {
    # id: (program that leaves something behind, program that prints what it finds)
    "sysv-shared-memory": (
        "import ctypes\nprint(ctypes.CDLL(None).shmget(0x5eed, 1 << 20, 0o1000 | 0o666) >= 0)",
        "print(len(open('/proc/sysvipc/shm').read().splitlines()) - 1)",
    ),
    "sysv-message-queue": (
        "import ctypes\nprint(ctypes.CDLL(None).msgget(0x5eed, 0o1000 | 0o666) >= 0)",
        "print(len(open('/proc/sysvipc/msg').read().splitlines()) - 1)",
    ),
    "posix-message-queue": (
        "import ctypes\nprint(ctypes.CDLL(None).mq_open(b'/flag', 0o100 | 0o2, 0o666, None) >= 0)",
        "import os\nprint(len(os.listdir('/dev/mqueue')) if os.path.isdir('/dev/mqueue') else 0)",
    ),
}


@pytest.mark.parametrize("target", list(KERNEL_STATE), ids=list(KERNEL_STATE))
def test_no_ipc_object_survives_into_the_next_run(solo_box, target):
    """IPC objects live outside any file system; a test that leaves one gets a fresh worker after it."""
    leave, count = KERNEL_STATE[target]
    assert_verdict(run1(solo_box, leave, StdioCase("", "True\n")), Verdict.PASSED)
    assert_verdict(run1(solo_box, count, StdioCase("", "0\n")), Verdict.PASSED)


@pytest.mark.parametrize(
    ("program", "replaced"),
    [
        ("import os\np = '/tmp'\nfor _ in range(1500):\n    p += '/d'\n    os.mkdir(p)\nprint(1)", None),
        (
            "for i in range(12_000):\n    open(f'/tmp/f{i}', 'w').close()\nprint(1)",
            "/tmp held over 10000 files",
        ),
    ],
    ids=["deeper-than-the-recursion-limit", "more-files-than-worth-wiping"],
)
def test_scratch_that_is_hard_to_wipe_is_not_sandbox_error(solo_box, program, replaced):
    """Wiping is iterative and bounded: a deep tree is wiped, a huge one retires the worker instead."""
    result = run1(solo_box, program, StdioCase("", "1\n"))
    assert_verdict(result, Verdict.PASSED, *([f"worker replaced: {replaced}"] if replaced else []))
    assert_verdict(run1(solo_box, LIST_SCRATCH, StdioCase("", "[]\n")), Verdict.PASSED)


# What is in /tmp, but the directories leading to a mount there (an interpreter installed under /tmp).
LIST_SCRATCH = (
    "import os\nkept = set()\n"
    "for line in open('/proc/self/mountinfo'):\n    point = line.split()[4]\n"
    "    while point.startswith('/tmp/'):\n        kept.add(point)\n        point = os.path.dirname(point)\n"
    "left = []\n"
    "for root, dirs, files in os.walk('/tmp'):\n"
    "    dirs[:] = [d for d in dirs if not os.path.ismount(os.path.join(root, d))]\n"
    "    left += [os.path.join(root, n) for n in dirs + files if os.path.join(root, n) not in kept]\n"
    "print(left)"
)


# ---------------------------------------------------------------- processes


def test_fork_bomb_is_contained(box):
    """`while True: os.fork()` hits the process cap: BlockingIOError, and no process outlives the run."""
    marker = new_marker()
    program = (
        "import os\n"
        "while True:\n"
        "    if os.fork() == 0 and os.getpid() % 3 == 0:\n"
        f"        os.execvp('sleep', ['sleep', '{marker}'])\n"
    )
    result = run1(box, program, StdioCase("", "done\n"))
    assert_verdict(result, Verdict.RUNTIME_ERROR, "BlockingIOError", "worker replaced")
    assert wait_until_gone(marker) == []
    assert_healthy(box)


def test_orphaned_daemon_is_killed(box):
    """A double-forked, setsid'd process left behind is killed; the program's own verdict stands."""
    marker = new_marker()
    program = (
        "import os\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execvp('sleep', ['sleep', '{marker}'])\n"
        "    os._exit(0)\n"
        "os.wait()\nprint('ok')"
    )
    result = run1(box, program, StdioCase("", "ok\n"))
    assert_verdict(result, Verdict.PASSED, "worker replaced: left 1 process(es) running")
    assert wait_until_gone(marker) == []
    assert_healthy(box)


# ---------------------------------------------------------------- memory, CPU and wall time

MEMORY_BOMBS = {
    "one-huge-allocation": "x = bytearray(1 << 30)",
    "growing-bytearrays": "l = []\nwhile True:\n    l.append(bytearray(10 ** 7))",
    "growing-strings": "l = []\nwhile True:\n    l.append(' ' * 10 ** 6)",
    "huge-list": "x = [0] * (10 ** 9)",
    "doubling-string": "s = 'x'\nwhile True:\n    s += s",
    # memory runs out in small steps, so the program's objects are alive when MemoryError is caught
    "many-small-lists": "l = []\nwhile True:\n    l.append([0] * 1000)",
}


@pytest.mark.parametrize("bomb", list(MEMORY_BOMBS), ids=list(MEMORY_BOMBS))
def test_memory_bomb(box, bomb):
    """Allocating past memory_mb is memory_exceeded, however the memory is allocated."""
    result = run1(box, MEMORY_BOMBS[bomb], StdioCase("", "done\n"), limits=with_limits(box, memory_mb=128))
    assert_verdict(result, Verdict.MEMORY_EXCEEDED, "memory over 128 MB")


def test_cpu_of_children_the_kernel_reaps_is_counted(box):
    """Work spread over children that nobody waits for (SIGCHLD ignored) is missing from rusage; the
    worker's cgroup counter still sees it, so the time limit holds for the whole process tree."""
    if box.backend == "local" and os.geteuid() != 0:
        pytest.skip("without root the local backend has no cgroup, so no counter sees auto-reaped children")
    # Each child burns a fixed 0.6 s of its own CPU time, not a fixed count of additions: a fast
    # machine once finished the 4 children's work in 0.95 s of CPU, under the 1 s limit.
    program = (
        "import os, signal, time\nsignal.signal(signal.SIGCHLD, signal.SIG_IGN)\nr, w = os.pipe()\n"
        "for _ in range(4):\n    if os.fork() == 0:\n"
        "        while time.process_time() < 0.6:\n            pass\n        os.write(w, b'.')\n        os._exit(0)\n"
        "got = b''\nwhile len(got) < 4:\n    got += os.read(r, 4)\nprint('done')"
    )
    result = run1(box, program, StdioCase("", "done\n"), limits=with_limits(box, time_s=1.0, wall_s=20.0))
    assert_verdict(result, Verdict.TIMEOUT, "CPU time over 1 s")
    assert result.cpu_s > 1.0


def test_cpu_spin_in_threads_is_timeout(box):
    """Five threads spinning: CPU time is counted over all of them, so the time limit catches it."""
    program = (
        "import threading\n"
        "def spin():\n    while True:\n        pass\n"
        "for _ in range(4):\n    threading.Thread(target=spin, daemon=True).start()\n"
        "spin()"
    )
    result = run1(box, program, StdioCase("", "done\n"))
    assert result.verdict is Verdict.TIMEOUT, explain(result)
    assert result.detail in ("CPU time over 1 s", "wall time over 3 s"), explain(result)
    assert_healthy(box)


@pytest.mark.parametrize(
    "program",
    [
        "import time\ntime.sleep(60)\nprint('done')",
        "import os\nr, w = os.pipe()\nos.read(r, 1)\nprint('done')",
    ],
    ids=["sleep", "block-on-own-pipe"],
)
def test_idle_past_wall_limit_is_timeout(box, program):
    """A program using no CPU is stopped at the wall limit, and the recorded wall time says so."""
    result = run1(box, program, StdioCase("", "done\n"), limits=with_limits(box, wall_s=1.0))
    assert_verdict(result, Verdict.TIMEOUT, "wall time over 1 s")
    assert 0.9 <= result.wall_s < 5.0, explain(result)
    assert result.cpu_s < 0.5, explain(result)


# ---------------------------------------------------------------- output and input sizes


@pytest.mark.parametrize(
    "program",
    [
        "while True:\n    print('x' * 1000)",
        "import sys\nwhile True:\n    sys.stderr.write('x' * 1000)",
        "import sys\nsys.stdout.write('x' * 5_000_000)",
        "import os\nos.write(1, b'x' * 5_000_000)",
        "import os\nif os.fork() == 0:\n    while True:\n        os.write(1, b'x' * 65536)\nos.wait()",
    ],
    ids=["endless-stdout", "endless-stderr", "single-5MB-write", "single-5MB-os-write", "endless-from-child"],
)
def test_output_flood_is_output_limit(box, program):
    """Output past output_bytes on either stream stops the run with output_limit."""
    result = run1(box, program, StdioCase("", "x\n"))
    assert_verdict(result, Verdict.OUTPUT_LIMIT, f"output over {1 << 20} bytes")
    assert_healthy(box)


def test_large_allowed_output_is_received_in_full(box):
    """300 KB on stdout (more than any pipe buffer: SandboxFusion deadlocks near 200 KB) passes."""
    expected = "".join(f"{i} {i * i}\n" for i in range(30000))
    assert 300_000 < len(expected) < 1 << 20
    program = "import sys\nsys.stdout.write(''.join(f'{i} {i * i}\\n' for i in range(30000)))"
    assert_verdict(run1(box, program, StdioCase("", expected)), Verdict.PASSED)


def test_large_stderr_beside_stdout_does_not_deadlock(box):
    """300 KB on stderr with the answer on stdout passes: both pipes are drained together."""
    program = "import sys\nsys.stderr.write('e' * 300_000)\nsys.stderr.flush()\nprint('answer')"
    result = run1(box, program, StdioCase("", "answer\n"))
    assert_verdict(result, Verdict.PASSED)


@pytest.mark.parametrize(
    ("program", "expected"),
    [("print('ok')", "ok\n"), ("import sys\nprint(len(sys.stdin.read()))", f"{2 << 20}\n")],
    ids=["unread", "read-fully"],
)
def test_large_stdin(box, program, expected):
    """2 MB of stdin, unread or read in full, never deadlocks the worker writing it."""
    result = run1(box, program, StdioCase("x" * (2 << 20), expected))
    assert_verdict(result, Verdict.PASSED)


# ---------------------------------------------------------------- killing the worker, fatal signals


@pytest.mark.parametrize(
    "sig",
    ["SIGKILL", "SIGTERM", "SIGSTOP", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGINT"],
)
def test_program_cannot_kill_the_worker(box, sig):
    """Signals to the parent, to pid 1, to pid 1's group and to every process (-1) leave the worker alive."""
    program = (
        "import os, signal, sys, time\n"
        f"sig = signal.{sig}\n"
        "for target in (os.getppid(), 1, -1):\n"
        "    try:\n        os.kill(target, sig)\n"
        "    except OSError as exc:\n        print(target, type(exc).__name__, file=sys.stderr)\n"
        "try:\n    os.killpg(os.getpgid(1), sig)\n"
        "except OSError as exc:\n    print('killpg', type(exc).__name__, file=sys.stderr)\n"
        "time.sleep(0.2)\nprint('alive')"
    )
    try:
        result = run1(box, program, StdioCase("", "alive\n"))
        assert_verdict(result, Verdict.PASSED)
    finally:
        assert_healthy(box)


@pytest.mark.parametrize(
    ("program", "signame"),
    [
        ("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)", "SIGSEGV"),
        ("import ctypes\nctypes.string_at(0)", "SIGSEGV"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "SIGKILL"),
        ("import os\nos.abort()", "SIGABRT"),
        ("import os, signal\nos.killpg(0, signal.SIGKILL)", "SIGKILL"),
    ],
    ids=["sigsegv-to-self", "null-dereference", "sigkill-to-self", "abort", "sigkill-own-group"],
)
def test_fatal_signal_is_runtime_error(box, program, signame):
    """A program killed by a signal is runtime_error naming the signal; the worker carries on."""
    result = run1(box, program, StdioCase("", "done\n"))
    assert_verdict(result, Verdict.RUNTIME_ERROR, f"killed by {signame}")
    assert_healthy(box)


# ---------------------------------------------------------------- ctypes escapes around a reliability_guard

# What human-eval and TACO run before untrusted code: it disables Python-level names only.
RELIABILITY_GUARD = """
import builtins, os, shutil, subprocess, sys
builtins.exit = builtins.quit = None
for _name in ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork",
              "forkpty", "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod",
              "fchown", "chmod", "chown", "chroot", "lchown", "execv", "execve", "execvp", "popen"):
    setattr(os, _name, None)
shutil.rmtree = shutil.move = shutil.chown = None
subprocess.Popen = None
import ctypes, importlib, socket, struct
libc = ctypes.CDLL(None, use_errno=True)
def fail(what):
    err = ctypes.get_errno()
    raise OSError(err, os.strerror(err), what)
"""


def test_ctypes_system_cannot_read_host_files(box, host_secret_files):
    """libc.system('cat <host file>') runs, but inside: the file is not there (cat complains)."""
    secret, paths = host_secret_files
    program = RELIABILITY_GUARD + f"libc.system(b'cat {paths['pytest-tmp-path']} {paths['repository']}')\n"
    result = run1(box, program, StdioCase("", secret + "\n"))
    assert_verdict(result, Verdict.WRONG_ANSWER, "expected 1 lines, got 0")
    assert "No such file or directory" in result.stderr, explain(result)
    assert secret not in result.stdout + result.stderr


def test_ctypes_execv_cannot_read_host_files(box, host_secret_files):
    """libc.execv('/bin/cat', <host file>) replaces the program with cat, which fails: exit status 1."""
    secret, paths = host_secret_files
    program = RELIABILITY_GUARD + (
        f"argv = (ctypes.c_char_p * 3)(b'cat', {str(paths['repository']).encode()!r}, None)\n"
        "libc.execv(b'/bin/cat', argv)\nfail('execv')\n"
    )
    result = run1(box, program, StdioCase("", secret + "\n"))
    assert_verdict(result, Verdict.RUNTIME_ERROR, "exit status 1", "No such file or directory")
    assert secret not in result.stdout + result.stderr


def test_reloaded_os_system_cannot_write_host_files(box, tmp_path):
    """importlib.reload(os) restores os.system; the shell it starts still cannot reach the host's files."""
    target = tmp_path / "pwned"
    program = RELIABILITY_GUARD + (
        "importlib.reload(os)\n"
        f"status = os.system('echo pwned > {target} && cat {target}')\n"
        "print('status', status, file=sys.stderr)\n"
    )
    result = run1(box, program, StdioCase("", "pwned\n"))
    assert_verdict(result, Verdict.WRONG_ANSWER, "expected 1 lines, got 0")
    assert "status" in result.stderr and "status 0" not in result.stderr, explain(result)
    assert not target.exists()


@pytest.mark.parametrize("directory", ["/usr/lib", "PREFIX"], ids=["usr-lib", "python-install"])
def test_ctypes_open_cannot_write_outside_scratch(box, directory):
    """libc.open(O_CREAT) outside /tmp fails with EROFS, just like Python's open."""
    tag = uuid.uuid4().hex
    where = "sys.prefix" if directory == "PREFIX" else repr(directory)
    program = RELIABILITY_GUARD + (
        f"path = ({where} + '/pwned-{tag}').encode()\n"
        "fd = libc.open(path, os.O_WRONLY | os.O_CREAT, 0o644)\n"
        "if fd < 0:\n    fail(path.decode())\nprint('created')\n"
    )
    result = run1(box, program, StdioCase("", "created\n"))
    assert_verdict(result, Verdict.RUNTIME_ERROR, "Read-only file system", f"pwned-{tag}")
    for host_dir in ("/usr/lib", sys.prefix):
        assert not Path(host_dir, f"pwned-{tag}").exists()


def test_ctypes_socket_connect_has_no_network(box):
    """libc.socket + libc.connect to an outside IP, bypassing the socket module: unreachable."""
    program = RELIABILITY_GUARD + (
        "fd = libc.socket(socket.AF_INET, socket.SOCK_STREAM, 0)\n"
        "if fd < 0:\n    fail('socket')\n"
        "addr = struct.pack('=H', socket.AF_INET) + struct.pack('!H', 80) + bytes([1, 1, 1, 1]) + bytes(8)\n"
        "if libc.connect(fd, addr, len(addr)) != 0:\n    fail('connect')\nprint('connected')\n"
    )
    result = run1(box, program, StdioCase("", "connected\n"))
    assert_verdict(result, Verdict.RUNTIME_ERROR, "Network is unreachable")


# ---------------------------------------------------------------- hunting for the expected answer

# Looks everywhere a program can look for a "tok-<32 hex>" token and returns it, or None.
SCANNER = r"""
import gc, os, re, select, sys

PATTERN = re.compile(rb"tok-[0-9a-f]{32}")


def blobs():
    for obj in gc.get_objects():  # containers of this interpreter (strings live in them)
        if isinstance(obj, dict):
            yield from obj.keys()
            yield from obj.values()
        elif isinstance(obj, (list, tuple, set, frozenset)):
            yield from obj
    frame = sys._getframe()
    while frame is not None:  # every frame's locals, the harness's included
        yield from frame.f_locals.values()
        frame = frame.f_back
    yield from os.environ.keys()
    yield from os.environ.values()
    yield from sys.argv
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    for pid in ["self"] + pids:
        for name in ("cmdline", "environ"):
            try:
                with open(f"/proc/{pid}/{name}", "rb") as f:
                    yield f.read()
            except OSError:
                pass
    for root, dirs, files in os.walk("/tmp"):
        dirs[:] = [d for d in dirs if not os.path.ismount(os.path.join(root, d))]  # a read-only interpreter
        for name in files:
            try:
                with open(os.path.join(root, name), "rb") as f:
                    yield f.read()
            except OSError:
                pass
    for fd in range(0, 101):  # inherited descriptors, whatever is waiting in them
        try:
            if select.select([fd], [], [], 0)[0]:
                yield os.read(fd, 1 << 20)
        except (OSError, ValueError):
            pass
    try:  # this process's whole readable address space
        with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as mem:
            for line in maps.read().splitlines():
                addresses, perms = line.split()[:2]
                if "r" not in perms:
                    continue
                start, end = (int(x, 16) for x in addresses.split("-"))
                for offset in range(start, end, 1 << 20):
                    try:
                        mem.seek(offset)
                        yield mem.read(min(1 << 20, end - offset))
                    except (OSError, ValueError, OverflowError):
                        break
    except OSError:
        pass


def find_token():
    for blob in blobs():
        if isinstance(blob, str):
            blob = blob.encode("utf-8", "replace")
        if isinstance(blob, (bytes, bytearray)):
            match = PATTERN.search(blob)
            if match:
                return match.group().decode()
    return None
"""


def new_token() -> str:
    return f"tok-{uuid.uuid4().hex}"


def test_stdio_expected_output_is_unreachable(box):
    """The expected stdout never enters the sandbox: a program searching everywhere finds nothing."""
    token = new_token()
    program = SCANNER + "print(find_token() or 'notfound')\n"
    result = run1(box, program, StdioCase("", token + "\n"))
    assert_verdict(result, Verdict.WRONG_ANSWER, f"expected {token!r}, got 'notfound'")
    assert result.stdout == "notfound\n"


def test_call_expected_value_is_unreachable(box):
    """Nor does a call case's expected return value: the search returns 'notfound'."""
    token = new_token()
    program = SCANNER + "def answer():\n    return find_token() or 'notfound'\n"
    result = run1(box, program, CallCase("answer", [], token))
    assert_verdict(result, Verdict.WRONG_ANSWER, f'expected "{token}", got "notfound"')


def test_answer_scanner_finds_what_is_there(box):
    """Control: the same search does find a token that is in the sandbox (stdin, call arguments)."""
    token = new_token()
    stdio = run1(box, SCANNER + "print(find_token() or 'notfound')\n", StdioCase(token + "\n", token + "\n"))
    assert_verdict(stdio, Verdict.PASSED)
    program = SCANNER + "def answer(_hint):\n    return find_token() or 'notfound'\n"
    assert_verdict(run1(box, program, CallCase("answer", [token], token)), Verdict.PASSED)


# ---------------------------------------------------------------- assert tests: proof of completion

ASSERTS = "assert f(1) == 3\nassert f(2) == 4\n"  # f(x) = x + 2; the attack programs define x + 1
WRONG_F = "def f(x):\n    return x + 1\n"

COMPLETION_ATTACKS = {
    # id: (program, verdict, what the detail contains)
    "os-exit-at-import": (
        "import os\n" + WRONG_F + "os._exit(0)\n",
        Verdict.RUNTIME_ERROR,
        "exited before the test code finished, exit status 0",
    ),
    "sys-exit-at-import": (
        "import sys\n" + WRONG_F + "sys.exit(0)\n",
        Verdict.RUNTIME_ERROR,
        "SystemExit: 0",
    ),
    "exit-at-import": (WRONG_F + "exit()\n", Verdict.RUNTIME_ERROR, "SystemExit: None"),
    "quit-at-import": (WRONG_F + "quit()\n", Verdict.RUNTIME_ERROR, "SystemExit: None"),
    "raise-systemexit": (WRONG_F + "raise SystemExit\n", Verdict.RUNTIME_ERROR, "SystemExit: None"),
    "os-exit-in-function": (
        "import os\ndef f(x):\n    os._exit(0)\n",
        Verdict.RUNTIME_ERROR,
        "exited before the test code finished, exit status 0",
    ),
    "sys-exit-in-function": (
        "import sys\ndef f(x):\n    sys.exit(0)\n",
        Verdict.RUNTIME_ERROR,
        "SystemExit: 0",
    ),
    "sigkill-self-in-function": (
        "import os, signal\ndef f(x):\n    os.kill(os.getpid(), signal.SIGKILL)\n",
        Verdict.RUNTIME_ERROR,
        "killed by SIGKILL",
    ),
    "thread-exits-while-function-blocks": (
        "import os, threading, time\n"
        "threading.Timer(0.2, lambda: os._exit(0)).start()\n"
        "def f(x):\n    time.sleep(10)\n",
        Verdict.RUNTIME_ERROR,
        "exited before the test code finished, exit status 0",
    ),
    "atexit-os-exit": (
        "import atexit, os\natexit.register(lambda: os._exit(0))\n" + WRONG_F,
        Verdict.WRONG_ANSWER,
        "AssertionError",
    ),
    "rebind-builtin-assertionerror": (
        "import builtins\nbuiltins.AssertionError = type('Swallowed', (Exception,), {})\n" + WRONG_F,
        Verdict.WRONG_ANSWER,
        "AssertionError",
    ),
    "excepthook-exits-zero": (
        "import os, sys\nsys.excepthook = lambda *a: os._exit(0)\n" + WRONG_F,
        Verdict.WRONG_ANSWER,
        "AssertionError",
    ),
    "close-result-pipe": (
        "import os\nos.close(3)\n" + WRONG_F,
        Verdict.RUNTIME_ERROR,
        "exited before the test code finished, exit status 1",
    ),
    "patch-builtins-compile": (
        "import builtins\n_compile = builtins.compile\n"
        "builtins.compile = lambda source, name, mode, *a, **k: _compile('pass', name, mode)\n" + WRONG_F,
        Verdict.WRONG_ANSWER,
        "AssertionError",
    ),
    "patch-builtins-exec": (
        "import builtins\nbuiltins.exec = lambda *a, **k: None\n" + WRONG_F,
        Verdict.WRONG_ANSWER,
        "AssertionError",
    ),
    "patch-harness-globals": (
        "import __main__, os\n__main__.exec = __main__.compile = lambda *a, **k: None\n"
        "os.read = lambda fd, n: b'forged'\n" + WRONG_F,
        Verdict.WRONG_ANSWER,
        "AssertionError",
    ),
    "steal-proof-secret-from-frames": (
        "import json, os, sys\n"
        "frame = sys._getframe()\n"
        "while frame is not None and not isinstance(frame.f_locals.get('secret'), str):\n"
        "    frame = frame.f_back\n"
        "if frame is not None:\n"
        "    os.write(3, json.dumps({'proof': frame.f_locals['secret']}).encode())\n"
        "    os._exit(0)\n" + WRONG_F,
        Verdict.WRONG_ANSWER,
        "AssertionError",
    ),
    "steal-proof-secret-from-any-object": (
        # Every 32-hex-digit string or bytes in any frame's locals or any object gc knows, forged as proof.
        "import gc, json, os, re, sys\n"
        "pattern = re.compile(r'[0-9a-f]{32}')\n"
        "seen = []\n"
        "def look(value):\n"
        "    if isinstance(value, bytes):\n        value = value.decode('latin-1')\n"
        "    if isinstance(value, str):\n        seen.extend(pattern.findall(value))\n"
        "frame = sys._getframe()\n"
        "while frame is not None:\n"
        "    for v in list(frame.f_locals.values()):\n        look(v)\n"
        "    frame = frame.f_back\n"
        "for obj in gc.get_objects():\n"
        "    if isinstance(obj, dict):\n        [look(v) for v in list(obj.values())]\n"
        "    elif isinstance(obj, (list, tuple)):\n        [look(v) for v in obj]\n"
        "if seen:\n"
        "    os.write(3, json.dumps({'proof': seen[-1]}).encode())\n"
        "    os._exit(0)\n" + WRONG_F,
        Verdict.WRONG_ANSWER,
        "AssertionError",
    ),
}


@pytest.mark.parametrize("attack", list(COMPLETION_ATTACKS), ids=list(COMPLETION_ATTACKS))
def test_assert_completion_cannot_be_faked(box, attack):
    """An assert test passes only if its code ran to the end: exiting early or tampering never passes."""
    program, verdict, detail = COMPLETION_ATTACKS[attack]
    result = run1(box, program, AssertCase(ASSERTS))
    assert_verdict(result, verdict, detail)


def test_always_equal_objects_fool_neither_asserts_nor_call_cases(box):
    """`assert f(x) == y` runs in the tests' process, and only plain values cross from the program's:
    an object whose __eq__ is always True never reaches the comparison. A CallCase's result is compared
    on the host, after it crossed as JSON. Both are wrong answers that name the type."""
    program = "class AlwaysEqual:\n    def __eq__(self, other):\n        return True\ndef f(x):\n    return AlwaysEqual()\n"
    result = run1(box, program, AssertCase(ASSERTS))
    assert_verdict(result, Verdict.WRONG_ANSWER, "returned a AlwaysEqual, which is not a plain value")
    result = run1(box, program, CallCase("f", [1], 3))
    assert_verdict(result, Verdict.WRONG_ANSWER, "returned a AlwaysEqual, which is not JSON-serialisable")


def test_a_program_written_against_the_harness_cannot_forge_an_assert_proof(box):
    """The attack that read the old in-process proof: the secret's pipe (fd 4) and the report pipe
    (fd 3) belonged to the program's own process. Now they belong to the tests' process only: in the
    program's process fd 3 and 4 are its call pipes, so the attack fails (tests/test_sandbox_assert_isolation.py
    tries many more)."""
    program = (
        "import os\nproof = os.read(4, 64)\nos.write(3, b'{\"proof\": \"' + proof + b'\"}')\nos._exit(0)\n"
        + WRONG_F
    )
    assert_verdict(run1(box, program, AssertCase(ASSERTS)), Verdict.RUNTIME_ERROR, "Bad file descriptor")
    calls = [CallCase("f", [1], 3), CallCase("f", [2], 4)]
    assert [t.verdict for t in box.run(program, calls).tests] == [Verdict.RUNTIME_ERROR] * 2


def test_forged_reports_from_the_program_process_are_runtime_errors(box):
    """Writing report-shaped bytes to every descriptor the program's process has, then exiting: nothing
    reaches the tests' report pipe, and the tests' process sees the program gone (or garbled)."""
    program = (
        "import os\ndef f(x):\n    return x\n"
        "for fd in range(3, 20):\n"
        "    for payload in (b'1', b'{\"proof\": \"0\"}', b'\\x00\\x00\\x00\\x0c{\"value\": 1}'):\n"
        "        try:\n            os.write(fd, payload)\n        except OSError:\n            pass\n"
        "os._exit(0)\n"
    )
    try:
        result = run1(box, program, AssertCase("assert f(1) == 1"))
        assert result.verdict is Verdict.RUNTIME_ERROR, explain(result)
        assert result.detail in (
            "exited before the test code finished, exit status 0",
            "the program's process sent an answer the harness cannot read",
        ), explain(result)
    finally:
        assert_healthy(box)


def test_assert_case_controls(box):
    """Control: the correct program passes, the honest wrong one is wrong_answer with the assertion."""
    assert_verdict(run1(box, "def f(x):\n    return x + 2\n", AssertCase(ASSERTS)), Verdict.PASSED)
    result = run1(box, WRONG_F, AssertCase(ASSERTS))
    assert_verdict(result, Verdict.WRONG_ANSWER, "AssertionError")


# ---------------------------------------------------------------- forged harness reports


@pytest.mark.parametrize(
    ("payload", "case"),
    [
        (b"1", StdioCase("", "x\n")),
        (b'"text"', StdioCase("", "x\n")),
        (b'{"error": 1}', StdioCase("", "x\n")),
        (b'{"return": 5}', CallCase("f", [1], 1)),
    ],
    ids=[
        "number-stdio",
        "string-stdio",
        "error-not-an-object-stdio",
        "non-string-return-call",
    ],  # assert tests: test_forged_reports_from_the_program_process_are_runtime_errors
)
def test_forged_harness_report_is_runtime_error(box, payload, case):
    """A program forging a malformed report on fd 3 and exiting gets runtime_error; the host never raises."""
    program = f"import os\ndef f(x):\n    return x\nos.write(3, {payload!r})\nos._exit(0)\n"
    try:
        result = run1(box, program, case)
        assert_verdict(result, Verdict.RUNTIME_ERROR, "fd 3 held a report the harness did not write")
    finally:
        assert_healthy(box)


# ---------------------------------------------------------------- a worker lost mid-batch (local only)


def _bwrap_children() -> set[int]:
    """Our own child processes that are bubblewrap."""
    me = str(os.getpid())
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = f.read().rsplit(")", 1)[1].split()[1]
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read().split(b"\0")[0]
        except (OSError, IndexError):
            continue
        if parent == me and os.path.basename(command) == b"bwrap":
            found.add(int(entry))
    return found


def _own_pids_cgroups() -> set[Path]:
    """The pids cgroups the local backend made for this process's workers (only when run as root)."""
    base = Path("/sys/fs/cgroup/pids")
    if not base.is_dir():
        base = Path("/sys/fs/cgroup")
    return set(base.glob(f"coder-rl-sandbox-{os.getpid()}-*"))


def _remove_leaked_cgroups(cgroups: set[Path]) -> None:
    """Remove cgroups whose worker is gone: PidsCgroup.remove gives up on a worker killed from outside,
    because it tries once, while the killed namespace is still being torn down (EBUSY)."""
    for cgroup in cgroups:
        deadline = time.monotonic() + 5
        while cgroup.exists() and time.monotonic() < deadline:
            try:
                cgroup.rmdir()
            except OSError:
                time.sleep(0.05)


def test_worker_killed_from_the_host_mid_batch(local_box):
    """Killing a worker from outside mid-batch costs nothing: the test in flight runs again on a fresh
    worker and gets its own verdict there, and the rest pass."""
    before, cgroups_before = _bwrap_children(), _own_pids_cgroups()
    try:
        _kill_worker_mid_batch(local_box, before)
    finally:
        _remove_leaked_cgroups(_own_pids_cgroups() - cgroups_before)


def _kill_worker_mid_batch(local_box, before: set[int]) -> None:
    with Sandbox(backend="local", workers=1, limits=local_box.limits) as box:
        (worker,) = _bwrap_children() - before
        marker = new_marker()
        slow = (
            "import os\n"
            f"pid = os.fork()\nif pid == 0:\n    os.execvp('sleep', ['sleep', '{marker}'])\n"
            "os.waitpid(pid, 0)\nprint('slow')"
        )
        batch = [(slow, [StdioCase("", "slow\n")])] + [
            ("print(input())", [StdioCase(f"{i}\n", f"{i}\n")]) for i in range(3)
        ]
        results: list = []
        runner = threading.Thread(target=lambda: results.extend(box.run_batch(batch)))
        runner.start()
        deadline = time.monotonic() + 10
        while not processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert processes_with(marker), "the slow program never started"
        os.kill(worker, signal.SIGKILL)
        runner.join(30)
        assert not runner.is_alive()
        assert wait_until_gone(marker) == []
        # the slow program's own verdict, from its second run (it sleeps past the wall limit there)
        assert [r.verdict for r in results] == [Verdict.TIMEOUT] + [Verdict.PASSED] * 3, [
            r.to_dict() for r in results
        ]
        assert "retried on a fresh worker: worker exited" in results[0].tests[0].detail
        assert_healthy(box)


# ---------------------------------------------------------------- sanity of this file's helpers


def test_marker_processes_are_found():
    """Control for the stray-process checks: a `sleep <marker>` on the host is found, then gone."""
    marker = new_marker()
    process = subprocess.Popen(["sleep", marker])
    try:
        deadline = time.monotonic() + 5
        while not processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert processes_with(marker) == [process.pid]
    finally:
        process.kill()
        process.wait()
    assert wait_until_gone(marker) == []
