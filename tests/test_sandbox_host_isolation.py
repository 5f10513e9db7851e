"""The sandbox on a root host: a program cannot touch the host's kernel state, the worker, or other tests.

Written from an outside attack report (machines running as root, as CI, containers and most GPU
nodes do). Each attack runs on both isolating backends through the `box` fixture and asserts:
- it is contained, with a named verdict (the program prints what it managed; the expected output is
  what a contained attack prints);
- the next test on the same worker passes with normal timing;
- the host is unchanged: sysctls, keys, cgroups, processes (`host_unchanged`).
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from sandbox import CallCase, Limits, Sandbox, StdioCase, Verdict
from sandbox.backends import cgroup
from tests.sandbox_helpers import (
    assert_healthy,
    assert_verdict,
    new_marker,
    run1,
    wait_until_gone,
    with_limits,
)

# Host-wide values. (kernel/pid_max is per pid namespace since Linux 6.14, and an ordinary user's
# sandbox, root of its own user namespace, may set its own: not the host's.)
SYSCTLS = (
    "vm/stat_interval",
    "kernel/core_pattern",
    "fs/inotify/max_user_instances",
    "kernel/randomize_va_space",
)
CGROUP_ROOT = Path("/sys/fs/cgroup")
libc = ctypes.CDLL(None, use_errno=True)


def host_snapshot() -> dict:
    """What an escape would change: sysctls, the keys root can see, cgroups that are not a live worker's."""
    sysctls = {name: Path("/proc/sys", name).read_text() for name in SYSCTLS}
    # Keys the host makes meanwhile (session keyrings, host_key's own) come and go; a key owned by a
    # sandbox uid, or one a program planted, would be the sandbox's.
    lines = Path("/proc/keys").read_text().splitlines() if Path("/proc/keys").exists() else []
    keys = sorted(line for line in lines if int(line.split()[5]) >= 2_000_000_000 or "planted" in line)
    cgroups = set()
    for path in CGROUP_ROOT.glob("*/*") if (CGROUP_ROOT / "pids").is_dir() else CGROUP_ROOT.glob("*"):
        if path.is_dir() and not path.name.startswith("coder-rl-sandbox-"):
            cgroups.add(str(path))
    return {"sysctls": sysctls, "keys": keys, "cgroups": cgroups}


def stale_sandbox_cgroups() -> list[str]:
    """Sandbox cgroups holding no process: left behind by a worker that is gone."""
    stale = []
    for procs in CGROUP_ROOT.glob("**/coder-rl-sandbox-*/cgroup.procs"):
        try:
            if not procs.read_text().strip():
                stale.append(str(procs.parent))
        except OSError:
            pass
    return stale


@pytest.fixture
def host_unchanged():
    """Fails the test if the host's kernel state moved while it ran."""
    before = host_snapshot()
    yield
    after = host_snapshot()
    assert after["sysctls"] == before["sysctls"]
    assert after["keys"] == before["keys"]
    assert after["cgroups"] <= before["cgroups"], after["cgroups"] - before["cgroups"]


@pytest.fixture(scope="module")
def solo_box(box: Sandbox):
    """One worker: consecutive runs hit the same worker, so what one test leaves, the next sees."""
    with Sandbox(backend=box.backend, workers=1, limits=box.limits) as solo:
        yield solo


def skip_without_memory_cgroup(box: Sandbox) -> None:
    if box.backend == "local" and "memory" not in cgroup.available():
        pytest.skip("the local backend has no memory cgroup here (an ordinary user, or no cgroup access)")


def assert_next_test_normal(box: Sandbox) -> None:
    """The next test passes, with normal timing: a CPU-bound loop within its limit, a file, a fork."""
    program = (
        "import os\nx = sum(i * i for i in range(200000))\nopen('/tmp/f', 'w').write('x')\n"
        "pid = os.fork()\nif pid == 0:\n    os._exit(0)\nos.waitpid(pid, 0)\nprint(int(input()) * 2)"
    )
    result = run1(box, program, StdioCase("21\n", "42\n"))
    assert_verdict(result, Verdict.PASSED)
    assert result.wall_s < 1.0 and result.cpu_s < 0.5, result.to_dict()


def contained(box: Sandbox, program: str, expected: str = "contained\n", **limits) -> None:
    """The attack prints `expected` when contained; then the same worker runs a normal test normally."""
    result = run1(
        box, program, StdioCase("", expected), limits=with_limits(box, **limits) if limits else None
    )
    assert_verdict(result, Verdict.PASSED)
    assert_next_test_normal(box)


