"""The host's end of a worker: length-prefixed JSON frames over a byte stream, with timeouts."""

from __future__ import annotations

import json
import os
import selectors
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Protocol

WORKER_SOURCE = (Path(__file__).parent / "worker.py").read_text()
START_TIMEOUT_S = 30.0


class SandboxUnavailable(RuntimeError):
    """A backend cannot start (bubblewrap missing, no Docker engine, ...). The message says how to fix it."""


class WorkerLost(RuntimeError):
    """A worker died or stopped answering; the test in flight gets sandbox_error."""


class Channel(Protocol):
    def send(self, frame: bytes) -> None: ...
    def recv(self, timeout: float) -> dict[str, Any]: ...
    def fit(self, memory_bytes: int) -> None: ...
    def close(self) -> None: ...


def encode_frame(message: dict[str, Any]) -> bytes:
    data = json.dumps(message).encode()
    return struct.pack(">I", len(data)) + data


class FrameDecoder:
    """Accumulates bytes and yields complete frames."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_frame(self) -> dict[str, Any] | None:
        if len(self._buffer) < 4:
            return None
        (size,) = struct.unpack(">I", self._buffer[:4])
        if len(self._buffer) < 4 + size:
            return None
        frame = bytes(self._buffer[4 : 4 + size])
        del self._buffer[: 4 + size]
        return json.loads(frame)


def recv_frame(
    decoder: FrameDecoder, read_some: Callable[[float], bytes | None], timeout: float
) -> dict[str, Any]:
    """Read until one frame is complete; `read_some(wait)` gives None if nothing came, b'' on EOF."""
    deadline = time.monotonic() + timeout
    while (frame := decoder.next_frame()) is None:
        # Past the deadline, still take what has arrived: this thread may have been kept from
        # reading (a busy host), not the worker from answering.
        remaining = max(0.0, deadline - time.monotonic())
        data = read_some(remaining)
        if data is None and remaining == 0:
            raise WorkerLost(f"worker did not answer within {timeout:g} s")
        if data == b"":
            raise WorkerLost("worker exited")
        if data:
            decoder.feed(data)
    return frame


class ProcessChannel:
    """A worker running as a child process (under bubblewrap, or bare for the unsafe backend)."""

    def __init__(
        self,
        command: Sequence[str],
        env: dict[str, str] | None = None,
        on_close: Callable[[], None] | None = None,
        on_fit: Callable[[int], None] | None = None,
    ) -> None:
        self._closed = False
        self._on_close = on_close
        self._on_fit = on_fit
        self._stderr = tempfile.TemporaryFile()
        try:
            self._process = subprocess.Popen(
                list(command),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                env=env,
                start_new_session=True,
            )
        except BaseException:  # nothing started: still give back the file and the caller's resources
            self._closed = True
            run_all([self._stderr.close, *([on_close] if on_close else [])])
            raise
        self._decoder = FrameDecoder()
        self._selector = selectors.DefaultSelector()
        self._exited = _pidfd(self._process.pid)
        try:
            self._selector.register(self._process.stdout, selectors.EVENT_READ)
            if self._exited is not None:
                self._selector.register(self._exited, selectors.EVENT_READ)
            ready = self.recv(START_TIMEOUT_S)
            self.pid: int = ready["pid"]
        except WorkerLost as exc:
            detail = self.stderr_text() or str(exc)
            self.close()
            raise SandboxUnavailable(f"sandbox worker failed to start: {detail}") from None
        except BaseException:
            self.close()
            raise

    def stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace").strip()[-2000:]

    def send(self, frame: bytes) -> None:
        """Send one frame made by `encode_frame`."""
        try:
            self._process.stdin.write(frame)
            self._process.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            raise WorkerLost("worker exited") from None

    def _read_some(self, wait: float) -> bytes | None:
        ready = {key.fileobj for key, _ in self._selector.select(wait)}
        if not ready:
            return None
        if self._process.stdout in ready:
            return os.read(self._process.stdout.fileno(), 1 << 20)
        # The process we started (bubblewrap) exited with the worker's stdout still open: a worker
        # whose uid changed does not get bubblewrap's death signal (the kernel checks the dying
        # parent's right to signal it), so it is lost all the same; on_close kills its cgroup.
        return b""

    def recv(self, timeout: float) -> dict[str, Any]:
        return recv_frame(self._decoder, self._read_some, timeout)

    def fit(self, memory_bytes: int) -> None:
        """Set the worker's whole-memory cap (its cgroup's), where it has one."""
        if self._on_fit is not None:
            self._on_fit(memory_bytes)

    def close(self) -> None:
        """Stop the worker and release everything it held: every step runs whatever an earlier one
        raised. A worker that is already dead (or dies meanwhile) is no error; closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        steps = [
            self._stop,
            self._process.stdin.close,  # a broken pipe here (the worker is gone) still closes the fd
            self._process.stdout.close,
            self._selector.close,
            self._stderr.close,
            *([partial(os.close, self._exited)] if self._exited is not None else []),
        ]
        run_all([*steps, *([self._on_close] if self._on_close else [])])

    def _stop(self) -> None:
        if self._process.poll() is None:
            try:
                self.send(encode_frame({"op": "exit"}))
                self._process.wait(timeout=1)
            except (WorkerLost, subprocess.TimeoutExpired):
                pass
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(timeout=10)  # SIGKILL: only a process stuck in the kernel outlasts this


def _pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when `pid` exits (None before Linux 5.3)."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def run_all(steps: Sequence[Callable[[], object]]) -> None:
    """Run every step whatever the ones before raised. A broken pipe (the worker is gone) is expected and
    dropped; any other failure is raised once every step has run (several: one RuntimeError naming all)."""
    errors: list[BaseException] = []
    for step in steps:
        try:
            step()
        except BrokenPipeError:
            pass
        except Exception as exc:
            errors.append(exc)
    if len(errors) > 1:
        raise RuntimeError("; ".join(f"{type(e).__name__}: {e}" for e in errors)) from errors[0]
    if errors:
        raise errors[0]
