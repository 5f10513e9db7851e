"""The local backend: each worker runs under bubblewrap; and the explicit `unsafe` backend for debugging.

Bubblewrap gives the worker new pid, network, IPC, UTS and cgroup namespaces: no network at all, a
read-only view of only the system directories and the Python installation (nothing else on the
host is visible), a fresh /proc and a read-only /dev, and size-capped tmpfs at /tmp and /dev/shm as
scratch, wiped after every test. The worker is pid 1 of its namespace, so it outlives anything the
programs do and can kill what they leave. Inside, the worker installs a seccomp filter
(`sandbox/seccomp.py`) before it reads a program.

Kernel checks compare host uids (sysctls, keyrings, cgroup files, per-user quotas), so who the
worker is on the host matters:
- started by an ordinary user, bubblewrap maps the sandbox into a user namespace of that user, with
  every capability dropped: the worker is that user, no more;
- started by root, no user namespace is made (inside one, the worker would still be host uid 0):
  the worker starts as root with only CAP_SETUID and CAP_SETGID, and its first act is to become an
  unprivileged host uid of its own (`UidLease`), which drops those too. Its cgroup caps its
  processes, memory and CPU.
"""

from __future__ import annotations

import fcntl
import os
import random
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

from sandbox.backends.cgroup import WorkerCgroup
from sandbox.channel import WORKER_SOURCE, ProcessChannel, SandboxUnavailable
from sandbox.limits import Limits, cgroup_memory_bytes
from sandbox.seccomp import build_filter

INSTALL_HINT = (
    "bubblewrap (bwrap) is not installed; install it with `apt-get install bubblewrap` "
    "(or `dnf install bubblewrap`), or pick another backend (docker, or unsafe for debugging only)"
)
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SYSTEM_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
)
MASKED_PROC_FILES = ("/proc/keys", "/proc/key-users", "/proc/kcore", "/proc/timer_list", "/proc/sched_debug")
SANDBOX_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONHASHSEED": "0",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
# Host uids for workers started by root: above login users, subordinate-uid ranges (100000 and up)
# and systemd's container range (up to 1878982656), below 2**31.
UID_BASE = 2_000_000_000
UID_COUNT = 1 << 16
LEASE_DIR = Path("/run/coder-rl-sandbox")


