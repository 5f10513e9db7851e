"""A pool of warm workers: one host thread per worker feeds it programs and judges what comes back."""

from __future__ import annotations

import json
import queue
import threading
import warnings
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from sandbox.cases import TestCase, case_kind
from sandbox.channel import Channel, SandboxUnavailable, WorkerLost, encode_frame
from sandbox.judge import judge
from sandbox.limits import Limits, cgroup_memory_bytes
from sandbox.results import ProgramResult, TestResult, Verdict

LOAD_TIMEOUT_S = 30.0
REPLY_GRACE_S = 10.0  # beyond the wall limit, before a silent worker counts as lost
PIPELINE_DEPTH = 2  # run requests queued at a worker
PIPE_BUDGET = 48 * 1024  # bytes queued ahead, below a pipe's 64 KiB buffer


@dataclass(slots=True)
class Job:
    """One program and (a slice of) its tests."""

    program: str
    cases: list[TestCase]
    limits: Limits
    fail_fast: bool = False
    stdout_mode: str = "tokens"


def run_request(case: TestCase, limits: Limits) -> bytes:
    """The bytes that ask a worker to run one test: inputs only, never the expected answer.

    An assert test's source is not in the frame: the frame says how many bytes of it follow, and they
    follow raw, in the same send. The worker passes them to its tests process without reading them, so
    they never enter the memory that later tests' programs inherit (sandbox/worker.py, assert tests).
    """
    request: dict = {"op": "run", "kind": case_kind(case), "limits": limits.to_wire()}
    if case_kind(case) == "stdin":
        request["stdin"] = case.stdin
    elif case_kind(case) == "call":
        request["fn_name"] = case.fn_name
        request["args"] = json.dumps(case.args)
    else:
        source = case.source.encode("utf-8", "surrogatepass")
        request["source_bytes"] = len(source)
        return encode_frame(request) + source
    return encode_frame(request)