# ---------------------------------------------------------------- who the program is on the host


def test_programs_never_run_as_host_root(box, host_unchanged):
    """As root, the local backend runs programs as an unprivileged host uid with no capabilities."""
    program = (
        "import os\nstatus = open('/proc/self/status').read()\n"
        "caps = [l.split()[1] for l in status.splitlines() if l.startswith(('CapEff', 'CapPrm'))]\n"
        "print(os.getuid() != 0 and os.geteuid() != 0, set(caps) == {'0' * 16}, 0 not in os.getgroups())"
    )
    result = run1(box, program, StdioCase("", "True True True\n"))
    assert_verdict(result, Verdict.PASSED)


def test_workers_have_distinct_uids_on_root_hosts(local_box):
    """Per-uid kernel state (RLIMIT_NPROC, keyrings, inotify quotas) is never shared between workers."""
    if os.geteuid() != 0:
        pytest.skip("an ordinary user's workers are that user, in user namespaces of their own")
    with Sandbox(backend="local", workers=3, limits=local_box.limits) as box:
        program = "import os, time\ntime.sleep(0.3)\nprint(os.getuid())"
        results = box.run_batch([(program, [StdioCase("", "")]) for _ in range(3)])
        uids = {int(r.tests[0].stdout) for r in results}
    assert len(uids) == 3 and min(uids) >= 2_000_000_000, uids


# ---------------------------------------------------------------- host kernel state


def test_host_sysctls_are_read_only(box, host_unchanged):
    """Writing a host sysctl, even its current value, is refused (a changed value would fail the fixture too)."""
    program = (
        "refused = 0\n"
        f"for name in {list(SYSCTLS)!r}:\n"
        "    path = '/proc/sys/' + name\n"
        "    try:\n        value = open(path).read()\n        open(path, 'w').write(value)\n"
        "    except OSError:\n        refused += 1\n"
        f"print('contained' if refused == {len(SYSCTLS)} else 'wrote %d' % ({len(SYSCTLS)} - refused))"
    )
    contained(box, program)


NAMESPACE_ATTACKS = {
    "unshare-user": "import os\nos.unshare(os.CLONE_NEWUSER)",
    "unshare-user-mount": "import os\nos.unshare(os.CLONE_NEWUSER | os.CLONE_NEWNS)",
    "unshare-cgroup": "import os\nos.unshare(os.CLONE_NEWCGROUP)",
    "unshare-net": "import os\nos.unshare(os.CLONE_NEWNET)",
    "clone-newuser": (
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "pid = libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)\n"  # clone(CLONE_NEWUSER | SIGCHLD) on x86_64
        "if pid == 0:\n    os._exit(0)\n"
        "if pid < 0:\n    raise OSError(ctypes.get_errno(), 'clone')\nos.waitpid(pid, 0)"
    ),
    "setns": ("import os\nfd = os.open('/proc/self/ns/user', os.O_RDONLY)\nos.setns(fd, 0)"),
    "mount-cgroup": (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nimport os\nos.makedirs('/tmp/cg', exist_ok=True)\n"
        "if libc.mount(b'cgroup', b'/tmp/cg', b'cgroup', 0, b'pids') != 0:\n"
        "    raise OSError(ctypes.get_errno(), 'mount')"
    ),
    "mount-cgroup2": (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nimport os\nos.makedirs('/tmp/cg', exist_ok=True)\n"
        "if libc.mount(b'cgroup2', b'/tmp/cg', b'cgroup2', 0, None) != 0:\n"
        "    raise OSError(ctypes.get_errno(), 'mount')"
    ),
}


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the clone attack uses x86_64's syscall number")
@pytest.mark.parametrize("attack", list(NAMESPACE_ATTACKS), ids=list(NAMESPACE_ATTACKS))
def test_no_new_namespaces_or_mounts(box, host_unchanged, attack):
    """No user namespace to be root in, no mount: the cgroup hierarchy stays out of reach."""
    program = "try:\n" + "".join(f"    {line}\n" for line in NAMESPACE_ATTACKS[attack].splitlines())
    program += "except (OSError, AttributeError) as exc:\n    print('contained')\nelse:\n    print('escaped')"
    contained(box, program)


