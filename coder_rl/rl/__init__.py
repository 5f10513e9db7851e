"""RL on code with outcome + process rewards: GRPO (TRL) or PPO, and the policy's SFT warm start."""

from coder_rl.rl.config import RLConfig, RLResult
from coder_rl.rl.rewards import RewardConfig, alpha, combined, format_reward, outcome_rewards, process_rewards
from coder_rl.rl.run import run_rl

__all__ = [
    "RLConfig", "RLResult", "RewardConfig", "alpha", "combined", "format_reward", "outcome_rewards",
    "process_rewards", "run_rl",
]  # fmt: skip
