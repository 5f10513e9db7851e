"""Run directories and resumable outputs: the one way every stage records the settings it was started
with, refuses a rerun with other settings, and writes so that a kill never leaves a file torn.

- `claim(path, settings, ...)`: a state file `{"settings": ..., ...}`. A rerun with the same settings
  reads it back; with other settings it is refused in one line, since mixing two experiments in one
  place corrupts both. `without` drops the knobs that may change on resume (throughput, how long to
  train) before the comparison.
- `prepare_output(out, settings, command)`: a JSONL output of one record per problem, appended as work
  finishes, with its state in a sidecar; a rerun skips the problems already written.
- `StageLog`: a multi-stage run (`selfplay`, `bench learning`) recording each finished stage's result.
- `save_json` and `replace_dir`: a file or a directory written whole, then renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from coder_rl.errors import UserError


def save_json(path: Path, data: Any) -> None:
    """Write `data` as JSON to a temporary file, then rename it over `path` (atomic on one filesystem)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def replace_dir(tmp: Path, final: Path) -> Path:
    """Move a completely written directory `tmp` to `final`, replacing it: a `final` that exists is
    whole, so a rerun may trust it."""
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


def without(settings: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """`settings` less the dotted `keys` ("trainer.save_steps"), which may change on resume."""
    out = json.loads(json.dumps(settings))
    for key in keys:
        *parents, last = key.split(".")
        node = out
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return out


def claim(path: Path, settings: dict[str, Any], instead: str, **fresh: Any) -> dict[str, Any]:
    """The state in `path` if it was written with `settings`; else a new state, `{"settings": settings,
    **fresh}`, written now. A damaged file or other settings is a UserError that ends with `instead`
    (what to do: "use another output_dir or remove it")."""
    if path.exists():
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(state, dict):
                raise ValueError
        except (ValueError, UnicodeDecodeError):
            raise UserError(f"{path} is damaged (not a state file written by coder-rl); {instead}") from None
        legacy = "settings" not in state  # written before state files had one shape: the bare settings
        if legacy:
            state = {"settings": state, **fresh}
        if state["settings"] != settings:
            raise UserError(f"{path.parent} was written with other settings ({path}); {instead}")
        if legacy:
            save_json(path, state)
        return state
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"settings": settings, **fresh}
    save_json(path, state)
    return state


# ---------------------------------------------------------------- JSONL outputs, one record per problem


def prepare_output(out: Path, settings: dict[str, Any], command: str) -> set[str]:
    """Claim the sidecar of the JSONL output `out`; return the problem ids it already holds."""
    sidecar = out.with_name(out.name + ".settings.json")
    if out.is_dir():
        raise UserError(f"output {out} is a directory; give a file path such as {out}/records.jsonl")
    if out.exists() and out.stat().st_size and not sidecar.exists():
        raise UserError(
            f"{out} exists but was not written by `coder-rl {command}` (no {sidecar.name}); use another --out"
        )
    if not out.exists():
        sidecar.unlink(missing_ok=True)  # a sidecar without its output holds nothing to resume
    claim(sidecar, settings, "use another --out or remove it")
    return finished_ids(out)


def finished_ids(path: Path) -> set[str]:
    """Problem ids already in an output file. A torn last line (a killed run) is truncated away in place,
    so nothing finished is rewritten, whatever the file's size."""
    if not path.exists():
        return set()
    ids, complete = set(), 0
    with path.open("rb+") as f:
        for line in f:
            if not line.endswith(b"\n"):
                break
            complete += len(line)
            if not line.strip():
                continue
            try:
                ids.add(json.loads(line)["problem_id"])
            except (ValueError, KeyError, TypeError):
                raise UserError(
                    f"{path} is not an output file written by coder-rl (a line is not a problem record)"
                ) from None
        f.truncate(complete)
    return ids


# ---------------------------------------------------------------- multi-stage runs


class StageLog:
    """The state of one multi-stage run directory: its settings and what each finished stage returned.
    A rerun with the same settings reads finished stages back and runs only the rest (a stage in flight
    resumes from its own checkpoints)."""

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
        self.state = claim(
            self.path, settings, f"only {may_change} may change: use another directory", stages={}
        )
        if not isinstance(self.state.get("stages"), dict):
            raise UserError(f"{self.path} is damaged (not a state file written by coder-rl); remove it")

    def done(self, key: str) -> bool:
        return key in self.state["stages"]

    def stage(self, key: str, run: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
        """`run(*args)` once: its result is recorded when it returns, and read back on every later call."""
        if key not in self.state["stages"]:
            if self.announce is not None:
                self.announce(key)
            result = _in_fresh_process(run, *args) if self.fresh_process else run(*args)
            self.state["stages"][key] = json.loads(json.dumps(result))  # what a rerun reads back
            save_json(self.path, self.state)
        return self.state["stages"][key]


def _in_fresh_process(run: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """A vLLM engine or a trainer may keep GPU memory after its stage returns (caches, reference
    cycles); a process that ends returns all of it before the next stage loads its models."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(run, *args).result()