def test_worker_cgroup_files_are_out_of_reach(box, host_unchanged):
    """No writable cgroup file anywhere: pids.max, the CPU counter, new cgroups."""
    program = (
        "import os\nwritable = []\n"
        "for root in ('/sys/fs/cgroup', '/run/coder-rl'):\n"
        "    for dirpath, dirs, files in os.walk(root):\n"
        "        for name in files + dirs:\n"
        "            path = os.path.join(dirpath, name)\n"
        "            if os.access(path, os.W_OK):\n                writable.append(path)\n"
        "        try:\n            os.mkdir(os.path.join(dirpath, 'escape'))\n            writable.append(dirpath)\n"
        "        except OSError:\n            pass\n"
        "print('contained' if not writable else writable[:3])"
    )
    contained(box, program)


def test_pids_cap_holds(box, host_unchanged):
    """A program cannot raise its process cap: forking past max_processes fails however it tries."""
    program = (  # the cap counts the worker too: max_processes + 8 in all
        "import os, resource, time\n"
        "try:\n    resource.setrlimit(resource.RLIMIT_NPROC, (10**6, 10**6))\nexcept (ValueError, OSError):\n    pass\n"
        "n = 0\n"
        "for _ in range(400):\n"
        "    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
        "    if pid == 0:\n        time.sleep(2)\n        os._exit(0)\n"
        "    n += 1\n"
        f"print('contained' if n < {box.limits.max_processes + 8} else 'forked %d' % n)"
    )
    result = run1(box, program, StdioCase("", "contained\n"), limits=with_limits(box, wall_s=5.0))
    assert_verdict(result, Verdict.PASSED)
    assert_next_test_normal(box)


def test_cpu_counter_cannot_be_reset(box, host_unchanged):
    """1.7 s of CPU under a 1 s limit is a timeout, whatever the program does to counters first."""
    program = (
        "import os, time\n"
        "for path in ('/run/coder-rl/cpuacct.usage', '/run/coder-rl/cpu.stat', "
        "'/sys/fs/cgroup/cpuacct/cpuacct.usage', '/sys/fs/cgroup/cpu.stat'):\n"
        "    try:\n        open(path, 'w').write('0')\n    except OSError:\n        pass\n"
        "end = time.process_time() + 1.7\nwhile time.process_time() < end:\n    pass\nprint('done')"
    )
    result = run1(box, program, StdioCase("", "done\n"), limits=with_limits(box, time_s=1.0, wall_s=5.0))
    assert_verdict(result, Verdict.TIMEOUT)
    assert_next_test_normal(box)


# ---------------------------------------------------------------- keyrings

KEY_SPEC_USER_KEYRING = -4
SYS_ADD_KEY = {"x86_64": 248, "aarch64": 217}.get(os.uname().machine)
SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}.get(os.uname().machine)


@pytest.fixture
def host_key():
    """A key in root's user keyring, as a host process would have one; removed afterwards."""
    if SYS_ADD_KEY is None:
        pytest.skip("unknown syscall numbers on this architecture")
    description = f"coder-rl-test-{uuid.uuid4().hex}".encode()
    serial = libc.syscall(SYS_ADD_KEY, b"user", description, b"host-secret", 11, KEY_SPEC_USER_KEYRING)
    if serial < 0:
        pytest.skip(f"cannot add a key on this host (errno {ctypes.get_errno()})")
    yield description.decode()
    libc.syscall(SYS_KEYCTL, 21, serial)  # KEYCTL_INVALIDATE


def test_host_keys_are_invisible_and_keyrings_unwritable(box, host_key, host_unchanged):
    """A program neither sees the host's keys nor plants one (keyctl, add_key, request_key refused)."""
    program = (
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nfound = []\n"
        "try:\n    keys = open('/proc/keys').read()\nexcept OSError:\n    keys = ''\n"  # masked: unreadable
        f"if {host_key!r} in keys:\n    found.append('saw the host key')\n"
        f"for spec in (-4, -5, -3, -2):\n"
        f"    if libc.syscall({SYS_ADD_KEY}, b'user', b'planted', b'x', 1, spec) >= 0:\n"
        "        found.append('planted %d' % spec)\n"
        f"if libc.syscall({SYS_KEYCTL}, 0, -4, 0) >= 0:\n    found.append('keyctl')\n"  # KEYCTL_GET_KEYRING_ID
        "print('contained' if not found else found)"
    )
    contained(box, program)
    assert "planted" not in Path("/proc/keys").read_text()


# ---------------------------------------------------------------- per-uid limits shared with the host