class WorkerPool:
    """`size` workers started by `start_worker`; jobs go to whichever worker is free. A test whose worker
    is lost under it runs again on a fresh worker, up to `retries` times, before it is a sandbox_error."""

    def __init__(self, start_worker: Callable[[], Channel], size: int, retries: int = 1) -> None:
        self._start_worker = start_worker
        self._retries = retries
        self._lock = threading.Lock()
        self._closed = False
        self._jobs: queue.SimpleQueue[tuple[Job, Future] | None] = queue.SimpleQueue()
        # Start every worker up front, in parallel, so a broken backend fails here, not mid-batch.
        # Each worker is started by the thread that serves it: bubblewrap's --die-with-parent is
        # tied to the thread that spawned it, so that thread must live as long as the worker.
        started: list[Future[None]] = [Future() for _ in range(size)]
        self._threads = [
            threading.Thread(target=self._serve, args=(ready,), daemon=True, name=f"sandbox-worker-{i}")
            for i, ready in enumerate(started)
        ]
        for thread in self._threads:
            thread.start()
        errors = [f.exception() for f in started if f.exception()]
        if errors:
            self.close()
            raise errors[0]

    def submit(self, job: Job) -> Future[ProgramResult]:
        future: Future[ProgramResult] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the sandbox is closed")
            self._jobs.put((job, future))
        return future

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for _ in self._threads:
                self._jobs.put(None)
        for thread in self._threads:
            thread.join()
        # Jobs another thread queued behind the stop markers will never run: say so.
        while not self._jobs.empty():
            item = self._jobs.get()
            if item is not None and item[1].set_running_or_notify_cancel():
                item[1].set_exception(RuntimeError("the sandbox was closed before this job ran"))

    def _serve(self, ready: Future[None]) -> None:
        seat = _Seat()
        try:
            seat.channel = self._start_worker()
        except BaseException as exc:
            ready.set_exception(exc)
        else:
            ready.set_result(None)
        while (item := self._jobs.get()) is not None:
            job, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = self._run(job, seat)
            except BaseException as exc:  # a bug of ours: surface it on this job's future only
                future.set_exception(exc)
                seat.retire()  # replies may still be queued there: never reuse it
            else:
                future.set_result(result)
            seat.close_retired()  # only now, once the job has its answer: a failure here is a warning
        seat.retire()
        seat.close_retired()

    def _run(self, job: Job, seat: _Seat) -> ProgramResult:
        """Run one job's tests in order, keeping a second request queued at the worker while it runs
        the first, so the worker never waits on this thread's judging.

        A worker that dies, or retires after a dirty test, never fails the job: the rest run on a fresh
        worker. The test in flight on a lost worker runs again there (`retries` times), and is a
        sandbox_error only if that fails too: a fault of ours is never a program's verdict. Workers put
        aside here are closed by the caller once the job's result is out."""
        results: list[TestResult | None] = [None] * len(job.cases)
        faults: dict[int, list[str]] = {}  # test -> why each worker it ran on was lost
        todo = deque(range(len(job.cases)))  # not yet sent
        in_flight: deque[tuple[int, int]] = deque()  # (test, frame size): sent, not yet answered
        loaded = False

        def stop_early() -> bool:
            return job.fail_fast and any(r is not None and not r.passed for r in results)

        def put_aside() -> None:
            nonlocal loaded
            todo.extendleft(index for index, _ in reversed(in_flight))  # sent, never answered: again
            in_flight.clear()
            seat.retire()
            loaded = False

        while todo or in_flight:
            try:
                if seat.channel is None:
                    seat.close_retired()  # the old worker's processes and cgroup go before a new one starts
                    seat.channel = self._start_replacement()
                channel = seat.channel
                if not loaded:
                    channel.fit(cgroup_memory_bytes(job.limits))  # this job's memory_mb, all memory counted
                    channel.send(encode_frame({"op": "load", "program": job.program}))
                    reply = channel.recv(LOAD_TIMEOUT_S)
                    if not reply["loaded"]:
                        error = reply["compile_error"]["line"]
                        return ProgramResult([TestResult(Verdict.COMPILE_ERROR, error) for _ in job.cases])
                    loaded = True
                # Queue ahead only what the pipe holds without blocking: a blocked send while the
                # worker blocks writing a big reply would deadlock.
                while todo and len(in_flight) < PIPELINE_DEPTH and not stop_early():
                    frame = run_request(job.cases[todo[0]], job.limits)  # its size counts the source
                    if in_flight and sum(size for _, size in in_flight) + len(frame) > PIPE_BUDGET:
                        break
                    try:
                        channel.send(frame)
                    except WorkerLost:
                        if not in_flight:
                            raise
                        # It may have answered what it has and retired (a dirty test): read that
                        # first; only if nothing comes is the test it was running lost.
                        break
                    in_flight.append((todo.popleft(), len(frame)))
                if not in_flight:
                    break
                reply = channel.recv(job.limits.wall + REPLY_GRACE_S)
            except (WorkerLost, SandboxUnavailable, OSError) as exc:  # OSError: a socket reset, a dead pipe
                lost = in_flight.popleft()[0] if in_flight else todo.popleft()
                put_aside()
                faults.setdefault(lost, []).append(_lost_detail(exc))
                if len(faults[lost]) <= self._retries:
                    todo.appendleft(lost)  # first in line for the fresh worker
                else:
                    results[lost] = TestResult(Verdict.SANDBOX_ERROR, "; ".join(faults[lost]))
                continue
            index = in_flight.popleft()[0]
            results[index] = judge_safely(job.cases[index], reply, job)
            if reply["dirty"]:  # the worker exits by itself; a fresh one takes its place
                results[index].detail = (
                    results[index].detail + f" (worker replaced: {reply['dirty']})"
                ).strip()
                put_aside()
        for index, why in faults.items():
            result = results[index]
            if result is not None and result.verdict is not Verdict.SANDBOX_ERROR:
                result.detail = f"{result.detail} (retried on a fresh worker: {'; '.join(why)})".strip()
        return ProgramResult(_after_first_failure_skipped(results, job.fail_fast))

    def _start_replacement(self) -> Channel:
        """A fresh worker mid-batch. Any failure to start one costs the test at hand a sandbox_error,
        never the batch an exception (the pool started once already: the backend works)."""
        try:
            return self._start_worker()
        except SandboxUnavailable:
            raise
        except Exception as exc:
            raise SandboxUnavailable(f"could not start a worker: {type(exc).__name__}: {exc}") from exc


@dataclass(slots=True)
class _Seat:
    """One pool thread's worker, and the workers it has put aside but not yet closed."""

    channel: Channel | None = None
    retired: list[Channel] = field(default_factory=list)

    def retire(self) -> None:
        if self.channel is not None:
            self.retired.append(self.channel)
            self.channel = None

    def close_retired(self) -> None:
        while self.retired:
            close_quietly(self.retired.pop())


def close_quietly(channel: Channel) -> None:
    """Close a worker's channel; a failure is a warning (its test has its verdict already), never an error."""
    try:
        channel.close()
    except Exception as exc:
        warnings.warn(
            f"closing a sandbox worker failed: {type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=2
        )


def _lost_detail(exc: BaseException) -> str:
    if isinstance(exc, (WorkerLost, SandboxUnavailable)):
        return str(exc)
    return f"worker lost: {type(exc).__name__}: {exc}"


def judge_safely(case: TestCase, reply: dict, job: Job) -> TestResult:
    """The judge's verdict; a judge that fails is our fault, so the test gets sandbox_error, never a crash."""
    try:
        return judge(case, reply, job.limits, job.stdout_mode)
    except Exception as exc:
        return TestResult(Verdict.SANDBOX_ERROR, f"the judge failed: {type(exc).__name__}: {exc}"[:500])


def _after_first_failure_skipped(results: list[TestResult | None], fail_fast: bool) -> list[TestResult]:
    # With fail-fast, a test queued before the failure was known may have run; it still counts as
    # skipped, so that results do not depend on timing.
    out: list[TestResult] = []
    stopped = False
    for result in results:
        if result is None or stopped:
            result = TestResult(Verdict.SKIPPED, "not run: an earlier test failed")
        out.append(result)
        stopped = stopped or (fail_fast and not result.passed)
    return out