class UidLease:
    """An unprivileged host uid held for one worker's life, so that no two workers (of this process
    or any other on the host) share per-uid kernel state: RLIMIT_NPROC, keyrings, inotify quotas.

    The lease is an exclusive flock on a file named after the uid in a root-only directory; the
    kernel drops it when `release()` closes the file or when this process dies.
    """

    def __init__(self) -> None:
        try:
            LEASE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise SandboxUnavailable(
                f"cannot make {LEASE_DIR} for the workers' uid leases: {exc.strerror}"
            ) from None
        if LEASE_DIR.stat().st_uid != 0 or LEASE_DIR.is_symlink():
            raise SandboxUnavailable(f"{LEASE_DIR} is not a directory owned by root")
        start = random.randrange(UID_COUNT)
        for step in range(UID_COUNT):
            uid = UID_BASE + (start + step) % UID_COUNT
            fd = os.open(LEASE_DIR / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            return
        raise SandboxUnavailable(f"all {UID_COUNT} sandbox uids from {UID_BASE} are in use")

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def python_paths(python: str) -> list[str]:
    """Directories the interpreter needs: its installation, and the virtual environment it runs from."""
    exe = Path(shutil.which(python) or python)
    roots = {str(exe.parent.parent), str(exe.resolve().parent.parent)}
    if exe.resolve() == Path(sys.executable).resolve() or exe == Path(sys.executable):
        roots |= {sys.prefix, sys.base_prefix, sys.exec_prefix}
    return sorted(root for root in roots if not any(root.startswith(d + "/") for d in SYSTEM_DIRS))


def bwrap_command(
    python: str,
    scratch_mb: int,
    extra_ro_binds: tuple[str, ...] = (),
    counters: dict[str, Path] | None = None,
    run_as: int | None = None,
) -> list[str]:
    """The bubblewrap command line for one worker.

    `counters` maps the worker's environment variables (CODER_RL_CPU_COUNTER, CODER_RL_OOM_COUNTER)
    to the cgroup files it reads, bound read-only. With `run_as` (root hosts) no user namespace is
    made and the worker becomes that host uid first thing; otherwise the user namespace maps it to
    whoever runs bubblewrap.
    """
    command = ["bwrap", "--die-with-parent", "--new-session", "--as-pid-1"]
    if run_as is None:
        command += ["--unshare-user", "--cap-drop", "ALL"]
    else:  # what setresuid needs, and only until the worker has used it
        command += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    command += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    command += ["--clearenv"]
    if run_as is not None:
        command += ["--setenv", "CODER_RL_RUN_AS", str(run_as)]
    for name, value in SANDBOX_ENV.items():
        command += ["--setenv", name, value]
    command += ["--setenv", "CODER_RL_SECCOMP", build_filter().hex()]
    # Scratch first, so that an interpreter installed under /tmp is bound over it, not hidden by it.
    size = str(scratch_mb << 20)
    command += ["--proc", "/proc", "--dev", "/dev"]
    for path in MASKED_PROC_FILES:  # as Docker masks them: host keys, kernel memory, timers
        if os.path.exists(path):  # the sandbox's /proc has what the host's kernel offers
            command += ["--ro-bind", "/dev/null", path]
    command += ["--perms", "1777", "--size", size, "--tmpfs", "/tmp"]
    command += ["--perms", "1777", "--size", size, "--tmpfs", "/dev/shm", "--mqueue", "/dev/mqueue"]
    for path in SYSTEM_DIRS:
        if os.path.islink(path):  # merged /usr: /bin -> usr/bin
            command += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            command += ["--ro-bind", path, path]
    for path in SYSTEM_FILES:
        command += ["--ro-bind-try", path, path]
    made: set[str] = set()
    for path in (*python_paths(python), *extra_ro_binds):
        command += _parents(path, made) + ["--ro-bind", path, path]
    for variable, counter in (counters or {}).items():  # the worker's own cgroup counters, read-only
        inside = f"/run/coder-rl/{counter.name}"
        command += _parents(inside, made) + ["--ro-bind", str(counter), inside, "--setenv", variable, inside]
    command += ["--remount-ro", "/dev", "--remount-ro", "/"]  # only the scratch stays writable
    command += ["--chdir", "/tmp", python, "-I", "-c", WORKER_SOURCE]
    return command


def _parents(path: str, made: set[str]) -> list[str]:
    """Directories leading to a bind target, world-searchable: bubblewrap would copy the host's
    modes (/root is 0700), and a worker that is not root could not reach the interpreter."""
    args: list[str] = []
    parents = list(Path(path).parents)[::-1][1:]  # without "/"
    for parent in map(str, parents):
        if parent not in made and not parent.startswith(SYSTEM_DIRS) and parent not in ("/tmp", "/dev"):
            made.add(parent)
            args += ["--perms", "0755", "--dir", parent]
    return args


def start_bwrap_worker(
    python: str, scratch_mb: int, limits: Limits, extra_ro_binds: tuple[str, ...] = ()
) -> ProcessChannel:
    if shutil.which("bwrap") is None:
        raise SandboxUnavailable(INSTALL_HINT)
    if os.geteuid() != 0:
        _warn_once(
            "as an ordinary user, the sandbox has no cgroup: memory is capped by RLIMIT_AS only "
            "(not memfd, tmpfs or pipe buffers) and CPU time of processes the kernel reaps is not counted"
        )
        return ProcessChannel(bwrap_command(python, scratch_mb, extra_ro_binds), env=_host_env())
    lease = UidLease()
    cgroup = None
    try:
        cgroup = WorkerCgroup(limits.max_processes + 8, cgroup_memory_bytes(limits))  # +8: bwrap, the worker
    except OSError as exc:
        _warn_once(
            f"running as root without a writable cgroup ({exc.strerror}): the sandbox's process "
            "cap is per-uid RLIMIT_NPROC and its memory cap is RLIMIT_AS only; give the process "
            "cgroup access (cgroup v1 pids/memory, or v2 with them delegated)"
        )
    if cgroup is not None and cgroup.missing:
        _warn_once(f"the host's cgroups lack {', '.join(cgroup.missing)}: not enforced by a cgroup")
    counters = {}
    if cgroup is not None:
        counters = {"CODER_RL_CPU_COUNTER": cgroup.cpu_counter, "CODER_RL_OOM_COUNTER": cgroup.oom_counter}
        counters = {name: path for name, path in counters.items() if path is not None}

    def close() -> None:
        try:
            if cgroup is not None:
                cgroup.remove()
        finally:
            lease.release()

    command = bwrap_command(python, scratch_mb, extra_ro_binds, counters, run_as=lease.uid)
    try:
        return ProcessChannel(
            cgroup.run_inside(command) if cgroup else command,
            env=_host_env(),
            on_close=close,
            on_fit=cgroup.fit if cgroup else None,
        )
    except BaseException:
        close()
        raise


def _host_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    """Said once per process: every worker of every sandbox would repeat it."""
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, stacklevel=3)


def start_unsafe_worker(python: str) -> ProcessChannel:
    """No isolation at all: the worker runs as you, with your files and network. For debugging."""
    scratch = tempfile.mkdtemp(prefix="coder-rl-unsafe-")
    env = {**SANDBOX_ENV, "HOME": scratch, "TMPDIR": scratch, "CODER_RL_SCRATCH": scratch}
    return ProcessChannel(
        [python, "-I", "-c", WORKER_SOURCE],
        env=env,
        on_close=lambda: shutil.rmtree(scratch, ignore_errors=True),
    )
