"""`coder-rl rl run`: GRPO on code problems with TRL's GRPOTrainer and o1-Coder's combined reward.

The policy writes a whole run of pseudocode steps (define, refine, generate) after the step prompt.
Each completion's reward is φ = α(t)·R + (1 − α(t))·Σ_j γ^j·r_j / m, from the sandbox (R) and, when a
PRM is given, its per-step scores (r_j); a format reward is added with its own weight. The reward
function is async, so TRL awaits it beside any others, and the sandbox runs the group's programs in
one batch. Every component (outcome, process, format, pass rate, α) is logged to TensorBoard.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from coder_rl.config import Section
from coder_rl.data.problem import Problem
from coder_rl.errors import UserError
from coder_rl.execution import open_sandbox
from coder_rl.rl.rewards import alpha, combined, format_reward, score_trajectories
from coder_rl.training import train_resuming
from coder_rl.trajectory import policy_prompt, read_completion
from sandbox import Sandbox

if TYPE_CHECKING:
    from coder_rl.prm import PRM
    from coder_rl.rl.run import RLConfig, RLResult


class GRPOSection(Section):
    """TRL's GRPOConfig names; the rest keep TRL's defaults."""

    max_steps: int = Field(100, ge=1)
    learning_rate: float = Field(1e-6, gt=0)
    per_device_train_batch_size: int = Field(8, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    num_generations: int = Field(8, ge=2, description="completions per prompt (the group)")
    max_completion_length: int = Field(512, ge=8)
    temperature: float = Field(1.0, gt=0)
    beta: float = Field(0.0, ge=0, description="KL weight; 0 needs no reference model")
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo"] = "dapo"
    logging_steps: int = Field(1, ge=1)
    save_steps: int = Field(50, ge=1)
    save_total_limit: int = Field(2, ge=1)
    bf16: bool = False
    gradient_checkpointing: bool = False
    num_iterations: int = Field(1, ge=1, description="updates per batch of generations (μ)")
    epsilon: float = Field(0.2, gt=0, description="clip range")
    epsilon_high: float | None = Field(None, gt=0, description="DAPO's upper clip (clip-higher)")
    mask_truncated_completions: bool = False
    use_vllm: bool = False
    vllm_mode: str = Field("colocate", pattern="^(colocate|server)$")
    vllm_gpu_memory_utilization: float = Field(
        0.3, gt=0, le=1, description="colocate: vLLM's share of the GPU"
    )
    vllm_tensor_parallel_size: int = Field(1, ge=1)
    vllm_server_base_url: str | None = Field(None, description="server: a `trl vllm-serve` URL")


class CodeReward:
    """φ for each completion of a batch; an async callable, as TRL's GRPOTrainer awaits it."""

    def __init__(self, box: Sandbox, problems: dict[str, Problem], prm: PRM | None, cfg: RLConfig) -> None:
        self.box, self.problems, self.prm, self.cfg = box, problems, prm, cfg

    async def __call__(
        self, prompts: list[str], completions: list[str], problem_id: list[str], trainer_state: Any = None,
        log_metric: Any = None, **_: Any,
    ) -> list[float]:  # fmt: skip
        trajectories = [read_completion(c) for c in completions]
        problems = [self.problems[pid] for pid in problem_id]
        outcomes, steps = await asyncio.to_thread(
            score_trajectories, self.box, self.prm.score_batch if self.prm else None, problems, trajectories,
            self.cfg.rewards,
        )  # fmt: skip
        step = trainer_state.global_step if trainer_state is not None else 0
        rewards = [combined(o, s, step, self.cfg.rewards) for o, s in zip(outcomes, steps, strict=True)]
        if log_metric is not None:
            flat = [score for scores in steps for score in scores]
            log_metric("reward/outcome", sum(outcomes) / len(outcomes))
            log_metric("reward/pass_rate", sum(o == 1.0 for o in outcomes) / len(outcomes))
            log_metric("reward/alpha", alpha(step, self.cfg.rewards))
            if flat:
                log_metric("reward/process", sum(flat) / len(flat))
        return rewards


def format_ok(completions: list[str], **_: Any) -> list[float]:
    """The format reward, as TRL calls it."""
    return format_reward([read_completion(c) for c in completions])


def run_grpo(cfg: RLConfig, extra_rewards: list[Any] | None = None) -> RLResult:
    """Train, resuming from the last checkpoint. `extra_rewards` is for tests (weight 1 each)."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from coder_rl.rl.run import RLResult, load_prm, rewarded_problems

    problems = rewarded_problems(cfg)
    dataset = Dataset.from_list(
        [{"prompt": policy_prompt(p, cfg.prompt), "problem_id": p.id} for p in problems]
    )
    out = Path(cfg.output_dir)
    try:
        args = GRPOConfig(
            output_dir=str(out),
            **cfg.grpo.model_dump(),
            reward_weights=[1.0, cfg.format_weight] + [1.0] * len(extra_rewards or []),
            report_to=["tensorboard"],
            save_strategy="steps",
            seed=cfg.seed,
            use_cpu=cfg.device == "cpu",
        )
    except ValueError as exc:  # TRL's own checks (the batch must hold whole groups, say)
        raise UserError(f"config error: grpo: {exc}") from None
    prm = load_prm(cfg)
    with open_sandbox(cfg.sandbox) as box:
        reward = CodeReward(box, {p.id: p for p in problems}, prm, cfg)
        trainer = GRPOTrainer(
            model=cfg.model,
            reward_funcs=[reward, format_ok, *(extra_rewards or [])],
            args=args,
            train_dataset=dataset,
        )
        train_resuming(trainer, out)
    final = out / "final"
    trainer.save_model(str(final))
    return RLResult(final, trainer.state.log_history)
