"""The ray backend: a local bubblewrap pool inside one Ray actor per node, fed job by job.

For users who outgrow one machine: `Sandbox(backend="ray", ray_address="auto")` joins a running
cluster (or starts a local one when the address is None). Each actor owns `workers` warm workers
and runs that many jobs at once; the host round-robins jobs over the actors.
"""

from __future__ import annotations

import itertools
from concurrent.futures import Future
from pathlib import Path

from sandbox.channel import SandboxUnavailable
from sandbox.limits import Limits
from sandbox.pool import Job
from sandbox.results import ProgramResult


class SandboxActor:
    """Runs on a Ray node: a local pool of bubblewrap workers."""

    def __init__(self, workers: int, python: str | None, scratch_mb: int, limits: Limits) -> None:
        import sys
        from functools import partial

        from sandbox.backends.local import start_bwrap_worker
        from sandbox.pool import WorkerPool

        start = partial(start_bwrap_worker, python or sys.executable, scratch_mb, limits)
        self.pool = WorkerPool(start, workers)

    def run(self, job: Job) -> ProgramResult:
        return self.pool.submit(job).result()

    def close(self) -> None:
        self.pool.close()


class RayPool:
    """Same interface as WorkerPool (`submit`, `close`), with the workers spread over a Ray cluster."""

    def __init__(
        self,
        address: str | None,
        actors: int | None,
        workers: int,
        *,
        python: str | None = None,
        scratch_mb: int = 64,
        limits: Limits | None = None,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise SandboxUnavailable("the ray backend needs Ray: pip install 'coder-rl[ray]'") from None
        self._ray = ray
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            import sandbox

            # Ship this package to the cluster's workers so every node runs the same sandbox code.
            runtime_env = {"py_modules": [str(Path(sandbox.__file__).parent)]}
            loopback = (
                {"_node_ip_address": "127.0.0.1"} if address is None else {}
            )  # a local instance stays on loopback
            ray.init(
                address=address,
                runtime_env=runtime_env,
                include_dashboard=False,
                log_to_driver=False,
                **loopback,
            )
        count = actors or max(1, len(ray.nodes()))
        # SPREAD puts the actors on different nodes where it can: one local pool per machine.
        remote_actor = ray.remote(num_cpus=0, max_concurrency=workers, scheduling_strategy="SPREAD")(
            SandboxActor
        )
        self._actors = [
            remote_actor.remote(workers, python, scratch_mb, limits or Limits()) for _ in range(count)
        ]
        # Surface a broken node (no bubblewrap, ...) now, with the node's own message.
        try:
            ray.get([actor.__ray_ready__.remote() for actor in self._actors])
        except ray.exceptions.RayActorError as exc:
            self.close()
            raise SandboxUnavailable(f"a Ray sandbox actor failed to start: {exc}") from None
        self._next = itertools.cycle(self._actors)

    def submit(self, job: Job) -> Future[ProgramResult]:
        return next(self._next).run.remote(job).future()

    def close(self) -> None:
        for actor in self._actors:
            try:
                self._ray.get(actor.close.remote())
            except Exception:  # a dead actor has nothing left to close
                pass
            self._ray.kill(actor)
        if self._owns_ray:
            self._ray.shutdown()
