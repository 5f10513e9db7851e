"""Workers that die or retire never cost a batch: close() survives a worker that exits under it, the pool
turns a lost or retired worker into one test's verdict, and nothing (process, fd, cgroup) outlives a
Sandbox. The race close() once lost: the worker exits between `poll()` and the exit frame."""

from __future__ import annotations

import gc
import glob
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from concurrent.futures import wait
from pathlib import Path

import pytest

from sandbox import Limits, Sandbox, StdioCase, Verdict
from sandbox.channel import WorkerLost, encode_frame
from sandbox.pool import Job, WorkerPool

LIMITS = Limits(time_s=1.0, wall_s=3.0, memory_mb=256, output_bytes=1 << 20)
DOUBLE = "print(2 * int(input()))"
WORKER_MARKER = b"The warm worker: a long-lived interpreter"  # in every worker's (and its forks') cmdline


def daemon(answer: str) -> str:
    """A program that leaves a setsid'd child sleeping, then prints `answer` and exits."""
    return (
        "import os, sys, time\nn = int(input())\n"
        "if os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\n    os._exit(0)\n"
        f"print({answer})\nsys.stdout.flush()"
    )


def own_cgroups() -> set[str]:
    """This process's worker cgroups (root hosts; v1 controllers or the v2 root)."""
    pattern = f"coder-rl-sandbox-{os.getpid()}-*"
    return set(glob.glob(f"/sys/fs/cgroup/*/{pattern}") + glob.glob(f"/sys/fs/cgroup/{pattern}"))


def open_fds() -> set[str]:
    gc.collect()
    return set(os.listdir("/proc/self/fd"))


