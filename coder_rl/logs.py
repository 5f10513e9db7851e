"""Keeping library noise out of a user's terminal: a stage's output goes to a log file instead.

Progress bars (transformers' Trainer, datasets), FutureWarnings, the SyntaxWarnings a host prints when it
compiles candidate code, and the trainers' own log lines all reach file descriptors 1 and 2, some of them
from C code or child processes. Redirecting the descriptors themselves (not just `sys.stdout`) catches all
of it, and the log file keeps it for whoever needs to look.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def output_to(log: Path | None) -> Iterator[None]:
    """Send everything written to stdout and stderr inside the block to `log` (appended); None: nothing."""
    if log is None:
        yield
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log.open("ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