def test_inotify_quota_of_host_root_is_untouched(box, host_unchanged):
    """A program exhausting inotify instances uses its own uid's quota, never host root's."""
    if os.geteuid() != 0:
        pytest.skip("an ordinary user's sandbox is that user, and shares its per-uid quotas (documented)")
    program = (
        "import ctypes, time\nlibc = ctypes.CDLL(None, use_errno=True)\nn = 0\n"
        "while n < 100000 and libc.inotify_init() >= 0:\n    n += 1\n"
        "print(n, flush=True)\ntime.sleep(1.5)"
    )
    failures: list[int] = []
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            fd = libc.inotify_init()
            if fd < 0:
                failures.append(ctypes.get_errno())
            else:
                os.close(fd)
            time.sleep(0.02)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        result = run1(box, program, StdioCase("", "x\n"), limits=with_limits(box, wall_s=5.0))
    finally:
        stop.set()
        prober.join()
    assert result.verdict is Verdict.WRONG_ANSWER  # it printed its count, not "x"
    assert failures == [], f"host root could not create inotify instances: errno {failures[:3]}"
    assert_next_test_normal(box)


# ---------------------------------------------------------------- the worker, pid 1, is not the tests' to change

WORKER_ATTACKS = {
    "prlimit-nofile": "import resource\nresource.prlimit(1, resource.RLIMIT_NOFILE, (3, 3))",
    "prlimit-as": "import resource\nresource.prlimit(1, resource.RLIMIT_AS, (20 << 20, 20 << 20))",
    "prlimit-cpu": "import resource\nresource.prlimit(1, resource.RLIMIT_CPU, (0, 0))",
    "prlimit-nproc": "import resource\nresource.prlimit(1, resource.RLIMIT_NPROC, (1, 1))",
    "nice": "import os\nos.setpriority(os.PRIO_PROCESS, 1, 19)",
    "nice-by-user": "import os\nos.setpriority(os.PRIO_USER, 0, 19)",
    "nice-by-group": "import os\nos.setpriority(os.PRIO_PGRP, 1, 19)",
    "sched-idle": "import os\nos.sched_setscheduler(1, os.SCHED_IDLE, os.sched_param(0))",
    "sched-batch": "import os\nos.sched_setscheduler(1, os.SCHED_BATCH, os.sched_param(0))",
    "affinity": "import os\nos.sched_setaffinity(1, {min(os.sched_getaffinity(0))})",
    "oom-score": "open('/proc/1/oom_score_adj', 'w').write('1000')",
}


@pytest.mark.parametrize("attack", list(WORKER_ATTACKS), ids=list(WORKER_ATTACKS))
def test_tests_cannot_change_the_worker(solo_box, host_unchanged, attack):
    """prlimit, nice, scheduling, affinity and OOM score of pid 1 are refused; the next tests run as before."""
    program = "try:\n" + "".join(f"    {line}\n" for line in WORKER_ATTACKS[attack].splitlines())
    program += "except OSError:\n    print('contained')\nelse:\n    print('changed the worker')"
    contained(solo_box, program)
    # Later correct programs: more files than 3, memory over 20 MB, CPU time, a fork, full speed.
    later = (
        "import os\nfiles = [open('/dev/null') for _ in range(20)]\nblock = bytearray(60 << 20)\n"
        "x = sum(range(300000))\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nos.waitpid(pid, 0)\n"
        "print(os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0))"
    )
    for _ in range(2):
        result = run1(solo_box, later, StdioCase("", "0 0\n"))
        assert_verdict(result, Verdict.PASSED)
        assert result.wall_s < 1.0, result.to_dict()


def test_a_worker_changed_anyway_is_replaced():
    """Belt and braces, should a change get past the filter: the worker compares its rlimits, priority,
    scheduling, affinity and OOM score after each test and retires on any change. Shown on the
    unsafe backend, which has no filter; a test lowering its own limits is not a change."""
    with Sandbox(backend="unsafe", workers=1, limits=Limits(time_s=1, memory_mb=256)) as box:
        own = "import resource\nresource.setrlimit(resource.RLIMIT_NOFILE, (50, 50))\nprint('ok')"
        result = run1(box, own, StdioCase("", "ok\n"))
        assert_verdict(result, Verdict.PASSED)
        assert "worker replaced" not in result.detail
        for change in (
            "import os, resource\nresource.prlimit(os.getppid(), resource.RLIMIT_NOFILE, (100, 100))",
            "import os\nos.setpriority(os.PRIO_PROCESS, os.getppid(), 5)",
        ):
            result = run1(box, change + "\nprint('ok')", StdioCase("", "ok\n"))
            assert_verdict(result, Verdict.PASSED, "worker replaced: changed the worker's limits")
            assert_healthy(box)