def _load_soak():
    """The soak script as a module: its process table is the one these tests read too."""
    path = Path(__file__).resolve().parents[1] / "scripts" / "soak_sandbox.py"
    spec = importlib.util.spec_from_file_location("soak_sandbox", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


host_processes = _load_soak().processes


def worker_processes() -> set[int]:
    """This process's workers, bubblewrap around them, and what their programs forked: processes with the
    worker's code in their command line that run below this process or in a cgroup named after it (other
    sessions on the host have workers of their own)."""
    me, table = os.getpid(), host_processes()

    def below_me(pid: int) -> bool:
        seen = set()
        while pid in table and pid not in seen:
            seen.add(pid)
            pid = table[pid][0]
            if pid == me:
                return True
        return False

    return {
        pid
        for pid, (_, cmdline, cgroup) in table.items()
        if WORKER_MARKER in cmdline and (f"coder-rl-sandbox-{me}-" in cgroup or below_me(pid))
    }


def children() -> set[int]:
    return {pid for pid, (parent, _, _) in host_processes().items() if parent == os.getpid()}


def settle(probe, baseline: set, timeout: float = 10.0) -> set:
    """What `probe()` finds beyond `baseline` once killed processes have had a moment to go."""
    deadline = time.monotonic() + timeout
    while (extra := probe() - baseline) and time.monotonic() < deadline:
        time.sleep(0.05)
    return extra


def miss_the_exit_once(process: subprocess.Popen, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next `poll()` say "running" although the process has exited: the race, made certain."""
    real = process.poll
    missed = []

    def poll():
        if not missed:
            missed.append(True)
            return None
        return real()

    monkeypatch.setattr(process, "poll", poll)


def exited(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Wait until `process` has exited, without reaping it (Popen still thinks it may run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return
        time.sleep(0.01)
    raise AssertionError(f"process {process.pid} did not exit")


@pytest.fixture
def starter():
    """The local backend's worker starter, as the pool uses it; its idle worker is closed first."""
    box = Sandbox(backend="local", workers=1, limits=LIMITS)
    yield box._pool._start_worker
    box.close()


# ---------------------------------------------------------------- close() and the exit race


@pytest.mark.parametrize("how", ["killed", "told to exit"])
def test_close_survives_a_worker_that_exited_after_poll(starter, monkeypatch, how):
    fds, cgroups = open_fds(), own_cgroups()
    channel = starter()
    process = channel._process
    new_cgroups = own_cgroups() - cgroups  # a root host's worker has some (the backend warns if it can't)
    closed = []
    real_on_close = channel._on_close
    channel._on_close = lambda: (closed.append(True), real_on_close and real_on_close())
    if how == "killed":
        os.kill(process.pid, signal.SIGKILL)
    else:
        channel.send(encode_frame({"op": "exit"}))
    exited(process)
    miss_the_exit_once(process, monkeypatch)

    channel.close()  # before the fix: BrokenPipeError flushing stdin, and nothing after it ran

    assert process.returncode is not None
    assert process.stdin.closed and process.stdout.closed
    assert channel._selector.get_map() is None  # the selector (its epoll fd) is closed
    assert channel._stderr.closed
    assert closed == [True]
    assert not (own_cgroups() & new_cgroups)
    assert open_fds() == fds
    channel.close()  # idempotent: nothing runs twice
    assert closed == [True]


def test_close_runs_every_step_when_one_fails(starter):
    fds = open_fds()
    channel = starter()
    calls = []
    real_on_close = channel._on_close

    def on_close():
        calls.append(True)
        if real_on_close:
            real_on_close()

    channel._on_close = on_close
    channel._selector.close()  # a step that will fail: closing it again is fine, so break it instead
    channel._selector = _Broken()
    with pytest.raises(RuntimeError, match="selector is broken"):
        channel.close()
    process = channel._process
    assert process.returncode is not None and process.stdin.closed and process.stdout.closed
    assert channel._stderr.closed and calls == [True]
    assert open_fds() == fds
    channel.close()  # a second close does nothing, and raises nothing
    assert calls == [True]


class _Broken:
    def close(self) -> None:
        raise RuntimeError("selector is broken")


# ---------------------------------------------------------------- the pool: retirement and loss


def test_a_batch_with_daemons_returns_every_result_and_leaves_nothing(monkeypatch):
    """Programs that leave daemons retire their worker after every test; each close is made to lose the
    exit race. Every program still gets its real verdict, and the Sandbox leaves no trace."""
    from sandbox.channel import ProcessChannel

    real_close = ProcessChannel.close

    def close_losing_the_race(self):
        process = getattr(self, "_process", None)
        if process is not None and not getattr(self, "_closed", False):
            deadline = time.monotonic() + 0.5  # a retiring worker exits within milliseconds
            while time.monotonic() < deadline:
                if os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    miss_the_exit_once(process, monkeypatch)
                    break
                time.sleep(0.005)
        return real_close(self)

    monkeypatch.setattr(ProcessChannel, "close", close_losing_the_race)
    fds, cgroups = open_fds(), own_cgroups()
    workers, kids = worker_processes(), children()
    cases = [StdioCase(f"{n}\n", f"{2 * n}\n") for n in range(3)]
    batch = [
        (daemon("2 * n"), cases),
        (DOUBLE, cases),
        (daemon("2 * n + 1"), cases),
        ("print(-1)", cases),
    ] * 4
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Sandbox(backend="local", workers=2, limits=LIMITS) as box:
            results = box.run_batch(batch)
            assert box.run(DOUBLE, cases).verdict is Verdict.PASSED  # the pool is still whole
    assert len(results) == len(batch)
    for (program, _), result in zip(batch, results, strict=True):
        verdicts = [t.verdict for t in result.tests]
        if program == daemon("2 * n"):
            assert verdicts == [Verdict.PASSED] * 3
            assert all("worker replaced: left 1 process(es) running" in t.detail for t in result.tests)
        elif program == daemon("2 * n + 1"):
            assert verdicts == [Verdict.WRONG_ANSWER] * 3
            assert all("worker replaced" in t.detail for t in result.tests)
        elif program == DOUBLE:
            assert verdicts == [Verdict.PASSED] * 3 and all(t.detail == "" for t in result.tests)
        else:
            assert verdicts == [Verdict.WRONG_ANSWER] * 3
    assert not [w for w in caught if "sandbox worker" in str(w.message)], [str(w.message) for w in caught]
    assert settle(worker_processes, workers) == set()
    assert settle(children, kids) == set()
    assert settle(own_cgroups, cgroups) == set()
    assert open_fds() == fds


class _Wrapped:
    """A real worker's channel, with a fault injected."""

    def __init__(self, channel, lose_on_recv: int | None = None, close_fails: bool = False) -> None:
        self.channel, self.lose_on_recv, self.close_fails = channel, lose_on_recv, close_fails
        self.receives = 0

    def send(self, frame: bytes) -> None:
        self.channel.send(frame)

    def fit(self, memory_bytes: int) -> None:
        self.channel.fit(memory_bytes)

    def recv(self, timeout: float):
        self.receives += 1
        if self.receives == self.lose_on_recv:  # its reply may be in the pipe already: say it is lost
            os.kill(self.channel._process.pid, signal.SIGKILL)
            raise WorkerLost("worker exited")
        return self.channel.recv(timeout)

    def close(self) -> None:
        self.channel.close()
        if self.close_fails:
            raise OSError("closing failed")


@pytest.mark.parametrize("retries", [0, 1])
def test_a_lost_worker_costs_at_most_one_test_and_a_failed_close_is_a_warning(starter, retries):
    """The test in flight on a lost worker runs again on a fresh one (`retries`); without a retry it is a
    sandbox_error. Either way the other tests pass."""
    made = []

    def start():
        # The first worker is lost on its third reply (the load's is the first); every close fails.
        made.append(_Wrapped(starter(), lose_on_recv=3 if not made else None, close_fails=True))
        return made[-1]

    cases = [StdioCase(f"{n}\n", f"{2 * n}\n") for n in range(4)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pool = WorkerPool(start, 1, retries=retries)
        result = pool.submit(Job(DOUBLE, cases, LIMITS)).result(timeout=60)
        pool.close()
    verdicts = [t.verdict for t in result.tests]
    lost = Verdict.PASSED if retries else Verdict.SANDBOX_ERROR
    assert verdicts == [Verdict.PASSED, lost, Verdict.PASSED, Verdict.PASSED]
    expected = "(retried on a fresh worker: worker exited)" if retries else "worker exited"
    assert result.tests[1].detail == expected
    assert len(made) == 2
    messages = [str(w.message) for w in caught]
    assert messages.count("closing a sandbox worker failed: OSError: closing failed") == 2, messages


def test_a_test_whose_every_worker_is_lost_is_a_sandbox_error_naming_each_loss(starter):
    """A fault that persists past the retry is ours, reported as such: never a verdict on the program."""
    made = []

    def start():
        made.append(_Wrapped(starter(), lose_on_recv=2 if len(made) < 2 else None))  # lost on its first run
        return made[-1]

    cases = [StdioCase("1\n", "2\n"), StdioCase("2\n", "4\n")]
    pool = WorkerPool(start, 1, retries=1)
    result = pool.submit(Job(DOUBLE, cases, LIMITS)).result(timeout=60)
    pool.close()
    assert [t.verdict for t in result.tests] == [Verdict.SANDBOX_ERROR, Verdict.PASSED]
    assert result.tests[0].detail == "worker exited; worker exited"
    assert len(made) == 3


def test_a_worker_that_retires_before_the_next_request_keeps_its_answer(starter):
    """The worker answers a dirty test and exits before the host queues the next one: the send fails, but
    the answer is in the pipe, so the test keeps its verdict; the next test runs on a fresh worker."""

    class RetiresFirst(_Wrapped):
        runs = 0

        def send(self, frame: bytes) -> None:
            if b'"op": "run"' in frame:
                self.runs += 1
                if self.runs == 2:  # let the first test's worker answer and exit before this one is sent
                    exited(self.channel._process)
            self.channel.send(frame)

    pool = WorkerPool(lambda: RetiresFirst(starter()), 1)
    cases = [StdioCase(f"{n}\n", f"{2 * n}\n") for n in range(3)]
    result = pool.submit(Job(daemon("2 * n"), cases, LIMITS)).result(timeout=60)
    pool.close()
    assert [t.verdict for t in result.tests] == [Verdict.PASSED] * 3, [t.detail for t in result.tests]
    assert all("worker replaced" in t.detail for t in result.tests)


def test_a_worker_that_cannot_be_replaced_costs_tests_not_the_batch(starter):
    starts = []

    def start():
        starts.append(True)
        if len(starts) > 1:
            raise OSError(24, "Too many open files")
        return starter()

    cases = [StdioCase(f"{n}\n", f"{2 * n}\n") for n in range(2)]
    pool = WorkerPool(start, 1)
    retiring = pool.submit(Job(daemon("2 * n"), cases, LIMITS))
    after = pool.submit(Job(DOUBLE, cases[:1], LIMITS))
    first, second = retiring.result(timeout=60).tests
    assert first.verdict is Verdict.PASSED and "worker replaced" in first.detail
    assert second.verdict is Verdict.SANDBOX_ERROR and "could not start a worker: OSError" in second.detail
    assert after.result(timeout=60).tests[0].verdict is Verdict.SANDBOX_ERROR
    pool.close()


def test_a_bug_of_ours_fails_its_own_job_only(starter):
    """A reply the pool cannot read is our bug: it surfaces on that job's future; the others complete."""

    class Garbled(_Wrapped):
        def recv(self, timeout: float):
            reply = self.channel.recv(timeout)
            if "dirty" in reply and reply["stdout"] == "-2\n":
                del reply["dirty"]
            return reply

    pool = WorkerPool(lambda: Garbled(starter()), 1)
    jobs = [Job(DOUBLE, [StdioCase(f"{n}\n", f"{2 * n}\n")], LIMITS) for n in (1, -1, 2)]
    futures = [pool.submit(job) for job in jobs]
    wait(futures, timeout=60)
    assert isinstance(futures[1].exception(), KeyError)
    assert [futures[i].result().verdict for i in (0, 2)] == [Verdict.PASSED, Verdict.PASSED]
    pool.close()


def test_send_to_a_dead_worker_is_worker_lost(starter):
    channel = starter()
    channel.send(encode_frame({"op": "exit"}))
    channel._process.wait(10)
    with pytest.raises(WorkerLost):
        for _ in range(64):  # the first write may still fit in the pipe's buffer
            channel.send(encode_frame({"op": "load", "program": "x" * 4096}))
    channel.close()


# ---------------------------------------------------------------- the soak script, briefly (so it can't rot)

SOAK = [sys.executable, str(Path(__file__).resolve().parents[1] / "scripts" / "soak_sandbox.py")]
RELIABILITY = (
    "run_batch_exceptions", "http_5xx", "http_other_errors", "connection_resets", "serve_crashes",
    "cgroups_left", "fds_left", "processes_left", "containers_left",
)  # fmt: skip


@pytest.mark.slow
def test_the_soak_script_runs_for_a_few_seconds(tmp_path):
    """Both paths run and are counted; nothing fails or is left behind. Verdicts of hostile programs are
    the security tests' business (they are printed here, not checked)."""
    out = tmp_path / "soak.json"
    command = [*SOAK, "--minutes", "0.1", "--workers", "2", "--contention", "1", "--http-clients", "1"]
    done = subprocess.run([*command, "--json", str(out)], capture_output=True, text=True, timeout=600)
    print(done.stdout[-4000:], done.stderr[-4000:])
    assert done.returncode in (0, 1), done.stderr[-2000:]
    summary = json.loads(out.read_text())
    assert summary["batches"]["direct"] > 0 and summary["batches"]["http"] > 0
    assert summary["tests"]["direct"] > 0 and summary["tests"]["http"] > 0
    assert {k: summary["zero_figures"][k] for k in RELIABILITY} == dict.fromkeys(RELIABILITY, 0), summary
    assert summary["verdicts_by_kind"]["correct"] and "=== soak figures ===" in done.stdout
    assert done.returncode == (1 if any(summary["zero_figures"].values()) else 0)


@pytest.mark.slow
def test_the_soak_script_prints_its_figures_when_interrupted(tmp_path):
    out = tmp_path / "soak.json"
    command = [
        *SOAK,
        "--minutes",
        "5",
        "--workers",
        "1",
        "--contention",
        "0",
        "--no-http",
        "--json",
        str(out),
    ]
    soak = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert soak.stdout.readline().startswith("soak: ")  # the load has started
        time.sleep(3)
        soak.send_signal(signal.SIGINT)
        stdout, stderr = soak.communicate(timeout=120)
    finally:
        if soak.poll() is None:
            soak.kill()
    assert soak.returncode in (1, 130), stderr[-2000:]
    assert "=== soak figures ===" in stdout and "(interrupted)" in stdout
    summary = json.loads(out.read_text())
    assert summary["interrupted"] and summary["tests"]["direct"] > 0
