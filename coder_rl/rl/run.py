"""`coder-rl rl run`: dispatch to the configured algorithm, one file each (GRPO by default, or PPO).

Both algorithms reward a completion the same way (see `coder_rl.rewards`): the sandbox's outcome on
the dataset's and/or a TCG's tests, the PRM's step scores, and the format reward. GRPO sums them into
one scalar per completion; PPO places each step's score at the token that closes the step.

A new algorithm is a file with `run_<name>(cfg: RLConfig) -> RLResult`, its section in `rl/config.py`
(a field of RLConfig, and its name in `algorithm`), and a line in ALGORITHMS.
"""

from __future__ import annotations

import importlib

from coder_rl.models.paths import check_model_path
from coder_rl.rl.config import RLConfig, RLResult

# algorithm -> "module:function", imported only when chosen (each pulls in torch and TRL)
ALGORITHMS = {"grpo": "coder_rl.rl.grpo:run_grpo", "ppo": "coder_rl.rl.ppo:run_ppo"}


def run_rl(cfg: RLConfig) -> RLResult:
    """Train with the configured algorithm, resuming from the last checkpoint in output_dir."""
    if cfg.prm is not None:  # before any model loads
        check_model_path("prm", cfg.prm)
    module, function = ALGORITHMS[cfg.algorithm].split(":")
    return getattr(importlib.import_module(module), function)(cfg)
