"""`coder-rl rl run`: GRPO on code problems with TRL's GRPOTrainer and o1-Coder's combined reward.

The policy writes a whole run of pseudocode steps (define, refine, generate) after the step prompt.
Each completion's reward is φ = α(t)·R + (1 − α(t))·Σ_j γ^j·r_j / m, from the sandbox (R) and, when a
PRM is given, its per-step scores (r_j); a format reward is added with its own weight. The reward
function is the one TRL users get (`coder_rl.integrations.trl.CodeReward`): async, so the sandbox runs
the group's programs in one batch, and None for a sample a sandbox fault left unscored, which TRL leaves
out. Every component (outcome, process, format, pass rate, faults, α) is logged to TensorBoard.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from coder_rl.errors import UserError
from coder_rl.execution import open_sandbox
from coder_rl.integrations.trl import CodeReward
from coder_rl.rl.config import GRPOSection, RLConfig, RLResult
from coder_rl.rl.inputs import load_prm, rewarded_problems
from coder_rl.training import run_args, save_final, train_resuming
from coder_rl.trajectory import policy_prompt

# set from the run's own settings (output_dir, format_weight, seed, device): not through grpo.trl
_RUN_KEYS = {"output_dir", "reward_weights", "report_to", "save_strategy", "seed", "use_cpu"}


def trl_arguments(section: GRPOSection, trl_fields: set[str]) -> dict[str, Any]:
    """The section as GRPOConfig's keyword arguments: the typed fields, then `trl`'s pass-through, each
    of its keys checked to be a GRPOConfig field (`trl_fields`) that nothing else sets. coder-rl's own
    keys (`GRPOSection.OWN_KEYS`) are left out."""
    for key in section.trl:
        if key in GRPOSection.model_fields:
            raise UserError(f"config error: grpo.trl.{key}: set grpo.{key} instead")
        if key in _RUN_KEYS:
            raise UserError(f"config error: grpo.trl.{key}: coder-rl sets it from the run's own settings")
        if key not in trl_fields:
            raise UserError(f"config error: grpo.trl.{key}: not a field of TRL's GRPOConfig")
    return {**section.model_dump(exclude={"trl", *GRPOSection.OWN_KEYS}), **section.trl}


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
            reward_weights=[1.0] * (1 + len(extra_rewards or [])),
            **run_args(out, cfg.seed, cfg.device),
        )
    except ValueError as exc:  # TRL's own checks (the batch must hold whole groups, say)
        raise UserError(f"config error: grpo: {exc}") from None
    trainer_class, options = GRPOTrainer, {}
    if cfg.grpo.dynamic_sampling:  # DAPO: groups whose rewards are all equal give way to fresh ones
        from coder_rl.rl.dynamic_sampling import DynamicSamplingGRPOTrainer

        trainer_class = DynamicSamplingGRPOTrainer
        options = {"max_sampling_rounds": cfg.grpo.max_sampling_rounds}
    prm = load_prm(cfg)
    with open_sandbox(cfg.sandbox) as box:
        reward = CodeReward(
            box, {p.id: p for p in problems}, prm, cfg.rewards, cfg.format_weight, cfg.prompt.format
        )
        trainer = trainer_class(
            model=cfg.model,
            reward_funcs=[reward, *(extra_rewards or [])],
            args=args,
            train_dataset=dataset,
            **options,
        )
        train_resuming(trainer, out)
    return RLResult(save_final(trainer, out), trainer.state.log_history)
