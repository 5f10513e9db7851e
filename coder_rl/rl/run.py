"""`coder-rl rl run`: the command's config and its dispatch to GRPO (default) or PPO.

Both algorithms reward a completion the same way (see `coder_rl.rl.rewards`): the sandbox's outcome on
the dataset's and/or a TCG's tests, the PRM's step scores, and the format reward. GRPO sums them into
one scalar per completion; PPO places each step's score at the token that closes the step.
"""

from __future__ import annotations

import json
import os
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from coder_rl.config import Section
from coder_rl.data.load import DataConfig, load_problems
from coder_rl.data.problem import Problem
from coder_rl.errors import UserError
from coder_rl.execution import SandboxConfig
from coder_rl.models.paths import check_model_path
from coder_rl.reward_tests import RewardTestsConfig, with_reward_tests
from coder_rl.rl.grpo import GRPOSection
from coder_rl.rl.ppo import PPOSection
from coder_rl.rl.rewards import RewardConfig
from coder_rl.trajectory import PromptConfig

if TYPE_CHECKING:
    from coder_rl.prm import PRM


class RLConfig(Section):
    data: DataConfig = DataConfig()
    prompt: PromptConfig = PromptConfig()
    algorithm: Literal["grpo", "ppo"] = "grpo"
    model: str = "runs/tiny-model"
    output_dir: str = "runs/rl"
    prm: str | None = Field(None, description="a PRM from `coder-rl prm train`: adds the process reward")
    tests: RewardTestsConfig = RewardTestsConfig()
    rewards: RewardConfig = RewardConfig()
    format_weight: float = Field(0.1, ge=0, description="weight of the format reward beside φ")
    sandbox: SandboxConfig = SandboxConfig()
    grpo: GRPOSection = GRPOSection()
    ppo: PPOSection = PPOSection()
    device: str = "auto"
    seed: int = 0


@dataclass
class RLResult:
    model_dir: Path
    log_history: list[dict[str, Any]]  # what the trainer logged, step by step


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
    cached = json.loads(path.read_text()) if path.is_file() else {}
    tests = cached.get("tests", {}) if cached.get("settings") == settings else {}
    if any(p.id not in tests for p in problems):
        tests = {
            p.id: [case_to_dict(c) for c in p.tests]
            for p in with_reward_tests(problems, cfg.tests, "hf", process_device(cfg.device))
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"settings": settings, "tests": tests}))
        os.replace(tmp, path)
    return [p.with_tests([case_from_dict(c) for c in tests[p.id]]) for p in problems]


def load_prm(cfg: RLConfig) -> PRM | None:
    """The PRM that gives the process reward, on the GPU when training uses one."""
    if cfg.prm is None:
        return None
    from coder_rl.prm import PRM

    return PRM(cfg.prm, device=process_device(cfg.device))


def process_device(device: str) -> str:
    """The device a model of this process goes on: an explicit one as given; with "auto", under
    `accelerate launch` each rank's own GPU (LOCAL_RANK), else the first GPU, else the CPU."""
    import torch

    if device != "auto":
        return device
    return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"


def run_rl(cfg: RLConfig) -> RLResult:
    """Train with the configured algorithm, resuming from the last checkpoint in output_dir."""
    if cfg.prm is not None:  # before any model loads
        check_model_path("prm", cfg.prm)
    if cfg.algorithm == "ppo":
        from coder_rl.rl.ppo import run_ppo

        return run_ppo(cfg)
    from coder_rl.rl.grpo import run_grpo

    return run_grpo(cfg)
