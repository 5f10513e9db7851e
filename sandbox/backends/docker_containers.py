"""The docker backend: the same worker, in a pool of warm containers started through the Docker SDK.

Each container runs with no network, a read-only root, a size-capped tmpfs at /tmp as scratch, an
unprivileged user, every capability dropped, no-new-privileges, Docker's default seccomp profile
with ours (`sandbox/seccomp.py`, installed by the worker) on top, and cgroup limits on pids, memory
(all of it: the OOM killer takes the test, and the worker reports memory_exceeded) and CPU. The
worker is the container's pid 1, as under bubblewrap. Replies travel over the attached stdout with
logging off, so the engine keeps no copy of a program's output on the host's disk. Build the image with
`docker/build-offline.sh` (no registry needed) or `docker build -t coder-rl-sandbox:latest docker/`.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from sandbox.backends import process_alive
from sandbox.backends.local import SANDBOX_ENV, UidLease
from sandbox.channel import (
    START_TIMEOUT_S,
    WORKER_SOURCE,
    FrameDecoder,
    SandboxUnavailable,
    WorkerLost,
    encode_frame,
    recv_frame,
    run_all,
)
from sandbox.limits import Limits, cgroup_memory_bytes
from sandbox.seccomp import build_filter

LABEL = "org.coder-rl.sandbox-worker"
NOBODY = 65534


class ContainerStarter:
    """Starts one worker container per call; connects to the engine lazily and once."""

    def __init__(self, image: str, limits: Limits, scratch_mb: int, cpus: float = 1.0) -> None:
        try:
            import docker
        except ImportError:
            raise SandboxUnavailable(
                "the docker backend needs the Docker SDK: pip install 'coder-rl[docker]'"
            ) from None
        try:
            self.client = docker.from_env()
            self.client.ping()
        except docker.errors.DockerException as exc:
            raise SandboxUnavailable(
                f"no Docker engine answers ({str(exc).splitlines()[0][:200]}); start one "
                "(`dockerd &`, or `systemctl start docker`) or use the local backend"
            ) from None
        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound:
            raise SandboxUnavailable(
                f"docker image {image!r} not found; build it with docker/build-offline.sh "
                f"or `docker build -t {image} docker/`"
            ) from None
        self.image, self.limits, self.scratch_mb, self.cpus = image, limits, scratch_mb, cpus
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self.seccomp = build_filter().hex()
        # A uid per container keeps per-uid kernel state (inotify quotas, keyrings) apart; a rootless
        # engine maps only its own subordinate range, so there every container is nobody.
        rootless = any("rootless" in option for option in self.client.info().get("SecurityOptions") or [])
        self.own_uids = os.geteuid() == 0 and not rootless
        self._remove_orphans()

    def _remove_orphans(self) -> None:
        """Remove worker containers left by a process of this host that died without closing."""
        host = socket.gethostname()
        for container in self.client.containers.list(all=True, filters={"label": LABEL}):
            owner_host, _, pid = container.labels.get(LABEL, "").rpartition(":")
            if owner_host == host and pid.isdigit() and not process_alive(int(pid)):
                container.remove(force=True)

    def close(self) -> None:
        self.client.close()

    def __call__(self) -> ContainerChannel:
        lease = UidLease() if self.own_uids else None
        try:
            return self._start(lease.uid if lease else NOBODY, lease.release if lease else None)
        except BaseException:
            if lease is not None:
                lease.release()
            raise

    def _start(self, uid: int, on_close: Callable[[], None] | None) -> ContainerChannel:
        container = self.client.containers.create(
            self.image,
            command=["python3", "-I", "-c", WORKER_SOURCE],
            user=f"{uid}:{uid}",
            network_mode="none",
            read_only=True,
            tmpfs={"/tmp": f"size={self.scratch_mb}m,mode=1777"},
            working_dir="/tmp",
            environment={**SANDBOX_ENV, "CODER_RL_SECCOMP": self.seccomp, "CODER_RL_PIDS_CGROUP": "1"},
            log_config={"type": "none", "config": {}},
            pids_limit=self.limits.max_processes + 8,
            mem_limit=cgroup_memory_bytes(self.limits),
            memswap_limit=cgroup_memory_bytes(self.limits),
            nano_cpus=int(self.cpus * 1e9),
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            ipc_mode="private",
            stdin_open=True,
            labels={LABEL: self.owner},
        )
        try:
            return ContainerChannel(container, cgroup_memory_bytes(self.limits), on_close)
        except BaseException:
            import docker

            with contextlib.suppress(docker.errors.NotFound):  # the channel may have removed it
                container.remove(force=True)
            raise


class ContainerChannel:
    """Frames over the container's attached stdin/stdout (Docker multiplexes stdout and stderr)."""

    def __init__(self, container: Any, memory_bytes: int, on_close: Callable[[], None] | None = None) -> None:
        self._closed = False  # first, so that close() works on a channel whose start failed
        self.container = container
        self._memory_bytes = memory_bytes  # as created
        self._on_close = on_close
        attached = container.attach_socket(params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        self._socket: socket.socket = attached._sock
        self._attached = attached
        container.start()
        self._raw = bytearray()  # multiplexed bytes not yet split into stdout/stderr
        self._stderr = bytearray()
        self._decoder = FrameDecoder()
        try:
            ready = self.recv(START_TIMEOUT_S)
        except WorkerLost as exc:
            detail = self._stderr.decode(errors="replace").strip()[-2000:] or str(exc)
            self.close()
            raise SandboxUnavailable(f"sandbox container failed to start: {detail}") from None
        self.pid: int = ready["pid"]

    def send(self, frame: bytes) -> None:
        try:
            self._socket.sendall(frame)
        except OSError:
            raise WorkerLost("worker container exited") from None

    def _read_some(self, wait: float) -> bytes | None:
        if not select.select([self._socket], [], [], wait)[0]:
            return None
        data = self._socket.recv(1 << 20)
        if not data:
            return b""
        self._raw += data
        stdout = bytearray()
        while len(self._raw) >= 8:
            stream, size = self._raw[0], struct.unpack(">I", self._raw[4:8])[0]
            if len(self._raw) < 8 + size:
                break
            (stdout if stream == 1 else self._stderr).extend(self._raw[8 : 8 + size])
            del self._raw[: 8 + size]
        return bytes(stdout) or None

    def recv(self, timeout: float) -> dict[str, Any]:
        return recv_frame(self._decoder, self._read_some, timeout)

    def fit(self, memory_bytes: int) -> None:
        """Set the container's memory cap (memory and memory+swap alike: no swap)."""
        if memory_bytes != self._memory_bytes:
            self.container.update(mem_limit=memory_bytes, memswap_limit=memory_bytes)
            self._memory_bytes = memory_bytes

    def close(self) -> None:
        """Stop the worker and remove its container: every step runs whatever an earlier one raised; a
        container that is already gone is no error; closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        steps = [self._say_goodbye, self._attached.close, self._socket.close, self._remove]
        run_all([*steps, *([self._on_close] if self._on_close else [])])

    def _say_goodbye(self) -> None:
        try:
            self.send(encode_frame({"op": "exit"}))
            deadline = time.monotonic() + 1
            while time.monotonic() < deadline and self._read_some(0.1) != b"":
                pass
        except (WorkerLost, OSError):  # gone already, or the engine reset the stream
            pass

    def _remove(self) -> None:
        import docker

        try:
            self.container.remove(force=True)
        except docker.errors.NotFound:
            pass  # removed already
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: its removal is already in progress
                raise
