"""Soak test of the sandbox: hostile and ordinary programs for `--minutes`, under CPU contention, through
`Sandbox.run_batch` and through a real `coder-rl serve` over HTTP, counting everything that must stay zero.

    python scripts/soak_sandbox.py [--minutes 30] [--backend local|docker] [--contention N] [--workers N]
                                   [--http-clients 2] [--no-http] [--seed 0] [--json soak.json]

- contention: N busy-loop processes beside the run (default one per core);
- programs (each kind has the verdict it must get): correct and wrong answers on stdin, call and assert
  tests; timeouts (CPU spin, sleep); memory bombs (list growth, bytearray, memfds written one after
  another); an output flood; a fork bomb; programs that leave a daemon behind (setsid'd child);
- direct: one thread runs batches through `Sandbox.run_batch`, reopening its Sandbox every `--reopen-s`
  seconds to check that each close leaves no cgroup, fd or process behind;
- HTTP: `--http-clients` threads, each on its own keep-alive connection, post `/v1/execute` to a
  `coder-rl serve` subprocess started here (its log is shown if it dies);
- figures: batches and tests run, tests/s, verdicts by kind, unexpected verdicts (by kind, with the first
  example), exceptions from run_batch, HTTP 5xx, other HTTP errors, connection resets, cgroups, fds,
  processes (the worker's command-line marker) and containers left after close, and host memory
  (MemAvailable, this process's and the server's RSS, sampled each minute: first, last, max).

One progress line a minute; Ctrl-C (or SIGTERM) stops the load, closes everything and prints the figures.
Exit status: 0 if every zero-figure is zero, 1 if one is not, 2 if the soak could not start, 130 if
interrupted with all zero-figures at zero.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sandbox import AssertCase, CallCase, Limits, Sandbox, StdioCase  # noqa: E402

LIMITS = {"time_s": 1.0, "wall_s": 3.0, "memory_mb": 256, "output_bytes": 1 << 20}
WORKER_MARKER = b"The warm worker: a long-lived interpreter"  # in every worker's (and its forks') cmdline
CONTENTION_MARKER = "coder-rl-soak-contention"
CGROUP_ROOT = "/sys/fs/cgroup"


# ---------------------------------------------------------------- what runs, and what it must get


@dataclass(frozen=True)
class Kind:
    name: str
    family: str  # the tests it runs on: stdin, call or assert
    program: str
    expected: str  # the verdict every test must get
    detail: str = ""  # ... with this in its detail
    heavy: bool = False  # runs to a limit: fewer of them, one test each


DOUBLE = "def double(n):\n    return 2 * n\n"
DAEMON = (
    "import os, sys, time\nn = int(input())\n"
    "if os.fork() == 0:\n    os.setsid()\n    time.sleep(600)\n    os._exit(0)\n"
    "print(2 * n)\nsys.stdout.flush()\n"
)
# One memfd after another, each written until the file-size limit stops it: memory that no address-space
# limit sees (the pages belong to the files, not to the process's mappings).
MEMFD = (
    "import os\nchunk = b'x' * (1 << 20)\nfds = []\n"
    "while True:\n    fds.append(os.memfd_create('bomb'))\n"
    "    try:\n        while True:\n            os.write(fds[-1], chunk)\n"
    "    except OSError as exc:\n        if exc.errno != 27:  # EFBIG: this one is full, take another\n"
    "            raise\n"
)
KINDS = [
    Kind("correct", "stdin", "print(2 * int(input()))", "passed"),
    Kind("wrong", "stdin", "print(2 * int(input()) + 1)", "wrong_answer"),
    Kind("call_correct", "call", DOUBLE, "passed"),
    Kind("call_wrong", "call", "def double(n):\n    return n + 1\n", "wrong_answer"),
    Kind("assert_correct", "assert", DOUBLE, "passed"),
    Kind("assert_wrong", "assert", "def double(n):\n    return n * n\n", "wrong_answer"),
    Kind("daemon", "stdin", DAEMON, "passed", detail="worker replaced"),
    Kind("timeout_spin", "stdin", "while True:\n    pass\n", "timeout", heavy=True),
    Kind("timeout_sleep", "stdin", "import time\ntime.sleep(600)\n", "timeout", heavy=True),
    Kind(
        "memory_list",
        "stdin",
        "l = []\nwhile True:\n    l.append([0] * 100_000)\n",
        "memory_exceeded",
        heavy=True,
    ),
    Kind(
        "memory_bytearray", "stdin", "x = bytearray(1 << 30)\nprint(len(x))\n", "memory_exceeded", heavy=True
    ),
    Kind("memory_memfd", "stdin", MEMFD, "memory_exceeded", heavy=True),
    Kind(
        "output_flood",
        "stdin",
        "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n",
        "output_limit",
        heavy=True,
    ),  # fmt: skip
    Kind("fork_bomb", "stdin", "import os\nwhile True:\n    os.fork()\n", "runtime_error", heavy=True),
]
LIGHT = [k for k in KINDS if not k.heavy]
HEAVY = [k for k in KINDS if k.heavy]


def tests_for(family: str, rng: random.Random, count: int) -> list:
    numbers = [rng.randrange(2, 10_000) for _ in range(count)]
    if family == "stdin":
        return [StdioCase(f"{n}\n", f"{2 * n}\n") for n in numbers]
    if family == "call":
        return [CallCase("double", [n], 2 * n) for n in numbers]
    return [AssertCase(f"assert double({n}) == {2 * n}\n") for n in numbers]


class Rotation:
    """The heavy kinds in turn, so that a short run still meets each of them."""

    def __init__(self, start: int) -> None:
        self.next, self.lock = start, threading.Lock()

    def take(self) -> Kind:
        with self.lock:
            kind = HEAVY[self.next % len(HEAVY)]
            self.next += 1
            return kind


def direct_batch(rng: random.Random, heavy: Rotation) -> list[tuple[Kind, list]]:
    """Every light kind once or twice, and two heavy ones; each program with its own tests."""
    kinds = [k for k in LIGHT for _ in range(rng.choice((1, 2)))] + [heavy.take(), heavy.take()]
    rng.shuffle(kinds)
    return [(k, tests_for(k.family, rng, 1 if k.heavy else 2)) for k in kinds]


def http_requests(rng: random.Random, heavy: Rotation) -> list[tuple[list[Kind], list]]:
    """One request per test family (a request's programs share its tests); a heavy kind rides with stdin."""
    out = []
    for family in ("stdin", "call", "assert"):
        kinds = [k for k in LIGHT if k.family == family]
        if family == "stdin":
            kinds.append(heavy.take())
        rng.shuffle(kinds)
        out.append((kinds, tests_for(family, rng, 2)))
    return out


# ---------------------------------------------------------------- figures


@dataclass
class Figures:
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    batches: Counter = field(default_factory=Counter)  # by path: direct, http
    tests: Counter = field(default_factory=Counter)
    verdicts: dict[str, Counter] = field(default_factory=dict)  # kind -> verdict -> tests
    unexpected: Counter = field(default_factory=Counter)  # by kind
    first_unexpected: dict[str, str] = field(default_factory=dict)
    zero: Counter = field(default_factory=Counter)  # figures that must stay zero, besides `unexpected`
    first: dict[str, str] = field(default_factory=dict)  # the first example of each
    samples: dict[str, list[float]] = field(default_factory=dict)  # each minute: memory (MB), fds, cgroups

    def judge(self, path: str, kind: Kind, verdict: str, detail: str, context: str = "") -> None:
        with self.lock:
            self.tests[path] += 1
            self.verdicts.setdefault(kind.name, Counter())[verdict] += 1
            if verdict != kind.expected or kind.detail not in detail:
                self.unexpected[kind.name] += 1
                self.first_unexpected.setdefault(
                    kind.name, f"{path}: {verdict} ({detail[:200]!r}), expected {kind.expected}; {context}"
                )

    def count(self, figure: str, example: str, n: int = 1) -> None:
        if n <= 0:
            return
        with self.lock:
            self.zero[figure] += n
            self.first.setdefault(figure, example[:2000])

    def batch(self, path: str) -> None:
        with self.lock:
            self.batches[path] += 1

    def sample(self, name: str, value: float | None) -> None:
        if value is not None:
            with self.lock:
                self.samples.setdefault(name, []).append(value)

    def zero_figures(self) -> dict[str, int]:
        figures = {
            name: self.zero[name]
            for name in (
                "run_batch_exceptions", "http_5xx", "http_other_errors", "connection_resets", "serve_crashes",
                "cgroups_left", "fds_left", "processes_left", "containers_left",
            )
        }  # fmt: skip
        return {"unexpected_verdicts": sum(self.unexpected.values()), **figures}

    def summary(self, interrupted: bool, setup_error: str | None) -> dict[str, Any]:
        elapsed = time.monotonic() - self.started
        tests = sum(self.tests.values())
        samples = {
            name: {"first": round(v[0]), "last": round(v[-1]), "min": round(min(v)), "max": round(max(v))}
            for name, v in self.samples.items()
        }
        return {
            "elapsed_s": round(elapsed, 1),
            "interrupted": interrupted,
            "setup_error": setup_error,
            "batches": dict(self.batches),
            "tests": dict(self.tests),
            "tests_per_s": round(tests / elapsed, 2) if elapsed > 0 else 0.0,
            "zero_figures": self.zero_figures(),
            "unexpected_by_kind": dict(self.unexpected),
            "first_unexpected": self.first_unexpected,
            "first_examples": self.first,
            "verdicts_by_kind": {kind: dict(c) for kind, c in sorted(self.verdicts.items())},
            "samples": samples,
        }

    def progress(self) -> str:
        elapsed = time.monotonic() - self.started
        tests = sum(self.tests.values())
        zero = self.zero_figures()
        mem = {name: v[-1] for name, v in self.samples.items() if v}
        return (
            f"[{elapsed / 60:5.1f} min] batches {sum(self.batches.values())} "
            f"(direct {self.batches['direct']}, http {self.batches['http']})  tests {tests}  "
            f"{tests / max(elapsed, 1e-9):.1f} tests/s  "
            + "  ".join(f"{name} {value}" for name, value in zero.items() if value or name in (
                "unexpected_verdicts", "run_batch_exceptions", "http_5xx", "connection_resets"))
            + f"  MemAvailable {mem.get('mem_available', 0):.0f} MB  RSS {mem.get('rss_self', 0):.0f} MB"
            + (f"  serve RSS {mem['rss_serve']:.0f} MB" if "rss_serve" in mem else "")
        )  # fmt: skip


# ---------------------------------------------------------------- the host: fds, cgroups, processes, memory


def fd_targets() -> dict[str, str]:
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            out[fd] = os.readlink(f"/proc/self/fd/{fd}")
    return out


def non_socket_fds() -> set[tuple[str, str]]:
    """This process's fds other than sockets (HTTP clients open and close those at any time)."""
    return {(fd, target) for fd, target in fd_targets().items() if not target.startswith("socket:")}


def cgroups_of(pid: int) -> set[str]:
    pattern = f"coder-rl-sandbox-{pid}-*"
    return set(glob.glob(f"{CGROUP_ROOT}/*/{pattern}") + glob.glob(f"{CGROUP_ROOT}/{pattern}"))


def meminfo_mb(key: str) -> float | None:
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return None


def rss_mb(pid: int | str) -> float | None:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def count_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def processes() -> dict[int, tuple[int, bytes, str]]:
    """pid -> (parent, cmdline, cgroup file) for every process of the host."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{entry}/cgroup") as f:
                cgroup = f.read()
        except (OSError, ValueError, IndexError):
            continue
        out[int(entry)] = (parent, cmdline, cgroup)
    return out


def our_processes(owners: set[int], others: set[int] = frozenset()) -> list[int]:
    """Worker processes (and what their programs forked), and bubblewrap, that belong to `owners`: by the
    cgroup named after the owner (root hosts) or by descent from a live owner, not through `others` (the
    server is this process's child, but its workers are its own)."""
    table = processes()
    found = []
    owner_cgroup = re.compile(r"coder-rl-sandbox-(\d+)-")
    for pid, (_, cmdline, cgroup) in table.items():
        mine = any(int(m) in owners for m in owner_cgroup.findall(cgroup)) or _descends(
            pid, owners, others, table
        )
        bwrap = cmdline.split(b"\0", 1)[0].endswith(b"bwrap")
        if mine and (WORKER_MARKER in cmdline or bwrap) and pid not in owners:
            found.append(pid)
    return found


def _descends(pid: int, owners: set[int], others: set[int], table: dict) -> bool:
    seen = set()
    while pid in table and pid not in seen and pid not in others:
        seen.add(pid)
        pid = table[pid][0]
        if pid in owners:
            return True
    return False


def settle(probe, timeout: float = 10.0):
    """`probe()` once it is empty, or whatever it still finds after `timeout` (killed things take a moment)."""
    deadline = time.monotonic() + timeout
    while (found := probe()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


class Docker:
    """The docker backend's containers, by owner (label `host:pid`)."""

    def __init__(self) -> None:
        import docker

        from sandbox.backends.docker_containers import LABEL

        self.client, self.label, self.host = docker.from_env(), LABEL, socket.gethostname()

    def containers(self, owners: set[int]) -> list:
        wanted = {f"{self.host}:{pid}" for pid in owners}
        return [
            c
            for c in self.client.containers.list(all=True, filters={"label": self.label})
            if c.labels.get(self.label) in wanted
        ]

    def close(self) -> None:
        self.client.close()


def pdeathsig(sig: int):
    """For Popen: the child gets `sig` if this process dies first, so a killed soak leaves nothing running."""

    def set_it() -> None:
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL(None).prctl(1, sig, 0, 0, 0)  # PR_SET_PDEATHSIG

    return set_it


# ---------------------------------------------------------------- the load


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.figures = Figures()
        self.stop = threading.Event()
        self.interrupted = False
        self.limits = Limits(**LIMITS)
        self.threads: list[threading.Thread] = []
        self.contention: list[subprocess.Popen] = []
        self.serve: subprocess.Popen | None = None
        self.serve_log = tempfile.NamedTemporaryFile("w+", prefix="soak-serve-", suffix=".log", delete=False)
        self.url = ""
        self.docker = Docker() if args.backend == "docker" else None

    # -- direct

    def direct_loop(self, seed: int) -> None:
        rng, heavy = random.Random(seed), Rotation(seed)
        while not self.stop.is_set():
            fds_before, cgroups_before = non_socket_fds(), cgroups_of(os.getpid())
            try:
                box = Sandbox(backend=self.args.backend, workers=self.args.workers, limits=self.limits)
            except Exception:
                self.figures.count("run_batch_exceptions", "opening a Sandbox: " + traceback.format_exc())
                self.stop.wait(5)
                continue
            reopen_at = time.monotonic() + self.args.reopen_s
            try:
                while not self.stop.is_set() and time.monotonic() < reopen_at:
                    batch = direct_batch(rng, heavy)
                    names = ", ".join(k.name for k, _ in batch)
                    try:
                        results = box.run_batch([(k.program, tests) for k, tests in batch])
                    except Exception:
                        self.figures.count("run_batch_exceptions", traceback.format_exc())
                        continue
                    self.figures.batch("direct")
                    for (kind, tests), result in zip(batch, results, strict=True):
                        if len(result.tests) != len(tests):
                            self.figures.count(
                                "run_batch_exceptions", f"{kind.name}: {len(result.tests)} results"
                            )
                        for test in result.tests:
                            context = f"wall {test.wall_s} s, stderr {test.stderr[-300:]!r}; batch: {names}"
                            self.figures.judge("direct", kind, test.verdict.value, test.detail, context)
            finally:
                box.close()
            self.check_after_close(fds_before, cgroups_before)

    def check_after_close(self, fds_before: set, cgroups_before: set) -> None:
        me = os.getpid()
        cgroups = settle(lambda: cgroups_of(me) - cgroups_before)
        self.figures.count("cgroups_left", f"after a Sandbox closed: {sorted(cgroups)}", len(cgroups))
        fds = settle(lambda: non_socket_fds() - fds_before, timeout=2)
        self.figures.count("fds_left", f"after a Sandbox closed: {sorted(fds)}", len(fds))
        others = {self.serve.pid} if self.serve is not None else set()
        left = settle(lambda: our_processes({me}, others))
        self.figures.count("processes_left", f"after a Sandbox closed: pids {left}", len(left))

    # -- HTTP

    def start_serve(self) -> str | None:
        """Start `coder-rl serve`; None when it answers /health, else why not."""
        import httpx

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        sets = {
            "verifier.sandbox.backend": self.args.backend, "verifier.sandbox.workers": self.args.workers,
            **{f"verifier.sandbox.limits.{k}": v for k, v in LIMITS.items()},
            "max_concurrency": max(8, self.args.http_clients), "request_timeout_s": 300,
        }  # fmt: skip
        command = [sys.executable, "-m", "coder_rl.cli.main", "serve", "--port", str(port)]
        for key, value in sets.items():
            command += ["--set", f"{key}={value}"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
        self.serve = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=self.serve_log, stderr=subprocess.STDOUT,
            preexec_fn=pdeathsig(signal.SIGTERM),
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not self.stop.is_set():
            if self.serve.poll() is not None:
                return f"coder-rl serve exited ({self.serve.returncode}):\n{self.serve_tail()}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/health", timeout=5).status_code == 200:
                    return None
            time.sleep(0.5)
        return f"coder-rl serve did not answer /health:\n{self.serve_tail()}"

    def serve_tail(self) -> str:
        self.serve_log.flush()
        return Path(self.serve_log.name).read_text(errors="replace")[-3000:]

    def http_loop(self, seed: int) -> None:
        import httpx

        from coder_rl.serve.client import VerifierClient, VerifierError

        rng, heavy = random.Random(seed), Rotation(seed)
        limits = {"time_s": LIMITS["time_s"], "memory_mb": LIMITS["memory_mb"]}
        with VerifierClient(self.url, timeout=300) as client:  # one keep-alive connection per thread
            while not self.stop.is_set():
                for kinds, tests in http_requests(rng, heavy):
                    if self.stop.is_set():
                        break
                    where = f"POST /v1/execute ({', '.join(k.name for k in kinds)})"
                    try:
                        answer = client.execute([k.program for k in kinds], tests, limits)
                    except VerifierError as exc:
                        figure = "http_5xx" if exc.status >= 500 else "http_other_errors"
                        self.figures.count(
                            figure, f"{where}: {exc}\nserver log:\n{self.serve_tail()[-1500:]}"
                        )
                        continue
                    except httpx.TransportError as exc:
                        self.figures.count("connection_resets", f"{where}: {type(exc).__name__}: {exc}")
                        continue
                    except Exception:
                        self.figures.count("http_other_errors", f"{where}: {traceback.format_exc()}")
                        continue
                    self.figures.batch("http")
                    for kind, result in zip(kinds, answer["results"], strict=True):
                        if len(result["tests"]) != len(tests):
                            self.figures.count(
                                "http_other_errors", f"{kind.name}: {len(result['tests'])} results"
                            )
                        for test in result["tests"]:
                            context = f"wall {test.get('wall_s')} s, stderr {test.get('stderr', '')[-300:]!r}; {where}"
                            self.figures.judge("http", kind, test["verdict"], test.get("detail", ""), context)

    def stop_serve(self) -> None:
        if self.serve is None:
            return
        pid = self.serve.pid
        died = self.serve.poll()
        if died is None:
            self.serve.send_signal(signal.SIGTERM)
            try:
                self.serve.wait(60)
            except subprocess.TimeoutExpired:
                self.serve.kill()
                self.serve.wait()
                self.figures.count("processes_left", "coder-rl serve ignored SIGTERM for 60 s: killed")
        if self.serve.returncode not in (0, -signal.SIGTERM, -signal.SIGKILL):
            when = "during the run" if died is not None else "at shutdown"
            self.figures.count(
                "serve_crashes", f"coder-rl serve exited {self.serve.returncode} {when}:\n{self.serve_tail()}"
            )
        cgroups = settle(lambda: cgroups_of(pid))
        self.figures.count("cgroups_left", f"after coder-rl serve exited: {sorted(cgroups)}", len(cgroups))
        left = settle(lambda: our_processes({pid}))
        self.figures.count("processes_left", f"after coder-rl serve exited: pids {left}", len(left))

    # -- the whole run

    def sample(self) -> None:
        self.figures.sample("mem_available", meminfo_mb("MemAvailable"))
        self.figures.sample("rss_self", rss_mb("self"))
        self.figures.sample("fds_self", count_fds(os.getpid()))
        if self.serve is not None and self.serve.poll() is None:
            self.figures.sample("rss_serve", rss_mb(self.serve.pid))
            self.figures.sample("fds_serve", count_fds(self.serve.pid))
        self.figures.sample("cgroups_live", len(cgroups_of(os.getpid())) + (
            len(cgroups_of(self.serve.pid)) if self.serve is not None else 0))  # fmt: skip

    def run(self) -> int:
        args = self.args
        fds_at_start = fd_targets()
        setup_error = None
        try:
            for _ in range(args.contention):
                self.contention.append(
                    subprocess.Popen(
                        [sys.executable, "-c", "while True:\n    pass", CONTENTION_MARKER],
                        preexec_fn=pdeathsig(signal.SIGKILL),
                    )
                )
            if args.http:
                setup_error = self.start_serve()
            if setup_error is None and not self.stop.is_set():
                # Fail early and plainly if the backend cannot start at all.
                Sandbox(backend=args.backend, workers=1, limits=self.limits).close()
        except Exception as exc:
            setup_error = f"{type(exc).__name__}: {exc}"
        if setup_error is None and not self.stop.is_set():
            self.figures.started = time.monotonic()
            print(
                f"soak: {args.minutes:g} min, backend {args.backend}, {args.workers} workers, "
                f"{args.contention} busy loops, {args.http_clients if args.http else 0} HTTP clients"
                + (f" on {self.url} (log {self.serve_log.name})" if args.http else ""),
                flush=True,
            )
            self.threads = [threading.Thread(target=self.direct_loop, args=(args.seed,), name="direct")]
            if args.http:
                self.threads += [
                    threading.Thread(target=self.http_loop, args=(args.seed + 1 + i,), name=f"http-{i}")
                    for i in range(args.http_clients)
                ]
            for thread in self.threads:
                thread.daemon = True
                thread.start()
            end = self.figures.started + args.minutes * 60
            next_line = self.figures.started + 60
            self.sample()
            while not self.stop.is_set() and (now := time.monotonic()) < end:
                self.stop.wait(min(end, next_line) - now)
                if time.monotonic() >= next_line and not self.stop.is_set():
                    self.sample()
                    print(self.figures.progress(), flush=True)
                    next_line += 60
            self.sample()
        self.stop.set()
        print("soak: stopping (the batches in flight finish by their limits) ...", flush=True)
        for thread in self.threads:
            thread.join(120)
            if thread.is_alive():
                self.figures.count("run_batch_exceptions", f"thread {thread.name} did not stop within 120 s")
        self.stop_serve()
        for process in self.contention:
            process.kill()
            process.wait()
        self.serve_log.close()
        if self.docker is not None:
            owners = {os.getpid()} | ({self.serve.pid} if self.serve else set())
            left = settle(lambda: self.docker.containers(owners))
            self.figures.count("containers_left", f"containers: {[c.name for c in left]}", len(left))
            self.docker.close()
        # Everything is closed: every fd this process opened since the start is gone too.
        extra = settle(lambda: set(fd_targets().items()) - set(fds_at_start.items()), timeout=2)
        self.figures.count("fds_left", f"at the end: {sorted(extra)}", len(extra))
        summary = self.figures.summary(self.interrupted, setup_error)
        report(summary, self.serve_log.name)
        if args.json:
            Path(args.json).write_text(json.dumps(summary, indent=2))
        if setup_error:
            return 2
        if any(summary["zero_figures"].values()):
            return 1
        os.unlink(self.serve_log.name)
        return 130 if self.interrupted else 0


def report(summary: dict[str, Any], serve_log: str) -> None:
    print("\n=== soak figures ===")
    if summary["setup_error"]:
        print(f"could not start: {summary['setup_error']}")
    interrupted = " (interrupted)" if summary["interrupted"] else ""
    print(f"elapsed {summary['elapsed_s'] / 60:.1f} min{interrupted}")
    print(f"batches {summary['batches']}  tests {summary['tests']}  {summary['tests_per_s']} tests/s")
    print("zero-figures:")
    for name, value in summary["zero_figures"].items():
        print(f"  {name:22} {value}{'   <-- not zero' if value else ''}")
    for kind, count in summary["unexpected_by_kind"].items():
        print(f"  unexpected {kind}: {count}; first: {summary['first_unexpected'][kind]}")
    for name, example in summary["first_examples"].items():
        print(f"  first {name}: {example[:1500]}")
    print("verdicts by kind:")
    for kind, verdicts in summary["verdicts_by_kind"].items():
        print(f"  {kind:18} {verdicts}")
    print("sampled each minute (first / last / min / max):")
    for name, v in summary["samples"].items():
        unit = "" if name.startswith(("fds", "cgroups")) else " MB"
        print(f"  {name:14} {v['first']} / {v['last']} / {v['min']} / {v['max']}{unit}")
    if any(summary["zero_figures"].values()):
        print(f"server log: {serve_log}")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--backend", choices=("local", "docker"), default="local")
    parser.add_argument("--contention", type=int, default=os.cpu_count() or 1, help="busy-loop processes")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="workers per sandbox")
    parser.add_argument("--http-clients", type=int, default=2, help="keep-alive connections to the server")
    parser.add_argument("--no-http", dest="http", action="store_false", help="run_batch only, no server")
    parser.add_argument("--reopen-s", type=float, default=60.0, help="reopen the direct Sandbox this often")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    soak = Soak(args)

    def on_signal(signum: int, _frame: Any) -> None:
        if soak.stop.is_set():  # a second Ctrl-C: stop now
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        soak.interrupted = True
        soak.stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return soak.run()


if __name__ == "__main__":
    sys.exit(main())