# ---------------------------------------------------------------- memory held outside the address space

# Each memfd stays under the file-size limit (16 MB), which caps a single one.
HOLD_MEMFDS = (
    "def hold(mb):\n    import os\n    block, fds = b'x' * (1 << 20), []\n"
    "    for i in range(mb):\n        if i % 8 == 0:\n            fds.append(os.memfd_create('x'))\n"
    "        os.write(fds[-1], block)\n    return fds\n"
)
MEMFD_BOMBS = {
    "memfd-write": HOLD_MEMFDS + "fds = hold(480)\nprint('held 480 MB')",
    "memfd-in-children": (
        HOLD_MEMFDS + "import os, time\nfor _ in range(4):\n    if os.fork() == 0:\n        fds = hold(150)\n"
        "        time.sleep(3)\n        os._exit(0)\ntime.sleep(2)\nprint('held 600 MB')"
    ),
    "tmpfs-and-memfd": (
        HOLD_MEMFDS + "block = b'x' * (1 << 20)\n"
        "with open('/dev/shm/big', 'wb') as f:\n    for _ in range(15):\n        f.write(block)\n"
        "fds = hold(400)\nprint('held 415 MB')"
    ),
    "memfd-mmap": (
        "import mmap, os\nmaps = []\n"
        "for _ in range(40):\n    fd = os.memfd_create('x')\n    os.ftruncate(fd, 12 << 20)\n"
        "    m = mmap.mmap(fd, 12 << 20)\n    m.write(b'x' * (12 << 20))\n    os.close(fd)\n    maps.append(m)\n"
        "print('held 480 MB')"
    ),
    "pipe-buffers": (
        "import os, fcntl\npipes = []\n"
        "for _ in range(200):\n    r, w = os.pipe()\n"
        "    try:\n        fcntl.fcntl(w, 1031, 1 << 20)\n    except OSError:\n        pass\n"  # F_SETPIPE_SZ
        "    os.set_blocking(w, False)\n"
        "    try:\n        while True:\n            os.write(w, b'x' * 65536)\n    except BlockingIOError:\n        pass\n"
        "    pipes.append((r, w))\nprint('held the pipes')"
    ),
}


@pytest.mark.parametrize("bomb", list(MEMFD_BOMBS), ids=list(MEMFD_BOMBS))
def test_memory_outside_the_address_space_is_capped(solo_box, host_unchanged, bomb):
    """memfd pages, tmpfs files and pipe buffers count: the test gets memory_exceeded (or fails to
    allocate), never a pass, never sandbox_error, and the worker survives."""
    skip_without_memory_cgroup(solo_box)
    limits = with_limits(solo_box, memory_mb=128, wall_s=10.0)
    result = run1(solo_box, MEMFD_BOMBS[bomb], StdioCase("", "never\n"), limits=limits)
    assert result.verdict in (Verdict.MEMORY_EXCEEDED, Verdict.RUNTIME_ERROR), result.to_dict()
    if bomb != "pipe-buffers":  # pipe buffers may fail to grow first (the kernel's per-user pipe quota)
        assert result.verdict is Verdict.MEMORY_EXCEEDED, result.to_dict()
    assert_next_test_normal(solo_box)


# ---------------------------------------------------------------- docker specifics


def test_docker_keeps_no_logs(box, docker_client):
    """Replies never reach the engine's log: a test printing megabytes leaves nothing on the host's disk."""
    if box.backend != "docker":
        pytest.skip("docker only")
    result = run1(box, "print('x' * 900_000)", StdioCase("", "x" * 900_000 + "\n"))
    assert_verdict(result, Verdict.PASSED)
    containers = docker_client.containers.list(filters={"label": "org.coder-rl.sandbox-worker"})
    assert containers
    for container in containers:
        container.reload()
        assert container.attrs["HostConfig"]["LogConfig"]["Type"] == "none"
        assert not container.attrs.get("LogPath")


