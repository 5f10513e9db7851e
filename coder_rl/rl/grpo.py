"""`coder-rl rl run`: GRPO on code problems with TRL's GRPOTrainer and o1-Coder's combined reward.

The policy writes a whole run of pseudocode steps (define, refine, generate) after the step prompt.
Each completion's reward is φ = α(t)·R + (1 − α(t))·Σ_j γ^j·r_j / m, from the sandbox (R) and, when a
PRM is given, its per-step scores (r_j); a format reward is added with its own weight. The reward
function is async, so TRL awaits it beside any others, and the sandbox runs the group's programs in
one batch. Every component (outcome, process, format, pass rate, α) is logged to TensorBoard.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coder_rl.data.problem import Problem
from coder_rl.errors import UserError
from coder_rl.execution import open_sandbox
from coder_rl.rl.config import GRPOSection, RLConfig, RLResult
from coder_rl.rl.inputs import load_prm, rewarded_problems
from coder_rl.rl.rewards import RewardConfig, alpha, combined, format_reward, score_trajectories
from coder_rl.training import run_args, save_final, train_resuming
from coder_rl.trajectory import policy_prompt, read_completion
from sandbox import Sandbox

if TYPE_CHECKING:
    from coder_rl.prm import PRM


class CodeReward:
    """φ for each completion of a batch; an async callable, as TRL's GRPOTrainer awaits it."""

    def __init__(
        self, box: Sandbox, problems: dict[str, Problem], prm: PRM | None, rewards: RewardConfig
    ) -> None:
        self.box, self.problems, self.prm, self.rewards = box, problems, prm, rewards

    async def __call__(
        self, prompts: list[str], completions: list[str], problem_id: list[str], trainer_state: Any = None,
        log_metric: Any = None, **_: Any,
    ) -> list[float]:  # fmt: skip
        trajectories = [read_completion(c) for c in completions]
        problems = [self.problems[pid] for pid in problem_id]
        outcomes, steps = await asyncio.to_thread(
            score_trajectories, self.box, self.prm.score_batch if self.prm else None, problems, trajectories,
            self.rewards,
        )  # fmt: skip
        step = trainer_state.global_step if trainer_state is not None else 0
        rewards = [combined(o, s, step, self.rewards) for o, s in zip(outcomes, steps, strict=True)]
        if log_metric is not None:
            flat = [score for scores in steps for score in scores]
            log_metric("reward/outcome", sum(outcomes) / len(outcomes))
            log_metric("reward/pass_rate", sum(o == 1.0 for o in outcomes) / len(outcomes))
            log_metric("reward/alpha", alpha(step, self.rewards))
            if flat:
                log_metric("reward/process", sum(flat) / len(flat))
        return rewards


# set from the run's own settings (output_dir, format_weight, seed, device): not through grpo.trl
_RUN_KEYS = {"output_dir", "reward_weights", "report_to", "save_strategy", "seed", "use_cpu"}


def trl_arguments(section: GRPOSection, trl_fields: set[str]) -> dict[str, Any]:
    """The section as GRPOConfig's keyword arguments: the typed fields, then `trl`'s pass-through, each
    of its keys checked to be a GRPOConfig field (`trl_fields`) that nothing else sets."""
    for key in section.trl:
        if key in GRPOSection.model_fields:
            raise UserError(f"config error: grpo.trl.{key}: set grpo.{key} instead")
        if key in _RUN_KEYS:
            raise UserError(f"config error: grpo.trl.{key}: coder-rl sets it from the run's own settings")
        if key not in trl_fields:
            raise UserError(f"config error: grpo.trl.{key}: not a field of TRL's GRPOConfig")
    return {**section.model_dump(exclude={"trl"}), **section.trl}


def format_ok(completions: list[str], **_: Any) -> list[float]:
    """The format reward, as TRL calls it."""
    return format_reward([read_completion(c) for c in completions])


def run_grpo(cfg: RLConfig, extra_rewards: list[Any] | None = None) -> RLResult:
    """Train, resuming from the last checkpoint. `extra_rewards` is for tests (weight 1 each)."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    problems = rewarded_problems(cfg)
    dataset = Dataset.from_list(
        [{"prompt": policy_prompt(p, cfg.prompt), "problem_id": p.id} for p in problems]
    )
    out = Path(cfg.output_dir)
    try:
        args = GRPOConfig(
            **trl_arguments(cfg.grpo, {f.name for f in dataclasses.fields(GRPOConfig)}),
            reward_weights=[1.0, cfg.format_weight] + [1.0] * len(extra_rewards or []),
            **run_args(out, cfg.seed, cfg.device),
        )
    except ValueError as exc:  # TRL's own checks (the batch must hold whole groups, say)
        raise UserError(f"config error: grpo: {exc}") from None
    prm = load_prm(cfg)
    with open_sandbox(cfg.sandbox) as box:
        reward = CodeReward(box, {p.id: p for p in problems}, prm, cfg.rewards)
        trainer = GRPOTrainer(
            model=cfg.model,
            reward_funcs=[reward, format_ok, *(extra_rewards or [])],
            args=args,
            train_dataset=dataset,
        )
        train_resuming(trainer, out)
    return RLResult(save_final(trainer, out), trainer.state.log_history)
