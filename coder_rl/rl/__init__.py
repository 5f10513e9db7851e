"""RL on code with outcome + process rewards (`coder_rl.rewards`): GRPO (TRL) or PPO, and the policy's
SFT warm start."""

from coder_rl.rl.config import RLConfig, RLResult
from coder_rl.rl.run import run_rl

__all__ = ["RLConfig", "RLResult", "run_rl"]