def test_a_fork_bomb_in_one_worker_does_not_starve_another(box, host_unchanged):
    """Process caps are per worker (a pids cgroup, or a uid of its own), never a uid shared by all."""
    marker = new_marker()
    bomb = (
        "import os, time\nn = 0\n"
        "while True:\n    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
        f"    if pid == 0:\n        os.execvp('sleep', ['sleep', '{marker}'])\n    n += 1\n"
        "time.sleep(2.5)\nprint('bomb', n)"
    )
    honest = (
        "import os, time\ntime.sleep(0.8)\npids = []\n"
        "for _ in range(20):\n    pid = os.fork()\n    if pid == 0:\n        os._exit(0)\n    pids.append(pid)\n"
        "for pid in pids:\n    os.waitpid(pid, 0)\nprint('ok')"
    )
    limits = with_limits(box, wall_s=6.0)
    results = box.run_batch([(bomb, [StdioCase("", "x\n")]), (honest, [StdioCase("", "ok\n")])], limits)
    assert_verdict(results[1].tests[0], Verdict.PASSED)
    assert wait_until_gone(marker) == []
    assert_healthy(box)


# ---------------------------------------------------------------- any location, /tmp included


def test_sandbox_runs_from_a_virtualenv_under_tmp(tmp_path_factory):
    """An interpreter under /tmp is bound over the scratch tmpfs, not hidden by it, and survives wipes."""
    root = Path("/tmp") / f"coder-rl-venv-{uuid.uuid4().hex[:8]}"
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
        python = str(root / "bin" / "python")
        with Sandbox(
            backend="local", workers=1, limits=Limits(time_s=1, memory_mb=256), python=python
        ) as box:
            for i in range(3):  # each test's wipe of /tmp keeps the interpreter
                program = (
                    "import sys, os\nopen('/tmp/f', 'w').write('x')\nprint(sys.prefix, int(input()) + 1)"
                )
                result = run1(box, program, StdioCase(f"{i}\n", f"{root} {i + 1}\n"))
                assert_verdict(result, Verdict.PASSED)
                assert "worker replaced" not in result.detail
            call = box.run("def f(x):\n    return x * 2\n", [CallCase("f", [4], 8)])
            assert call.verdict is Verdict.PASSED
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=True)


def test_no_stale_cgroups_after_close(local_box):
    """Every worker's cgroup goes with its worker."""
    with Sandbox(backend="local", workers=2, limits=local_box.limits) as box:
        box.run_batch(
            [
                (
                    "import os\nif os.fork() == 0:\n    os.setsid()\n    import time\n    time.sleep(30)\nprint(1)",
                    [StdioCase("", "1\n")],
                )
            ]
            * 4
        )
    assert stale_sandbox_cgroups() == []


def test_memory_cap_follows_each_calls_limits(solo_box):
    """The whole-memory cap is the call's memory_mb (+64 MB for the worker), set per job: a smaller
    limit than the sandbox's catches a smaller memfd, and a larger one lets an honest program use it."""
    skip_without_memory_cgroup(solo_box)
    hold = HOLD_MEMFDS + "fds = hold(int(input()))\nprint('held')"
    small = with_limits(solo_box, memory_mb=64, wall_s=10.0)
    result = run1(solo_box, hold, StdioCase("160\n", "held\n"), limits=small)
    assert_verdict(result, Verdict.MEMORY_EXCEEDED)
    large = with_limits(solo_box, memory_mb=512, wall_s=10.0)
    assert_verdict(run1(solo_box, hold, StdioCase("400\n", "held\n"), limits=large), Verdict.PASSED)
    assert_next_test_normal(solo_box)


def test_a_test_that_grows_the_worker_does_not_shrink_later_tests(solo_box):
    """A big reply may leave the worker's heap larger; every later test would inherit that address
    space under its own RLIMIT_AS. The worker gives it back, or retires: later tests keep their memory."""
    limits = with_limits(solo_box, memory_mb=512)
    bomb = "def f(x):\n    return [[i, str(i)] for i in range(90000)]\n"
    for _ in range(3):
        run1(solo_box, bomb, CallCase("f", [1], [1]), limits=limits)
    need = "b = bytearray(440 << 20)\nprint('ok')\n"
    assert_verdict(run1(solo_box, need, StdioCase("", "ok\n"), limits=limits), Verdict.PASSED)


def test_host_wide_writeback_is_a_no_op(box):
    """sync and syncfs succeed at once without flushing the host's disks; modify_ldt is refused."""
    program = (
        "import ctypes, os, time\nlibc = ctypes.CDLL(None, use_errno=True)\nstart = time.monotonic()\n"
        "os.sync()\nfd = os.open('/usr', os.O_RDONLY)\nrc = libc.syncfs(fd)\n"
        "ldt = libc.syscall(154, 0, None, 0) if os.uname().machine == 'x86_64' else -1\n"
        "print(rc, time.monotonic() - start < 0.05, ldt == -1)"
    )
    assert_verdict(run1(box, program, StdioCase("", "0 True True\n")), Verdict.PASSED)
