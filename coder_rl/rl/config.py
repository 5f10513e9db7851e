"""`coder-rl rl run`'s config: the algorithm's own section beside the settings all algorithms share
(data, prompt, rewards, tests, sandbox), and what a run returns. Below the algorithms, which read it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from coder_rl.config import Section
from coder_rl.data.load import DataConfig
from coder_rl.execution import SandboxConfig
from coder_rl.rewards import RewardConfig
from coder_rl.trajectory import PromptConfig
from tcg.reward_tests import RewardTestsConfig


class GRPOSection(Section):
    """TRL's GRPOConfig names, typed here with this project's defaults; `trl` passes any other of its
    fields through (checked against GRPOConfig when the run starts), so a new TRL option needs no code.
    The keys in `OWN_KEYS` are coder-rl's own (dynamic sampling) and never reach GRPOConfig."""

    OWN_KEYS: ClassVar[frozenset[str]] = frozenset({"dynamic_sampling", "max_sampling_rounds"})

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
    dynamic_sampling: bool = Field(
        False,
        description="DAPO's dynamic sampling: drop groups whose rewards are all equal (no advantage) and "
        "sample more prompts until the batch is full of groups that have one",
    )
    max_sampling_rounds: int = Field(
        3,
        ge=1,
        description="dynamic sampling: generation batches sampled per batch at most; a batch still short "
        "of informative groups then fills up with all-equal ones",
    )
    trl: dict[str, Any] = Field(
        default_factory=dict, description="any other field of TRL's GRPOConfig, by its name (top_k: 50)"
    )


class PPOSection(Section):
    """PPO's settings, with the names TRL's old PPOConfig used."""

    max_steps: int = Field(100, ge=1, description="PPO updates (each on one batch of rollouts)")
    learning_rate: float = Field(1e-6, gt=0)
    batch_size: int = Field(8, ge=1, description="prompts per update")
    mini_batch_size: int = Field(4, ge=1)
    num_ppo_epochs: int = Field(4, ge=1)
    max_completion_length: int = Field(512, ge=8)
    temperature: float = Field(1.0, gt=0)
    cliprange: float = Field(0.2, gt=0)
    cliprange_value: float = Field(0.2, gt=0)
    vf_coef: float = Field(0.1, ge=0)
    kl_coef: float = Field(0.05, ge=0, description="per-token KL penalty against the initial policy")
    gamma: float = Field(1.0, gt=0, le=1)
    lam: float = Field(0.95, gt=0, le=1, description="GAE λ")
    whiten_rewards: bool = False
    max_grad_norm: float = Field(1.0, gt=0)
    logging_steps: int = Field(1, ge=1)
    save_steps: int = Field(50, ge=1)
    save_total_limit: int = Field(
        2, ge=1, description="checkpoints kept (each holds policy, value model, optimizer)"
    )
    bf16: bool = False
    gradient_checkpointing: bool = False


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
