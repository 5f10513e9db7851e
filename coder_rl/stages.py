"""A run directory that records its finished stages, so a rerun resumes instead of redoing them.

Multi-stage commands (`selfplay`, `bench learning`) write `<dir>/<state file>`: the settings the run
was started with and each finished stage's result. A rerun with the same settings reads finished
stages back and runs only the rest (a stage in flight resumes from its own checkpoints); a rerun with
other settings is refused in one line, since mixing two experiments in one directory corrupts both.
The state file is replaced atomically (write, then rename), so a kill never leaves it torn.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coder_rl.errors import UserError


class StageLog:
    """The state of one run directory: its settings and what each finished stage returned."""

    def __init__(
        self,
        directory: Path,
        state_file: str,
        settings: dict[str, Any],
        may_change: str = "nothing",
        announce: Callable[[str], None] | None = None,
        fresh_process: bool = False,
    ) -> None:
        """`may_change` names what a rerun may change (for the refusal); `announce(key)` is called when
        a stage starts; `fresh_process` runs each stage in a process of its own."""
        self.dir, self.path = directory, directory / state_file
        self.announce, self.fresh_process = announce, fresh_process
        if self.path.exists():
            try:
                self.state = json.loads(self.path.read_text())
                assert isinstance(self.state, dict) and isinstance(self.state.get("stages"), dict)
            except (ValueError, AssertionError, UnicodeDecodeError):
                raise UserError(
                    f"{self.path} is damaged (not a state file); remove it or use another directory"
                ) from None
            if self.state.get("settings") != settings:
                raise UserError(
                    f"{self.dir} was run with other settings ({self.path}); only {may_change} may change: "
                    "use another directory"
                )
        else:
            self.dir.mkdir(parents=True, exist_ok=True)
            self.state = {"settings": settings, "stages": {}}
            self._save()

    def done(self, key: str) -> bool:
        return key in self.state["stages"]

    def stage(self, key: str, run: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
        """`run(*args)` once: its result is recorded when it returns, and read back on every later call."""
        if key not in self.state["stages"]:
            if self.announce is not None:
                self.announce(key)
            result = _in_fresh_process(run, *args) if self.fresh_process else run(*args)
            self.state["stages"][key] = json.loads(json.dumps(result))  # what a rerun reads back
            self._save()
        return self.state["stages"][key]

    def _save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.state, indent=1))
        os.replace(tmp, self.path)


def _in_fresh_process(run: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """A vLLM engine or a trainer may keep GPU memory after its stage returns (caches, reference
    cycles); a process that ends returns all of it before the next stage loads its models."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(run, *args).result()
