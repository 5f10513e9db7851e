"""What every RL algorithm starts from: the problems with the tests their programs are rewarded on,
and the PRM that gives the process reward."""

from __future__ import annotations

import json
import os
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from coder_rl.data.load import load_problems
from coder_rl.data.problem import Problem
from coder_rl.devices import resolve_device
from coder_rl.errors import UserError
from coder_rl.rl.config import RLConfig
from coder_rl.rundir import save_json
from tcg.reward_tests import with_reward_tests

if TYPE_CHECKING:
    from coder_rl.prm import PRM


def rewarded_problems(cfg: RLConfig) -> list[Problem]:
    """The problems RL trains on, each with the tests its programs are rewarded on. A TCG's tests are
    written once, into output_dir/reward_tests.json: every process of a multi-GPU run and every resume
    rewards the same tests (under `accelerate launch` the main process writes them, the others wait)."""
    problems = [p for p in load_problems(cfg.data).require_problems() if p.kind in ("stdin", "call")]
    if cfg.tests.source != "dataset":
        several = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if several:
            from accelerate import PartialState
        with PartialState().main_process_first() if several else nullcontext():
            problems = _cached_reward_tests(problems, cfg)
    problems = [p for p in problems if p.tests]
    if not problems:
        raise UserError("no problem with stdin or call-based tests to reward")
    return problems


def _cached_reward_tests(problems: list[Problem], cfg: RLConfig) -> list[Problem]:
    from sandbox import case_from_dict, case_to_dict

    path, settings = Path(cfg.output_dir) / "reward_tests.json", cfg.tests.model_dump(mode="json")
    cached = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    tests = cached.get("tests", {}) if cached.get("settings") == settings else {}
    if any(p.id not in tests for p in problems):
        tests = {
            p.id: [case_to_dict(c) for c in p.tests]
            for p in with_reward_tests(problems, cfg.tests, "hf", str(resolve_device(cfg.device)))
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        save_json(path, {"settings": settings, "tests": tests})
    return [p.with_tests([case_from_dict(c) for c in tests[p.id]]) for p in problems]


def load_prm(cfg: RLConfig) -> PRM | None:
    """The PRM that gives the process reward, on the GPU when training uses one."""
    if cfg.prm is None:
        return None
    from coder_rl.prm import PRM

    return PRM(cfg.prm, device=str(resolve_device(cfg.device)))
