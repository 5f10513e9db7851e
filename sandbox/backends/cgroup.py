"""A cgroup per bubblewrap worker, made when the host runs as root (cgroup v1 or v2).

Three limits live here because nothing inside the sandbox can enforce them:
- processes: RLIMIT_NPROC counts per host uid, so the exact per-worker cap is the pids controller;
- memory: RLIMIT_AS misses memory a program holds outside its address space (memfd pages, tmpfs
  files, pipe buffers), so the memory controller caps all of it; its `oom_kill` counter tells the
  worker that the kernel killed a test for memory;
- CPU: rusage misses the time of children a program lets the kernel reap (SIGCHLD ignored), so the
  worker reads the cgroup's CPU counter around each test.
Controllers the host lacks are reported in `missing`, and the sandbox says so at start-up.
"""

from __future__ import annotations

import errno
import functools
import itertools
import os
import signal
import time
import warnings
from pathlib import Path

from sandbox.backends import process_alive

ROOT = Path("/sys/fs/cgroup")
PREFIX = "coder-rl-sandbox-"
_ids = itertools.count()


class WorkerCgroup:
    """One cgroup (one directory per v1 hierarchy) holding a worker and everything it starts."""

    def __init__(self, max_pids: int, memory_bytes: int) -> None:
        v1 = (ROOT / "pids").is_dir()
        controllers = available()
        for base in set(controllers.values()):
            for orphan in base.glob(PREFIX + "*"):  # left by a process killed before it closed
                pid = orphan.name.removeprefix(PREFIX).split("-")[0]
                if pid.isdigit() and not process_alive(int(pid)):
                    _remove(orphan)
        if not controllers:
            raise OSError(errno.ENOENT, "no pids, memory or cpu cgroup controller")
        name = f"{PREFIX}{os.getpid()}-{next(_ids)}"
        self.paths = sorted({base / name for base in controllers.values()})
        for path in self.paths:
            path.mkdir()
        self.missing = [name for name in ("pids", "memory") if name not in controllers]
        self._v1, self._memory, self._memory_bytes = v1, None, 0
        if "memory" in controllers:
            self._memory = controllers["memory"] / name
            if v1:  # a new v1 cgroup starts unlimited: the first fit lowers it
                self._memory_bytes = int((self._memory / "memory.limit_in_bytes").read_text())
        try:
            if "pids" in controllers:
                (controllers["pids"] / name / "pids.max").write_text(str(max_pids))
            self.fit(memory_bytes)
        except OSError:
            self.remove()
            raise
        cpu = controllers.get("cpuacct") or controllers.get("cpu")
        # The counters the worker reads: CPU (nanoseconds in v1's cpuacct.usage, usage_usec in v2's
        # cpu.stat) and OOM kills (v1's memory.oom_control, v2's memory.events).
        self.cpu_counter = _existing(cpu / name / ("cpuacct.usage" if v1 else "cpu.stat")) if cpu else None
        memory = controllers.get("memory")
        self.oom_counter = (
            _existing(memory / name / ("memory.oom_control" if v1 else "memory.events")) if memory else None
        )

    def fit(self, memory_bytes: int) -> None:
        """Cap all the memory of the worker and its tests (no swap to spill into). Raising a v1 limit
        moves the memory+swap cap first, lowering it the memory cap first: memsw may not be below it."""
        if self._memory is None or memory_bytes == self._memory_bytes:
            return
        if self._v1:
            names = ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
            if memory_bytes > self._memory_bytes:
                names.reverse()
            for name in names:
                if (self._memory / name).exists():  # memsw is absent where swap accounting is off
                    (self._memory / name).write_text(str(memory_bytes))
        else:
            (self._memory / "memory.max").write_text(str(memory_bytes))
            if (self._memory / "memory.swap.max").exists():
                (self._memory / "memory.swap.max").write_text("0")
        self._memory_bytes = memory_bytes

    def run_inside(self, command: list[str]) -> list[str]:
        """`command`, started so that it and everything it starts are in the cgroup from the first
        instruction: a shell joins it, then execs. (Not subprocess's preexec_fn: Python code between
        fork and exec is unsafe while other threads start workers too.)"""
        join = 'for f in "$@"; do shift; [ "$f" = -- ] && exec "$@"; echo 0 > "$f" || exit 125; done'
        return [
            "/bin/sh",
            "-c",
            join,
            "sh",
            *(str(path / "cgroup.procs") for path in self.paths),
            "--",
            *command,
        ]

    def remove(self) -> None:
        """Kill whatever is still in the cgroup, then remove it. The worker's --die-with-parent does
        not outlive its change of uid (the kernel checks the dying parent's right to signal it), so
        when bubblewrap dies first, this is what stops the worker."""
        deadline = time.monotonic() + 5
        for path in self.paths:
            while not _remove(path):
                _kill_all(path)
                if time.monotonic() > deadline:
                    warnings.warn(f"could not remove the cgroup {path}", stacklevel=2)
                    return
                time.sleep(0.02)


def _kill_all(path: Path) -> None:
    try:
        pids = (path / "cgroup.procs").read_text().split()
    except OSError:
        return
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


@functools.cache  # the host's hierarchy does not change under us: asked once, not per worker
def available() -> dict[str, Path]:
    """The controllers a worker's cgroup can use here, each with the directory its cgroups go in:
    v1 hierarchies that are mounted, or v2 controllers the root hands to its children (asked for
    first). Empty without root, or where the host keeps cgroups to itself."""
    if os.geteuid() != 0:
        return {}
    if (ROOT / "pids").is_dir():  # v1: a hierarchy per controller
        return {name: ROOT / name for name in ("pids", "memory", "cpuacct") if (ROOT / name).is_dir()}
    try:
        _enable_v2_controllers(("pids", "memory", "cpu"))
        enabled = (ROOT / "cgroup.subtree_control").read_text().split()
    except OSError:
        return {}
    return {name: ROOT for name in ("pids", "memory", "cpu") if name in enabled}


def _enable_v2_controllers(names: tuple[str, ...]) -> None:
    """Ask the root cgroup to hand these controllers to its children; a refusal leaves them missing."""
    for name in names:
        try:
            (ROOT / "cgroup.subtree_control").write_text(f"+{name}")
        except OSError:
            pass


def _existing(path: Path) -> Path | None:
    return path if path.exists() else None


def _remove(path: Path) -> bool:
    try:
        path.rmdir()
    except FileNotFoundError:
        pass
    except OSError:  # still has processes
        return False
    return True
