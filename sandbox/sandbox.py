"""`Sandbox`: run programs against test cases on a pool of isolated warm workers."""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Sequence
from concurrent.futures import Future
from functools import partial
from typing import TYPE_CHECKING

from sandbox.cases import StdioCase, TestCase
from sandbox.judge import CAPTURE, STDOUT_MODES
from sandbox.limits import Limits
from sandbox.pool import Job, WorkerPool
from sandbox.results import ProgramResult, TestResult

if TYPE_CHECKING:
    from sandbox.backends.ray_cluster import RayPool

BACKENDS = ("local", "docker", "ray", "unsafe")
DEFAULT_IMAGE = "coder-rl-sandbox:latest"


class Sandbox:
    """Isolated, concurrent execution of untrusted programs with exact verdicts.

    >>> with Sandbox(workers=4) as box:
    ...     result = box.run("print(int(input()) * 2)", [StdioCase("21\\n", "42\\n")])
    ...     result.verdict
    <Verdict.PASSED: 'passed'>

    backend: "local" (bubblewrap, the default), "docker" (a pool of warm containers), "ray" (local
    pools on every node of a Ray cluster) or "unsafe" (no isolation: for debugging only, never
    chosen unless asked for). `limits` apply to each test; `fail_fast` stops a program's remaining
    tests after its first failure (they get `skipped`).
    """

    def __init__(
        self,
        backend: str = "local",
        workers: int | None = None,
        limits: Limits | None = None,
        *,
        fail_fast: bool = False,
        stdout_mode: str = "tokens",
        python: str | None = None,
        scratch_mb: int = 64,
        image: str = DEFAULT_IMAGE,
        ray_address: str | None = None,
        ray_actors: int | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown sandbox backend {backend!r} (expected one of {', '.join(BACKENDS)})")
        if stdout_mode not in STDOUT_MODES:
            raise ValueError(
                f"unknown stdout_mode {stdout_mode!r} (expected one of {', '.join(STDOUT_MODES)})"
            )
        self.backend = backend
        self.workers = workers or os.cpu_count() or 1
        self.limits = limits or Limits()
        self.fail_fast = fail_fast
        self.stdout_mode = stdout_mode
        self._pool: WorkerPool | RayPool
        starter = None
        if backend == "ray":
            from sandbox.backends.ray_cluster import RayPool

            self._pool = RayPool(
                ray_address,
                ray_actors,
                self.workers,
                python=python,
                scratch_mb=scratch_mb,
                limits=self.limits,
            )
        else:
            starter = self._starter(backend, python, scratch_mb, image)
            try:
                self._pool = WorkerPool(starter, self.workers)
            except BaseException:
                _shut_down(None, starter)
                raise
        # A sandbox that is never closed still stops its workers, when collected or at exit.
        self._finalizer = weakref.finalize(self, _shut_down, self._pool, starter)

    def _starter(self, backend: str, python: str | None, scratch_mb: int, image: str):
        import sys

        python = python or sys.executable
        if backend == "local":
            from sandbox.backends.local import start_bwrap_worker

            return partial(start_bwrap_worker, python, scratch_mb, self.limits)
        if backend == "unsafe":
            from sandbox.backends.local import start_unsafe_worker

            return partial(start_unsafe_worker, python)
        from sandbox.backends.docker_containers import ContainerStarter

        return ContainerStarter(image, self.limits, scratch_mb)

    # -- running

    def run(
        self,
        program: str,
        tests: Sequence[TestCase],
        limits: Limits | None = None,
        fail_fast: bool | None = None,
    ) -> ProgramResult:
        """Run one program on its tests."""
        return self.run_batch([(program, tests)], limits, fail_fast)[0]

    def run_batch(
        self,
        batch: Sequence[tuple[str, Sequence[TestCase]]],
        limits: Limits | None = None,
        fail_fast: bool | None = None,
    ) -> list[ProgramResult]:
        """Run many programs, each on its own tests, concurrently; results in the order given."""
        plan, futures = self._submit(batch, limits, fail_fast)
        return _assemble(len(batch), plan, [f.result() for f in futures])

    async def arun(
        self,
        program: str,
        tests: Sequence[TestCase],
        limits: Limits | None = None,
        fail_fast: bool | None = None,
    ) -> ProgramResult:
        return (await self.arun_batch([(program, tests)], limits, fail_fast))[0]

    async def arun_batch(
        self,
        batch: Sequence[tuple[str, Sequence[TestCase]]],
        limits: Limits | None = None,
        fail_fast: bool | None = None,
    ) -> list[ProgramResult]:
        """Like run_batch, without blocking the event loop."""
        plan, futures = self._submit(batch, limits, fail_fast)
        results = await asyncio.gather(*(asyncio.wrap_future(f) for f in futures))
        return _assemble(len(batch), plan, list(results))

    def capture(self, program: str, stdin: str = "", limits: Limits | None = None) -> TestResult:
        """Run a program once on `stdin` and judge it against nothing: a clean exit passes, and its whole
        stdout (up to the output limit), its stderr's tail and its exit code come back, with a verdict for
        anything else (runtime_error, timeout, memory_exceeded, ...). For clients that judge by
        themselves, such as SandboxFusion's `run_code`."""
        return self._capture(program, stdin, limits).result().tests[0]

    async def acapture(self, program: str, stdin: str = "", limits: Limits | None = None) -> TestResult:
        return (await asyncio.wrap_future(self._capture(program, stdin, limits))).tests[0]

    def _capture(self, program: str, stdin: str, limits: Limits | None) -> Future[ProgramResult]:
        job = Job(program, [StdioCase(stdin, "")], limits or self.limits, stdout_mode=CAPTURE)
        return self._pool.submit(job)

    def _submit(
        self, batch: Sequence[tuple[str, Sequence[TestCase]]], limits: Limits | None, fail_fast: bool | None
    ) -> tuple[list[int], list[Future[ProgramResult]]]:
        limits = limits or self.limits
        fail_fast = self.fail_fast if fail_fast is None else fail_fast
        # With fewer programs than workers, spread each program's tests over several workers
        # (fail-fast needs the tests in order on one worker).
        pieces = 1 if fail_fast or not batch else max(1, -(-self.workers // len(batch)))
        plan: list[int] = []
        futures: list[Future[ProgramResult]] = []
        for index, (program, tests) in enumerate(batch):
            tests = list(tests)
            size = max(1, -(-len(tests) // pieces))
            for start in range(0, max(len(tests), 1), size):
                job = Job(program, tests[start : start + size], limits, fail_fast, self.stdout_mode)
                plan.append(index)
                futures.append(self._pool.submit(job))
        return plan, futures

    # -- lifetime

    def close(self) -> None:
        """Stop every worker; no process is left behind. Closing twice is harmless."""
        self._finalizer()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _shut_down(pool: WorkerPool | RayPool | None, starter: object) -> None:
    if pool is not None:
        pool.close()
    close = getattr(starter, "close", None)  # the docker backend's engine client
    if close is not None:
        close()


def _assemble(count: int, plan: list[int], parts: list[ProgramResult]) -> list[ProgramResult]:
    results = [ProgramResult() for _ in range(count)]
    for index, part in zip(plan, parts, strict=False):
        results[index].tests.extend(part.tests)
    return results
